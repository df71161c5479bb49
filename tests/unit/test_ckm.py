"""The Cell Key Method (publication.ckm): the perturbation table, the record keys, and the
perturbed register tables, cross-checked against the ONS reference implementation
(`cell-key-perturbation`) on the same record keys and perturbation table."""

from __future__ import annotations

import dataclasses
import importlib.util

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from cell_key_perturbation.create_perturbed_table import create_perturbed_table

from core.settings import CKM_SECRET_LABEL, DEV_CKM_SECRET, REPO_ROOT, get_settings
from publication import ckm
from publication.attack import InconsistentPublication, attack_file
from publication.spec import PUBLISHED

THRESHOLD = 5
SECRET = "test-secret"  # the Cell Key Method's secret (asked and answered are keyed by their cell with it)
RECORD_KEYS = REPO_ROOT / "dbt_project" / "models" / "intermediate" / "register" / "int_register__record_keys.py"


def _record_keys_model():
    spec = importlib.util.spec_from_file_location("int_register__record_keys", RECORD_KEYS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODEL = _record_keys_model()


def record_key(who: str, secret: bytes = b"test-secret") -> int:
    """The warehouse's record key: the model's hash, modulo the key range (int_register__participants)."""
    return MODEL.record_hash(secret, who) % ckm.KEY_RANGE


# -- the perturbation table --------------------------------------------------------------------


def test_every_row_is_unbiased_with_variance_v_and_publishes_nothing_small_or_negative():
    grid = ckm.noise_grid()
    assert grid.shape == (ckm.FLAT + 1, ckm.KEY_RANGE)
    assert not grid[0].any(), "a count of 0 is never perturbed"
    for count in range(1, ckm.FLAT + 1):
        d = grid[count]
        assert d.sum() == 0, f"row {count} is biased: mean {d.mean()}"
        assert (d ** 2).sum() == ckm.V * ckm.KEY_RANGE, f"row {count}: variance {d.var()}, not {ckm.V}"
        result = count + d
        assert (result >= 0).all() and not ((result >= 1) & (result <= ckm.JS)).any(), count
        assert np.abs(d).max() <= ckm.D


def test_the_table_covers_every_cell_key_once_per_count():
    table = pd.read_csv(ckm.PTABLE)
    for count, rows in table.groupby("count"):
        keys = np.concatenate([np.arange(a, b + 1) for a, b in zip(rows.first_cell_key, rows.last_cell_key,
                                                                    strict=True)])
        assert sorted(keys) == list(range(ckm.KEY_RANGE)), count
        assert rows.perturbation.is_monotonic_increasing
    assert sorted(table["count"].unique()) == list(range(1, ckm.FLAT + 1))


def test_the_committed_table_is_what_the_documented_construction_gives():
    pd.testing.assert_frame_equal(ckm.generate_ptable(), pd.read_csv(ckm.PTABLE))


def test_the_parameters_in_the_analysts_guide_are_the_tables():
    doc = " ".join((REPO_ROOT / "docs" / "analysts.md").read_text(encoding="utf-8").split())
    assert f"D = {ckm.D}, V = {ckm.V} and js = {ckm.JS}" in doc


def test_larger_counts_use_the_last_row():
    keys = np.arange(ckm.KEY_RANGE)
    for count in (ckm.FLAT, ckm.FLAT + 1, 750, 751, 10_000):
        assert (ckm.noise(np.full(ckm.KEY_RANGE, count), keys) == ckm.noise_grid()[ckm.FLAT]).all()


def test_dbt_key_range_is_publication_key_range():
    project = yaml.safe_load((REPO_ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    assert project["vars"]["ckm_key_range"] == ckm.KEY_RANGE


# -- record keys -------------------------------------------------------------------------------


def test_a_person_keeps_a_key_that_the_secret_decides():
    who = MODEL.identity("a" * 64, "K", 1980, "SF07", "STEG1", "2023-01-01")
    assert who == MODEL.identity("a" * 64, "M", 1990, "SF08", "IPS", "2024-05-01"), "the pseudonym alone decides"
    assert record_key(who) == record_key(who)
    keys = [record_key(f"{i:064x}") for i in range(4000)]
    assert min(keys) == 0 and max(keys) == ckm.KEY_RANGE - 1
    assert abs(np.mean(keys) - (ckm.KEY_RANGE - 1) / 2) < 5
    other = [record_key(f"{i:064x}", b"another-secret") for i in range(4000)]
    assert np.mean(np.array(keys) == np.array(other)) < 0.02, "another secret gives other keys"


def test_an_anonymous_record_is_keyed_by_what_no_later_extract_changes():
    record = ("K", 1980, "SF07", "STEG1", "2023-01-01")
    assert MODEL.identity(None, *record) == MODEL.identity(None, *record)
    assert MODEL.identity(None, *record) != MODEL.identity(None, "M", *record[1:])
    assert MODEL.identity(None, *record).startswith("anonym|")
    assert MODEL.record_hash(b"s", MODEL.identity(None, *record)) < 2 ** 56  # a BIGINT


def test_the_model_hashes_in_duckdb_exactly_as_record_hash_defines():
    """The model computes the HMAC in SQL (pads as parameters): the same keys as record_hash, for
    pseudonyms, anonymous records with missing fields and non-ASCII text, and any secret length."""
    from datetime import date

    records = [("a" * 64, "K", 1980, "SF07", "STEG1", date(2023, 1, 1)),
               ("", "M", 1990, "SF08", "IPS", date(2024, 5, 1)),
               (None, "K", 1980, "SF07", "STEG1", date(2023, 1, 1)),
               (None, None, None, "SF07", None, None),
               (None, "M", 1955, "SF12", "Åtgärd ö", date(999, 12, 31))]
    records += [(f"{i:064x}", "K", 1970 + i % 30, "SF01", "STEG1", date(2020, 1, 1)) for i in range(200)]
    with duckdb.connect() as con:
        con.execute("create table records (person_key varchar, gender varchar, birth_year integer, "
                    "federation_code varchar, insats varchar, start_date date)")
        con.executemany("insert into records values (?, ?, ?, ?, ?, ?)", records)
        for secret in (b"", b"test-secret", DEV_CKM_SECRET.encode(), b"x" * 64, b"y" * 65, "hemlig nyckel ä".encode()):
            in_sql = [r[0] for r in con.sql(f"select {MODEL.HASH_SQL} from records order by rowid",
                                            params=MODEL.pads(secret)).fetchall()]
            assert in_sql == [MODEL.record_hash(secret, MODEL.identity(*r)) for r in records], secret


# -- against the ONS reference implementation ------------------------------------------------

TRANSITION = ["cohort_year", "gender", "support_at_start", "support_at_end"]
SUPPORTS = ["a_kassa", "lon", "sjukpenning", "ekonomiskt_bistand", "ingen", "studiemedel"]


def microdata(seed: int) -> pd.DataFrame:
    """Insatser with record keys from pseudonyms; small cells, and one cell of more than 750 (ONS's
    p-table repeats its rows 501–750 above 750)."""
    rng = np.random.default_rng(seed)
    n = 3000
    people = rng.integers(0, 2000, n)  # some people have two insatser: their key counts twice
    df = pd.DataFrame({
        "cohort_year": rng.choice([2022, 2023, 2024], n),
        "gender": rng.choice(["K", "M"], n),
        "support_at_start": rng.choice(SUPPORTS, n, p=[0.4, 0.3, 0.15, 0.1, 0.04, 0.01]),
        "support_at_end": rng.choice(SUPPORTS, n, p=[0.3, 0.3, 0.2, 0.1, 0.07, 0.03]),
        "record_key": [record_key(f"{p:064x}") for p in people],
    })
    big = pd.DataFrame({"cohort_year": 2024, "gender": "K", "support_at_start": "lon", "support_at_end": "lon",
                        "record_key": [record_key(f"big{i}") for i in range(900)]})
    return pd.concat([df, big], ignore_index=True)


def cells(records: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """What the marts hold for these records: each cell's count and cell key (macro count_with_cell_key)."""
    out = records.groupby(keys).agg(participants=("record_key", "size"), key_sum=("record_key", "sum"))
    out["participants_cell_key"] = out.pop("key_sum") % ckm.KEY_RANGE
    return out.reset_index()


def ons_ptable() -> pd.DataFrame:
    """The committed perturbation table in the ONS layout (pcv 1–750 × ckey 0–255 → pvalue), read from the
    file on its own: counts from FLAT up use the last row."""
    table = pd.read_csv(ckm.PTABLE)
    rows = {count: np.repeat(g.perturbation, g.last_cell_key - g.first_cell_key + 1).to_numpy()
            for count, g in table.groupby("count")}
    pcv = np.repeat(np.arange(1, 751), ckm.KEY_RANGE)
    pvalue = np.concatenate([rows[min(p, ckm.FLAT)] for p in range(1, 751)])
    return pd.DataFrame({"pcv": pcv, "ckey": np.tile(np.arange(ckm.KEY_RANGE), 750), "pvalue": pvalue})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_perturbed_counts_equal_the_ons_reference_on_the_same_keys_and_table(seed):
    records = microdata(seed)
    ons = create_perturbed_table(records, ons_ptable(), geog=[], tab_vars=TRANSITION, record_key="record_key",
                                 threshold=0)
    ons = ons[ons["count"] > 0].set_index(TRANSITION)["count"].astype(int).sort_index()
    ours = ckm.perturb({"support_transitions": cells(records, TRANSITION)}, THRESHOLD, SECRET)["support_transitions"]
    ours = ours.set_index(TRANSITION)["participants"].sort_index()
    assert len(ours) > 100 and (ours > 750).any()
    pd.testing.assert_series_equal(ours, ons, check_names=False)


def test_the_same_records_get_the_same_noise_in_every_table_and_order():
    records = microdata(4)
    transitions = cells(records, ["cohort_year"]).assign(gender="T", support_at_start="alla", support_at_end="alla")
    gender = cells(records, ["cohort_year"]).assign(federation_code="RIKET", insats="alla", gender="T",
                                                    n_work_or_studies=0, n_work_or_studies_cell_key=0,
                                                    federation_name="Riket", mean_insats_months=5.0,
                                                    mean_years_public_support_before=2.0)
    shuffled = cells(records.sample(frac=1, random_state=7), ["cohort_year"]).assign(
        gender="T", support_at_start="alla", support_at_end="alla")
    first = ckm.perturb({"support_transitions": transitions, "gender_analysis": gender}, THRESHOLD, SECRET)
    again = ckm.perturb({"support_transitions": shuffled}, THRESHOLD, SECRET)
    assert first["support_transitions"].participants.tolist() == first["gender_analysis"].participants.tolist()
    pd.testing.assert_frame_equal(first["support_transitions"], again["support_transitions"])
    assert (first["support_transitions"].participants != transitions.participants).any(), "there is noise"


# -- the published tables ----------------------------------------------------------------------


def outcomes(rows: list[tuple[int, int, int, int, int]]) -> pd.DataFrame:
    """indicator11_outcomes rows (n_observed, its key, n_self_supporting, its key, federation number)."""
    return pd.DataFrame([{
        "cohort_year": 2024, "federation_code": f"SF{f:02d}", "federation_name": "x", "gender": "T",
        "insats": "alla", "support_at_start": "alla", "followup_months": 6, "is_complete": True,
        "cohort_size": obs, "cohort_size_cell_key": obs_key, "n_observed": obs, "n_observed_cell_key": obs_key,
        "n_self_supporting": self, "n_self_supporting_cell_key": self_key, "share_self_supporting": 0.0,
        "n_sustainable": self, "n_sustainable_cell_key": self_key, "share_sustainable": 0.0,
        "disclosure_n": 0} for obs, obs_key, self, self_key, f in rows])


def test_shares_come_from_the_perturbed_counts_and_rows_perturbed_to_zero_are_left_out():
    grid = ckm.noise_grid()
    gone = int(np.flatnonzero(grid[1] == -1)[0])  # a cell key that takes a count of 1 to 0
    up, down = int(np.argmax(grid[ckm.FLAT])), int(np.argmin(grid[ckm.FLAT]))  # for a count of 20
    df = outcomes([(1, gone, 0, 0, 1), (20, down, 20, up, 2), (30, 0, 0, 0, 3), (40, 5, 10, 9, 4)])
    published = ckm.perturb({"indicator11_outcomes": df}, THRESHOLD, SECRET)["indicator11_outcomes"]
    assert published.federation_code.tolist() == ["SF02", "SF03", "SF04"]
    assert set(published.status) == {"ok"}
    assert "n_observed_cell_key" not in published.columns
    sf02, sf03, sf04 = (published.iloc[i] for i in range(3))
    assert sf02.n_self_supporting > sf02.n_observed and sf02.share_self_supporting == 1.0, "at most 1"
    assert sf03.n_self_supporting == 0 and sf03.share_self_supporting == 0.0
    assert sf04.share_sustainable == round(sf04.n_sustainable / sf04.n_observed + 1e-12, 4)
    assert sf04.cohort_size == sf04.n_observed, "the same records, the same noise"


def test_a_mean_is_shown_only_where_the_perturbed_count_proves_more_than_js_people():
    rows = [{"cohort_year": 2024, "federation_code": "RIKET", "federation_name": "Riket", "insats": i,
             "gender": "T", "participants": n, "participants_cell_key": 0, "n_work_or_studies": 0,
             "n_work_or_studies_cell_key": 0, "mean_insats_months": 7.5, "share_work_or_studies": 0.0,
             "mean_years_public_support_before": 3.0, "disclosure_n": n} for i, n in [("A", 6), ("B", 40)]]
    published = ckm.perturb({"gender_analysis": pd.DataFrame(rows)}, THRESHOLD, SECRET)["gender_analysis"]
    shown = published.participants >= ckm.MEAN_SHOWN_FROM
    assert published.mean_insats_months.notna().tolist() == shown.tolist()
    assert (published.participants[shown] - ckm.D > ckm.JS).all()


def test_ckm_refuses_a_threshold_above_js_plus_one():
    frames = {"support_transitions": cells(microdata(5), TRANSITION)}
    assert ckm.perturb(frames, ckm.JS + 1, SECRET)["support_transitions"].participants.gt(0).all()
    with pytest.raises(ValueError, match="at most 5"):
        ckm.perturb(frames, ckm.JS + 2, SECRET)
    assert ckm.perturb({}, ckm.JS + 2, SECRET) == {}, "under suppression nothing is perturbed, at any threshold"


def test_ckm_perturbs_every_protected_table_and_suppression_none():
    assert ckm.perturbed_tables("suppression") == []
    assert ckm.perturbed_tables("ckm") == [t.name for t in PUBLISHED if t.protected]


# -- the attacker's audit and the settings ---------------------------------------------------


@pytest.mark.parametrize("listed", ["gender_analysis", ""])
def test_the_attacker_bounds_a_perturbed_table_by_its_noise_not_its_margins(tmp_path, listed):
    """K + M need not equal T in a perturbed table: the attacker takes each count as within D of what is
    published, so 6 + 7 against 14 is no contradiction there, but is one in a suppressed table."""
    path = tmp_path / "published.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("""create table gender_analysis as select * from (values
            (2024, 'RIKET', 'alla', 'K', 6, 'ok'), (2024, 'RIKET', 'alla', 'M', 7, 'ok'),
            (2024, 'RIKET', 'alla', 'T', 14, 'ok'))
            t(cohort_year, federation_code, insats, gender, participants, status)""")
        con.execute("create table publication as select 'ckm' as disclosure_method, ? as perturbed_tables", [listed])
    if listed:
        report = attack_file(path, THRESHOLD)
        assert report.findings == [] and report.checked["gender_analysis"] == 3
    else:
        with pytest.raises(InconsistentPublication, match="gender margin"):
            attack_file(path, THRESHOLD)


def test_the_method_is_a_setting_and_the_cell_key_method_is_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("NNS_DISCLOSURE_METHOD", raising=False)
    monkeypatch.delenv("NNS_CKM_SECRET", raising=False)
    settings = get_settings()
    assert settings.disclosure_method == "ckm" and settings.ckm_secret == DEV_CKM_SECRET
    assert settings.ckm_secret_is_public
    monkeypatch.setenv("NNS_DISCLOSURE_METHOD", "SUPPRESSION")
    assert get_settings().disclosure_method == "suppression"
    monkeypatch.setenv("NNS_DISCLOSURE_METHOD", "CKM")
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("NNS_CKM_SECRET_FILE", str(secret))
    settings = get_settings()
    assert settings.disclosure_method == "ckm" and settings.dbt_env()["NNS_CKM_SECRET"] == "from-a-file"
    monkeypatch.setenv("NNS_DISCLOSURE_METHOD", "rounding")
    with pytest.raises(ValueError, match="ckm, suppression"):
        get_settings()


def test_ckm_publishes_nothing_under_the_public_development_secret(monkeypatch, settings):
    """dbt may key the records with it, but staging refuses: anyone who reads core/settings.py knows it."""
    from publication.candidate import PublicationRefused
    from publication.stage import write_publication

    monkeypatch.delenv("NNS_CKM_SECRET_FILE", raising=False)
    for unset_or_public in ("", DEV_CKM_SECRET):
        monkeypatch.setenv("NNS_CKM_SECRET", unset_or_public)
        with pytest.raises(PublicationRefused, match="NNS_CKM_SECRET"):
            write_publication(get_settings(), settings.home / "candidate.duckdb")


def test_the_secret_check_model_and_publication_agree_on_the_fingerprint(monkeypatch):
    path = REPO_ROOT / "dbt_project" / "models" / "intermediate" / "register" / "int_register__ckm_secret_check.py"
    spec = importlib.util.spec_from_file_location("secret_check_model", path)
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    assert model.LABEL == CKM_SECRET_LABEL

    class Dbt:
        def config(self, **_):
            pass

    monkeypatch.setenv("NNS_CKM_SECRET", "s3cret")
    with duckdb.connect() as session:
        built = model.model(Dbt(), session)
    fingerprints = built.column("fingerprint").to_pylist()
    def fingerprint(secret):
        return dataclasses.replace(get_settings(), ckm_secret=secret).ckm_secret_fingerprint

    assert fingerprints == [fingerprint("s3cret")] != [fingerprint("other")]


# -- the questionnaire tables under the Cell Key Method ----------------------------------------


def survey_cells(rows: list[dict]) -> pd.DataFrame:
    """indicator_results rows as the mart holds them: counts, their cell keys and the answers per value."""
    base = {"period": "2024/25", "federation_name": "x", "respondent_group": "deltagare", "indicator_id": 4,
            "mean_score": np.nan, "positive_share": np.nan, "ci_low": np.nan, "ci_high": np.nan,
            "national_positive_share": np.nan, "national_mean_score": np.nan}
    out = []
    for row in rows:
        values = row.pop("values")  # {answer value: (answers, cell key)}
        out.append({**base, **row, "answer_counts": [{"answer_value": v, "answers": a, "cell_key": k}
                                                      for v, (a, k) in sorted(values.items())]})
    return pd.DataFrame(out)


def test_a_survey_result_comes_from_its_perturbed_counts_and_a_small_group_is_withheld():
    grid = ckm.noise_grid()
    gone = int(np.flatnonzero(grid[3] == -3)[0])  # a cell key that takes a count of 3 to 0
    frame = survey_cells([
        {"federation_code": "RIKET", "gender": "T", "n": 400, "n_cell_key": 11, "valid_answers": 400,
         "valid_answers_cell_key": 11, "positive_answers": 300, "positive_answers_cell_key": 12,
         "effective_answers": 400.0, "values": {2: (100, 3), 5: (300, 12)}},
        {"federation_code": "SF01", "gender": "T", "n": 3, "n_cell_key": gone, "valid_answers": 3,
         "valid_answers_cell_key": gone, "positive_answers": 3, "positive_answers_cell_key": gone,
         "effective_answers": 3.0, "values": {6: (3, gone)}},
        {"federation_code": "SF02", "gender": "T", "n": 40, "n_cell_key": 7, "valid_answers": 40,
         "valid_answers_cell_key": 7, "positive_answers": 40, "positive_answers_cell_key": 7,
         "effective_answers": 40.0, "values": {6: (40, 7)}},
    ])
    published = ckm.perturb({"indicator_results": frame}, THRESHOLD, SECRET)["indicator_results"]
    nation, small, unanimous = (published.set_index("federation_code").loc[c] for c in ("RIKET", "SF01", "SF02"))
    assert small.status == ".." and all(pd.isna(small[c]) for c in ("n", "positive_share", "mean_score", "ci_low"))
    assert nation.status == "ok" and nation.n == 400 + ckm.noise([400], [11])[0]
    assert nation.positive_share == round((300 + ckm.noise([300], [12])[0]) / nation.valid_answers, 4)
    fives, twos = 300 + ckm.noise([300], [12])[0], 100 + ckm.noise([100], [3])[0]
    assert nation.mean_score == round((5 * fives + 2 * twos) / (fives + twos), 3), "the mean of perturbed counts"
    assert nation.ci_low < nation.positive_share < nation.ci_high
    # Everyone positive: the same answers, the same key, the same noise: 100 %, and an interval below it.
    assert unanimous.positive_share == 1.0 and unanimous.mean_score == 6.0 and unanimous.ci_high == 1.0
    assert unanimous.ci_low < 1.0


def test_the_interval_widens_for_the_noise_and_never_leaves_zero_to_one():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(200):
        valid = int(rng.integers(5, 60))
        positive = int(rng.integers(0, valid + 1))
        rows.append({"federation_code": f"SF{i:03d}", "gender": "T", "n": valid,
                     "n_cell_key": int(rng.integers(256)), "valid_answers": valid,
                     "valid_answers_cell_key": int(rng.integers(256)), "positive_answers": positive,
                     "positive_answers_cell_key": int(rng.integers(256)), "effective_answers": float(valid),
                     "values": {5: (positive, int(rng.integers(256))), 2: (valid - positive, int(rng.integers(256)))}})
    published = ckm.perturb({"indicator_results": survey_cells(rows)}, THRESHOLD, SECRET)["indicator_results"]
    shown = published[published.status == "ok"].dropna(subset=["positive_share"])
    assert (shown.ci_low >= 0).all() and (shown.ci_high <= 1).all()
    assert (shown.ci_low <= shown.positive_share).all() and (shown.positive_share <= shown.ci_high).all()
    truth = pd.DataFrame(rows).set_index("federation_code")
    covered = [truth.positive_answers[f] / truth.valid_answers[f] for f in shown.federation_code]
    inside = np.mean([(lo <= p <= hi) for p, lo, hi in zip(covered, shown.ci_low, shown.ci_high, strict=True)])
    assert inside >= 0.9, f"the true share lies inside the interval in {inside:.0%} of cells"


def test_asked_and_answered_are_keyed_by_their_cell_so_a_rebuild_repeats_their_noise():
    assert ckm.cell_key(SECRET, "asked", "2024/25", "deltagare", "SF07") == ckm.cell_key(
        SECRET, "asked", "2024/25", "deltagare", "SF07")
    keys = [ckm.cell_key(SECRET, "asked", "2024/25", "deltagare", f"SF{i:02d}") for i in range(60)]
    assert len(set(keys)) > 40, "cells get keys of their own"
    other = [ckm.cell_key("another secret", "asked", "2024/25", "deltagare", f"SF{i:02d}") for i in range(60)]
    assert sum(a == b for a, b in zip(keys, other, strict=True)) < 5, "another secret, other keys"
