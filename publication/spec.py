"""The published database, publish/marts.duckdb: one spec of every table and column.

Everything that writes, judges or reads the file takes its facts from here: the writer
(publication.stage) its columns, types and comments; disclosure control and the attacker's
audit (publication.disclosure, publication.attack) each table's counts and margins; the one
reader (publication.reader), and through it the read API, the exports and the reports, the
labels, units, decimals and notes. A new published table is added here and only here; a test
fails if the file holds a table this spec does not describe (tests/unit/test_spec.py).

A protected table names the count of people that decides disclosure control (`count`), the
count its margins add up in and an attacker reasons about (`additive`, else `count`), the
margins (a total and its parts) a reader can add up, and the values withheld with a cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.catalogue import NATION
from core.swedish import GENDER_NAMES, GENDER_NAMES_EN

SOURCE = "NNS indikatorarbete"  # the publisher, as every table, file and report names it
SHARE_DECIMALS = 4  # a share is published as a fraction 0–1 with four decimals, rounded half up
STATUS = "status"  # the column that says whether a protected row's values are shown (docs/analysts.md)
SHOWN = "ok"
# The Cell Key Method's promise to readers (publication.ckm keeps it; docs/analysts.md tells it).
CKM_LARGEST_CHANGE = 8  # no count is moved by more than this
CKM_NEVER_SHOWN_UP_TO = 4  # counts 1..this are never published as such


@dataclass(frozen=True)
class Margin:
    """Within one table: the rows whose `part` column differs add up to the row where it is `total`."""

    part: str  # e.g. "gender"
    total: str  # e.g. "T"
    hidden_remainder: bool = False  # the total also includes a part never published ("annat")


@dataclass(frozen=True)
class Unit:
    """How a column's values are measured: Swedish and English unit, decimals, and the published type."""

    sv: str
    en: str
    decimals: int
    sql_type: str | None = None  # the type in the published file, whatever the warehouse's; None keeps it


COUNT = Unit("antal", "number", 0, "BIGINT")
SHARE = Unit("andel (0–1)", "share (0–1)", SHARE_DECIMALS)
MEAN_SCORE = Unit("medelvärde", "mean", 3)
MONTHS = Unit("månader", "months", 1)
YEARS = Unit("år", "years", 1)
YES_NO = Unit("1 = ja, 0 = nej", "1 = yes, 0 = no", 0)
ORDER = Unit("ordning", "order", 0)
CODE = Unit("kod", "code", 0, "BIGINT")  # a number that names something (an indicator, a year)
TEXT = Unit("", "", 0)


@dataclass(frozen=True)
class Column:
    label: tuple[str, str]  # Swedish, English
    unit: Unit = TEXT
    counts_people: bool = False  # a count of people: never shown between 1 and the threshold − 1
    note: str | None = None  # stored as the column's comment where dbt's manifest has no description


# Every column of every published table, by name: a name means the same thing in every table.
COLUMNS: dict[str, Column] = {
    # keys and labels
    "period": Column(("mätperiod", "measurement period")),
    "cohort_year": Column(("kohort (år insatsen avslutades)", "cohort (year the insats ended)"), CODE),
    "federation_code": Column(("samordningsförbund", "federation")),
    "federation_name": Column(("namn", "name")),
    "respondent_group": Column(("enkät", "questionnaire")),
    "respondent_group_name": Column(("enkätens namn", "questionnaire's name")),
    "indicator_id": Column(("indikator", "indicator"), CODE),
    "gender": Column(("kön", "gender")),
    "comparability_key": Column(("jämförbar frågeserie", "comparable question series")),
    "question_code": Column(("fråga", "question")),
    "series_first_period": Column(("seriens första mätperiod", "first period of the series")),
    "series_last_period": Column(("seriens senaste mätperiod", "last period of the series")),
    "followup_months": Column(("uppföljning, månader efter avslut", "follow-up, months after the end"), CODE),
    "insats": Column(("insats", "insats (activity)")),
    "support_at_start": Column(("huvudsaklig försörjning vid start", "main support at start")),
    "support_at_end": Column(("huvudsaklig försörjning vid avslut", "main support at the end")),
    "window_name": Column(("insamlingsperiod", "collection window")),
    "category": Column(("försörjning", "main support")),
    "end_reason": Column(("avslutsorsak", "end reason")),
    "published_at": Column(("publicerad", "published")),
    # survey results
    "n": Column(("Antal svarande med minst ett giltigt svar", "Respondents with at least one valid answer"),
                COUNT, counts_people=True),
    "valid_answers": Column(("Antal giltiga svar (1–6)", "Valid answers (1–6)"), COUNT, counts_people=True),
    "mean_score": Column(("Medelvärde, skala 1–6", "Mean score, scale 1–6"), MEAN_SCORE),
    "positive_share": Column(("Andel positiva svar (4–6)", "Positive share (answers 4–6)"), SHARE),
    "ci_low": Column(("Andel positiva, 95 % konfidensintervall, nedre gräns", "Positive share, 95 % CI, low"),
                     SHARE),
    "ci_high": Column(("Andel positiva, 95 % konfidensintervall, övre gräns", "Positive share, 95 % CI, high"),
                      SHARE),
    "national_positive_share": Column(("Riket: andel positiva svar", "Nation: positive share"), SHARE),
    "national_mean_score": Column(("Riket: medelvärde", "Nation: mean score"), MEAN_SCORE),
    "federations_mean_share": Column(
        ("Förbundens medelvärde av andel positiva (oviktat)", "Unweighted mean of the federations' positive shares"),
        SHARE, note="On national rows: the unweighted mean of the positive shares of the federations shown"),
    # collection
    "asked": Column(("Antal tillfrågade", "Number asked"), COUNT, counts_people=True),
    "answered": Column(("Antal som svarat", "Number who answered"), COUNT, counts_people=True),
    "rows_received": Column(("Antal inkomna enkätrader", "Questionnaire rows received"), COUNT, counts_people=True),
    "response_rate": Column(("Svarsfrekvens", "Response rate"), SHARE),
    "last_submission_at": Column(("senaste inskickade fil", "last file received")),
    "versions_received": Column(("Antal inskickade versioner", "File versions received"), COUNT),
    "federations": Column(("Antal förbund som skickat in", "Federations that sent files"), COUNT),
    "federations_in_period": Column(("Antal förbund i mätperioden", "Federations taking part"), COUNT),
    "questionnaires": Column(("Antal enkäter", "Questionnaires"), COUNT, counts_people=True),
    "opens_on": Column(("öppnar", "opens")),
    "closes_on": Column(("stänger", "closes")),
    "submitted_previous_period": Column(("Skickade in förra mätperioden", "Sent files for the previous period"),
                                        YES_NO),
    "received_in_window_at": Column(("inkommen under insamlingsperioden", "received in the window")),
    "freshness_status": Column(("status", "status")),
    # indicator 11 and the gender analysis
    "is_complete": Column(("Uppföljningspunkten är fullständig", "The follow-up point is complete"), YES_NO),
    "cohort_size": Column(("Antal avslutade insatser i kohorten", "Ended insatser in the cohort"), COUNT,
                          counts_people=True),
    "n_observed": Column(("Antal avslutade insatser med uppföljning", "Ended insatser followed up"), COUNT,
                         counts_people=True),
    "n_self_supporting": Column(("Antal självförsörjande", "Self-supporting"), COUNT, counts_people=True),
    "share_self_supporting": Column(("Andel självförsörjande", "Share self-supporting"), SHARE),
    "n_sustainable": Column(("Antal hållbart självförsörjande", "Sustainably self-supporting"), COUNT,
                            counts_people=True),
    "share_sustainable": Column(("Andel hållbart självförsörjande", "Share sustainably self-supporting"), SHARE),
    "participants": Column(("Antal deltagare", "Participants"), COUNT, counts_people=True),
    "mean_insats_months": Column(("Genomsnittlig insatstid", "Mean length of the insats"), MONTHS),
    "n_work_or_studies": Column(("Antal till arbete eller studier", "To work or studies"), COUNT,
                                counts_people=True),
    "share_work_or_studies": Column(("Andel till arbete eller studier", "Share to work or studies"), SHARE),
    "mean_years_public_support_before": Column(("Genomsnittligt antal år med offentlig försörjning före",
                                                "Mean years in public support before"), YEARS),
    # the catalogue
    "lan": Column(("län", "county")),
    "valid_from": Column(("giltig från", "valid from")),
    "valid_to": Column(("giltig till", "valid to")),
    "successor_code": Column(("uppgick i", "merged into")),
    "predecessor_codes": Column(("föregångare", "predecessors")),
    "reporting_federation_code": Column(("redovisas som", "reports as")),
    "change_note": Column(("förändring", "change")),
    "indicator_title": Column(("indikatorns text", "the indicator's text")),
    "is_official_text": Column(("Officiell text", "Official wording"), YES_NO),
    "measured_by": Column(("mäts med", "measured by")),
    "question_text": Column(("frågans text", "question text")),
    "scale_id": Column(("svarsskala", "answer scale")),
    "label_sv": Column(("benämning", "label")),
    "support_class": Column(("försörjningsslag", "support class")),
    "tie_priority": Column(("Företräde vid lika belopp (lägst först)", "Priority at equal amounts (lowest first)"),
                           ORDER),
    "name_sv": Column(("namn", "name")),
    "description_sv": Column(("beskrivning", "description")),
    "sort_order": Column(("Ordning i rapporterna", "Order in the reports"), ORDER),
    "is_work_or_studies": Column(("Arbete eller studier", "Work or studies"), YES_NO),
    "is_registration_error": Column(("Felregistrering", "Registration error"), YES_NO),
    # the publication itself
    "disclosure_threshold": Column(("Tröskel för röjandekontroll", "Disclosure threshold"),
                                   Unit("personer", "people", 0)),
    "warehouse_built_at": Column(("lagret byggt", "warehouse built")),
    "tables": Column(("tabeller", "tables")),
    "disclosure_method": Column(("metod för röjandekontroll", "disclosure control method")),
    "perturbed_tables": Column(("tabeller med justerade antal (cell key-metoden)",
                                "tables with perturbed counts (the Cell Key Method)")),
    STATUS: Column(("status", "status")),
}
COUNT_COLUMNS = frozenset(name for name, column in COLUMNS.items() if column.counts_people)

GENDER = Margin("gender", "T", hidden_remainder=True)  # "annat eller vill ej uppge" is never shown alone
FEDERATIONS = Margin("federation_code", NATION)
RESULT_VALUES = ["n", "valid_answers", "mean_score", "positive_share", "ci_low", "ci_high"]
INSATSER = Margin("insats", "alla")
SUPPORT_AT_START = Margin("support_at_start", "alla")
SUPPORT_AT_END = Margin("support_at_end", "alla")
ALL = "alla"  # the total of insatser and of the supports, as in the marts

# Labels of codes that are not in the catalogue tables of the file.
CODE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "gender": {code: (GENDER_NAMES[code], GENDER_NAMES_EN[code]) for code in GENDER_NAMES},
    "insats": {ALL: ("Alla insatser", "All insatser")},
    "support_at_start": {ALL: ("Alla", "All")},
    "support_at_end": {ALL: ("Alla", "All")},
    "federation_code": {NATION: ("Riket", "Sweden")},
}


@dataclass(frozen=True)
class PublishedTable:
    name: str
    source: str | None  # relation in the warehouse; None for the table the publication step writes itself
    columns: list[str]  # published columns, in order (status is added when protected)
    label: tuple[str, str] = ("", "")  # Swedish, English
    keys: list[str] = field(default_factory=list)  # the row key (its grain, docs/analysts.md section 3)
    count: str | None = None  # the count of people that decides disclosure control
    margins: list[Margin] = field(default_factory=list)
    nulled: list[str] = field(default_factory=list)  # values withheld with a suppressed cell
    additive: str | None = None  # the published count the margins add up in, if not `count`
    # The read API's dimensions, where some keys follow from another and would only multiply empty cells.
    cube_keys: list[str] | None = None

    @property
    def margin_count(self) -> str | None:
        """The count the margins add up in, and the one an attacker reasons about."""
        return self.additive or self.count

    @property
    def protected(self) -> bool:
        return self.count is not None

    @property
    def published_columns(self) -> list[str]:
        return self.columns + ([STATUS] if self.protected else [])

    @property
    def dimensions(self) -> list[str]:
        return self.cube_keys or self.keys

    def label_in(self, lang: str) -> str:
        return self.label[1] if lang == "en" else self.label[0]


PUBLISHED = [
    PublishedTable(
        "indicator_results", "marts.indicator_results",
        ["period", "federation_code", "federation_name", "respondent_group", "indicator_id", "gender",
         "n", "valid_answers", "mean_score", "positive_share", "ci_low", "ci_high",
         "national_positive_share", "national_mean_score", "federations_mean_share"],
        ("Indikatorresultat efter mätperiod, samordningsförbund, enkät, indikator och kön",
         "Indicator results by period, federation, questionnaire, indicator and gender"),
        keys=["period", "respondent_group", "indicator_id", "federation_code", "gender"],
        count="n", margins=[GENDER, FEDERATIONS], nulled=RESULT_VALUES,
    ),
    PublishedTable(
        "indicator_trends", "marts.indicator_trends",
        ["period", "federation_code", "federation_name", "respondent_group", "indicator_id",
         "comparability_key", "question_code", "series_first_period", "series_last_period", "gender",
         "n", "valid_answers", "mean_score", "positive_share", "ci_low", "ci_high"],
        ("Indikatorer över tid efter jämförbar frågeserie, samordningsförbund och kön",
         "Indicator trends by comparable question series, federation and gender"),
        keys=["period", "respondent_group", "indicator_id", "comparability_key", "question_code",
              "federation_code", "gender"],
        count="n", margins=[GENDER, FEDERATIONS], nulled=RESULT_VALUES,
        # The questionnaire, the indicator and the question follow from the comparability series.
        cube_keys=["period", "comparability_key", "federation_code", "gender"],
    ),
    PublishedTable(
        "collection_status", "marts.collection_status",
        ["period", "federation_code", "federation_name", "respondent_group", "asked", "answered",
         "rows_received", "response_rate", "last_submission_at", "versions_received"],
        ("Insamling efter mätperiod, samordningsförbund och enkät",
         "Collection by period, federation and questionnaire"),
        keys=["period", "respondent_group", "federation_code"],
        count="disclosure_n", additive="rows_received", margins=[FEDERATIONS],
        nulled=["asked", "answered", "rows_received", "response_rate"],
    ),
    PublishedTable(
        "collection_summary", "marts.collection_summary",
        ["period", "respondent_group", "federations", "federations_in_period", "questionnaires",
         "asked", "answered", "response_rate"],
        ("Insamling i riket efter mätperiod och enkät", "National collection by period and questionnaire"),
        keys=["period", "respondent_group"], count="disclosure_n", additive="questionnaires",
        nulled=["questionnaires", "asked", "answered", "response_rate"],
    ),
    PublishedTable(
        "indicator11_outcomes", "marts.indicator11_outcomes",
        ["cohort_year", "federation_code", "federation_name", "gender", "insats", "support_at_start",
         "followup_months", "is_complete", "cohort_size", "n_observed", "n_self_supporting",
         "share_self_supporting", "n_sustainable", "share_sustainable"],
        ("Indikator 11: självförsörjning efter insats, kohort, uppföljning, förbund, kön, insats och "
         "försörjning vid start",
         "Indicator 11: self-support after an insats, by cohort, follow-up, federation, gender, insats and "
         "support at start"),
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
        ("Jämställdhetsanalys efter kohort, samordningsförbund, insats och kön",
         "Gender analysis by cohort, federation, insats and gender"),
        keys=["cohort_year", "federation_code", "insats", "gender"],
        count="disclosure_n", additive="participants", margins=[Margin("gender", "T"), FEDERATIONS, INSATSER],
        nulled=["participants", "mean_insats_months", "n_work_or_studies", "share_work_or_studies",
                "mean_years_public_support_before"],
    ),
    PublishedTable(
        "support_transitions", "marts.support_transitions",
        ["cohort_year", "gender", "support_at_start", "support_at_end", "participants"],
        ("Försörjning vid start och vid avslut efter kohort och kön",
         "Support at start and at the end, by cohort and gender"),
        keys=["cohort_year", "gender", "support_at_start", "support_at_end"],
        count="participants", margins=[Margin("gender", "T"), SUPPORT_AT_START, SUPPORT_AT_END],
        nulled=["participants"],
    ),
    PublishedTable("collection_freshness", "marts.collection_freshness",
                   ["period", "window_name", "opens_on", "closes_on", "federation_code", "federation_name",
                    "submitted_previous_period", "received_in_window_at", "freshness_status"],
                   ("Inkommet under insamlingsperioden efter samordningsförbund",
                    "Received in the collection window, by federation"),
                   keys=["period", "window_name", "federation_code"]),
    PublishedTable("support_categories", "catalogue.support_categories",
                   ["category", "label_sv", "support_class", "tie_priority"],
                   ("Försörjningskategorierna", "The categories of main support"), keys=["category"]),
    PublishedTable("insatser", "catalogue.insatser", ["insats", "name_sv", "description_sv", "sort_order"],
                   ("Insatserna", "The insatser"), keys=["insats"]),
    PublishedTable("end_reasons", "catalogue.end_reasons",
                   ["end_reason", "label_sv", "is_work_or_studies", "is_registration_error"],
                   ("Avslutsorsakerna", "The end reasons"), keys=["end_reason"]),
    PublishedTable("federations", "marts.dim_federations",
                   ["federation_code", "federation_name", "lan", "valid_from", "valid_to", "successor_code",
                    "predecessor_codes", "reporting_federation_code", "change_note"],
                   ("Samordningsförbunden och deras historia", "The federations and their history"),
                   keys=["federation_code"]),
    PublishedTable("indicators", "marts.dim_indicators",
                   ["indicator_id", "indicator_title", "is_official_text", "measured_by", "valid_from",
                    "valid_to"],
                   ("Indikatorerna", "The indicators"), keys=["indicator_id"]),
    PublishedTable("questions", "marts.dim_questions",
                   ["question_code", "respondent_group", "respondent_group_name", "indicator_id",
                    "question_text", "is_official_text", "scale_id", "comparability_key", "valid_from",
                    "valid_to"],
                   ("Frågorna efter mätperiod de ställs", "The questions, by the periods they are asked"),
                   keys=["question_code"]),
]
# The one row about the build itself, written by the publication step (no warehouse source).
PUBLICATION = PublishedTable(
    "publication", None,
    ["published_at", "disclosure_threshold", "warehouse_built_at", "tables", "disclosure_method", "perturbed_tables"],
    ("Publiceringen: när och hur databasen byggdes", "The publication: when and how it was built"),
    keys=["published_at"])
TABLES = [*PUBLISHED, PUBLICATION]  # every table of the file, in the order the API lists them
BY_NAME = {table.name: table for table in TABLES}


def table(name: str) -> PublishedTable:
    return BY_NAME[name]


def column(name: str) -> Column:
    """A published column's spec (a test keeps every published column in COLUMNS)."""
    return COLUMNS[name]


def status_comment(threshold: int, perturbed: bool) -> str:
    """The status column's comment in the file: what `ok` and `..` mean in this build."""
    if perturbed:
        return (f"ok: the counts are perturbed (the Cell Key Method), nothing is hidden to protect another cell; "
                f".. : fewer than {threshold} people after the perturbation, too few to report (the values are null)")
    return (f"ok, or .. when the cell is suppressed (fewer than {threshold} people, or hidden so that such a cell "
            "cannot be recovered)")


def published_type(name: str) -> str | None:
    """The column's type in the published file where the spec fixes it (BIGINT for counts and codes)."""
    return COLUMNS[name].unit.sql_type if name in COLUMNS else None
