"""What changed since the warehouse was built and published, and so what a night builds.

A night with new survey files and no new extract rebuilds only the survey models, and
the reverse: `plan_build` compares fingerprints of the landed inputs, per source, with
those of the last build, and picks a selector of `dbt_project/selectors.yml`.

Fingerprints (SHA-256), computed from what the lake holds:

- `survey`, `register`: the bytes of every ledger record of that source (the ledger
  record is an ingest's commit point; the landed Parquet it names is immutable), and
  of every set-aside record of such a submission (`nns quarantine` and its release);
- `project`: every file of the dbt project (models, seeds, macros, tests, selectors),
  the settings dbt or the gate read (threshold, disclosure method, the CKM secret's
  digest, the volume tolerance), and the data home's path (the staging views hold it);
- `gate`: the expectation suites and the frames they validate;
- `publication`: disclosure control's and the writer's code and tables (`publication/`);
- `reports`: the reports' code, templates and texts (`report/`) and the display rules (`core/`):
  a night with nothing new skips the reports too, so a new report version must not look unchanged.

`status/fingerprints.json` keeps two records: `built`, what the warehouse was last
built from (written after a successful dbt build, with the warehouse file's identity
then), and `published`, what was last published (`built`, promoted by `publish` when
the published warehouse is that build). The gate compares the two to run only the
suites of what changed since the last publication (expectations.gate).

Everything is built (no selector) when asked (`nns build --full`), on the night a
collection window closes (`closes_on` in the calendar: the published figures of the
window are then made from scratch), when there is no record of a build or the
warehouse was changed since it, when the project or those settings changed, and when
both sources changed.

Nothing at all is built when the publication already is what a build would publish
(`unchanged_since_publication`, the first step of a build): the published record also keeps
the build's day and the published file's identity for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from core import set_aside
from core.catalogue import load_catalogue
from core.files import atomic_write_json
from core.ledger import all_records, now_utc
from core.settings import REPO_ROOT, Settings
from warehouse.identity import file_identity, warehouse_identity

log = logging.getLogger(__name__)

SURVEY, REGISTER = "survey", "register"
SOURCES = (SURVEY, REGISTER)
SELECTORS = {frozenset({SURVEY}): "surveys_changed", frozenset({REGISTER}): "registers_changed",
             frozenset(): "inputs_unchanged"}
# What the gate's suites and frames are made of (a change runs every suite again).
GATE_FILES = ("expectations/gx/expectations/*.json", "expectations/frames.py", "expectations/suites.py")
# What the published tables are made of besides the warehouse: disclosure control and the writer.
PUBLICATION_FILES = ("publication/*.py", "publication/*.csv")
# What the reports print besides the publication: their code, templates, texts and the display rules.
REPORT_FILES = ("report/**/*", "core/*.py")


def state_path(settings: Settings) -> Path:
    return settings.fingerprints


def read_state(settings: Settings) -> dict:
    path = state_path(settings)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # unreadable: as if no build were recorded, so everything is built


def _write_state(settings: Settings, state: dict) -> None:
    atomic_write_json(state_path(settings), state)


def _source_of(record_source: str | None) -> str:
    return REGISTER if (record_source or "").startswith("register") else SURVEY


def _digest_files(paths, root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def input_fingerprints(settings: Settings) -> dict[str, str]:
    """One fingerprint per source, of the ledger and set-aside records the warehouse is built from."""
    digests = {source: hashlib.sha256() for source in SOURCES}
    sources: dict[str, str] = {}
    ledger_dir = settings.ledger
    for path in sorted(ledger_dir.glob("*.json")) if ledger_dir.exists() else []:
        if path.name.startswith("_"):  # ingest's zero-record file that lets dbt read an empty ledger
            continue
        data = path.read_bytes()
        try:
            source = _source_of(json.loads(data).get("source"))
        except ValueError:  # a record being written is never half there (atomic), but stay safe
            source = None
        for name in ([source] if source else SOURCES):
            digests[name].update(path.name.encode() + b"\0" + hashlib.sha256(data).digest())
        sources[path.stem] = source or ""
    folder = set_aside.folder(settings)
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        data = path.read_bytes()
        owner = sources.get(path.stem)
        for name in ([owner] if owner else SOURCES):  # a record of no known submission: both, to be safe
            digests[name].update(b"set_aside:" + path.name.encode() + b"\0" + hashlib.sha256(data).digest())
    return {source: digest.hexdigest() for source, digest in digests.items()}


def project_fingerprint(settings: Settings) -> str:
    """The dbt project's files and the settings a build's result depends on."""
    project = settings.dbt_project_dir
    files = [p for p in project.rglob("*") if p.is_file()
             and not {"target", "dbt_packages", "logs", "__pycache__"} & set(p.relative_to(project).parts)]
    digest = hashlib.sha256(_digest_files(files, project).encode())
    digest.update(json.dumps({
        "home": str(settings.home),  # dbt-duckdb writes the lake's absolute paths into the staging views
        "disclosure_threshold": settings.disclosure_threshold,
        "disclosure_method": settings.disclosure_method,
        "volume_drop_tolerance": settings.volume_drop_tolerance,
        # The record keys' model reads the secret; its digest, never the secret, is kept.
        "ckm_secret": settings.ckm_secret_fingerprint,
    }, sort_keys=True).encode())
    return digest.hexdigest()


def _code_fingerprint(patterns: tuple[str, ...]) -> str:
    files = {p for pattern in patterns for p in REPO_ROOT.glob(pattern)
             if p.is_file() and "__pycache__" not in p.parts}
    return _digest_files(files, REPO_ROOT)


def gate_fingerprint() -> str:
    return _code_fingerprint(GATE_FILES)


def fingerprints(settings: Settings) -> dict[str, str]:
    return {**input_fingerprints(settings), "project": project_fingerprint(settings), "gate": gate_fingerprint(),
            "publication": _code_fingerprint(PUBLICATION_FILES), "reports": _code_fingerprint(REPORT_FILES)}


def closing_window(settings: Settings, day: date):
    """The collection window that closes on `day`, if any."""
    return next((w for w in load_catalogue(settings.catalogue_dir).windows if w.closes_on == day), None)


@dataclass
class BuildPlan:
    """What one dbt build does: everything (`selector` None) or one selector of selectors.yml."""

    selector: str | None
    changed: list[str]  # the sources whose inputs changed since the last build
    reasons: list[str]  # why, in words an operator reads in the build log
    day: str
    fingerprints: dict[str, str] = field(repr=False)

    @property
    def full(self) -> bool:
        return self.selector is None

    def dbt_args(self) -> list[str]:
        return ["build"] + (["--selector", self.selector] if self.selector else [])

    def describe(self) -> str:
        what = "everything" if self.full else f"selector {self.selector}"
        return f"{what}: {'; '.join(self.reasons)}"

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "fingerprints"}


def plan_build(settings: Settings, *, full: bool = False, today: date | None = None) -> BuildPlan:
    """Decide what tonight's dbt build builds (see the module's docstring for the rules)."""
    current = fingerprints(settings)
    day = settings.as_of_day(today)
    built = read_state(settings).get("built") or {}
    previous = built.get("fingerprints") or {}
    changed = [s for s in SOURCES if current[s] != previous.get(s)]
    reasons = []
    if full:
        reasons.append("a full build was asked for")
    window = closing_window(settings, day)
    if window is not None:
        reasons.append(f"the collection window {window.period} {window.name} closes today ({day}): "
                       "everything is built fresh")
    if not previous:
        reasons.append("no earlier build is recorded")
    elif built.get("warehouse") != warehouse_identity(settings):
        reasons.append("the warehouse is missing or was changed since the last recorded build")
    elif current["project"] != previous.get("project"):
        reasons.append("the dbt project, the settings it reads or the data home changed")
    if reasons or len(changed) > 1:
        if not reasons:
            reasons.append("surveys and registers both changed")
        return BuildPlan(None, changed, reasons, day.isoformat(), current)
    selector = SELECTORS[frozenset(changed)]
    reasons.append(f"only {changed[0]} inputs changed" if changed else "no input changed since the last build")
    return BuildPlan(selector, changed, reasons, day.isoformat(), current)


def record_built(settings: Settings, plan: BuildPlan, warehouse: dict | None) -> None:
    """After a successful dbt build: the warehouse (as it is now) is built from `plan`'s inputs."""
    state = read_state(settings)
    state["built"] = {"fingerprints": plan.fingerprints, "warehouse": warehouse, "at": now_utc(),
                      **plan.to_dict()}
    _write_state(settings, state)


def record_published(settings: Settings) -> None:
    """After publish: what was published is the last build, if the warehouse is still that build.

    With the build's day and the published file's identity, for `unchanged_since_publication`."""
    state = read_state(settings)
    built = state.get("built")
    if built and built.get("warehouse") == warehouse_identity(settings):
        state["published"] = {"fingerprints": built["fingerprints"], "at": now_utc(), "day": built.get("day"),
                              "file": file_identity(settings.published_database)}
    else:  # unknown: the next gate runs every suite, and the next night builds
        state.pop("published", None)
    _write_state(settings, state)


def _latest_opened(settings: Settings, day: date):
    """The window collection_freshness reports on `day`: the latest that has opened."""
    opened = [w for w in load_catalogue(settings.catalogue_dir).windows if w.opens_on <= day]
    return max(opened, key=lambda w: w.opens_on, default=None)


def _arrived_between(settings: Settings, first: date, last: date) -> bool:
    """Whether a survey file arrived on a day from `first` to `last` (UTC dates, which include every
    file whose Swedish date lies after `first` and up to `last`: Sweden is ahead of UTC)."""
    return any(first <= date.fromisoformat(record.received_at[:10]) <= last
               for record in all_records(settings) if _source_of(record.source) == SURVEY)


def unchanged_since_publication(settings: Settings, *, today: date | None = None) -> str | None:
    """Why the published database already is what tonight's build would publish; None if it may not be.

    Then nothing is built, gated or published (docs/operations.md, "A night with nothing new"):
    every fingerprint (the landed inputs, the project and its settings, the suites, the
    publication and report code) is that of the last publication, the published file is the one that was
    promoted, tonight is not a closing night, and "today" moves nothing collection_freshness
    shows (the same window, and no survey file arrived between the publication's day and tonight)."""
    published = read_state(settings).get("published") or {}
    if not published.get("fingerprints") or not published.get("day") or not published.get("file"):
        return None
    if published["file"] != file_identity(settings.published_database):
        return None
    if fingerprints(settings) != published["fingerprints"]:
        return None
    day, then = settings.as_of_day(today), date.fromisoformat(published["day"])
    if closing_window(settings, day) is not None:
        return None
    if day != then:
        if _latest_opened(settings, day) != _latest_opened(settings, then):
            return None
        if _arrived_between(settings, min(day, then), max(day, then)):
            return None
    return (f"nothing changed since the publication of {published['at']}: the same inputs, dbt project, "
            "settings, suites, publication and report code, and collection window")


@dataclass
class GateScope:
    """The sources whose suites the gate runs (the disclosure suites always run)."""

    sources: list[str]
    reason: str


def gate_scope(settings: Settings) -> GateScope:
    """The sources changed between what was last published and the warehouse the gate validates."""
    state = read_state(settings)
    built, published = state.get("built") or {}, state.get("published") or {}
    now, then = built.get("fingerprints") or {}, published.get("fingerprints") or {}
    if not now or built.get("warehouse") != warehouse_identity(settings):
        return GateScope(list(SOURCES), "the warehouse is not a recorded build")
    if built.get("selector", "") is None:
        return GateScope(list(SOURCES), f"a full build ({'; '.join(built.get('reasons') or [])})")
    if not then:
        return GateScope(list(SOURCES), "nothing recorded as published")
    if now.get("project") != then.get("project"):
        return GateScope(list(SOURCES), "the dbt project or its settings changed since the last publication")
    if gate_fingerprint() != then.get("gate"):
        return GateScope(list(SOURCES), "the suites changed since the last publication")
    changed = [s for s in SOURCES if now.get(s) != then.get(s)]
    return GateScope(changed, f"changed since the last publication: {', '.join(changed) or 'nothing'}")
