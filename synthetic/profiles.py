"""The volume profiles of the synthetic data: how many federations, periods and people."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    periods: tuple[str, ...]
    federation_codes: tuple[str, ...] | None  # None: every federation in the catalogue
    questionnaires_per_federation: int  # mean per federation and period
    skip_rate: float  # a federation sits a period out
    csv_share: float  # submissions sent as CSV files instead of a workbook
    resubmission_rate: float  # a valid but incomplete first file, later replaced
    rejected_first_rate: float  # a first file with a mistake, later corrected
    insatser_per_year: int
    cohort_years: tuple[int, ...]
    extract_month: str


BAD_PROFILE = "bad"  # synthetic.bad: faulty and tricky files, each named for its fault, plus a manifest

PERIODS_2019_2026 = ("2019/20", "2020/21", "2021/22", "2022/23", "2023/24", "2024/25", "2025/26")

PROFILES = {
    # Small enough for tests, but it still spans the 2020 Göteborg merger, the
    # start of indicator 16, the co-referrer group and the staff-question revision.
    "small": Profile(
        name="small", periods=("2019/20", "2020/21", "2021/22", "2022/23"),
        federation_codes=("SF01", "SF07", "SF10", "SF19", "SF20", "SF21", "SF22", "SF23", "SF29", "SF49"),
        questionnaires_per_federation=30, skip_rate=0.05, csv_share=0.2,
        resubmission_rate=0.1, rejected_first_rate=0.1,
        insatser_per_year=300, cohort_years=(2021, 2022, 2023), extract_month="2024-06",
    ),
    "national": Profile(
        name="national", periods=PERIODS_2019_2026, federation_codes=None,
        questionnaires_per_federation=110, skip_rate=0.08, csv_share=0.12,
        resubmission_rate=0.06, rejected_first_rate=0.03,
        insatser_per_year=30_000, cohort_years=(2021, 2022, 2023, 2024, 2025), extract_month="2026-06",
    ),
    # Ten times the register volume (income rows are what grows); surveys as national.
    "x10": Profile(
        name="x10", periods=PERIODS_2019_2026, federation_codes=None,
        questionnaires_per_federation=110, skip_rate=0.08, csv_share=0.12,
        resubmission_rate=0.06, rejected_first_rate=0.03,
        insatser_per_year=300_000, cohort_years=(2021, 2022, 2023, 2024, 2025), extract_month="2026-06",
    ),
}
