"""Faults: SIGKILL the pipeline at every step, rerun, and get exactly what a clean run gets.

One data home goes from a published state A (the small profile minus a few files)
to state B (all of them) through a chain of runs that are each killed at a
different point: while ingest archives, writes, lands and commits a survey file,
while it lands a register extract, during dbt, and at three points of
publication. Each kill is a real SIGKILL of a real `nns` process, at a named
point (core.crash_points.checkpoint, switched on by NNS_FAULT_KILL_AT) or, for dbt, when
dbt's log shows it is building the marts. Each rerun just runs the same command
again. The publication points (stage → gate → promote): `stage.written` (the
protected candidate is written, not yet recorded for the gate),
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

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import psutil
import pytest

from core import ledger
from core.settings import get_settings
from ingest import lake
from ingest.submission import ingest_submission, waiting_extracts, waiting_surveys
from operations.build_log import read_build_status
from operations.steps import build_warehouse, publish_marts, quality_gate, stage_publication
from publication.checksum import published_checksum
from synthetic import generate
from tests.conftest import environment
from tests.readers import ReaderLoop

NNS = str(Path(sys.executable).with_name("nns"))
# Clearing the publish task: publication alone, of the candidate the gate passed.
PUBLISH_ONLY = [sys.executable, "-c", "from operations.steps import publish_marts; "
                "from core.settings import get_settings; publish_marts(get_settings())"]
# Clearing the stage task: disclosure control alone, on the warehouse dbt built.
STAGE_ONLY = [sys.executable, "-c", "from operations.steps import stage_publication; "
              "from core.settings import get_settings; stage_publication(get_settings())"]
# Clearing the quality_gate task: the gate alone, on the staged candidate.
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
        stage_publication(settings)
        quality_gate(settings)
        publish_marts(settings)
        for path in waiting:
            os.replace(held / path.name, path)
    # A copy of state A before any test changes it: each moment of the sweep starts from it.
    shutil.copytree(home, home.parent / f"{home.name}-pristine", symlinks=True)
    return settings, [p.name for p in waiting]


def kill_during_dbt(home: Path, since: int, *, nth_start: int | None = None
                    ) -> tuple[subprocess.CompletedProcess, list[int]]:
    """Start `nns build`; when dbt's log shows a mart being built (or its nth_start-th node
    starting: seeds, models and tests alike), SIGKILL the nns process (only)."""
    log = home / "logs" / "dbt" / "dbt.log"
    env = {**os.environ, "NNS_HOME": str(home), "NNS_PSEUDONYM_KEY": KEY}
    env.pop("NNS_FAULT_KILL_AT", None)
    process = subprocess.Popen([NNS, "build"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists():
            with log.open("rb") as f:
                f.seek(since)
                text = f.read()
            if (text.count(b" START ") >= nth_start if nth_start else b"START sql table model marts." in text):
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

        # A full build, killed once staging has written its candidate; meanwhile a second build
        # is refused, because one is writing.
        env = {**os.environ, "NNS_HOME": str(home), "NNS_PSEUDONYM_KEY": KEY,
               "NNS_FAULT_KILL_AT": "stage.written"}
        first = subprocess.Popen(build_cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lock = settings.home / "status" / "writer.lock"
        while first.poll() is None and str(first.pid) not in (lock.read_text() if lock.exists() else ""):
            time.sleep(0.05)
        second = run(home, build_cmd)
        assert second.returncode == 1 and "Another build is writing now" in second.stderr, second.stderr
        _, first_stderr = first.communicate(timeout=600)
        assert first.returncode == -signal.SIGKILL, first_stderr[-3000:]
        assert list(settings.publish.glob(".candidate-*.duckdb")), "the killed stage left its candidate"
        assert published_checksum(target) == a, "and it was never swapped in"
        ungated = run(home, PUBLISH_ONLY)
        assert ungated.returncode != 0 and "No candidate has passed the quality gate" in ungated.stderr
        assert published_checksum(target) == a, "an ungated warehouse is never published"

        # Clearing the stage and the gate, then publish: killed before the swap, then just after it.
        staged = run(home, STAGE_ONLY)
        assert staged.returncode == 0, staged.stderr[-3000:]
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
    assert not list(settings.publish.glob(".candidate-*")), "publication cleans up after a killed stage"
    assert {p.name for p in lake.sweep_temporaries(settings, older_than=0)} >= {p.name for p in leftovers}
    assert not hidden(settings.raw / "survey") and not hidden(settings.raw / "register")
    status = run(home, [NNS, "status", "--json"])
    assert status.returncode in (0, 1), status.stderr[-2000:]  # 1: the small profile has a gate warning
    report = json.loads(status.stdout)
    assert report["build"]["state"] == "success" and not [
        a for a in report["attention"] if "gate gave" not in a], report["attention"]
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


# --- The sweep: many kill moments, each from state A, each followed by a rerun ------------------

REPO = Path(__file__).resolve().parents[2]
SURVEY_POINTS = ("ingest.archived", "ingest.staging", "ingest.landed", "ingest.committed")
STAGE_POINTS = ("stage.written", "stage.recorded")
GATE_POINTS = ("gate.started", *(f"gate.suite@{n}" for n in range(1, 17)), "gate.docs", "gate.page", "gate.swapped")
PROMOTE_POINTS = ("publish.before_replace", "publish.after_replace")
STAGES = ("ingest", "dbt", "stage", "gate", "promote")
DBT_NODES = 131  # seeds, models and tests of one `dbt build` (the log's "N of 131 START")
SAMPLE_STAGES = 2  # `make test`: one seeded moment in each of two seeded stages; `make faults`: every moment


@dataclass(frozen=True)
class Moment:
    stage: str  # one of STAGES
    point: str  # a crash point (name@n), or for dbt "start@k": when the k-th dbt node starts

    @property
    def slug(self) -> str:
        return f"{self.stage}-{self.point}".replace("@", "-").replace(".", "_")


def sweep_moments(surveys_held: int, registers_held: int) -> list[Moment]:
    moments = [Moment("ingest", f"{point}@{n}") for n in range(1, surveys_held + 1) for point in SURVEY_POINTS]
    moments += [Moment("ingest", f"register.landed@{n}") for n in range(1, registers_held + 1)]
    moments += [Moment("dbt", f"start@{k}") for k in range(1, DBT_NODES, 8)]
    moments += [Moment("stage", point) for point in STAGE_POINTS]
    moments += [Moment("gate", point) for point in GATE_POINTS]
    moments += [Moment("promote", point) for point in PROMOTE_POINTS]
    return moments


def chosen_moments(moments: list[Moment]) -> tuple[list[Moment], str]:
    """Every moment with NNS_FAULT_SWEEP=all (`make faults`); else a seeded sample: one moment in
    each of SAMPLE_STAGES stages (another seed, other stages and moments)."""
    if os.environ.get("NNS_FAULT_SWEEP") == "all":
        # Round robin over the stages, so a sweep cut short still covers each of them.
        by_stage = [[m for m in moments if m.stage == stage] for stage in STAGES]
        interleaved = [m for round_ in zip_longest(*by_stage) for m in round_ if m is not None]
        return interleaved, "all"
    seed = int(os.environ.get("NNS_FAULT_SEED", "20261201"))
    rng = random.Random(seed)
    stages = rng.sample(list(STAGES), SAMPLE_STAGES)
    sample = [rng.choice([m for m in moments if m.stage == stage]) for stage in stages]
    return sample, f"seed {seed} (NNS_FAULT_SEED; NNS_FAULT_SWEEP=all for all {len(moments)})"


def test_every_named_crash_point_is_in_the_code():
    """A renamed checkpoint would make its moments of the sweep kill nothing."""
    sources = "".join(p.read_text(encoding="utf-8") for folder in ("ingest", "warehouse", "expectations",
                                                                   "publication", "operations")
                      for p in (REPO / folder).rglob("*.py"))
    for point in {p.split("@")[0] for p in (*SURVEY_POINTS, *STAGE_POINTS, *GATE_POINTS, *PROMOTE_POINTS,
                                            "register.landed")}:
        assert f'checkpoint("{point}")' in sources, point


@pytest.fixture(scope="module")
def sweep_start(state_a, tmp_path_factory):
    """State A (files waiting in the inbox) and state A' (the same, ingested, not yet built)."""
    settings, waiting = state_a
    pristine = settings.home.parent / f"{settings.home.name}-pristine"
    ingested = tmp_path_factory.mktemp("faults-ingested") / "home"
    shutil.copytree(pristine, ingested, symlinks=True)
    done = run(ingested, [NNS, "ingest"])
    assert done.returncode in (0, 1), done.stderr
    return pristine, ingested, waiting


def run_moment(start: Path, home: Path, moment: Moment) -> dict:
    """Copy the start, kill one command at the moment, rerun ingest and build; what came out."""
    shutil.copytree(start, home, symlinks=True)
    target = home / "publish" / "marts.duckdb"
    with ReaderLoop(target) as reader:
        if moment.stage == "dbt":
            since = (home / "logs" / "dbt" / "dbt.log").stat().st_size
            result, _ = kill_during_dbt(home, since, nth_start=int(moment.point.split("@")[1]))
        else:
            command = [NNS, "ingest"] if moment.stage == "ingest" else [NNS, "build"]
            result = run(home, command, moment.point)
        after_kill = published_checksum(target)
        # The rerun: what the nightly run does. After a build step's kill the inbox is empty and
        # ingest has nothing to do, so only the build is run again.
        rerun_ingest = run(home, [NNS, "ingest"]) if moment.stage == "ingest" else subprocess.CompletedProcess([], 0)
        rerun_build = run(home, [NNS, "build"])
    return {"moment": moment, "killed": killed(result), "after_kill": after_kill,
            "rerun": (rerun_ingest.returncode, rerun_build.returncode, rerun_build.stderr[-1500:]),
            "final": published_checksum(target), "reads": reader.reads, "failures": reader.failures,
            "seen": set(reader.seen)}


def test_a_sweep_of_kill_moments_each_rerun_equals_a_clean_run(sweep_start, small_build, tmp_path):
    """At least 50 kill moments across ingest, dbt, staging, the gate and promotion (`make faults`)."""
    pristine, ingested, waiting = sweep_start
    a = published_checksum(pristine / "publish" / "marts.duckdb")
    b = published_checksum(small_build / "publish" / "marts.duckdb")
    surveys = sum(not (pristine / "inbox" / "register" / name).exists() for name in waiting)
    moments = sweep_moments(surveys, len(waiting) - surveys)
    assert len(moments) >= 50, len(moments)
    chosen, how = chosen_moments(moments)
    started, outcomes = time.monotonic(), []
    for moment in chosen:
        start = pristine if moment.stage == "ingest" else ingested
        outcome = run_moment(start, tmp_path / moment.slug, moment)
        outcomes.append(outcome)
        shutil.rmtree(tmp_path / moment.slug, ignore_errors=True)
        print(f"{moment.stage:<8} {moment.point:<24} killed={outcome['killed']} "
              f"after_kill={'A' if outcome['after_kill'] == a else 'B' if outcome['after_kill'] == b else '?'} "
              f"rerun={outcome['rerun'][:2]} final={'B' if outcome['final'] == b else 'DIVERGED'} "
              f"reads={outcome['reads']} failures={len(outcome['failures'])}", flush=True)
    not_killed = [o["moment"] for o in outcomes if not o["killed"]]
    divergent = [o["moment"] for o in outcomes if o["final"] != b]
    failed_reruns = [(o["moment"], o["rerun"]) for o in outcomes if o["rerun"][1] != 0]
    reader_failures = [f for o in outcomes for f in o["failures"]]
    unknown_reads = [o["moment"] for o in outcomes if not o["seen"] <= {a, b}]
    per_stage = ", ".join(f"{st} {sum(m.stage == st for m in chosen)}" for st in STAGES)
    print(f"fault sweep ({how}): {len(chosen)} kill moments of {len(moments)} ({per_stage}); "
          f"not killed {len(not_killed)}; divergences {len(divergent)}; failed reruns {len(failed_reruns)}; "
          f"reads {sum(o['reads'] for o in outcomes)}, reader failures {len(reader_failures)}, "
          f"reads of neither A nor B {len(unknown_reads)}; {time.monotonic() - started:.0f} s")
    assert not not_killed, f"these moments never came: {not_killed}"
    assert not failed_reruns, failed_reruns[:3]
    assert not divergent, f"a rerun after these kills published something else: {divergent}"
    assert not reader_failures, reader_failures[:5]
    assert not unknown_reads, unknown_reads
    for o in outcomes:  # until the swap (the commit point), readers keep the old publication
        assert o["after_kill"] == (b if o["moment"].point == "publish.after_replace" else a), o["moment"]


def test_an_ingest_during_a_build_does_not_mix_states(sweep_start, small_build, tmp_path):
    """`nns ingest` of the waiting files while `nns build` runs dbt on the older lake: the build
    publishes what it read (A or B, never a mix); the next build publishes B."""
    pristine, _, _ = sweep_start
    a = published_checksum(pristine / "publish" / "marts.duckdb")
    b = published_checksum(small_build / "publish" / "marts.duckdb")
    home = tmp_path / "home"
    shutil.copytree(pristine, home, symlinks=True)
    env = {**os.environ, "NNS_HOME": str(home), "NNS_PSEUDONYM_KEY": KEY}
    env.pop("NNS_FAULT_KILL_AT", None)
    log = home / "logs" / "dbt" / "dbt.log"
    since = log.stat().st_size
    build = subprocess.Popen([NNS, "build"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while build.poll() is None:
        with log.open("rb") as f:
            f.seek(since)
            if b" START " in f.read():
                break
        time.sleep(0.01)
    ingest = run(home, [NNS, "ingest"])
    _, stderr = build.communicate(timeout=600)
    assert ingest.returncode in (0, 1), ingest.stderr
    assert build.returncode in (0, 1), stderr[-2000:]
    assert published_checksum(home / "publish" / "marts.duckdb") in (a, b)
    again = run(home, [NNS, "build"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert published_checksum(home / "publish" / "marts.duckdb") == b


# --- A full disk ------------------------------------------------------------------------------

def test_a_full_disk_gives_a_clear_message_and_a_failed_step(sweep_start, tmp_path):
    """A data home on a small tmpfs, filled up: `nns build` says the disk is full, exits 1, and
    the build log records the step as failed with the reason; freed, the next build publishes."""
    _, ingested, _ = sweep_start
    mount = tmp_path / "disk"
    mount.mkdir()
    size = sum(p.stat().st_size for p in ingested.rglob("*") if p.is_file()) + 48 * 2**20
    probe = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {probe.stderr.strip()}")
    try:
        home = mount / "home"
        shutil.copytree(ingested, home, symlinks=True)
        (home / "warehouse.duckdb").unlink()  # dbt must write a whole new warehouse
        ballast = mount / "ballast"
        free = shutil.disk_usage(mount).free
        with ballast.open("wb") as f:  # leave 512 KiB: room for the build log, not for a warehouse
            f.truncate(0)
            chunk = b"\0" * 2**20
            for _ in range((free - 2**19) // 2**20):
                f.write(chunk)
        failed = run(home, [NNS, "build"])
        assert failed.returncode == 1, failed.stderr[-2000:]
        assert "Traceback" not in failed.stderr, failed.stderr[-3000:]
        assert "disk is full" in failed.stderr or "No space left on device" in failed.stderr, failed.stderr[-2000:]
        steps = read_build_status_at(home)["steps"]
        failed_steps = {name: e for name, e in steps.items() if e["status"] == "failed"}
        assert failed_steps, steps
        assert any("space" in (e.get("error") or "").lower() for e in failed_steps.values()), failed_steps
        assert not [name for name, e in steps.items() if e["status"] == "running"], steps
        status = run(home, [NNS, "status", "--json"])
        assert '"failed"' in status.stdout
        ballast.unlink()
        again = run(home, [NNS, "build"])
        assert again.returncode == 0, again.stderr[-2000:]
        print(f"full disk: {failed.stderr.strip().splitlines()[-1]}")
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def read_build_status_at(home: Path) -> dict:
    with environment(NNS_HOME=str(home)):
        return read_build_status(get_settings())
