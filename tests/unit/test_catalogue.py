"""The catalogue is data: check the facts it must carry."""

from __future__ import annotations

from itertools import pairwise

from core.catalogue import parse_period, period_bounds, period_of


def test_sixteen_indicators_with_official_texts_for_4_11_16(catalogue):
    import csv

    from core.settings import REPO_ROOT

    with open(REPO_ROOT / "dbt_project/seeds/indicators.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["indicator_id"]) for r in rows] == list(range(1, 17))
    official = {int(r["indicator_id"]) for r in rows if r["text_status"] == "officiell"}
    assert official == {4, 11, 16}
    assert next(r for r in rows if r["indicator_id"] == "16")["valid_from"] == "2020/21"
    assert next(r for r in rows if r["indicator_id"] == "11")["measured_by"] == "register"


def test_question_versions(catalogue):
    assert {q.code for q in catalogue.questions_for("deltagare", "2019/20") if q.indicator_id == 4} == {"D04"}
    assert {q.code for q in catalogue.questions_for("deltagare", "2021/22") if q.indicator_id == 4} == {
        "D04", "D04B", "D04C"}
    # The staff question 8 was revised: a new code and a new comparability key.
    old, new = catalogue.question("P08"), catalogue.question("P08R")
    assert old.valid_to == "2021/22" and new.valid_from == "2022/23"
    assert old.comparability_key != new.comparability_key
    assert not [q for q in catalogue.questions_for("personal", "2019/20") if q.indicator_id == 16]
    assert [q for q in catalogue.questions_for("personal", "2020/21") if q.indicator_id == 16]


def test_co_referrers_are_a_group_from_a_later_period(catalogue):
    assert "medremittent" not in {g.code for g in catalogue.groups_in("2020/21")}
    assert "medremittent" in {g.code for g in catalogue.groups_in("2021/22")}


def test_federation_history(catalogue):
    before = {f.code for f in catalogue.federations_in("2019/20")}
    after = {f.code for f in catalogue.federations_in("2020/21")}
    goteborg = {"SF19", "SF20", "SF21", "SF22"}
    assert goteborg <= before and not goteborg & after
    assert all(catalogue.federation(c).successor_code == "SF23" for c in goteborg)
    assert "SF23" in after and "SF23" not in before
    assert after - before == {"SF23", "SF49"}  # the merged federation and BADESA joining
    assert before - after - goteborg == {"SF10", "SF11", "SF16"}  # three leaving
    assert 40 <= len(after) <= 55


def test_collection_calendar(catalogue):
    from datetime import date

    window = catalogue.open_window(date(2026, 11, 22))
    assert window.period == "2025/26"
    assert catalogue.open_window(date(2026, 7, 1)) is None
    windows = sorted(catalogue.windows, key=lambda w: w.opens_on)
    assert all(a.closes_on < b.opens_on for a, b in pairwise(windows)), "windows overlap"


def test_periods():
    assert parse_period("2025-26") == parse_period("2025/26") == "2025/26"
    assert parse_period("2025/27") is None and parse_period("25/26") is None
    start, end = period_bounds("2025/26")
    assert (start.isoformat(), end.isoformat()) == ("2025-11-01", "2026-10-31")
    assert period_of(start) == period_of(end) == "2025/26"
