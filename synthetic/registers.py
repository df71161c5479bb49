"""Synthetic register extracts: the SUS participant file and the monthly income extract.

What Försäkringskassan / the SUS administrator would deliver for indicator 11 and
the gender analysis, with the awkward parts of the real thing:

- personnummer in mixed written forms (12 digits with or without ``-``, 10 digits
  with ``-``), some samordningsnummer, and anonymous rows that cannot be linked;
  the income extract writes each person the same way as SUS does, so linking
  needs normalisation (``ingest.personnummer``);
- people with several insatser, sometimes in another federation, and federation
  codes valid in the year the insats started (mergers, joins and leaves);
- more women than men, much more in an early-intervention insats; the same share
  going on to work or studies for both sexes;
- income trajectories: public support before and during, work or studies after
  for about a third, some falling back, some getting a job later, parental
  benefit and pension now and then, a few months with nothing recorded.

The income file is the big one (~10 million rows at national scale). It is built
with numpy one chunk of persons at a time and written with pyarrow, one row group
per chunk, so memory stays flat. Everything is drawn from one
``numpy.random.default_rng(seed)`` in a fixed order: the same arguments give
byte-identical files. No personnummer is ever printed or logged.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

SUS_COLUMNS = (
    "personnummer", "anonym", "kon", "fodelsear", "forbund", "insats", "startdatum", "slutdatum",
    "forsorjning_start", "forsorjning_slut", "ar_offentlig_forsorjning_fore", "avslutsorsak",
)

# Income categories (the extract's `kategori`); SUS försörjning adds "ingen".
CATEGORIES = (
    "lon", "studiemedel", "a_kassa", "aktivitetsstod", "sjukpenning", "rehabiliteringspenning",
    "aktivitetsersattning", "sjukersattning", "ekonomiskt_bistand", "foraldrapenning", "pension",
)
FORSORJNING = (*CATEGORIES, "ingen")
C = {name: i for i, name in enumerate(FORSORJNING)}
INGEN = C["ingen"]
PUBLIC = np.array([C[c] for c in ("a_kassa", "aktivitetsstod", "sjukpenning", "rehabiliteringspenning",
                                  "aktivitetsersattning", "sjukersattning", "ekonomiskt_bistand")])

# Median monthly amount (SEK) per income category, same order as CATEGORIES.
MEDIAN_AMOUNT = np.array([26_000, 12_500, 17_000, 9_500, 17_500, 17_500, 10_500, 11_500, 7_500,
                          16_000, 13_000], dtype=np.float64)

# Insats codes (as in the survey generator), their national share and women's share.
# Overall about 61 % women; the early-intervention insats TIDIG about 78 %.
INSATSER = ("STEG1", "AKTIV", "IPS", "TIDIG", "KOMBO", "UNGA", "NAVET")
INSATS_SHARE = np.array([0.27, 0.22, 0.13, 0.14, 0.12, 0.07, 0.05])
INSATS_WOMEN = np.array([0.60, 0.56, 0.55, 0.81, 0.62, 0.52, 0.60])

# Support at start of the first insats: mostly public support.
START_P = {"a_kassa": 0.12, "aktivitetsstod": 0.15, "sjukpenning": 0.15, "rehabiliteringspenning": 0.04,
           "aktivitetsersattning": 0.08, "sjukersattning": 0.05, "ekonomiskt_bistand": 0.25, "ingen": 0.08,
           "lon": 0.03, "studiemedel": 0.02, "foraldrapenning": 0.02, "pension": 0.01}

AVSLUT = ("forvarvsarbete", "studier", "aktivt_arbetssokande", "ovrigt", "felregistrering")
A = {name: i for i, name in enumerate(AVSLUT)}

# Support at end, given the end reason ("ovrigt"/"felregistrering" mostly keep the start support).
SLUT_P = {
    "forvarvsarbete": {"lon": 0.88, "a_kassa": 0.04, "ekonomiskt_bistand": 0.04, "sjukpenning": 0.02, "ingen": 0.02},
    "studier": {"studiemedel": 0.85, "lon": 0.05, "ekonomiskt_bistand": 0.05, "ingen": 0.05},
    "aktivt_arbetssokande": {"a_kassa": 0.30, "aktivitetsstod": 0.35, "ekonomiskt_bistand": 0.25, "lon": 0.03,
                             "ingen": 0.07},
    "ovrigt": {"sjukpenning": 0.25, "rehabiliteringspenning": 0.08, "sjukersattning": 0.12,
               "aktivitetsersattning": 0.10, "ekonomiskt_bistand": 0.25, "foraldrapenning": 0.08,
               "pension": 0.02, "ingen": 0.10},
}
KEEP_START_P = 0.6  # ovrigt/felregistrering: support at end = support at start

INSATSER_PER_PERSON_P = np.array([0.85, 0.12, 0.025, 0.005])  # 1, 2, 3, 4 insatser: ~15 % have 2+
WRITTEN_FORMS = ("12-", "12", "10-")
WRITTEN_FORM_P = np.array([0.80, 0.10, 0.10])
ANONYMOUS_P = 0.02
SAMORDNING_P = 0.03

LENGTH_MEDIAN_DAYS, LENGTH_SIGMA = 243, 0.40  # ~8 months; 6-10 months typical
MIN_LENGTH_DAYS, MAX_LENGTH_DAYS = 61, 730  # 2-24 months
FOLLOW_MONTHS = 24  # income months before the first start and after the last end
PERSON_CHUNK = 4_000  # persons expanded at a time (~250k income rows): bounds memory
ROW_GROUP_ROWS = 1_000_000  # chunks are buffered into row groups of about this size

INCOME_SCHEMA = pa.schema([
    ("personnummer", pa.string()), ("manad", pa.string()), ("kategori", pa.string()), ("belopp", pa.int32()),
])

_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def write_register_extracts(out_dir: Path, *, n_insatser_per_year: int, cohort_years: range,
                            federation_codes_by_year: dict[int, list[str]], extract_month: str,
                            seed: int) -> dict:
    """Write ``sus_deltagare_<extract_month>.csv`` and ``inkomster_<first>_<extract>.parquet``.

    About `n_insatser_per_year` insatser end in each year of `cohort_years` (none
    after `extract_month`); an insats's federation is valid in the year it started
    (``federation_codes_by_year[start year]``, else the nearest year given).
    """
    if n_insatser_per_year <= 0 or len(cohort_years) == 0:
        raise ValueError("need n_insatser_per_year > 0 and at least one cohort year")
    if not _MONTH_RE.match(extract_month):
        raise ValueError("extract_month must be 'YYYY-MM'")
    fed_years = sorted(y for y, codes in federation_codes_by_year.items() if codes)
    if not fed_years:
        raise ValueError("federation_codes_by_year has no codes")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    extract_m = np.datetime64(extract_month, "M")
    extract_last_day = (extract_m + 1).astype("datetime64[D]") - 1

    # --- persons and their number of insatser ------------------------------------
    n_total = n_insatser_per_year * len(cohort_years)
    counts = rng.choice(4, size=n_total, p=INSATSER_PER_PERSON_P).astype(np.int64) + 1
    cum = np.cumsum(counts)
    n_persons = int(np.searchsorted(cum, n_total) + 1)
    counts = counts[:n_persons]
    counts[-1] -= int(cum[n_persons - 1] - n_total)  # exactly n_total insatser
    person = np.repeat(np.arange(n_persons), counts)  # insats row -> person
    first_row = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(n_total) - first_row[person]
    k = counts[person]

    # --- end dates: uniform over the cohort years, spaced within a person --------
    days = np.concatenate([np.arange(np.datetime64(f"{y}-01-01"), np.datetime64(f"{y + 1}-01-01"))
                           for y in cohort_years])
    days = days[days <= extract_last_day]
    if days.size == 0:
        raise ValueError("extract_month is before the first cohort year")
    spacing = int(min(90, days.size // (counts.max() + 1)))
    u = rng.random(n_total) * (days.size - (k - 1) * spacing)
    order = np.lexsort((u, person))  # sort each person's draws; rows stay grouped by person
    pos = np.floor(u[order]).astype(np.int64) + rank * spacing
    end = days[np.minimum(pos, days.size - 1)]

    length = np.clip(np.round(LENGTH_MEDIAN_DAYS * rng.lognormal(0.0, LENGTH_SIGMA, n_total)),
                     MIN_LENGTH_DAYS, MAX_LENGTH_DAYS).astype(np.int64)
    later = rank > 0
    gap_to_previous = np.zeros(n_total, dtype=np.int64)
    gap_to_previous[later] = (end[later] - end[np.flatnonzero(later) - 1]).astype(np.int64) - 1
    # A later insats starts after the previous one ended, unless that would make it
    # shorter than 2 months (only with very few cohort days): then they overlap.
    length[later] = np.maximum(np.minimum(length[later], gap_to_previous[later]), MIN_LENGTH_DAYS)
    start = end - length.astype("timedelta64[D]")
    start_year = start.astype("datetime64[Y]").astype(np.int64) + 1970

    # --- federation: valid in the start year; people mostly stay in one ----------
    all_codes = sorted({c for y in fed_years for c in federation_codes_by_year[y]})
    code_index = {c: i for i, c in enumerate(all_codes)}
    fed_weight = rng.lognormal(0.0, 0.8, len(all_codes))  # federations differ in size
    # Each federation's own insats mix: some run much more of the women-dominated TIDIG.
    fed_mix = rng.dirichlet(INSATS_SHARE * 25, size=len(all_codes))
    stays = rng.random(n_total) < 0.85
    fed_draw = rng.random(n_total)
    fed = np.full(n_total, -1, dtype=np.int64)
    year_codes = {}
    for y in np.unique(start_year):
        nearest = min(fed_years, key=lambda fy: (abs(fy - int(y)), -fy))
        year_codes[int(y)] = np.array([code_index[c] for c in federation_codes_by_year[nearest]])
    for r in range(int(counts.max())):
        at_rank = rank == r
        for y, codes in year_codes.items():
            rows = np.flatnonzero(at_rank & (start_year == y))
            if rows.size == 0:
                continue
            w = np.cumsum(fed_weight[codes])
            picked = codes[np.minimum(np.searchsorted(w / w[-1], fed_draw[rows], side="right"), codes.size - 1)]
            if r > 0:
                previous = fed[rows - 1]
                keep = stays[rows] & np.isin(previous, codes)
                picked = np.where(keep, previous, picked)
            fed[rows] = picked

    cum_mix = np.cumsum(fed_mix[fed], axis=1)
    insats = np.minimum((rng.random(n_total)[:, None] > cum_mix).sum(axis=1), len(INSATSER) - 1)

    # --- person attributes --------------------------------------------------------
    first_start = start[first_row]
    last_row = first_row + counts - 1
    last_start = np.maximum.reduceat(start.astype(np.int64), first_row).astype("datetime64[D]")
    last_end = end[last_row]
    woman = rng.random(n_persons) < INSATS_WOMEN[insats[first_row]]
    # Age 18-64 at every start: born in (last start - 65 years, first start - 18 years].
    youngest = first_start - np.timedelta64(6577, "D")  # 18 years are at most 6575 days
    oldest = last_start - np.timedelta64(23739, "D")  # 65 years are at least 23740 days
    t = rng.beta(1.8, 2.2, n_persons)
    span = (youngest - oldest).astype(np.int64)
    birth = youngest - np.round(t * span).astype(np.int64).astype("timedelta64[D]")
    samordning = rng.random(n_persons) < SAMORDNING_P
    anonymous = rng.random(n_persons) < ANONYMOUS_P
    canonical = _personnummer(rng, birth, woman, samordning)
    form = rng.choice(len(WRITTEN_FORMS), size=n_persons, p=WRITTEN_FORM_P)
    written = _written(canonical, form)
    written[anonymous] = ""

    # --- support, years before, end reason (per insats, in order within person) ---
    start_names = list(START_P)
    start_cat = np.array([C[c] for c in start_names])[
        rng.choice(len(start_names), size=n_total, p=np.array(list(START_P.values())))]
    years_before = np.minimum(rng.negative_binomial(1.2, 0.30, n_persons), 15)
    elapsed_years = ((start - first_start[person]).astype(np.int64) // 365)
    ar_fore = np.minimum(years_before[person] + elapsed_years, 15)
    # Fewer go on to work or studies the longer they have had public support; the
    # years are drawn the same way for women and men, so the share is ~34 % for both.
    p_work_or_study = np.clip(0.43 - 0.03 * np.minimum(ar_fore, 6), 0.05, 1.0)
    roll = rng.random(n_total)
    avslut = np.where(roll < 0.01, A["felregistrering"],
                      np.where(roll < 0.01 + p_work_or_study * 0.99,
                               np.where(rng.random(n_total) < 0.7, A["forvarvsarbete"], A["studier"]),
                               np.where(rng.random(n_total) < 0.43, A["aktivt_arbetssokande"], A["ovrigt"])))
    slut_draw = {reason: _draw(rng, SLUT_P[reason], n_total) for reason in SLUT_P}
    keep_start = rng.random(n_total) < KEEP_START_P
    carry = rng.random(n_total) < 0.7  # a later insats starts on the support the previous ended on
    slut_cat = np.empty(n_total, dtype=np.int64)
    for r in range(int(counts.max())):
        rows = np.flatnonzero(rank == r)
        if r > 0:
            start_cat[rows] = np.where(carry[rows], slut_cat[rows - 1], start_cat[rows])
        reason = avslut[rows]
        s = slut_draw["ovrigt"][rows]
        s = np.where(keep_start[rows], start_cat[rows], s)
        for name in ("forvarvsarbete", "studier", "aktivt_arbetssokande"):
            s = np.where(reason == A[name], slut_draw[name][rows], s)
        slut_cat[rows] = s

    # --- SUS file -----------------------------------------------------------------
    def labels(names, codes):  # strings via arrow take: no Python object per row
        return pa.array(list(names), pa.string()).take(pa.array(np.asarray(codes, dtype=np.int32)))

    order = np.lexsort((np.arange(n_total), fed, start))  # as an extract would list them
    person_o = person[order]
    sus = pa.table({
        "personnummer": pa.array(written, pa.string()).take(pa.array(person_o.astype(np.int32))),
        "anonym": pa.array(anonymous[person_o].astype(np.int8)),
        "kon": labels(("M", "K"), woman[person_o]),
        "fodelsear": pa.array((birth.astype("datetime64[Y]").astype(np.int64) + 1970)[person_o].astype(np.int16)),
        "forbund": labels(all_codes, fed[order]),
        "insats": labels(INSATSER, insats[order]),
        "startdatum": pa.array(start[order]).cast(pa.string()),
        "slutdatum": pa.array(end[order]).cast(pa.string()),
        "forsorjning_start": labels(FORSORJNING, start_cat[order]),
        "forsorjning_slut": labels(FORSORJNING, slut_cat[order]),
        "ar_offentlig_forsorjning_fore": pa.array(ar_fore[order].astype(np.int8)),
        "avslutsorsak": labels(AVSLUT, avslut[order]),
    })
    sus_path = out_dir / f"sus_deltagare_{extract_month}.csv"
    pa_csv.write_csv(sus, sus_path, pa_csv.WriteOptions(delimiter=";", quoting_style="none",
                                                         quoting_header="none"))
    del sus

    # --- income extract -------------------------------------------------------------
    first_month = start.min().astype("datetime64[M]") - FOLLOW_MONTHS
    income_path = out_dir / f"inkomster_{first_month}_{extract_month}.parquet"
    linked = np.flatnonzero(~anonymous)

    def to_month(d: np.ndarray) -> np.ndarray:  # months since 1970-01
        return d.astype("datetime64[M]").astype(np.int64)

    f_m = to_month(first_month)
    e_m = to_month(extract_m)
    month_labels = pa.array(np.datetime_as_string(np.arange(first_month, extract_m + 1), unit="M"))
    persons = SimpleNamespace(
        written=written,
        lo=np.maximum(to_month(first_start) - FOLLOW_MONTHS, f_m),
        hi=np.minimum(to_month(last_end) + FOLLOW_MONTHS, e_m),
        first_start=to_month(first_start),
        last_end=to_month(last_end),
        pension_from=to_month(birth) + 65 * 12 + 1,
        woman=woman,
        start_cat=start_cat[first_row],
        slut_cat=slut_cat[last_row],
        avslut=avslut[last_row],
        years_before=years_before,
    )
    income_rows = 0
    pending: list[pa.Table] = []
    with pq.ParquetWriter(income_path, INCOME_SCHEMA, compression="zstd") as writer:
        def flush() -> None:
            table = pa.concat_tables(pending)
            writer.write_table(table, row_group_size=max(table.num_rows, 1))
            pending.clear()

        for begin in range(0, linked.size, PERSON_CHUNK):
            table = _income_chunk(rng, persons, linked[begin:begin + PERSON_CHUNK], f_m, month_labels)
            pending.append(table)
            income_rows += table.num_rows
            if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                flush()
        if pending:
            flush()

    return {"sus_path": sus_path, "income_path": income_path, "sus_rows": int(n_total),
            "income_rows": int(income_rows), "persons": int(n_persons)}


def _draw(rng: np.random.Generator, probabilities: dict[str, float], n: int) -> np.ndarray:
    codes = np.array([C[c] for c in probabilities])
    p = np.array(list(probabilities.values()))
    return codes[rng.choice(codes.size, size=n, p=p / p.sum())]


def _luhn(nine: np.ndarray) -> np.ndarray:
    """Vectorised Luhn check digit over int64 values YYMMDDNNN."""
    total = np.zeros(nine.shape, dtype=np.int64)
    rest = nine.copy()
    for position in range(9):  # from the right: the last digit has weight 2
        digit = rest % 10
        rest //= 10
        product = digit * (2 if position % 2 == 0 else 1)
        total += np.where(product > 9, product - 9, product)
    return (10 - total % 10) % 10


def _personnummer(rng: np.random.Generator, birth: np.ndarray, woman: np.ndarray,
                  samordning: np.ndarray) -> np.ndarray:
    """Unique canonical numbers (int64 YYYYMMDDNNNC) for the given birth dates and sexes."""
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1 + np.where(samordning, 60, 0)
    yyyymmdd = year * 10_000 + month * 100 + day
    number = np.zeros(birth.size, dtype=np.int64)
    todo = np.arange(birth.size)
    while todo.size:  # redraw the birth number where two persons collide
        serial = rng.integers(1, 100, todo.size)  # never birth number 000
        third = 2 * rng.integers(0, 5, todo.size) + np.where(woman[todo], 0, 1)  # even women, odd men
        nnn = serial * 10 + third
        number[todo] = (yyyymmdd[todo] * 1000 + nnn) * 10 + _luhn((yyyymmdd[todo] % 1_000_000) * 1000 + nnn)
        _, first = np.unique(number, return_index=True)
        duplicate = np.ones(birth.size, dtype=bool)
        duplicate[first] = False
        todo = np.flatnonzero(duplicate)
    return number


def _written(canonical: np.ndarray, form: np.ndarray) -> np.ndarray:
    """The numbers as written in the extracts (object array of str), per WRITTEN_FORMS."""
    text = canonical.astype("U12")
    date8 = text.astype("U8")  # truncates to YYYYMMDD
    tail = np.char.mod("%04d", canonical % 10_000)
    written = np.where(form == 0, np.char.add(np.char.add(date8, "-"), tail), text)  # '12-' and '12'
    ten = np.char.add(np.char.add(np.char.mod("%06d", (canonical // 10_000) % 1_000_000), "-"), tail)
    written = np.where(form == 2, ten, written)  # '10-'
    return written.astype(object)


def _income_chunk(rng: np.random.Generator, p: SimpleNamespace, who: np.ndarray, f_m: int,
                  month_labels: pa.Array) -> pa.Table:
    """Expand persons `who` to person-month rows: the main support, sometimes a second, smaller one.

    `p` holds per-person arrays (indexed by person) from write_register_extracts.
    """
    n = who.size
    lo, hi = p.lo[who], p.hi[who]
    months = np.maximum(hi - lo + 1, 0)
    row_person = np.repeat(np.arange(n), months)  # local person index
    offsets = np.concatenate([[0], np.cumsum(months)[:-1]])
    month = lo[row_person] + (np.arange(row_person.size) - offsets[row_person])

    # Per-person trajectory parameters.
    start_cat, slut_cat, avslut = p.start_cat[who], p.slut_cat[who], p.avslut[who]
    public_fallback = np.where(np.isin(start_cat, PUBLIC), start_cat,
                               PUBLIC[rng.integers(0, PUBLIC.size, n)])
    to_work = (avslut == A["forvarvsarbete"]) | (avslut == A["studier"])
    on_own = np.isin(slut_cat, (C["lon"], C["studiemedel"]))
    # ~20 % of those who left for work/studies fall back to public support within
    # 24 months; ~15 % of the others get a job later.
    switch_at = np.where(to_work & on_own, np.where(rng.random(n) < 0.20, rng.integers(1, 25, n), 0),
                         np.where(~on_own & (rng.random(n) < 0.15), rng.integers(3, 25, n), 0))
    switch_cat = np.where(on_own, public_fallback, C["lon"])
    # Working before the years of public support the person had before start.
    worked_before = rng.random(n) < 0.7
    level = rng.lognormal(0.0, 0.25, n)  # personal income level

    i = row_person
    from_start = month - p.first_start[who][i]
    from_end = month - p.last_end[who][i]
    cat = np.where(from_end >= 0, slut_cat[i], start_cat[i])
    cat = np.where((from_start < -12 * p.years_before[who][i]) & worked_before[i], C["lon"], cat)
    cat = np.where((switch_at[i] > 0) & (from_end >= switch_at[i]), switch_cat[i], cat)
    noise = rng.random(month.size)
    cat = np.where(noise < np.where(p.woman[who][i], 0.012, 0.004), C["foraldrapenning"], cat)
    cat = np.where(month >= p.pension_from[who][i], C["pension"], cat)
    # Nothing recorded: "ingen" as support, and a few random empty months.
    keep = (cat != INGEN) & (rng.random(month.size) >= 0.03)
    i, month, cat = i[keep], month[keep], cat[keep]
    amount = MEDIAN_AMOUNT[cat] * level[i] * rng.lognormal(0.0, 0.12, cat.size)
    amount = np.maximum(np.round(amount), 2).astype(np.int64)

    # Sometimes a second, smaller amount the same month.
    second = np.flatnonzero(rng.random(cat.size) < 0.18)
    second_choices = np.array([C["lon"], C["ekonomiskt_bistand"], C["a_kassa"], C["sjukpenning"],
                               C["foraldrapenning"]])
    pick = rng.integers(0, second_choices.size, second.size)
    second_cat = second_choices[pick]
    clash = second_cat == cat[second]
    second_cat[clash] = second_choices[(pick[clash] + 1) % second_choices.size]
    second_amount = np.maximum(np.floor(amount[second] * rng.uniform(0.05, 0.6, second.size)), 1)
    second_amount = np.minimum(second_amount, amount[second] - 1).astype(np.int64)

    # Main row first, then the second one, in person-month order.
    row_i = np.concatenate([i, i[second]])
    row_month = np.concatenate([month, month[second]])
    row_cat = np.concatenate([cat, second_cat])
    row_amount = np.concatenate([amount, second_amount])
    row_rank = np.concatenate([np.zeros(i.size, np.int8), np.ones(second.size, np.int8)])
    order = np.lexsort((row_rank, row_month, row_i))

    written = pa.array(p.written[who], type=pa.string())
    return pa.table({
        "personnummer": written.take(pa.array(row_i[order].astype(np.int32))),
        "manad": month_labels.take(pa.array((row_month[order] - f_m).astype(np.int32))),
        "kategori": pa.array(np.array(CATEGORIES, dtype=object)).take(pa.array(row_cat[order].astype(np.int32))),
        "belopp": pa.array(row_amount[order].astype(np.int32), type=pa.int32()),
    }, schema=INCOME_SCHEMA)
