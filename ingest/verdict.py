"""The judgement of one file, without side effects: what ingestion records and what `nns check` shows.

`judge(path, settings)` decides as `ingest.submission.ingest_submission` does which kind of entry a path
is, and judges it by the one function ingestion itself calls for that kind:

- an entry ingestion refuses while listing (a symlink, a FIFO, a personnummer in its name:
  `ingest.inbox.refusal`) is judged by its refusal alone, and never opened;
- a register extract (by its name, or its folder `inbox/register/`): `judge_register`, which runs
  `ingest.register.examine_extract` in an in-memory DuckDB with a throw-away pseudonym key;
- any other file is a survey: `judge_survey`, which `ingest.survey.land_survey` calls too.

Nothing here writes: no ledger record, archive copy, lake folder or arrival state (the
inbox's record of first sightings is not touched either, since a check is not an arrival). The
bytes and the name are separate (`source`, `file_name`), so that the check service can judge an
upload held in memory (`memory_file`) under the name it was sent with: the readers then open
`/proc/self/fd/N` of an anonymous in-memory file (memfd), never a file on disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.catalogue import Catalogue, load_catalogue
from core.settings import Settings

from .contract import Parsed, SubmissionName, check_federation, read_name, validate
from .inbox import refusal, stored_name
from .personnummer import contains_personal_number
from .problems import ERROR, Problem, is_blocking, name_problem, only_the_name, problem
from .reader import Sheets, UnreadableFile, read_csv, read_xlsx
from .register import _connect, examine_extract, parse_name, register_inbox

log = logging.getLogger(__name__)

SURVEY, REGISTER, REFUSED = "survey", "register", "refused"


@dataclass(frozen=True)
class Verdict:
    """What ingestion would decide about one file, and everything a page or a line needs to say it."""

    file_name: str  # as the ledger and the feedback keep it (ingest.inbox.stored_name: any personnummer masked)
    kind: str  # survey | register | refused
    problems: tuple[Problem, ...]
    federation_code: str | None = None
    period: str | None = None  # a survey's period, or the month a register extract reaches
    fmt: str | None = None  # xlsx | csv | parquet
    encoding: str | None = None  # a CSV file's
    rows_total: int = 0
    rows_ok: int = 0
    rows_per_sheet: dict[str, int] = field(default_factory=dict)  # questionnaire -> rows read (surveys)
    respondent_groups: tuple[str, ...] = ()  # questionnaires with rows
    collection_groups: tuple[str, ...] = ()  # questionnaires with counts on Insamling
    # What ingestion lands (surveys): not compared, not shown.
    name: SubmissionName | None = field(default=None, compare=False, repr=False)
    parsed: Parsed | None = field(default=None, compare=False, repr=False)

    @property
    def accepted(self) -> bool:
        return not is_blocking(list(self.problems))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != ERROR]

    @property
    def rejected_for_name(self) -> bool:
        return only_the_name(list(self.problems))

    @property
    def first_problem(self) -> str | None:
        """The ledger's `first_problem`: the first error, else the first warning."""
        first = (self.errors or self.warnings or [None])[0]
        if first is None:
            return None
        return f"{first.code}: {first.message}" + (f" ({first.where()})" if first.where() else "")

    def errors_document(self, submission_id: str, received_at: str) -> dict:
        """The quarantine's errors.json for these problems (feedback.page renders a page from it)."""
        return {"submission_id": submission_id, "file_name": self.file_name, "federation_code": self.federation_code,
                "period": self.period, "received_at": received_at, "rows_ok": self.rows_ok,
                "rows_total": self.rows_total, "problems": [p.to_dict() for p in self.problems]}

    def to_dict(self) -> dict:
        """`nns check --json`: the verdict as data (problems as errors.json has them)."""
        return {"file_name": self.file_name, "kind": self.kind, "accepted": self.accepted,
                "federation_code": self.federation_code, "period": self.period, "format": self.fmt,
                "rows_total": self.rows_total, "rows_ok": self.rows_ok, "rows_per_sheet": self.rows_per_sheet,
                "errors": len(self.errors), "warnings": len(self.warnings),
                "problems": [p.to_dict() for p in self.problems]}


def is_register_extract(path: Path, settings: Settings) -> bool:
    """A register extract by its name, or by its folder (inbox/register/), as ingestion tells them apart."""
    return parse_name(path.name) is not None or path.parent == register_inbox(settings)


def judge(path: Path, settings: Settings, catalogue: Catalogue | None = None) -> Verdict:
    """The verdict on an entry of the file system, as `ingest_submission` would reach it (writes nothing).

    Raises FileNotFoundError for a path that does not exist.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(path)
    if (refused := refusal(path)) is not None:
        return Verdict(refused.name, REFUSED, (refused.problem,))
    if is_register_extract(path, settings):
        return judge_register(path, path.name, settings)
    return judge_survey(path, path.name, settings, catalogue)


def judge_upload(data: bytes | bytearray | memoryview, file_name: str, settings: Settings,
                 catalogue: Catalogue | None = None) -> Verdict:
    """The verdict on bytes held in memory (the check service's upload), offered under `file_name`.

    The bytes go into an anonymous in-memory file (`memory_file`), never a file system. A name
    holding a personnummer is refused as ingestion refuses it in the inbox, without reading the bytes;
    a register extract's name is judged as an extract, anything else as a survey file.
    """
    file_name = Path(file_name).name or "(utan namn)"
    if contains_personal_number(file_name):
        return Verdict(stored_name(Path(file_name)), REFUSED,
                       (problem("PERSONAL_NUMBER_IN_NAME", name=stored_name(Path(file_name))),))
    with memory_file(data, Path(file_name).suffix[:16]) as source:
        if parse_name(file_name) is not None:
            return judge_register(source, file_name, settings)
        return judge_survey(source, file_name, settings, catalogue)


# --- survey files -------------------------------------------------------------------------------

def _read(source: Path, name: SubmissionName, max_rows: int) -> Sheets:
    if name.fmt == "xlsx":
        return read_xlsx(source, max_rows)
    return read_csv(source, name.csv_sheet, max_rows)


def _unreadable(exc: UnreadableFile) -> Problem:
    return problem(exc.code, **exc.details)


def judge_survey(source: Path, file_name: str, settings: Settings, catalogue: Catalogue | None = None) -> Verdict:
    """Every problem of one survey file (the bytes at `source`, offered as `file_name`); an exception
    while reading it becomes a problem, never a crash."""
    catalogue = catalogue or load_catalogue(settings.catalogue_dir)
    stored = stored_name(Path(file_name))
    try:
        name, parsed, sheets = _check_survey(Path(source), file_name, stored, settings, catalogue)
    except (MemoryError, RecursionError, Exception) as exc:  # noqa: BLE001 - one file must not stop the batch
        log.warning("Reading %s failed with %s; rejected as unreadable", stored, type(exc).__name__)
        name, parsed, sheets = None, Parsed(), None
        parsed.add(problem("FILE_UNREADABLE", expected="Excel-arbetsbok eller CSV-fil",
                           detail=f"filen kunde inte läsas ({type(exc).__name__})"))
    per_group = Counter(r[0] for r in parsed.respondents)
    return Verdict(
        file_name=stored, kind=SURVEY, problems=tuple(parsed.problems),
        federation_code=name.federation_code if name else None, period=name.period if name else None,
        fmt=name.fmt if name else Path(file_name).suffix.lower().lstrip("."),
        encoding=sheets.encoding if sheets else None,
        rows_total=parsed.rows_total, rows_ok=parsed.rows_ok,
        rows_per_sheet={group: per_group[group] for group in sorted(per_group)},
        respondent_groups=tuple(sorted(parsed.groups_with_rows)),
        collection_groups=tuple(sorted(parsed.groups_with_counts)),
        name=name, parsed=parsed,
    )


def _check_survey(source: Path, file_name: str, stored: str, settings: Settings,
                  catalogue: Catalogue) -> tuple[SubmissionName | None, Parsed, Sheets | None]:
    parsed = Parsed()
    unsafe = name_problem(file_name, stored)
    name = read_name(file_name, catalogue)
    if isinstance(name, Problem):
        parsed.add(unsafe or name)  # an unsafe name (a line break after .xlsx) is why the rest is not read
        # Still say whether the bytes are readable at all: the submitter fixes both at once.
        if Path(file_name).suffix.lower() in (".xlsx", ".xlsm"):
            try:
                read_xlsx(source, settings.max_rows_per_sheet)
            except UnreadableFile as exc:
                parsed.add(_unreadable(exc))
        return None, parsed, None
    if unsafe:  # too long, or an invisible character inside: the name still says what to check the content as
        parsed.add(unsafe)
    federation_problem = check_federation(name, catalogue)
    if federation_problem:
        parsed.add(federation_problem)
    try:
        sheets = _read(source, name, settings.max_rows_per_sheet)
    except UnreadableFile as exc:
        parsed.add(_unreadable(exc))
        return name, parsed, None
    checked = validate(sheets, name, catalogue, settings.max_rows_per_sheet, file_name=stored)
    checked.problems[:0] = parsed.problems
    return name, checked, sheets


# --- register extracts --------------------------------------------------------------------------

def judge_register(source: Path, file_name: str, settings: Settings) -> Verdict:
    """One register extract judged as ingestion judges it, in memory and with a throw-away key (no
    pseudonym leaves this function, so no key of the deployment's is needed or used)."""
    extract = parse_name(file_name)
    with _connect(settings) as con:
        problems, rows_total, landable = examine_extract(con, Path(source), file_name, settings,
                                                         secrets.token_bytes(32))
    errors = [p for p in problems if p.severity == ERROR]
    return Verdict(
        file_name=stored_name(Path(file_name)), kind=REGISTER, problems=tuple(problems),
        period=extract.extract_month if extract else None,
        fmt=extract.fmt if extract else Path(file_name).suffix.lstrip("."),
        rows_total=rows_total, rows_ok=0 if errors else landable,
    )


# --- bytes held in memory -----------------------------------------------------------------------

RAM_FOLDER = Path("/dev/shm")  # tmpfs: memory, not a disk


def _in_memory_file_system(folder: Path) -> bool:
    """Whether `folder` is a tmpfs mount (its entries live in memory)."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return any(line.split()[1:3] == [str(folder), "tmpfs"] for line in mounts if len(line.split()) > 2)


@contextlib.contextmanager
def memory_file(data: bytes | bytearray | memoryview, suffix: str = "") -> Iterator[Path]:
    """The bytes as a path the readers can open, backed by memory only; freed when the block ends.

    The bytes go into an anonymous memory file (memfd, Linux): nothing of them reaches a file system.
    Calamine picks a workbook's format by the path's extension (a .xls renamed .xlsx is refused by
    ingestion, read if the name has no extension), so with a `suffix` the path is a symlink
    `upload<suffix>` to the memfd in a private folder on /dev/shm (tmpfs, in memory), made and removed
    here: only that link's name is ever written, never the bytes. Without a tmpfs the upload is not
    judged (RuntimeError) rather than put on a disk.
    """
    fd = os.memfd_create("nns-check", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        target = Path(f"/proc/self/fd/{fd}")
        if not suffix:
            yield target
            return
        if not _in_memory_file_system(RAM_FOLDER):
            raise RuntimeError(f"{RAM_FOLDER} is not a tmpfs: an upload is never given a name on a disk")
        folder = Path(tempfile.mkdtemp(prefix="nns-check-", dir=RAM_FOLDER))
        try:
            link = folder / ("upload" + suffix.replace("\0", "?"))
            os.symlink(target, link)
            yield link
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(fd)
