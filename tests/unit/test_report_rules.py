"""The rules that decide what a report says (report.rules), and docs/reports.md stating each."""

from __future__ import annotations

import re

from core.settings import REPO_ROOT
from report import rules
from report.publishing import comments, large_change_points, publishing

DOCS = (REPO_ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
QUESTIONS = [
    {"question_code": "P08", "respondent_group": "personal", "indicator_id": 8, "comparability_key": "P08-v1",
     "valid_from": "2016/17", "valid_to": "2021/22", "question_text": ""},
    {"question_code": "P08R", "respondent_group": "personal", "indicator_id": 8, "comparability_key": "P08-v2",
     "valid_from": "2022/23", "valid_to": None, "question_text": ""},
    {"question_code": "P02", "respondent_group": "personal", "indicator_id": 7, "comparability_key": "P02",
     "valid_from": "2016/17", "valid_to": None, "question_text": ""},
]


def test_a_difference_from_the_nation_is_decided_on_the_printed_figures():
    # The lower bound prints as 70 %, the nation as 70 %: not clearly above, though 0.7004 > 0.6996.
    assert rules.differs(0.7004, 0.80, 0.6996) == 0
    assert rules.differs(0.7051, 0.80, 0.6996) == 1
    assert rules.differs(0.50, 0.6949, 0.70) == -1
    assert rules.differs(None, 0.8, 0.7) == 0


def test_ties_share_a_rank_and_small_groups_get_none():
    ranked = rules.rank([("A", "Alfa", 40, 1.0, 0.9, 1.0), ("B", "Beta", 25, 0.9999, 0.9, 1.0),
                         ("C", "Gamma", 30, 0.8, 0.7, 0.9), ("D", "Delta", 8, 1.0, 0.6, 1.0),
                         ("E", "Epsilon", 50, None, None, None), ("F", "Zeta", 20, 0.75, 0.6, 0.8)])
    assert [(r.code, r.rank, r.shared) for r in ranked] == [
        ("A", 1, True), ("B", 1, True), ("C", 3, False), ("F", 4, False), ("D", None, False), ("E", None, False)]
    assert rules.RANK_MIN_N == 20


def test_a_change_needs_the_same_questions_and_groups_large_enough():
    assert rules.change(0.74, 0.43) == 31
    assert rules.change(0.74, 0.43, 25, 30) == 31
    assert rules.change(0.74, 0.43, 25, 19) is None  # too few the period before
    assert rules.change(None, 0.43) is None
    assert rules.signature(QUESTIONS, 8, "personal", "2021/22") != rules.signature(QUESTIONS, 8, "personal", "2022/23")


def test_large_national_changes_between_comparable_periods():
    national = [("2020/21", 7, "personal", 0.74), ("2021/22", 7, "personal", 0.43),
                ("2022/23", 7, "personal", 0.79), ("2021/22", 8, "personal", 0.40),
                ("2022/23", 8, "personal", 0.74)]  # P08 → P08R: not comparable, not listed
    found = rules.large_changes(national, QUESTIONS, 15)
    assert [(c.period, c.indicator_id, c.change) for c in found] == [("2021/22", 7, -31), ("2022/23", 7, 36)]


def test_lix_counts_words_per_sentence_and_long_words():
    assert rules.lix("Vi gick hem. Det var kallt.") == 3.0
    assert round(rules.lix("Samordningsförbunden finansierar rehabiliteringsinsatser.")) == 103


def test_the_settings_file_has_everything_the_front_matter_prints():
    settings = publishing()
    for section, keys in {"publisher": ["name", "contact", "contact_address"],
                          "edition": ["version", "next_publication"], "links": ["data", "method"],
                          "citation": ["how_to_cite", "source", "source_registers"],
                          "comments": ["large_change_points"]}.items():
        assert all(settings[section][k] for k in keys), section


def test_every_comment_names_an_indicator_a_questionnaire_and_says_something_or_why_not():
    for comment in comments():
        assert comment.respondent_group in rules.GROUP_ORDER
        assert bool(comment.text) != bool(comment.no_comment)


def test_the_docs_state_every_rule_with_its_number():
    """docs/reports.md is the contract: each rule's number in the code is the number it states."""
    assert f"at least {rules.RANK_MIN_N} respondents" in DOCS
    assert f"{large_change_points()} percentage points or more" in DOCS
    assert "shared rank" in DOCS and "as printed" in DOCS
    order = re.search(r"Questionnaires in this order everywhere: (.*)\.", DOCS).group(1)
    assert [w.strip("` ") for w in order.split(",")] == list(rules.GROUP_ORDER)
    assert "LIX" in DOCS and "40" in DOCS


def test_the_note_on_disclosure_control_is_true_under_either_method():
    from report.build import _environment

    macros = _environment().get_template("_macros.html.j2").module
    ckm, suppression = str(macros.suppression_note(5, "ckm")), str(macros.suppression_note(5, "suppression"))
    assert "slumpmässigt justerade med några enheter" in ckm and "delarna inte" in ckm and "dolts" not in ckm
    assert "dolts" in suppression and "justerade" not in suppression
    assert all("–</strong> betyder att ingen fanns i gruppen" in note for note in (ckm, suppression))
