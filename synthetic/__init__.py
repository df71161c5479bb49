"""Seeded, deterministic synthetic data: what federations and agencies would send.

`generate(profile, out)` writes survey submissions into `out/` (the inbox) and the
register extracts into `out/register/`; the profile `bad` writes the bad-input
corpus instead (`synthetic.bad`). The same profile and seed give the same
bytes, so tests and benchmarks can rely on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.catalogue import load_catalogue
from core.settings import Settings


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


def generate(profile_name: str, out: Path, settings: Settings, *, seed: int = 20251101,
             registers: bool = True, progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Write a profile's submissions (and register extracts) into `out`.

    `progress(phase, done, total)` reports how far each phase has come (the CLI draws bars).
    """
    from .registers import write_register_extracts
    from .surveys import write_survey_submissions

    catalogue = load_catalogue(settings.catalogue_dir)
    if profile_name == BAD_PROFILE:  # the bad-input corpus, not a volume profile
        from .bad import write_bad_corpus

        return {"profile": BAD_PROFILE, "seed": seed, **write_bad_corpus(out, catalogue, seed)}
    profile = PROFILES[profile_name]
    out.mkdir(parents=True, exist_ok=True)
    summary = {"profile": profile.name, "seed": seed}
    summary["surveys"] = write_survey_submissions(
        out, profile, catalogue, seed, progress=(lambda d, t: progress("surveys", d, t)) if progress else None)
    if registers:
        if progress:
            progress("register extracts", 0, 1)
        federations_by_year = {
            year: [f.code for f in catalogue.federations_in(f"{year - 1}/{year % 100:02d}")
                   if profile.federation_codes is None or f.code in profile.federation_codes]
            for year in range(min(profile.cohort_years) - 3, max(profile.cohort_years) + 1)
        }
        summary["registers"] = {
            k: str(v) if isinstance(v, Path) else v
            for k, v in write_register_extracts(
                out / "register",
                n_insatser_per_year=profile.insatser_per_year,
                cohort_years=range(min(profile.cohort_years), max(profile.cohort_years) + 1),
                federation_codes_by_year=federations_by_year,
                extract_month=profile.extract_month,
                seed=seed,
            ).items()
        }
        if progress:
            progress("register extracts", 1, 1)
    return summary
