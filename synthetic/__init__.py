"""Seeded, deterministic synthetic data: what federations and agencies would send.

`generate(profile, out)` writes survey submissions into `out/` (the inbox) and the
register extracts into `out/register/`; the profile `bad` writes the bad-input
corpus instead (`synthetic.bad`). The same profile and seed give the same
bytes, so tests and benchmarks can rely on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from core.catalogue import load_catalogue
from core.settings import Settings

from .bad import write_bad_corpus
from .profiles import BAD_PROFILE, PROFILES, Profile
from .registers import write_register_extracts
from .surveys import write_survey_submissions

__all__ = ["BAD_PROFILE", "PROFILES", "Profile", "generate"]


def generate(profile_name: str, out: Path, settings: Settings, *, seed: int = 20251101,
             registers: bool = True, progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Write a profile's submissions (and register extracts) into `out`.

    `progress(phase, done, total)` reports how far each phase has come (the CLI draws bars).
    """
    catalogue = load_catalogue(settings.catalogue_dir)
    if profile_name == BAD_PROFILE:  # the bad-input corpus, not a volume profile
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
        _delivered(out / "register")
        if progress:
            progress("register extracts", 1, 1)
    return summary


def _delivered(folder: Path) -> None:
    """Mark the extracts as completely delivered, as an agency's upload-then-rename does.

    Ingest takes a file once it is stable or was renamed into place after its last write
    (ingest/inbox.py); setting the modification time one second back changes the inode's
    change time after it, which is what a rename leaves.
    """
    for path in folder.glob("*"):
        if path.is_file():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 1_000_000_000))
