"""Ingesting register extracts: SUS participants and monthly income/support.

Personnummer live only in memory here. The extract is read by an in-memory
DuckDB with spilling to disk switched off; the distinct numbers are normalised
and replaced by an HMAC pseudonym in Python; only pseudonyms reach Parquet. The
original is never copied: after a successful load it is removed from the inbox
(the agency keeps the master, the ledger keeps its hash and row counts); a
failing extract stays where it arrived and gets an errors.json that names rows,
never values. A personnummer anywhere but in the `personnummer` column (an insats,
a note) rejects the extract, since it would otherwise be landed as it is; one in
the file name is refused before listing (`ingest.inbox`), and the file left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from core import files, ledger
from core.catalogue import load_catalogue
from core.crash_points import checkpoint
from core.ledger import LedgerRecord
from core.settings import Settings

from . import inbox, lake
from .inbox import stored_name
from .personnummer import contains_personal_number, key_fingerprint, normalise, plus_sets_century, pseudonymise
from .problems import ERROR, Problem, is_blocking, name_problem, only_the_name, problem

# An optional `_<anything>` before the extension only makes a name unique (e.g. `_rattad`), as for surveys.
SUS_NAME = re.compile(r"^sus_deltagare_(?P<month>\d{4}-\d{2})(?:_[^.]*)?\.(?P<ext>csv|parquet)$", re.IGNORECASE)
INCOME_NAME = re.compile(r"^inkomster_(?P<first>\d{4}-\d{2})_(?P<last>\d{4}-\d{2})(?:_[^.]*)?\.(?P<ext>csv|parquet)$",
                         re.IGNORECASE)
SUS_COLUMNS = ["personnummer", "anonym", "kon", "fodelsear", "forbund", "insats", "startdatum", "slutdatum",
               "forsorjning_start", "forsorjning_slut", "ar_offentlig_forsorjning_fore", "avslutsorsak"]
INCOME_COLUMNS = ["personnummer", "manad", "kategori", "belopp"]
EXAMPLES = 20  # row numbers quoted per problem; the count covers them all
# A cheap first pass in DuckDB: only a value with ten digits or more can hold a personnummer.
TEN_DIGITS = "'([0-9][^0-9]*){10}'"
CANDIDATE_BATCH = 10_000


class MissingPseudonymKey(RuntimeError):
    """No key, no register load."""


@dataclass(frozen=True)
class Extract:
    kind: str  # 'sus' | 'income'
    fmt: str
    extract_month: str  # the last month the extract covers
    first_month: str | None = None  # income: the first month it covers


def register_inbox(settings: Settings) -> Path:
    return settings.register_inbox


def parse_name(name: str) -> Extract | None:
    if m := SUS_NAME.fullmatch(name):
        return Extract("sus", m["ext"].lower(), m["month"])
    if m := INCOME_NAME.fullmatch(name):
        return Extract("income", m["ext"].lower(), m["last"], m["first"])
    return None


RESERVED_INSATS = ("alla",)  # the marts' total rows (gender_analysis, indicator11_outcomes)
FIRST_YEAR = 2000  # no extract describes months before the product's registers


def run_month(settings: Settings) -> str:
    """The month the run is in ('YYYY-MM'): NNS_AS_OF's if set (tests, replays), else today's."""
    day = date.fromisoformat(settings.as_of[:10]) if settings.as_of else date.today()
    return f"{day.year:04d}-{day.month:02d}"


def check_months(extract: Extract, name: str, settings: Settings) -> Problem | None:
    """A register file's name must describe real months, first <= last, none after the run's month.

    Otherwise an extract for 2099-01 would stay current for good, and a one-row extract
    for a future quarter would decide which income months are current.
    """
    months = [m for m in (extract.first_month, extract.extract_month) if m]
    for month in months:
        year, number = int(month[:4]), int(month[5:7])
        if not 1 <= number <= 12:
            return problem("REGISTER_PERIOD", name=name, detail=f"månaden {month}, som inte finns (månad 01–12)")
        if year < FIRST_YEAR:
            return problem("REGISTER_PERIOD", name=name, detail=f"månaden {month}, före {FIRST_YEAR}")
    if extract.first_month and extract.first_month > extract.extract_month:
        return problem("REGISTER_PERIOD", name=name, detail=f"en första månad ({extract.first_month}) efter "
                                                              f"den sista ({extract.extract_month})")
    current = run_month(settings)
    if extract.extract_month > current:
        return problem("REGISTER_PERIOD", name=name, detail=f"månaden {extract.extract_month}, som ligger efter "
                                                              f"innevarande månad ({current})")
    return None


def _connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    # In memory, and never spilled: the raw numbers must not reach a disk.
    return duckdb.connect(":memory:", config={"temp_directory": "", "memory_limit": settings.duckdb_memory_limit,
                                               "threads": settings.duckdb_threads})


def _load(con: duckdb.DuckDBPyConnection, path: Path, extract: Extract) -> list[str]:
    """Expose the file as view `extract` (all text, with its row number); return its columns.

    A view, not a table: every pass streams from the file, so memory stays flat
    however large the extract.
    """
    quoted = "'" + str(path).replace("'", "''") + "'"
    if extract.fmt == "csv":
        # The dialect is fixed, not sniffed: a broken file fails instead of being guessed at.
        relation = (f"read_csv({quoted}, delim=';', quote='\"', escape='\"', header=true, all_varchar=true, "
                    f"strict_mode=true, encoding='utf-8')")
        row = "row_number() over () + 1"  # line 1 is the header
    else:
        relation = f"read_parquet({quoted}, file_row_number=true)"
        row = "file_row_number + 1"
    columns = [d[0] for d in con.execute(f"select * from {relation} limit 0").description]
    wanted = [c for c in columns if c != "file_row_number"]
    select = ", ".join(f"cast({_ident(c)} as varchar) as {_ident(c)}" for c in wanted)
    con.execute(f"create view extract as select {row} as source_row, {select} from {relation}")
    return wanted


def _ident(name: str) -> str:  # column names come from the file
    return '"' + name.replace('"', '""') + '"'


def _rows_where(con, condition: str) -> tuple[int, str]:
    count, rows = con.execute(
        f"select count(*), list(source_row order by source_row)[1:{EXAMPLES}] from extract where {condition}"
    ).fetchone()
    return count, ", ".join(str(r) for r in (rows or []))


def _check(con, problems: list[Problem], code: str, condition: str, **details) -> None:
    count, examples = _rows_where(con, condition)
    if count:
        problems.append(problem(code, rows=count, examples=examples, **details))


def _codes(values) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _pseudonymise(con, key: bytes, anonymous: str) -> None:
    """Create table `pseudonyms(raw, person_key)` in memory: person_key is null for an invalid number."""
    raw_values = [r[0] for r in con.execute(
        f"select distinct personnummer from extract where personnummer is not null and not ({anonymous})").fetchall()]
    keys = []
    for raw in raw_values:
        canonical = normalise(raw)
        keys.append(pseudonymise(canonical, key) if canonical else None)
    mapping = pa.table({"raw": pa.array(raw_values, pa.string()), "person_key": pa.array(keys, pa.string())})
    con.register("mapping", mapping)
    con.execute("create table pseudonyms as select * from mapping")
    con.unregister("mapping")
    del raw_values, keys, mapping


def _check_personal_numbers(con, problems: list[Problem], anonymous: str) -> None:
    _check(con, problems, "PNR_INVALID",
           f"not ({anonymous}) and personnummer in (select raw from pseudonyms where person_key is null)")
    _check(con, problems, "PNR_MISSING", f"not ({anonymous}) and personnummer is null")


def _personal_numbers_in_text(con, columns: list[str], problems: list[Problem]) -> None:
    """A personnummer in any column but `personnummer` (an insats, a note) rejects the extract.

    Such a value would otherwise be landed as it is and published. DuckDB picks the rows
    with ten digits or more in one pass; only those are checked in Python (date and
    check digit), and problems name the column and rows, never the value.
    """
    text_columns = [c for c in columns if c != "personnummer"]
    if not text_columns:
        return
    wanted = ", ".join(_ident(c) for c in text_columns)
    candidate = " or ".join(f"regexp_matches({_ident(c)}, {TEN_DIGITS})" for c in text_columns)
    result = con.execute(f"select source_row, {wanted} from extract where {candidate} order by source_row")
    hits: dict[str, list[int]] = {c: [] for c in text_columns}
    while batch := result.fetchmany(CANDIDATE_BATCH):
        for source_row, *values in batch:
            for column, value in zip(text_columns, values, strict=True):
                if value is not None and contains_personal_number(value):
                    hits[column].append(source_row)
    for column, rows in hits.items():
        if rows:
            examples = ", ".join(str(r) for r in rows[:EXAMPLES]) + (" …" if len(rows) > EXAMPLES else "")
            problems.append(problem("PERSONAL_NUMBER_IN_TEXT", column=column,
                                    place=f"Kolumnen {column} ({len(rows)} rad(er), t.ex. rad {examples})"))


# A month exactly ÅÅÅÅ-MM (a two-digit month) that exists in the calendar.
MONTH_OK = "regexp_full_match(manad, '\\d{4}-\\d{2}') and try_strptime(manad, '%Y-%m') is not null"
# A date exactly ÅÅÅÅ-MM-DD (two-digit month and day, no time) that exists in the calendar.
DATE_OK = "regexp_full_match({c}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') and try_strptime({c}, '%Y-%m-%d') is not null"


def _validate_sus(con, catalogue, extract: Extract, problems: list[Problem]) -> None:
    supports = _codes(catalogue.support_categories)
    reasons = _codes(catalogue.end_reasons)
    federations = _codes(f.code for f in catalogue.federations)
    checks = [
        ("anonym", "anonym is null or anonym not in ('0', '1')", "0 eller 1"),
        ("kon", "kon is null or kon not in ('K', 'M')", "K eller M"),
        ("fodelsear", "fodelsear is null or not regexp_full_match(fodelsear, '[0-9]{4}') "
                      "or cast(fodelsear as integer) not between 1900 and year(current_date)", "ett födelseår ÅÅÅÅ"),
        ("forbund", f"forbund is null or forbund not in {federations}", "en förbundskod i förbundsregistret"),
        ("insats", "insats is null or length(insats) > 40", "insatsens kod, högst 40 tecken"),
        ("startdatum", f"startdatum is null or not ({DATE_OK.format(c='startdatum')})", "ett datum ÅÅÅÅ-MM-DD"),
        ("slutdatum", f"slutdatum is not null and not ({DATE_OK.format(c='slutdatum')})", "ett datum ÅÅÅÅ-MM-DD"),
        ("forsorjning_start", f"forsorjning_start is null or forsorjning_start not in {supports}",
         ", ".join(catalogue.support_categories)),
        ("forsorjning_slut", f"forsorjning_slut is not null and forsorjning_slut not in {supports}",
         ", ".join(catalogue.support_categories)),
        ("ar_offentlig_forsorjning_fore", "ar_offentlig_forsorjning_fore is null or "
                                          "not regexp_full_match(ar_offentlig_forsorjning_fore, '[0-9]{1,2}') or "
                                          "cast(ar_offentlig_forsorjning_fore as integer) > 60",
         "ett heltal 0–60"),
        ("avslutsorsak", f"avslutsorsak is not null and avslutsorsak not in {reasons}",
         ", ".join(catalogue.end_reasons)),
    ]
    for column, condition, allowed in checks:
        _check(con, problems, "VALUE_INVALID", condition, column=column, allowed=allowed)
    _check(con, problems, "END_BEFORE_START",
           "try_cast(slutdatum as date) < try_cast(startdatum as date)")
    _find_duplicates(con)
    _check(con, problems, "DUPLICATE_ROWS_REMOVED", "source_row in (select source_row from duplicates)")
    # A `+` in a 10-digit number says "100 or older": the century it implies (read as the pseudonym
    # will be, §6 of docs/register_extracts.md) must agree with fodelsear. A 12-digit number writes
    # its century out, whatever the separator. Checked in memory on the few rows written with `+`;
    # the problem names rows only.
    contradicting = [
        source_row for source_row, number, birth_year in con.execute(
            "select source_row, personnummer, fodelsear from extract where anonym = '0' "
            "and contains(personnummer, '+') and regexp_full_match(fodelsear, '[0-9]{4}') order by source_row"
        ).fetchall()
        if plus_sets_century(number) and (canonical := normalise(number)) is not None
        and canonical[:4] != birth_year]
    if contradicting:
        problems.append(problem("PNR_BIRTH_YEAR", rows=len(contradicting),
                                examples=", ".join(str(r) for r in contradicting[:EXAMPLES])))
    _reserved_sus(con, problems)


def _find_duplicates(con) -> None:
    """Table `duplicates(source_row)`: every later copy of a SUS row, which would count one insats twice.

    A copy is the same person (the normalised number, so a 10-digit and a 12-digit form of one are one;
    an anonymous row's number is never read) with the same value in every other column. Such
    rows are left out of what is landed, and the extract is accepted with a warning
    (docs/register_extracts.md §4 says why).
    """
    person = "case when e.anonym = '0' then coalesce(p.person_key, e.personnummer) end"
    others = ", ".join(f"e.{_ident(c)}" for c in SUS_COLUMNS if c != "personnummer")
    con.execute(f"""
        create table duplicates as
        select source_row from (
            select e.source_row, row_number() over (partition by {person}, {others} order by e.source_row) as copy
            from extract e left join pseudonyms p on p.raw = e.personnummer
        ) where copy > 1""")


def _reserved_sus(con, problems: list[Problem]) -> None:
    """Isolation: values the marts use for their own total rows cannot come from a file."""
    for value in RESERVED_INSATS:
        count, examples = _rows_where(con, f"lower(trim(insats)) = '{value}'")
        if count:
            problems.append(problem("VALUE_RESERVED", column="insats", value=f"'{value}'", rows=count,
                                    examples=examples))


def _validate_income(con, catalogue, extract: Extract, problems: list[Problem]) -> None:
    categories = _codes(c for c in catalogue.support_categories if c != "ingen")
    _check(con, problems, "VALUE_INVALID", f"manad is null or not ({MONTH_OK})", column="manad",
           allowed="en månad ÅÅÅÅ-MM")
    _check(con, problems, "VALUE_INVALID", f"kategori is null or kategori not in {categories}",
           column="kategori", allowed=", ".join(c for c in catalogue.support_categories if c != "ingen"))
    # At most nine digits (leading zeros aside): any sum the warehouse makes of them fits its integers.
    _check(con, problems, "VALUE_INVALID", "belopp is null or not regexp_full_match(belopp, '0*[0-9]{1,9}')",
           column="belopp", allowed="ett belopp i hela kronor, 0 eller mer och högst 999 999 999")
    # Only a month that exists can lie outside the coverage: 2014-13 is VALUE_INVALID alone.
    _check(con, problems, "MONTH_OUTSIDE_COVERAGE",
           f"{MONTH_OK} and (manad < '{extract.first_month}' or manad > '{extract.extract_month}')",
           first=extract.first_month, last=extract.extract_month)


def _write_sus(con, target: Path, submission_id: str) -> int:
    con.execute(f"""
        copy (
            select '{submission_id}' as submission_id, e.source_row, p.person_key,
                   p.person_key is not null as is_linkable, e.kon as gender,
                   cast(e.fodelsear as integer) as birth_year, e.forbund as federation_code, e.insats,
                   cast(e.startdatum as date) as start_date, cast(e.slutdatum as date) as end_date,
                   e.forsorjning_start as support_at_start, e.forsorjning_slut as support_at_end,
                   cast(e.ar_offentlig_forsorjning_fore as integer) as years_public_support_before,
                   e.avslutsorsak as end_reason
            from extract e left join pseudonyms p on p.raw = e.personnummer and e.anonym = '0'
            where e.source_row not in (select source_row from duplicates)
            order by e.source_row
        ) to '{target}' (format parquet, compression zstd)""")
    return con.execute("select count(*) from extract where source_row not in (select source_row from duplicates)"
                       ).fetchone()[0]


def _write_income(con, target: Path, submission_id: str) -> int:
    con.execute(f"""
        copy (
            select '{submission_id}' as submission_id, p.person_key,
                   cast(strptime(e.manad, '%Y-%m') as date) as month, e.kategori as category,
                   cast(e.belopp as bigint) as amount
            from extract e join pseudonyms p on p.raw = e.personnummer
        ) to '{target}' (format parquet, compression zstd, row_group_size 1000000)""")  # no sort: it streams
    return con.execute("select count(*) from extract").fetchone()[0]


def land_register(path: Path, settings: Settings, submission_id: str, received_at: str,
                  known: LedgerRecord | None) -> LedgerRecord:
    """Validate, pseudonymise and land one extract (or record why not); returns its committed record.

    Called by `ingest.submission.ingest_submission`, which decides that the bytes need work.
    """
    if not settings.pseudonym_key:
        raise MissingPseudonymKey("NNS_PSEUDONYM_KEY is not set: register extracts cannot be pseudonymised, "
                                  "so none is loaded. Set the key (see .env.example) and run again.")
    extract = parse_name(path.name)
    record = LedgerRecord(
        submission_id=submission_id, source=f"register_{extract.kind}" if extract else "register",
        file_name=stored_name(path),  # what the ledger, errors.json and logs keep of the name
        received_at=received_at, ingested_at=ledger.now_utc(),
        format=extract.fmt if extract else path.suffix.lstrip("."),
        extract_month=extract.extract_month if extract else None,
        first_month=extract.first_month if extract else None,
        # Which key made the pseudonyms: extracts link only with extracts loaded with the same key.
        key_fingerprint=key_fingerprint(settings.pseudonym_key),
    )
    with _connect(settings) as con:
        key = settings.pseudonym_key.encode()
        problems, rows_total, landable = examine_extract(con, path, path.name, settings, key)
        if extract is not None and not is_blocking(problems):
            _judge(record, problems, rows_total, landable)
            try:
                _land(con, settings, extract, record, problems)
            except UNREADABLE as exc:
                problems.append(_unreadable(exc))

    _judge(record, problems, rows_total, rows_landed=record.rows_ok)  # as examine_extract counted them
    if record.status == ledger.REJECTED:
        target = settings.quarantine / submission_id
        files.atomic_write_json(target / "errors.json", {  # no copy of the file: it holds personnummer
            "submission_id": submission_id, "file_name": record.file_name, "rows_total": rows_total,
            "problems": [p.to_dict() for p in problems],
        })
        record.quarantine_path = str(target.relative_to(settings.home))
    checkpoint("register.landed")
    ledger.write_record(settings, record)
    if known:  # reprocessed on request (force): the earlier outcome's folder goes
        lake.drop_stale_outcome(settings, "register", submission_id, record.status)
    if record.accepted:
        leave_register_inbox(path, settings, submission_id)
    return record


def _judge(record: LedgerRecord, problems: list[Problem], rows_total: int, rows_landed: int) -> None:
    """The record's counts and status from the problems found so far: any error rejects the
    extract; warnings (rows left out) only say so."""
    errors = [p for p in problems if p.severity == ERROR]
    record.rows_total = rows_total
    record.rows_ok = 0 if errors else rows_landed
    record.errors, record.warnings = len(errors), len(problems) - len(errors)
    first = (errors or problems or [None])[0]
    record.first_problem = f"{first.code}: {first.message}" if first else None
    record.status = ledger.REJECTED if errors else ledger.ACCEPTED
    record.rejected_for_name = only_the_name(problems)


def leave_register_inbox(path: Path, settings: Settings, submission_id: str) -> None:
    """An accepted extract leaves the inbox once the ledger holds its hash (just written), and only
    if the file still has exactly those bytes: the agency holds the master copy."""
    if path.is_symlink() or path.parent.resolve() != register_inbox(settings).resolve():
        return
    if ledger.read_record(settings, submission_id) is None or files.sha256_file(path) != submission_id:
        return
    path.unlink(missing_ok=True)
    inbox.forget(path, settings)


UNREADABLE = (duckdb.Error, pa.ArrowException, UnicodeError, ValueError, MemoryError)


def _unreadable(exc: BaseException) -> Problem:
    # DuckDB's messages quote the offending line, which may hold a personnummer:
    # keep only the kind of error, and do not chain the original exception.
    return problem("FILE_UNREADABLE", expected="registeruttag (semikolonseparerad CSV i UTF-8 eller Parquet)",
                   detail=type(exc).__name__)


def examine_extract(con: duckdb.DuckDBPyConnection, source: Path, file_name: str, settings: Settings,
                    key: bytes) -> tuple[list[Problem], int, int]:
    """Every problem of one extract, its rows, and how many of them would be landed; writes nothing.

    `source` holds the bytes and `file_name` is the name they were offered under (the two differ
    only for `nns check`). The extract is read into `con` (in memory, `_connect`) and pseudonymised
    with `key` there, so that a caller that lands it (`land_register`) goes on from the same state;
    `nns check` passes a throw-away key, since no pseudonym leaves it. Ingestion and `nns check`
    both judge an extract here (ingest.verdict).
    """
    problems: list[Problem] = []
    extract = parse_name(file_name)
    stored = stored_name(Path(file_name))
    if unsafe := name_problem(file_name, stored):  # a personnummer in it: refused (ingest.inbox)
        problems.append(unsafe)
        return problems, 0, 0
    if extract is None:
        problems.append(problem("REGISTER_NAME", name=stored))
        return problems, 0, 0
    if month_problem := check_months(extract, stored, settings):
        problems.append(month_problem)
        return problems, 0, 0
    catalogue = load_catalogue(settings.catalogue_dir)
    rows_total = landable = 0
    try:
        columns = _load(con, source, extract)
        expected = SUS_COLUMNS if extract.kind == "sus" else INCOME_COLUMNS
        missing = [c for c in expected if c not in columns]
        rows_total = con.execute("select count(*) from extract").fetchone()[0]
        if missing:
            problems.append(problem("REGISTER_COLUMNS", columns=", ".join(missing), expected=", ".join(expected)))
            return problems, rows_total, 0
        if rows_total == 0:
            problems.append(problem("REGISTER_EMPTY"))
            return problems, rows_total, 0
        anonymous = "anonym = '1'" if extract.kind == "sus" else "false"  # the income extract has none
        # Pseudonyms first: the duplicate check compares people by their normalised number.
        _pseudonymise(con, key, anonymous)
        if extract.kind == "sus":
            _validate_sus(con, catalogue, extract, problems)
        else:
            _validate_income(con, catalogue, extract, problems)
        _personal_numbers_in_text(con, columns, problems)
        _check_personal_numbers(con, problems, anonymous)
        if not is_blocking(problems):
            left_out = con.execute("select count(*) from duplicates").fetchone()[0] if extract.kind == "sus" else 0
            landable = rows_total - left_out
    except UNREADABLE as exc:
        problems.append(_unreadable(exc))
    return problems, rows_total, landable


def _land(con, settings: Settings, extract: Extract, record: LedgerRecord, warnings: list[Problem]) -> None:
    submission_id = record.submission_id
    table = "participants" if extract.kind == "sus" else "income"
    target = settings.raw_source("register") / submission_id
    staged = files.StagedDir(target)
    try:
        writer = _write_sus if extract.kind == "sus" else _write_income
        rows = writer(con, staged.path / f"{table}.parquet", submission_id)
        linkable = con.execute("select count(*) from pseudonyms where person_key is not null").fetchone()[0]
        files.atomic_write_json(staged.path / "manifest.json", {
            **record.to_dict(), "table": table, "rows": rows, "persons": linkable, "status": "accepted",
            "warnings": [w.to_dict() for w in warnings],
        })
        staged.commit()
    except BaseException:
        staged.discard()
        raise
    record.raw_path = str(target.relative_to(settings.home))
