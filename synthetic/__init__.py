"""Seeded, deterministic synthetic data: what federations and agencies would send.

`generate(profile, out)` writes survey submissions into `out/` (the inbox) and the
register extracts into `out/register/`; the profile `bad` writes the bad-input
corpus instead (`synthetic.bad`). The same profile and seed give the same
bytes, so tests and benchmarks can rely on it.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from core.catalogue import load_catalogue
from core.settings import Settings
from ingest import inbox
from ingest.register import register_inbox

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
        summary = {"profile": BAD_PROFILE, "seed": seed, **write_bad_corpus(out, catalogue, seed)}
        _seen_when_delivered(out, settings)
        return summary
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
    _seen_when_delivered(out, settings)
    return summary


def _seen_when_delivered(out: Path, settings: Settings) -> None:
    """Replay the product's first sightings of the history this generator writes.

    Arrival is when the product first saw a file (ingest/inbox.py), never the file's
    modification time. The generator writes years of deliveries at once and stamps each
    file with its simulated delivery time, so for the files it writes into the inbox it
    records that time as the first sighting, as if the pipeline had been watching then:
    resubmissions arrive after the files they replace, and every data home generated with
    the same seed gets the same arrival times. A delivery time in the future (a corpus
    case) is not recorded: the product sees that file when it lists it. Files generated
    elsewhere arrive when the product first sees them in the inbox.
    """
    if out.resolve() != settings.inbox.resolve():
        return
    now = time.time()
    for folder in (out, register_inbox(settings)):
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            st = path.lstat()
            if stat.S_ISREG(st.st_mode) and not inbox.is_temporary(path.name) and st.st_mtime <= now:
                inbox.observe(path, settings, now=st.st_mtime)


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
