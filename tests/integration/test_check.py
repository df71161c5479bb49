"""`nns check` judges every file as ingestion does, and writes nothing.

One data home with the bad-input corpus and a good profile in its inbox (the small profile by
default; NNS_CHECK_PROFILE=national for the national one, about 40 s more). `nns check` runs first
over the whole inbox and the data home is hashed before and after (every file's path, bytes, mode
and the folders): byte for byte unchanged. Then every file is ingested, and each file's codes,
severities, messages, actions and places from `nns check --json` must equal what ingestion recorded
(errors.json, the landed manifest's warnings, or the refusal), as must the acceptance.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest

from core.settings import Settings, get_settings
from ingest.inbox import RefusedFile
from ingest.submission import ingest_submission
from ingest.verdict import judge
from operations.cli import files_in
from operations.cli import main as cli
from synthetic import generate
from tests.conftest import environment

PROFILE = os.environ.get("NNS_CHECK_PROFILE", "small")


def tree_digest(root: Path) -> dict[str, str]:
    """Every entry under `root`: a file's bytes and mode, a link's target, a folder's presence."""
    digest = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        if path.is_symlink():
            digest[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            digest[rel] = f"dir:{oct(st.st_mode)}"
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
            digest[rel] = f"{oct(st.st_mode)}:{st.st_size}:{st.st_mtime_ns}:{content}"
        else:
            digest[rel] = f"special:{oct(st.st_mode)}"  # a FIFO of the corpus: never opened
    return digest


@dataclass
class Checked:
    settings: Settings
    before: dict[str, str]
    after: dict[str, str]
    exit_code: int
    checked: dict[str, dict]  # inbox-relative path -> nns check --json entry
    ingested: dict[str, dict]  # inbox-relative path -> {"accepted": bool, "problems": [...]}
    seconds: dict[str, float]  # inbox-relative path -> seconds to judge it
    lines: dict[str, tuple[int, str]]  # good | bad | missing -> (exit code, output) of plain `nns check`


def _recorded(settings: Settings, outcome) -> list[dict]:
    errors_json = settings.quarantine / outcome.submission_id / "errors.json"
    if errors_json.exists():
        return json.loads(errors_json.read_text(encoding="utf-8"))["problems"]
    for source in ("survey", "register"):
        manifest = settings.raw / source / outcome.submission_id / "manifest.json"
        if manifest.exists():
            return json.loads(manifest.read_text(encoding="utf-8"))["warnings"]
    return []


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> Checked:
    home = tmp_path_factory.mktemp("check-home")
    with environment(NNS_HOME=str(home), NNS_PSEUDONYM_KEY="check-test-key"):
        settings = get_settings()
        generate(PROFILE, settings.inbox, settings, registers=True)
        generate("bad", settings.inbox, settings)
        paths = files_in(settings.inbox)
        before = tree_digest(home)
        out = StringIO()
        with redirect_stdout(out):
            exit_code = cli(["check", "--json", str(settings.inbox)])
        after = tree_digest(home)
        entries = json.loads(out.getvalue())
        assert len(entries) == len(paths)
        checked = {str(p.relative_to(settings.inbox)): e for p, e in zip(paths, entries, strict=True)}
        good = [p for p, e in zip(paths, entries, strict=True) if e["accepted"] and e["kind"] == "survey"][:3]
        bad = next(p for p, e in zip(paths, entries, strict=True) if e["kind"] == "survey" and not e["accepted"])
        lines = {}
        for label, args in (("good", good), ("bad", [bad]), ("missing", [settings.inbox / "no-such-file.xlsx"])):
            out = StringIO()
            with redirect_stdout(out):
                lines[label] = (cli(["check", *map(str, args)]), out.getvalue())
        seconds = {}
        for path in paths:  # timed one by one, as a sender checks a file
            started = time.perf_counter()
            judge(path, settings)
            seconds[str(path.relative_to(settings.inbox))] = time.perf_counter() - started
        ingested = {}
        for path in paths:
            rel = str(path.relative_to(settings.inbox))
            try:
                outcome = ingest_submission(path, settings)
            except RefusedFile as refused:
                ingested[rel] = {"accepted": False, "problems": [refused.problem.to_dict()]}
            else:
                ingested[rel] = {"accepted": outcome.status != "rejected", "problems": _recorded(settings, outcome)}
    return Checked(settings, before, after, exit_code, checked, ingested, seconds, lines)


def test_check_leaves_the_data_home_byte_for_byte_unchanged(checked):
    assert checked.before == checked.after
    assert checked.exit_code == 1  # the corpus has rejected files
    assert not any(rel.startswith(("lake", "ledger", "feedback")) for rel in checked.after)  # (ingestion ran later)
    assert any(rel.startswith("arrivals") for rel in checked.after)  # the inbox's own state, also unchanged


def test_check_and_ingestion_agree_on_every_file(checked):
    assert checked.checked.keys() == checked.ingested.keys()
    differ = {}
    for rel, entry in checked.checked.items():
        recorded = checked.ingested[rel]
        if (entry["accepted"], entry["problems"]) != (recorded["accepted"], recorded["problems"]):
            differ[rel] = {"check": entry, "ingest": recorded}
    assert not differ, json.dumps(differ, ensure_ascii=False, indent=1)[:4000]
    kinds = {e["kind"] for e in checked.checked.values()}
    assert kinds == {"survey", "register", "refused"}
    accepted = [e["accepted"] for e in checked.checked.values()]
    assert any(accepted) and not all(accepted)
    assert any(e["warnings"] for e in checked.checked.values())  # warnings are shown too


def test_a_personnummer_in_a_name_or_a_cell_is_masked(checked):
    text = json.dumps(list(checked.checked.values()), ensure_ascii=False)  # (the keys are the raw paths)
    def having(code):
        return [e for e in checked.checked.values() if any(p["code"] == code for p in e["problems"])]

    refused, in_text = having("PERSONAL_NUMBER_IN_NAME"), having("PERSONAL_NUMBER_IN_TEXT")
    assert refused and in_text
    assert all("personnummer borttaget" in e["file_name"] for e in refused)
    from ingest.personnummer import contains_personal_number

    assert not contains_personal_number(text)


def test_check_speed_on_the_profile(checked, record_property):
    times = sorted(checked.seconds.values())
    median, slowest = statistics.median(times), times[-1]
    record_property("check_seconds", {"profile": PROFILE, "files": len(times), "median": median, "slowest": slowest})
    print(f"\nnns check on {len(times)} files ({PROFILE} profile + bad corpus): median {median * 1000:.0f} ms, "
          f"slowest {slowest:.2f} s ({max(checked.seconds, key=checked.seconds.get)[:60]})")
    assert slowest < 20  # the corpus's largest files are refused by their limits, not read whole


def test_nns_check_lines_are_swedish_and_exit_zero_for_good_files(checked):
    code, text = checked.lines["good"]
    lines = text.splitlines()
    assert code == 0 and lines[0].startswith("OK ") and "kan skickas in" in lines[0] and "rader" in lines[0]
    assert lines[-1] == "3 av 3 filer kan skickas in."
    code, text = checked.lines["bad"]
    assert code == 1 and text.startswith("FEL ") and "Så rättar ni:" in text
    assert checked.lines["missing"][0] == 2
