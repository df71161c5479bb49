"""What is published: every table of publish/marts.duckdb, its keys, its count and its margins.

One `PublishedTable` per table. A protected table names the count that decides
suppression, the margins (a total and its parts) a reader can add up, and the
values hidden with a suppressed cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.catalogue import NATION
from publication.disclosure import Margin

GENDER = Margin("gender", "T", hidden_remainder=True)  # "annat eller vill ej uppge" is never shown alone
FEDERATIONS = Margin("federation_code", NATION)
RESULT_VALUES = ["n", "valid_answers", "mean_score", "positive_share", "ci_low", "ci_high"]
INSATSER = Margin("insats", "alla")
SUPPORT_AT_START = Margin("support_at_start", "alla")
SUPPORT_AT_END = Margin("support_at_end", "alla")
# Columns that count people (the audit checks none of them shows a small number).
COUNT_COLUMNS = {"n", "valid_answers", "asked", "answered", "rows_received", "questionnaires", "n_observed",
                 "n_self_supporting", "n_sustainable", "participants", "n_work_or_studies", "cohort_size"}


@dataclass(frozen=True)
class PublishedTable:
    name: str
    source: str  # relation in the warehouse
    columns: list[str]  # published columns, in order (status is added when protected)
    keys: list[str] = field(default_factory=list)
    count: str | None = None  # the count of people that decides suppression
    margins: list[Margin] = field(default_factory=list)
    nulled: list[str] = field(default_factory=list)  # values hidden with a suppressed cell
    additive: str | None = None  # the published count the margins add up in, if not `count`

    @property
    def margin_count(self) -> str | None:
        return self.additive or self.count

    @property
    def protected(self) -> bool:
        return self.count is not None


PUBLISHED = [
    PublishedTable(
        "indicator_results", "marts.indicator_results",
        ["period", "federation_code", "federation_name", "respondent_group", "indicator_id", "gender",
         "n", "valid_answers", "mean_score", "positive_share", "ci_low", "ci_high",
         "national_positive_share", "national_mean_score", "federations_mean_share"],
        keys=["period", "respondent_group", "indicator_id", "federation_code", "gender"],
        count="n", margins=[GENDER, FEDERATIONS], nulled=RESULT_VALUES,
    ),
    PublishedTable(
        "indicator_trends", "marts.indicator_trends",
        ["period", "federation_code", "federation_name", "respondent_group", "indicator_id",
         "comparability_key", "question_code", "series_first_period", "series_last_period", "gender",
         "n", "valid_answers", "mean_score", "positive_share", "ci_low", "ci_high"],
        keys=["period", "respondent_group", "indicator_id", "comparability_key", "question_code",
              "federation_code", "gender"],
        count="n", margins=[GENDER, FEDERATIONS], nulled=RESULT_VALUES,
    ),
    PublishedTable(
        "collection_status", "marts.collection_status",
        ["period", "federation_code", "federation_name", "respondent_group", "asked", "answered",
         "rows_received", "response_rate", "last_submission_at", "versions_received"],
        keys=["period", "respondent_group", "federation_code"],
        count="disclosure_n", additive="rows_received", margins=[FEDERATIONS],
        nulled=["asked", "answered", "rows_received", "response_rate"],
    ),
    PublishedTable(
        "collection_summary", "marts.collection_summary",
        ["period", "respondent_group", "federations", "federations_in_period", "questionnaires",
         "asked", "answered", "response_rate"],
        keys=["period", "respondent_group"], count="questionnaires",
        nulled=["questionnaires", "asked", "answered", "response_rate"],
    ),
    PublishedTable(
        "indicator11_outcomes", "marts.indicator11_outcomes",
        ["cohort_year", "federation_code", "federation_name", "gender", "insats", "support_at_start",
         "followup_months", "is_complete", "cohort_size", "n_observed", "n_self_supporting",
         "share_self_supporting", "n_sustainable", "share_sustainable"],
        keys=["cohort_year", "followup_months", "federation_code", "gender", "insats", "support_at_start"],
        count="disclosure_n", additive="n_observed",
        margins=[Margin("gender", "T"), FEDERATIONS, INSATSER, SUPPORT_AT_START],
        nulled=["cohort_size", "n_observed", "n_self_supporting", "share_self_supporting", "n_sustainable",
                "share_sustainable"],
    ),
    PublishedTable(
        "gender_analysis", "marts.gender_analysis",
        ["cohort_year", "federation_code", "federation_name", "insats", "gender", "participants",
         "mean_insats_months", "n_work_or_studies", "share_work_or_studies", "mean_years_public_support_before"],
        keys=["cohort_year", "federation_code", "insats", "gender"],
        count="disclosure_n", additive="participants", margins=[Margin("gender", "T"), FEDERATIONS, INSATSER],
        nulled=["participants", "mean_insats_months", "n_work_or_studies", "share_work_or_studies",
                "mean_years_public_support_before"],
    ),
    PublishedTable(
        "support_transitions", "marts.support_transitions",
        ["cohort_year", "gender", "support_at_start", "support_at_end", "participants"],
        keys=["cohort_year", "gender", "support_at_start", "support_at_end"],
        count="participants", margins=[Margin("gender", "T"), SUPPORT_AT_START, SUPPORT_AT_END],
        nulled=["participants"],
    ),
    PublishedTable("collection_freshness", "marts.collection_freshness",
                   ["period", "window_name", "opens_on", "closes_on", "federation_code", "federation_name",
                    "submitted_previous_period", "received_in_window_at", "freshness_status"]),
    PublishedTable("support_categories", "catalogue.support_categories",
                   ["category", "label_sv", "support_class", "tie_priority"]),
    PublishedTable("insatser", "catalogue.insatser", ["insats", "name_sv", "description_sv", "sort_order"]),
    PublishedTable("end_reasons", "catalogue.end_reasons",
                   ["end_reason", "label_sv", "is_work_or_studies", "is_registration_error"]),
    PublishedTable("federations", "marts.dim_federations",
                   ["federation_code", "federation_name", "lan", "valid_from", "valid_to", "successor_code",
                    "predecessor_codes", "reporting_federation_code", "change_note"]),
    PublishedTable("indicators", "marts.dim_indicators",
                   ["indicator_id", "indicator_title", "is_official_text", "measured_by", "valid_from",
                    "valid_to"]),
    PublishedTable("questions", "marts.dim_questions",
                   ["question_code", "respondent_group", "respondent_group_name", "indicator_id",
                    "question_text", "is_official_text", "scale_id", "comparability_key", "valid_from",
                    "valid_to"]),
]
