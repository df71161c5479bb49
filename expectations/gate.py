"""The quality gate: judge the staged candidate and the warehouse it came from, and decide.

`run_gate(settings, candidate)` runs between staging (publication.stage, which wrote the
protected candidate) and promotion (publication.promote, which renames it). It writes nothing
the analysts read: it judges the file it is given, and records its verdict with the checksum
of that file (gate.json; expectations.verdict reads it). It copies the
committed file data context (expectations/gx) to the data home, so a read-only
checkout works and each run's results stay with the data; runs one checkpoint
per suite on that suite's DataFrame; writes its own page (gate.html) and
`gate.json` (the summary `nns status` and the operator read) into a fresh folder
and swaps `publish/quality` to it (a symlink, so the swap is atomic).

Only what changed: with `sources` (operations.changes.gate_scope decides), the
suites of a source that did not change since the last publication are not run
again; their findings are carried over from the last gate (marked so), unless it
has none for them or one of them failed, and then they run. The disclosure
audits always run: they validate the whole candidate.

GX's own Data Docs are built only when a blocking expectation failed, or when
asked (`data_docs`: `nns build --data-docs`, and the night a collection window
closes): building them costs seconds and nobody reads them on a good night.

A failed `critical` expectation fails the gate: `GateFailed` names each failing
expectation and the federations concerned, and nothing is published. `warning`
expectations are reported and never block.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import tomllib
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import great_expectations as gx
import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core import crash_points
from core.catalogue import load_catalogue
from core.files import atomic_symlink
from core.settings import REPO_ROOT, Settings
from expectations.frames import FRAMES, Sources
from expectations.suites import GX_DIR, SUITE_DEFINITIONS, SUITE_SOURCES
from expectations.verdict import last_result
from ingest.contract import INSATS_RE
from publication.candidate import Candidate
from publication.checksum import published_checksum
from publication.usefulness import usefulness

log = logging.getLogger(__name__)

MAX_EXAMPLES = 5


class GateFailed(RuntimeError):
    """A blocking expectation failed; nothing was published. The message says what and where."""


@dataclass
class Finding:
    suite: str
    expectation: str  # e.g. expect_column_values_to_be_between(positive_share)
    severity: str
    passed: bool
    unexpected: int
    checked: int | None = None  # rows the expectation looked at
    federations: list[str] = field(default_factory=list)
    examples: list[dict] = field(default_factory=list)
    # The submissions whose rows failed, where the frame has them (the landed_* suites): what
    # `nns quarantine SUBMISSION --why …` can set aside so the nation is built without them.
    submissions: list[str] = field(default_factory=list)
    # Not run this time: its source is unchanged since the last publication; the last gate's finding.
    carried: bool = False

    def line(self) -> str:
        where = f" — federations: {', '.join(self.federations)}" if self.federations else ""
        if self.submissions:
            where += f" — submissions: {', '.join(s[:12] for s in self.submissions)}"
        examples = f" — e.g. {self.examples[0]}" if self.examples else ""
        return f"[{self.suite}] {self.expectation}: {self.unexpected} unexpected{where}{examples}"


@dataclass
class GateResult:
    passed: bool
    ran_at: str
    seconds: float
    checks: list[Finding]
    docs: str  # the gate's own page; GX's Data Docs are linked from it
    # The candidate it judged: {"candidate", "checksum" (publication.checksum) of the file it judged}.
    publication: dict | None = None
    suites_run: list[str] = field(default_factory=list)
    scope: str = "every suite"  # why these suites ran (operations.changes.gate_scope)
    data_docs: bool = False  # whether GX's Data Docs were built this time
    method: str = ""  # the candidate's disclosure control (NNS_DISCLOSURE_METHOD)
    # What readers can see of the candidate, per table and headline (publication.usefulness)
    usefulness: list[dict] = field(default_factory=list)
    # National changes large enough to need a statistician's comment (`large_national_changes`)
    large_changes: list[dict] = field(default_factory=list)

    @property
    def carried(self) -> int:
        return sum(1 for c in self.checks if c.carried)

    @property
    def expectations(self) -> int:
        return len(self.checks)

    @property
    def failures(self) -> list[Finding]:
        return [c for c in self.checks if not c.passed and c.severity != "warning"]

    @property
    def warnings(self) -> list[Finding]:
        return [c for c in self.checks if not c.passed and c.severity == "warning"]

    def summary(self) -> str:
        carried = f" ({self.carried} carried over unchanged: {self.scope})" if self.carried else ""
        head = (f"Quality gate {'passed' if self.passed else 'FAILED: nothing published'}: "
                f"{self.expectations} expectations{carried}, {len(self.failures)} blocking failure(s), "
                f"{len(self.warnings)} warning(s). Page: {self.docs}")
        lines = [head]
        lines += ["  FAIL " + f.line() for f in self.failures]
        lines += ["  WARN " + f.line() for f in self.warnings]
        blamed = sorted({s for f in self.failures for s in f.submissions})
        if blamed:
            lines.append("  To publish without a submission that fails: nns quarantine SUBMISSION --why \"…\" "
                         f"(failing: {', '.join(s[:12] for s in blamed)}), then nns build.")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {**asdict(self), "expectations": self.expectations,
                "failures": [asdict(f) for f in self.failures], "warnings": [asdict(f) for f in self.warnings]}


def suite_parameters(settings: Settings) -> dict:
    """Values the suites take from the catalogue and the settings."""
    catalogue = load_catalogue(settings.catalogue_dir)
    return {
        "federation_codes": sorted(f.code for f in catalogue.federations),
        "periods": sorted({w.period for w in catalogue.windows}),
        "respondent_groups": sorted(g.code for g in catalogue.groups),
        "genders": catalogue.codes("kon"),
        "age_groups": catalogue.codes("aldersgrupp"),
        "insats_pattern": INSATS_RE.pattern,
        "question_codes": sorted({q.code for q in catalogue.questions}),
        "support_categories": list(catalogue.support_categories),
        "end_reasons": list(catalogue.end_reasons),
        "min_volume_ratio": round(1 - settings.volume_drop_tolerance, 6),
        "small_counts": list(range(1, settings.disclosure_threshold)),
    }


def _expectation_label(config) -> str:
    kwargs = config.kwargs
    columns = kwargs.get("column") or kwargs.get("column_list") or [
        c for c in (kwargs.get("column_A"), kwargs.get("column_B")) if c]
    if isinstance(columns, list):
        columns = ", ".join(columns)
    return f"{config.type}({columns})"


def _plain(value) -> str | None:
    """A value as an operator reads it: 42 not 42.0, nothing for missing."""
    if value is None or value != value:  # None or NaN
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _finding(suite: str, result) -> Finding:
    details = result.result or {}
    rows = details.get("unexpected_index_list") or []
    federations = sorted({str(r["federation_code"]) for r in rows
                          if isinstance(r, dict) and r.get("federation_code") not in (None, "")})
    submissions = sorted({str(r["submission_id"]) for r in rows
                          if isinstance(r, dict) and r.get("submission_id") not in (None, "")})
    examples = [{k: _plain(v) for k, v in r.items()} for r in rows[:MAX_EXAMPLES] if isinstance(r, dict)]
    unexpected = details.get("unexpected_count")
    if unexpected is None:  # table-level expectations and exceptions
        unexpected = 0 if result.success else 1
    if result.exception_info and result.exception_info.get("raised_exception"):
        examples = [{"error": str(result.exception_info.get("exception_message"))[:300]}]
    severity = str(getattr(result.expectation_config.severity, "value", result.expectation_config.severity))
    return Finding(suite, _expectation_label(result.expectation_config), severity, bool(result.success),
                   int(unexpected), details.get("element_count"), federations, examples, submissions)


def _prepare_context(settings: Settings, docs_dir: Path):
    """A fresh copy of the committed context under the data home, its Data Docs aimed at docs_dir."""
    root = settings.quality
    context_dir = root / "gx"
    shutil.rmtree(context_dir, ignore_errors=True)
    shutil.copytree(GX_DIR, context_dir, ignore=shutil.ignore_patterns("uncommitted"))
    config_path = context_dir / "great_expectations.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["data_docs_sites"]["local_site"]["store_backend"]["base_directory"] = str(docs_dir)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return gx.get_context(mode="file", project_root_dir=str(root))


def _swap_docs(settings: Settings, docs_dir: Path) -> None:
    """Point publish/quality at docs_dir atomically; remove older runs' folders."""
    link = settings.quality_docs
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)  # a folder from an older layout
    atomic_symlink(link, docs_dir.name)
    for old in settings.publish.glob(".quality-*"):
        if old.is_dir() and old.name != docs_dir.name:
            shutil.rmtree(old, ignore_errors=True)


def carried_findings(settings: Settings, sources: list[str] | None) -> dict[str, list[Finding]]:
    """The last gate's findings of the suites that need not run (their source is not in `sources`).

    A suite is carried only if the last gate has findings for it and none of them is a
    blocking failure; any other suite runs.
    """
    if sources is None:
        return {}
    previous = last_result(settings) or {}
    known = {f.name for f in fields(Finding)}
    by_suite: dict[str, list[Finding]] = {}
    for check in previous.get("checks", []):
        by_suite.setdefault(check.get("suite"), []).append(
            Finding(**{**{k: v for k, v in check.items() if k in known}, "carried": True}))
    return {suite: found for suite, found in by_suite.items()
            if suite in SUITE_DEFINITIONS and SUITE_SOURCES[suite] is not None
            and SUITE_SOURCES[suite] not in sources
            and all(f.passed or f.severity == "warning" for f in found)}


def run_gate(settings: Settings, candidate: Candidate, *, raise_on_failure: bool = True,
             sources: list[str] | None = None, scope: str = "every suite", data_docs: bool = False,
             reuse_audit: bool = False) -> GateResult:
    """Validate the warehouse and `candidate`, the protected publication staged from it.

    `sources`: run only the suites of these sources (and the disclosure audits); None runs all.
    `data_docs`: build GX's Data Docs even if nothing fails.
    `reuse_audit`: the attacker's audit takes the last gate's answers for the components that did not change.
    """
    started = time.monotonic()
    settings.publish.mkdir(parents=True, exist_ok=True)
    docs_dir = settings.publish / f".quality-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    docs_dir.mkdir()
    path = candidate.path(settings)
    judged = {"candidate": candidate.name, "checksum": published_checksum(path)}  # the file as judged
    carried = carried_findings(settings, sources)
    to_run = [name for name in SUITE_DEFINITIONS if name not in carried]
    context = _prepare_context(settings, docs_dir)
    parameters = suite_parameters(settings)
    checks: list[Finding] = []
    crash_points.checkpoint("gate.started")
    try:
        source = context.data_sources.add_pandas("nns")
        with duckdb.connect(str(settings.warehouse), read_only=True) as warehouse_db:
            tables = Sources(warehouse_db, path, settings, reuse_audit)
            for name in SUITE_DEFINITIONS:
                if name in carried:
                    checks += carried[name]
                    continue
                frame = FRAMES[name]
                df = frame.query(tables)
                id_columns = [c for c in frame.id_columns if c in df.columns]
                batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
                definition = context.validation_definitions.add(
                    gx.ValidationDefinition(name=name, data=batch, suite=context.suites.get(name)))
                checkpoint_ = context.checkpoints.add(gx.Checkpoint(
                    name=f"gate__{name}", validation_definitions=[definition], actions=[],
                    result_format={"result_format": "COMPLETE", "unexpected_index_column_names": id_columns,
                                   "partial_unexpected_count": 20}))
                run = checkpoint_.run(batch_parameters={"dataframe": df}, expectation_parameters=parameters)
                checks += [_finding(name, result)
                           for validation in run.run_results.values() for result in validation.results]
                crash_points.checkpoint("gate.suite")  # gate.suite@n: after the n-th suite
        passed = all(c.passed or c.severity == "warning" for c in checks)
        if data_docs or not passed:
            context.build_data_docs()
        crash_points.checkpoint("gate.docs")
    except BaseException:
        shutil.rmtree(docs_dir, ignore_errors=True)
        raise
    seen = usefulness(settings.warehouse, path, settings.disclosure_threshold)
    result = GateResult(passed=passed, ran_at=datetime.now(UTC).isoformat(timespec="seconds"),
                        seconds=round(time.monotonic() - started, 1), checks=checks,
                        docs=str(settings.quality_docs / "gate.html"), publication=judged,
                        suites_run=to_run, scope=scope if carried else "every suite",
                        data_docs=data_docs or not passed, method=candidate.method, usefulness=seen,
                        large_changes=large_national_changes(path))
    (docs_dir / "gate.json").write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False),
                                        encoding="utf-8")
    (docs_dir / "gate.html").write_text(render_page(result, docs_dir, settings.timezone), encoding="utf-8")
    crash_points.checkpoint("gate.page")
    _swap_docs(settings, docs_dir)
    crash_points.checkpoint("gate.swapped")
    log.info(result.summary())
    if result.failures and raise_on_failure:
        raise GateFailed(result.summary())
    return result


# The reports' comment files and the size of a national change that needs a comment (docs/reports.md,
# "Comments"). The gate reads the files, not the report package above it; the rule is report.rules.
# large_changes, and tests/integration/test_report_figures.py keeps this list equal to it.
REPORT_COMMENTS = REPO_ROOT / "report" / "comments"
REPORT_PUBLISHING = REPO_ROOT / "report" / "publishing.toml"


def large_national_changes(path: Path, comments: Path = REPORT_COMMENTS,
                           publishing: Path = REPORT_PUBLISHING) -> list[dict]:
    """The nation's changes of at least the stated size (whole percentage points, as printed) since the
    period before, where both periods were measured by the same questions, each with its comment, its
    decision not to comment, or neither. Listed on the gate's page; never blocking."""
    size = int(tomllib.loads(publishing.read_text(encoding="utf-8"))["comments"]["large_change_points"])
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("""
            select r.period, r.indicator_id, r.respondent_group, r.positive_share,
                   (select list(distinct q.comparability_key order by q.comparability_key) from questions q
                    where q.indicator_id = r.indicator_id and q.respondent_group = r.respondent_group
                      and q.valid_from <= r.period and (q.valid_to is null or q.valid_to >= r.period)) as keys
            from indicator_results r
            where r.federation_code = 'RIKET' and r.gender = 'T'
            order by r.indicator_id, r.respondent_group, r.period""").fetchall()
    notes = {}
    for file in sorted(comments.glob("*.toml")):
        for entry in tomllib.loads(file.read_text(encoding="utf-8")).get("comment", []):
            notes[(file.stem.replace("-", "/", 1), int(entry["indicator_id"]), entry["respondent_group"])] = entry
    found = []
    for before, after in zip(rows, rows[1:], strict=False):
        if before[1:3] != after[1:3] or before[4] != after[4] or None in (before[3], after[3]):
            continue
        points = round(float(before[3]) * 100), round(float(after[3]) * 100)  # as printed
        if abs(points[1] - points[0]) >= size:
            note = notes.get((after[0], int(after[1]), after[2]), {})
            found.append({"period": after[0], "indicator_id": int(after[1]), "respondent_group": after[2],
                          "before": points[0], "after": points[1], "change": points[1] - points[0],
                          "comment": note.get("text"), "no_comment": note.get("no_comment")})
    return found


def local_time(moment: str, zone: str) -> str:
    """A UTC ISO time stamp as the operator's local time, zone written: 2026-11-20 02:14 CET."""
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def render_page(result: GateResult, docs_dir: Path, zone: str = "Europe/Stockholm") -> str:
    """The gate's own page: self-contained (GX's Data Docs load their styles from a CDN,
    which an operator's network may not reach), one row per expectation, failures first,
    each failure and warning with what to do (the template's `actions`)."""
    details = {}
    for suite in SUITE_DEFINITIONS:
        pages = sorted((docs_dir / "validations" / suite).rglob("*.html"))
        details[suite] = str(pages[-1].relative_to(docs_dir)) if pages else None
    order = {"critical": 0, "warning": 1}
    checks = sorted(result.checks, key=lambda c: (c.passed, order.get(c.severity, 2)))
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["j2"]))
    return env.get_template("gate.html.j2").render(
        result=result, checks=checks, details=details, ran_at=local_time(result.ran_at, zone),
        large_change_points=tomllib.loads(REPORT_PUBLISHING.read_text(encoding="utf-8"))["comments"]["large_change_points"],
        descriptions={name: description for name, (description, _) in SUITE_DEFINITIONS.items()})
