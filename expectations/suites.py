"""The expectation suites, written as code and exported as reviewable JSON.

Each suite validates one DataFrame of the same name (see expectations/frames.py).
`critical` expectations block publication; `warning` ones are reported in the
Data Docs and the run summary but do not block. Values that come from the
catalogue or the settings (allowed codes, the disclosure threshold, the volume
tolerance) are suite parameters, filled in at validation time.

    python -m expectations.suites     # rewrite expectations/gx/expectations/*.json from this file

A test checks that the committed JSON matches this file.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

GX_DIR = Path(__file__).resolve().parent / "gx"
SUITES_DIR = GX_DIR / "expectations"

BLOCK, WARN = "critical", "warning"
ID_NAMESPACE = uuid.UUID("5f0c3c1e-6f2a-4a57-9a39-2f1d0b8e4c11")


def _p(name: str) -> dict:
    """A suite parameter, filled in from the catalogue or the settings when the gate runs."""
    return {"$PARAMETER": name}


def _share(column: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1, severity=BLOCK)


def _a_at_least_b(a: str, b: str, severity: str = BLOCK) -> gxe.Expectation:
    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A=a, column_B=b, or_equal=True,
                                                       ignore_row_if="either_value_is_missing", severity=severity)


def _equal(a: str, b: str) -> gxe.Expectation:
    return gxe.ExpectColumnPairValuesToBeEqual(column_A=a, column_B=b, severity=BLOCK)


# name -> (what it validates, expectations)
SUITE_DEFINITIONS: dict[str, tuple[str, list[gxe.Expectation]]] = {
    # -- What landed in the lake, against the submission contract ---------------------------
    "landed_survey_respondents": ("Every landed questionnaire row (lake/raw/survey/*/respondents)", [
        gxe.ExpectColumnValuesToNotBeNull(column="serial", severity=BLOCK),
        gxe.ExpectColumnValuesToNotBeNull(column="answered_on", severity=BLOCK),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["submission_id", "respondent_group", "serial"],
                                            severity=BLOCK),
        gxe.ExpectColumnValuesToBeInSet(column="federation_code", value_set=_p("federation_codes"), severity=BLOCK),
        gxe.ExpectColumnValuesToBeInSet(column="period", value_set=_p("periods"), severity=BLOCK),
        gxe.ExpectColumnValuesToBeInSet(column="respondent_group", value_set=_p("respondent_groups"),
                                        severity=BLOCK),
        gxe.ExpectColumnValuesToBeInSet(column="gender", value_set=_p("genders"), severity=BLOCK),
        gxe.ExpectColumnValuesToBeInSet(column="age_group", value_set=_p("age_groups"), severity=BLOCK),
        gxe.ExpectColumnValuesToMatchRegex(column="insats", regex=_p("insats_pattern"), severity=BLOCK),
        # Dates inside the period: period_start <= answered_on <= period_end.
        _a_at_least_b("answered_on", "period_start"),
        _a_at_least_b("period_end", "answered_on"),
    ]),
    "landed_survey_answers": ("Every landed answer (lake/raw/survey/*/answers)", [
        gxe.ExpectColumnValuesToBeBetween(column="answer_value", min_value=1, max_value=6, severity=BLOCK),
        gxe.ExpectColumnValuesToBeInSet(column="question_code", value_set=_p("question_codes"), severity=BLOCK),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["submission_id", "respondent_group", "serial", "question_code"], severity=BLOCK),
    ]),
    "landed_survey_collection": ("The federations' own counts (lake/raw/survey/*/collection)", [
        gxe.ExpectColumnValuesToBeBetween(column="asked", min_value=0, severity=BLOCK),
        gxe.ExpectColumnValuesToBeBetween(column="answered", min_value=0, severity=BLOCK),
        _a_at_least_b("asked", "answered"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["submission_id", "respondent_group"], severity=BLOCK),
    ]),
    "landed_register_participants": ("Pseudonymised SUS participants (lake/raw/register/*/participants)", [
        # Rows marked anonymous (anonym = 1) have no pseudonym and are never linked.
        gxe.ExpectColumnValuesToNotBeNull(column="person_key", row_condition=Column("is_linkable") == True,  # noqa: E712
                                          severity=BLOCK),
        # An HMAC-SHA256 pseudonym: a personnummer can never pass this.
        gxe.ExpectColumnValuesToMatchRegex(column="person_key", regex=r"^[0-9a-f]{64}$", severity=BLOCK),
        gxe.ExpectColumnValuesToBeInSet(column="federation_code", value_set=_p("federation_codes"), severity=BLOCK),
        gxe.ExpectColumnValuesToBeInSet(column="support_at_start", value_set=_p("support_categories"),
                                        severity=BLOCK),
        gxe.ExpectColumnValuesToBeInSet(column="support_at_end", value_set=_p("support_categories"), severity=BLOCK),
        gxe.ExpectColumnValuesToBeInSet(column="end_reason", value_set=_p("end_reasons"), severity=BLOCK),
        gxe.ExpectColumnValuesToNotBeNull(column="start_date", severity=BLOCK),
        _a_at_least_b("end_date", "start_date"),
    ]),
    "landed_register_income": (
        "Income extracts, one row per extract (summarised in DuckDB: tens of millions of rows)",
        [
            gxe.ExpectColumnValuesToBeInSet(column="rows_without_person_key", value_set=[0], severity=BLOCK),
            gxe.ExpectColumnValuesToBeInSet(column="rows_with_unknown_category", value_set=[0], severity=BLOCK),
            # Months inside the coverage the file name states.
            _a_at_least_b("first_month", "coverage_first_month"),
            _a_at_least_b("coverage_last_month", "last_month"),
        ],
    ),
    # -- The marts, before publication ---------------------------------------------------------
    "mart_indicator_results": ("marts.indicator_results", [
        _share("positive_share"), _share("ci_low"), _share("ci_high"), _share("national_positive_share"),
        gxe.ExpectColumnValuesToBeBetween(column="mean_score", min_value=1, max_value=6, severity=BLOCK),
        gxe.ExpectColumnValuesToBeBetween(column="national_mean_score", min_value=1, max_value=6, severity=BLOCK),
        _a_at_least_b("ci_high", "ci_low"),
    ]),
    "mart_indicator_trends": ("marts.indicator_trends", [
        _share("positive_share"), _share("ci_low"), _share("ci_high"),
        gxe.ExpectColumnValuesToBeBetween(column="mean_score", min_value=1, max_value=6, severity=BLOCK),
        _a_at_least_b("ci_high", "ci_low"),
    ]),
    "mart_indicator11_outcomes": ("marts.indicator11_outcomes", [
        _share("share_self_supporting"), _share("share_sustainable"),
        _a_at_least_b("n_observed", "n_self_supporting"),
        _a_at_least_b("n_self_supporting", "n_sustainable"),
    ]),
    "check_respondents_reconcile": (
        "Questionnaires per federation, period and group: the marts against the rows the ledger's current "
        "accepted submission landed", [_equal("mart_rows", "landed_rows")]),
    "check_federation_coverage": (
        "Every federation that submitted questionnaires in a period appears in that period's results", [
            gxe.ExpectColumnValuesToBeInSet(column="in_results", value_set=[True], severity=BLOCK)]),
    "check_national_totals": (
        "indicator_results: the national row (RIKET) equals the sum of the federations", [
            _equal("national_n", "federations_n"), _equal("national_valid_answers", "federations_valid_answers")]),
    "check_volume_change": (
        "Questionnaires per federation and group against the previous period (a warning, not a block)", [
            gxe.ExpectColumnValuesToBeBetween(column="ratio_to_previous", min_value=_p("min_volume_ratio"),
                                              severity=WARN)]),
    "check_indicator11_cohort": (
        "Indicator 11: no follow-up denominator exceeds its cohort", [_a_at_least_b("cohort", "n_observed")]),
    # -- The disclosure audit, on the candidate publication ------------------------------------
    "disclosure_visible_counts": (
        "Every visible count in the candidate publication: none between 1 and the threshold", [
            gxe.ExpectColumnValuesToNotBeInSet(column="value", value_set=_p("small_counts"), severity=BLOCK)]),
    "disclosure_recoverable_cells": (
        "Every disclosure check (margins, shared cells): no suppressed cell can be recovered", [
            gxe.ExpectColumnValuesToBeInSet(column="cells", value_set=[0], severity=BLOCK)]),
    "disclosure_attack": (
        "The attacker's audit (publication.attack): linear programming over every published relation; "
        "no hidden count can be bounded inside 1 to the threshold minus 1", [
            gxe.ExpectColumnValuesToBeInSet(column="findings", value_set=[0], severity=BLOCK),
            gxe.ExpectColumnValuesToBeBetween(column="unknowns", min_value=0, severity=BLOCK)]),
}


# The source each suite's frame is built from: the gate runs a source's suites only when that
# source changed since the last publication (operations.changes.gate_scope). None: always, for
# the disclosure audits validate the whole candidate publication every time.
SURVEY, REGISTER = "survey", "register"
SUITE_SOURCES: dict[str, str | None] = {
    "landed_survey_respondents": SURVEY,
    "landed_survey_answers": SURVEY,
    "landed_survey_collection": SURVEY,
    "landed_register_participants": REGISTER,
    "landed_register_income": REGISTER,
    "mart_indicator_results": SURVEY,
    "mart_indicator_trends": SURVEY,
    "mart_indicator11_outcomes": REGISTER,
    "check_respondents_reconcile": SURVEY,
    "check_federation_coverage": SURVEY,
    "check_national_totals": SURVEY,
    "check_volume_change": SURVEY,
    "check_indicator11_cohort": REGISTER,
    "disclosure_visible_counts": None,
    "disclosure_recoverable_cells": None,
    "disclosure_attack": None,
}
if SUITE_SOURCES.keys() != SUITE_DEFINITIONS.keys():
    raise RuntimeError("every suite needs its source in SUITE_SOURCES (None: it always runs)")


def build_suites() -> list[gx.ExpectationSuite]:
    return [gx.ExpectationSuite(name=name, expectations=expectations, meta={"description": description})
            for name, (description, expectations) in SUITE_DEFINITIONS.items()]


def suite_json(suite: gx.ExpectationSuite) -> dict:
    """The suite as stored, with ids derived from names so a re-export changes nothing."""
    data = suite.to_json_dict()
    data["id"] = str(uuid.uuid5(ID_NAMESPACE, suite.name))
    data.get("meta", {}).pop("great_expectations_version", None)
    for position, expectation in enumerate(data["expectations"]):
        expectation["id"] = str(uuid.uuid5(ID_NAMESPACE, f"{suite.name}/{position}"))
    return data


def export(directory: Path = SUITES_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for suite in build_suites():
        path = directory / f"{suite.name}.json"
        path.write_text(json.dumps(suite_json(suite), indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                        encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in export():
        print(path.relative_to(GX_DIR.parent.parent))
