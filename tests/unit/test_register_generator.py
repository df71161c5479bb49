"""The synthetic SUS and income extracts: shape, validity, linkage, determinism."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.personnummer import gender_of, is_samordningsnummer, normalise
from synthetic.registers import CATEGORIES, FORSORJNING, write_register_extracts

SUS_HEADER = ("personnummer;anonym;kon;fodelsear;forbund;insats;startdatum;slutdatum;forsorjning_start;"
              "forsorjning_slut;ar_offentlig_forsorjning_fore;avslutsorsak")
AVSLUT = {"forvarvsarbete", "studier", "aktivt_arbetssokande", "ovrigt", "felregistrering"}
EXTRACT_MONTH = "2024-06"
COHORTS = range(2022, 2024)
# A merger: A1 and A2 become A in 2023; B joins in 2022.
FEDERATIONS = {
    2019: ["A1", "A2", "C", "D"], 2020: ["A1", "A2", "C", "D"], 2021: ["A1", "A2", "C", "D"],
    2022: ["A1", "A2", "B", "C", "D"], 2023: ["A", "B", "C", "D"],
}


def generate(out: Path, n: int = 300, seed: int = 11, cohorts: range = COHORTS) -> dict:
    return write_register_extracts(out, n_insatser_per_year=n, cohort_years=cohorts,
                                   federation_codes_by_year=FEDERATIONS, extract_month=EXTRACT_MONTH, seed=seed)


def read_sus(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, encoding="utf-8")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("registers")
    result = generate(out)
    sus = read_sus(result["sus_path"])
    income = pq.read_table(result["income_path"])
    return result, sus, income


@pytest.fixture(scope="module")
def larger(tmp_path_factory):
    out = tmp_path_factory.mktemp("registers_larger")
    result = generate(out, n=8000, seed=5)
    return read_sus(result["sus_path"])


def canonical(written: str) -> str:
    pn = normalise(written)
    assert pn is not None  # never show the value in the assertion text
    return pn


def test_files_and_summary(small):
    result, sus, income = small
    assert set(result) == {"sus_path", "income_path", "sus_rows", "income_rows", "persons"}
    assert Path(result["sus_path"]).name == f"sus_deltagare_{EXTRACT_MONTH}.csv"
    assert re.fullmatch(rf"inkomster_\d{{4}}-\d{{2}}_{EXTRACT_MONTH}\.parquet", Path(result["income_path"]).name)
    assert result["sus_rows"] == len(sus) == 300 * len(COHORTS)
    assert result["income_rows"] == income.num_rows > 0
    assert 0 < result["persons"] < len(sus)


def test_sus_columns_exact(small):
    result, sus, _ = small
    first_line = Path(result["sus_path"]).read_text(encoding="utf-8").splitlines()[0]
    assert first_line == SUS_HEADER
    assert tuple(sus.columns) == tuple(SUS_HEADER.split(";"))


def test_income_schema(small):
    _, _, income = small
    assert income.schema.names == ["personnummer", "manad", "kategori", "belopp"]
    assert income.schema.field("belopp").type == pa.int32()
    assert income.schema.field("manad").type == pa.string()
    df = income.to_pandas()
    assert (df.belopp > 0).all()
    assert set(df.kategori) <= set(CATEGORIES)
    assert df.manad.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])").all()


def test_every_number_is_valid_and_matches_kon(small):
    _, sus, _ = small
    named = sus[sus.personnummer != ""]
    numbers = named.personnummer.map(canonical)
    assert (numbers.map(gender_of).values == named.kon.values).all()
    assert set(sus.kon) <= {"K", "M"}
    # written forms: mostly YYYYMMDD-NNNC, some without dash, some 10 digits
    lengths = named.personnummer.str.len().value_counts()
    assert lengths.idxmax() == 13 and set(lengths.index) <= {13, 12, 11}
    # birth year agrees with the number (day - 60 for samordningsnummer)
    assert (numbers.str[:4].values == named.fodelsear.values).all()


def test_anonymous_rows(small):
    _, sus, _ = small
    anonymous = sus.anonym == "1"
    assert set(sus.anonym) <= {"0", "1"}
    assert (sus.personnummer[anonymous] == "").all()
    assert (sus.personnummer[~anonymous] != "").all()
    assert 0.0 < anonymous.mean() < 0.07  # ~2 %


def test_dates_and_codes(small):
    _, sus, _ = small
    start = pd.to_datetime(sus.startdatum, format="%Y-%m-%d")
    end = pd.to_datetime(sus.slutdatum, format="%Y-%m-%d")
    days = (end - start).dt.days
    assert (days >= 59).all() and (days <= 731).all()  # 2-24 months
    assert set(end.dt.year) == set(COHORTS)
    assert (end <= pd.Timestamp("2024-06-30")).all()
    for row in sus.itertuples():
        assert row.forbund in FEDERATIONS[int(row.startdatum[:4])]
    assert set(sus.forsorjning_start) <= set(FORSORJNING)
    assert set(sus.forsorjning_slut) <= set(FORSORJNING)
    assert set(sus.avslutsorsak) <= AVSLUT
    years = sus.ar_offentlig_forsorjning_fore.astype(int)
    assert years.between(0, 15).all() and years.median() <= 4
    assert sus.insats.str.fullmatch(r"[A-Z0-9]{2,8}").all()


def test_working_age_at_start(small):
    _, sus, _ = small
    named = sus[sus.personnummer != ""]
    for written, started in zip(named.personnummer, named.startdatum, strict=True):
        pn = canonical(written)
        day = int(pn[6:8]) - (60 if is_samordningsnummer(pn) else 0)
        born = date(int(pn[:4]), int(pn[4:6]), day)
        s = date.fromisoformat(started)
        age = s.year - born.year - ((s.month, s.day) < (born.month, born.day))
        assert 18 <= age <= 64


def test_income_links_to_sus_in_the_same_written_form(small):
    _, sus, income = small
    named = sus[sus.personnummer != ""]
    income_people = set(income.column("personnummer").unique().to_pylist())
    assert income_people <= set(named.personnummer)
    assert len(income_people) >= 0.95 * named.personnummer.nunique()
    # one written form per person in SUS
    assert named.groupby(named.personnummer.map(canonical)).personnummer.nunique().max() == 1


def test_income_months_within_coverage(small):
    result, sus, income = small
    first_month = Path(result["income_path"]).stem.split("_")[1]
    df = income.to_pandas()
    assert df.manad.min() >= first_month and df.manad.max() <= EXTRACT_MONTH
    earliest = pd.Period(sus.startdatum.min()[:7], "M") - 24
    assert first_month == str(earliest)

    named = sus[sus.personnummer != ""].copy()
    named["s"] = named.startdatum.str[:7].map(lambda m: pd.Period(m, "M"))
    named["e"] = named.slutdatum.str[:7].map(lambda m: pd.Period(m, "M"))
    window = named.groupby("personnummer").agg(s=("s", "min"), e=("e", "max"))
    span = df.groupby("personnummer").manad.agg(["min", "max"])
    joined = span.join(window)
    assert (joined["min"].map(lambda m: pd.Period(m, "M")) >= joined.s - 24).all()
    assert (joined["max"].map(lambda m: pd.Period(m, "M")) <= joined.e + 24).all()
    # at most two categories a person-month, and never a tie for the main one
    per_month = df.groupby(["personnummer", "manad"]).belopp
    assert per_month.size().max() <= 2
    top_two = df.sort_values("belopp", ascending=False).groupby(["personnummer", "manad"]).belopp.agg(list)
    assert all(len(v) == 1 or v[0] > v[1] for v in top_two)
    assert not df.duplicated(["personnummer", "manad", "kategori"]).any()


def test_deterministic_byte_identical(tmp_path):
    a = generate(tmp_path / "a")
    b = generate(tmp_path / "b")
    assert a["sus_rows"] == b["sus_rows"] and a["income_rows"] == b["income_rows"]
    assert Path(a["sus_path"]).read_bytes() == Path(b["sus_path"]).read_bytes()
    assert Path(a["income_path"]).read_bytes() == Path(b["income_path"]).read_bytes()
    c = generate(tmp_path / "c", seed=12)
    assert Path(a["sus_path"]).read_bytes() != Path(c["sus_path"]).read_bytes()


def test_distributions(larger):
    sus = larger
    women = sus.kon == "K"
    assert 0.57 < women.mean() < 0.65  # ~61 %
    assert women[sus.insats == "TIDIG"].mean() > 0.72  # ~78 %
    work_or_study = sus.avslutsorsak.isin(["forvarvsarbete", "studier"])
    for kon in ("K", "M"):
        assert 0.29 < work_or_study[sus.kon == kon].mean() < 0.39  # ~34 % for both
    assert 0.003 < (sus.avslutsorsak == "felregistrering").mean() < 0.02
    named = sus[sus.personnummer != ""]
    per_person = named.personnummer.value_counts()
    assert 0.11 < (per_person >= 2).mean() < 0.19  # ~15 % with 2+ insatser
    samordning = per_person.index.map(lambda w: is_samordningsnummer(canonical(w)))
    assert 0.01 < np.mean(samordning) < 0.05
    public = {"a_kassa", "aktivitetsstod", "sjukpenning", "rehabiliteringspenning", "aktivitetsersattning",
              "sjukersattning", "ekonomiskt_bistand"}
    assert sus.forsorjning_start.isin(public).mean() > 0.7
    months = (pd.to_datetime(sus.slutdatum) - pd.to_datetime(sus.startdatum)).dt.days / 30.44
    assert 6 <= months.median() <= 10
    ends = pd.to_datetime(sus.slutdatum).dt.year.value_counts()
    assert ends.min() > 0.9 * 8000 and ends.max() < 1.1 * 8000


def test_single_cohort_year_and_early_extract(tmp_path):
    # The extract ends mid-year: nothing may end after it.
    result = write_register_extracts(tmp_path, n_insatser_per_year=200, cohort_years=range(2024, 2025),
                                     federation_codes_by_year={2021: ["X"], 2024: ["X", "Y"]},
                                     extract_month="2024-03", seed=1)
    sus = read_sus(result["sus_path"])
    assert (sus.slutdatum <= "2024-03-31").all() and (sus.slutdatum >= "2024-01-01").all()
    assert set(sus.forbund) <= {"X", "Y"}
    assert pq.read_table(result["income_path"]).column("manad").to_pandas().max() <= "2024-03"


@pytest.mark.parametrize("kwargs", [
    {"n_insatser_per_year": 0}, {"extract_month": "2024-13"}, {"extract_month": "2019-12"},
    {"federation_codes_by_year": {2022: []}},
])
def test_bad_arguments(tmp_path, kwargs):
    args = {"n_insatser_per_year": 10, "cohort_years": COHORTS, "federation_codes_by_year": FEDERATIONS,
            "extract_month": EXTRACT_MONTH, "seed": 1} | kwargs
    with pytest.raises(ValueError):
        write_register_extracts(tmp_path, **args)
