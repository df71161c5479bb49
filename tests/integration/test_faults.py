"""Faults: SIGKILL the pipeline at every step, rerun, and get exactly what a clean run gets.

One data home goes from a published state A (the small profile minus a few files)
to state B (all of them) through a chain of runs that are each killed at a
different point: while ingest archives, writes, lands and commits a survey file,
while it lands a register extract, during dbt, and at three points of
publication. Each kill is a real SIGKILL of a real `nns` process, at a named
point (core.crash_points.checkpoint, switched on by NNS_FAULT_KILL_AT) or, for dbt, when
dbt's log shows it is building the marts. Each rerun just runs the same command
again. The publication points (stage → gate → promote): `gate.candidate_written`
(the gate has written its protected candidate, not yet validated it),
`publish.before_replace` and `publish.after_replace` (the rename is the commit
point). Afterwards:

- the published database has the same row-level checksum as the clean run
  (the session's `small_build`), and the lake has the same submissions;
- a reader reading publish/marts.duckdb in a loop the whole time never failed
  and only ever saw A or B, never a partial or mixed database;
- leftovers under temporary names were there and were never read;
- a second `nns build` started during a build refused to write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core import ledger
from core.settings import get_settings
from ingest import lake
from ingest.submission import ingest_submission, waiting_extracts, waiting_surveys
from operations.build_log import read_build_status
from operations.steps import build_warehouse, publish_marts, quality_gate
from publication.checksum import published_checksum
from synthetic import generate
from tests.conftest import environment
from tests.readers import ReaderLoop

NNS = str(Path(sys.executable).with_name("nns"))
# Clearing the publish task: publication alone, of the candidate the gate passed.
PUBLISH_ONLY = [sys.executable, "-c", "from operations.steps import publish_marts; "
                "from core.settings import get_settings; publish_marts(get_settings())"]
# Clearing the quality_gate task: the gate alone, on the warehouse dbt built.
GATE_ONLY = [sys.executable, "-c", "from operations.steps import quality_gate; "
             "from core.settings import get_settings; quality_gate(get_settings())"]
KEY = "test-key-not-secret"  # the same key as small_build


def run(home: Path, command: list[str], kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NNS_HOME": str(home), "NNS_PSEUDONYM_KEY": KEY}
    env.pop("NNS_FAULT_KILL_AT", None)
    if kill_at:
        env["NNS_FAULT_KILL_AT"] = kill_at
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def killed(result: subprocess.CompletedProcess) -> bool:
    return result.returncode == -signal.SIGKILL


def hidden(folder: Path) -> list[Path]:
    return [p for p in folder.glob(".*") if p.name.endswith(".tmp")]


def ids(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith((".", "_"))} if folder.exists() else set()


@pytest.fixture(scope="module")
def state_a(tmp_path_factory, small_build):
    """A data home published without a few files, which wait in the inbox: state A."""
    home = tmp_path_factory.mktemp("faults")
    held = home.parent / f"{home.name}-held"
    held.mkdir()
    with environment(NNS_HOME=str(home), NNS_PSEUDONYM_KEY=KEY):
        settings = get_settings()
        generate("small", settings.inbox, settings, registers=True)
        surveys = waiting_surveys(settings)
        waiting = [surveys[0], surveys[len(surveys) // 2], surveys[-1],
                   *[p for p in waiting_extracts(settings) if p.name.startswith("sus_")]]
        for path in waiting:
            os.replace(path, held / path.name)  # keeps the file's time stamp
        for path in waiting_surveys(settings):
            ingest_submission(path, settings)
        for path in waiting_extracts(settings):
            ingest_submission(path, settings)
        build_warehouse(settings)
        quality_gate(settings)
        publish_marts(settings)
        for path in waiting:
            os.replace(held / path.name, path)
    return settings, [p.name for p in waiting]


def kill_during_dbt(home: Path, since: int) -> tuple[subprocess.CompletedProcess, list[int]]:
    """Start `nns build`; when dbt's log shows a mart being built, SIGKILL the nns process (only)."""
    log = home / "logs" / "dbt" / "dbt.log"
    env = {**os.environ, "NNS_HOME": str(home), "NNS_PSEUDONYM_KEY": KEY}
    process = subprocess.Popen([NNS, "build"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists():
            with log.open("rb") as f:
                f.seek(since)
                if b"START sql table model marts." in f.read():
                    break
        time.sleep(0.01)
    assert process.poll() is None, "nns build ended before dbt reached the marts"
    children = [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
    process.send_signal(signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), children


def test_killed_at_every_step_then_rerun_equals_a_clean_run(state_a, small_build):
    settings, waiting = state_a
    home = settings.home
    target = settings.publish / "marts.duckdb"
    a = published_checksum(target)
    b = published_checksum(small_build / "publish" / "marts.duckdb")
    assert a != b, "the held-back files change the published database"
    ingest_cmd, build_cmd = [NNS, "ingest"], [NNS, "build"]
    started = time.monotonic()

    with ReaderLoop(target) as reader:
        # Ingest, killed after archiving the first new file, then while writing its Parquet.
        surveys_before = sum(r.source == "survey" for r in ledger.all_records(settings))
        assert killed(run(home, ingest_cmd, "ingest.archived"))
        assert len(list(settings.archive.iterdir())) == surveys_before + 1, "archived, not yet in the ledger"
        assert killed(run(home, ingest_cmd, "ingest.staging"))
        assert hidden(settings.raw / "survey"), "a half-written submission under its temporary name"
        # Killed after landing the second file but before its ledger record (the commit point).
        assert killed(run(home, ingest_cmd, "ingest.landed@2"))
        assert ids(settings.raw / "survey") - {r.submission_id for r in ledger.all_records(settings)}
        # Killed after the ledger record, before the file left the inbox.
        assert killed(run(home, ingest_cmd, "ingest.committed"))
        # Killed after landing the SUS extract, before its ledger record.
        assert killed(run(home, ingest_cmd, "register.landed"))
        assert ids(settings.raw / "register") - {r.submission_id for r in ledger.all_records(settings)}
        finished = run(home, ingest_cmd)
        assert finished.returncode in (0, 1), finished.stderr
        assert not [p for p in settings.inbox.rglob("*") if p.is_file()], "every file has left the inbox"
        assert {r.file_name for r in ledger.all_records(settings)} >= set(waiting)
        assert a == published_checksum(target), "ingest alone publishes nothing"

        # dbt, killed while it builds the marts: its own process dies with the task's.
        since = (home / "logs" / "dbt" / "dbt.log").stat().st_size
        result, children = kill_during_dbt(home, since)
        assert killed(result) and children, "nns build was killed while dbt ran"
        deadline = time.monotonic() + 15
        while any(psutil.pid_exists(c) and psutil.Process(c).status() != psutil.STATUS_ZOMBIE for c in children):
            assert time.monotonic() < deadline, "dbt outlived the killed build: a second writer would be left"
            time.sleep(0.1)
        status = run(home, [NNS, "status", "--json"])
        assert status.returncode == 1 and '"interrupted"' in status.stdout

        # A full build, killed once the gate has written its candidate; meanwhile a second build
        # is refused, because one is writing.
        env = {**os.environ, "NNS_HOME": str(home), "NNS_PSEUDONYM_KEY": KEY,
               "NNS_FAULT_KILL_AT": "gate.candidate_written"}
        first = subprocess.Popen(build_cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lock = settings.home / "status" / "writer.lock"
        while first.poll() is None and str(first.pid) not in (lock.read_text() if lock.exists() else ""):
            time.sleep(0.05)
        second = run(home, build_cmd)
        assert second.returncode == 1 and "Another build is writing now" in second.stderr, second.stderr
        _, first_stderr = first.communicate(timeout=600)
        assert first.returncode == -signal.SIGKILL, first_stderr[-3000:]
        assert list(settings.publish.glob(".candidate-*.duckdb")), "the killed gate left its candidate"
        assert published_checksum(target) == a, "and it was never swapped in"
        ungated = run(home, PUBLISH_ONLY)
        assert ungated.returncode != 0 and "No candidate has passed the quality gate" in ungated.stderr
        assert published_checksum(target) == a, "an ungated warehouse is never published"

        # Clearing the gate, then publish: killed before the swap, then just after it.
        gated = run(home, GATE_ONLY)
        assert gated.returncode == 0, gated.stderr[-3000:]
        assert killed(run(home, PUBLISH_ONLY, "publish.before_replace"))
        assert published_checksum(target) == a
        assert killed(run(home, PUBLISH_ONLY, "publish.after_replace"))
        assert published_checksum(target) == b, "the swap is the commit point"
        leftovers = hidden(settings.raw / "survey") + hidden(settings.raw / "register")
        done = run(home, PUBLISH_ONLY)
        assert done.returncode == 0, done.stderr

    seconds = time.monotonic() - started
    assert published_checksum(target) == b, "the same database as a clean run"
    assert read_build_status(settings)["steps"]["publish"]["checksum"] == b
    assert reader.failures == [], reader.failures[:5]
    assert set(reader.seen) == {a, b}, "a reader saw something that was neither the old nor the new database"
    with environment(NNS_HOME=str(small_build)):
        clean = get_settings()
        assert {r.submission_id for r in ledger.all_records(settings)} == {
            r.submission_id for r in ledger.all_records(clean)}
        for source in ("survey", "register"):
            assert ids(settings.raw / source) == ids(clean.raw / source)
    assert leftovers, "temporary leftovers were present during the final build, and were not read"
    assert not list(settings.publish.glob(".candidate-*")), "publication cleans up after a killed gate"
    assert {p.name for p in lake.sweep_temporaries(settings, older_than=0)} >= {p.name for p in leftovers}
    assert not hidden(settings.raw / "survey") and not hidden(settings.raw / "register")
    status = run(home, [NNS, "status", "--json"])
    assert status.returncode == 0, status.stdout[-2000:]
    print(f"fault chain {seconds:.0f} s, {reader.reads} reads: {reader.seen}")


def test_the_writer_lock_is_released_when_its_holder_is_killed(settings):
    from warehouse.lock import WriterBusy, writer_lock

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from operations.steps import writer_lock\nfrom core.settings import get_settings\n"
                               "with writer_lock(get_settings(), 'test'):\n"
                               "    print('held', flush=True); time.sleep(300)"],
                              env={**os.environ, "NNS_HOME": str(settings.home)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WriterBusy, match=f"pid\": {holder.pid}"), writer_lock(settings, "dbt_build"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with writer_lock(settings, "dbt_build"), writer_lock(settings, "publish"):  # free again, and re-entrant
        pass
