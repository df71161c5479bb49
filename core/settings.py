"""The one settings object. Every part of the product (ingest, dbt, DAGs, CLI,
reports) reads its configuration from here, and only from the environment."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
# How the published counts are protected (docs/analysts.md): the Cell Key Method (the default), or suppression.
DISCLOSURE_METHODS = ("ckm", "suppression")
# The CKM record keys' secret when NNS_CKM_SECRET is unset. dbt may key the records with it, but
# nothing keyed by it is published: staging under the Cell Key Method refuses it (publication.stage),
# since anyone who reads this file could compute the record keys and so the noise.
DEV_CKM_SECRET = "nns-ckm-dev-secret-not-for-production"
CKM_SECRET_LABEL = b"nns ckm secret check"  # the secret check model's LABEL (a test keeps the two equal)


def _secret(name: str) -> str | None:
    """A secret from NAME, or from the file NAME_FILE points to (Docker secrets)."""
    value = os.environ.get(name, "").strip()
    path = os.environ.get(f"{name}_FILE", "").strip()
    if not value and path:
        value = Path(path).read_text(encoding="utf-8").strip()
    return value or None


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def _fraction(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1, got {raw!r}")
    return value
def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    home: Path
    pseudonym_key: str | None
    disclosure_threshold: int
    timezone: str
    catalogue_dir: Path
    dbt_project_dir: Path
    max_rows_per_sheet: int
    duckdb_memory_limit: str
    duckdb_threads: int
    volume_drop_tolerance: float
    seeded_fault: str | None
    as_of: str | None
    # A file is taken from the inbox only when its size and modification time have not changed
    # for this many seconds (or it was renamed into place after its last write): see ingest/inbox.py.
    stable_seconds: int = 60
    # Failure alerts by e-mail; no host, no e-mail (the summary is still logged).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "nns@localhost"
    smtp_to: tuple[str, ...] = ()
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    # A deployment's REST API (docker-compose or any Airflow 3): `nns rerun` goes through it when set.
    airflow_api_url: str | None = None
    airflow_user: str = "operator"
    airflow_password: str | None = None
    # Who a federation contacts about its feedback page (shown on every page): name, e-mail, phone.
    # The default names the role only: set NNS_COORDINATOR_CONTACT to a real name, e-mail and phone.
    coordinator_contact: str = "den nationella samordnaren för indikatorarbetet hos NNS"
    # The check page (`nns check-server`, check/): its public address, shown on every feedback page when set,
    # and its limits (docs/deployment.md, "The check page"). Memory is bounded by about
    # check_concurrent × (check_max_upload_bytes + what reading one file may take, ingest.reader) + the process.
    check_url: str | None = None
    check_max_upload_bytes: int = 16 * 1024 * 1024
    check_concurrent: int = 2
    check_per_minute: int = 20
    check_request_seconds: int = 30
    check_queue_seconds: int = 10
    check_max_connections: int = 64
    # The read API (`nns serve`, api/): who analysts contact about the tables, and the most cells per request.
    contact: str = "NNS indikatorarbete, Nationella nätverket för samordningsförbund"
    api_max_cells: int = 150_000
    # `nns status` flags federations that have sent nothing when the window closes within this many days.
    attention_days: int = 14
    # ckm (the default): the Cell Key Method for every published count (publication/ckm.py); or suppression.
    # The secret keys each record's key (HMAC, core.record_keys); never published.
    disclosure_method: str = "ckm"
    ckm_secret: str = DEV_CKM_SECRET

    @property
    def ckm_secret_is_public(self) -> bool:
        """No NNS_CKM_SECRET of the operator's own: the development value in this file, which anyone can read."""
        return self.ckm_secret == DEV_CKM_SECRET

    @property
    def ckm_secret_fingerprint(self) -> str:
        """An HMAC-SHA256 under the CKM secret of a fixed label: names the secret without revealing it.
        The warehouse's int_register__ckm_secret_check model holds the same (a test keeps them equal)."""
        return hmac.new(self.ckm_secret.encode(), CKM_SECRET_LABEL, hashlib.sha256).hexdigest()

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        home = Path(env.get("NNS_HOME") or REPO_ROOT / "var").expanduser().resolve()
        dbt_dir = REPO_ROOT / "dbt_project"
        settings = cls(
            home=home,
            pseudonym_key=_secret("NNS_PSEUDONYM_KEY"),
            disclosure_threshold=_int("NNS_DISCLOSURE_THRESHOLD", 5),
            timezone=env.get("NNS_TIMEZONE", "Europe/Stockholm"),
            # The catalogue is dbt's seed folder, so Python and dbt can never read different ones.
            catalogue_dir=dbt_dir / "seeds",
            dbt_project_dir=dbt_dir,
            max_rows_per_sheet=_int("NNS_MAX_ROWS_PER_SHEET", 20_000),
            duckdb_memory_limit=env.get("NNS_DUCKDB_MEMORY_LIMIT", "4GB"),
            duckdb_threads=_int("NNS_DUCKDB_THREADS", 2),
            # The quality gate warns when a federation's questionnaires fall by more than this share.
            volume_drop_tolerance=_fraction("NNS_VOLUME_DROP_TOLERANCE", 0.5),
            # A deliberate fault for demonstrating the gate (see README); never set in production.
            seeded_fault=env.get("NNS_SEEDED_FAULT", "").strip() or None,
            # "Today" for the collection freshness (YYYY-MM-DD); unset means the current date.
            as_of=env.get("NNS_AS_OF", "").strip() or None,
            stable_seconds=max(0, _int("NNS_STABLE_SECONDS", 60)),
            smtp_host=env.get("NNS_SMTP_HOST", "").strip() or None,
            smtp_port=_int("NNS_SMTP_PORT", 25),
            smtp_from=env.get("NNS_SMTP_FROM", "").strip() or "nns@localhost",
            smtp_to=tuple(a.strip() for a in env.get("NNS_SMTP_TO", "").split(",") if a.strip()),
            smtp_user=env.get("NNS_SMTP_USER", "").strip() or None,
            smtp_password=_secret("NNS_SMTP_PASSWORD"),
            smtp_starttls=_bool("NNS_SMTP_STARTTLS", False),
            airflow_api_url=env.get("NNS_AIRFLOW_API_URL", "").strip().rstrip("/") or None,
            airflow_user=env.get("NNS_AIRFLOW_USER", "").strip() or "operator",
            airflow_password=_secret("NNS_AIRFLOW_PASSWORD"),
            coordinator_contact=env.get("NNS_COORDINATOR_CONTACT", "").strip() or cls.coordinator_contact,
            contact=env.get("NNS_CONTACT", "").strip() or cls.contact,
            check_url=env.get("NNS_CHECK_URL", "").strip() or None,
            check_max_upload_bytes=_int("NNS_CHECK_MAX_UPLOAD_BYTES", cls.check_max_upload_bytes),
            check_concurrent=_int("NNS_CHECK_CONCURRENT", cls.check_concurrent),
            check_per_minute=_int("NNS_CHECK_PER_MINUTE", cls.check_per_minute),
            check_request_seconds=_int("NNS_CHECK_REQUEST_SECONDS", cls.check_request_seconds),
            check_queue_seconds=_int("NNS_CHECK_QUEUE_SECONDS", cls.check_queue_seconds),
            check_max_connections=_int("NNS_CHECK_MAX_CONNECTIONS", cls.check_max_connections),
            api_max_cells=_int("NNS_API_MAX_CELLS", 150_000),
            attention_days=_int("NNS_ATTENTION_DAYS", 14),
            disclosure_method=env.get("NNS_DISCLOSURE_METHOD", "").strip().lower() or "ckm",
            ckm_secret=_secret("NNS_CKM_SECRET") or DEV_CKM_SECRET,
        )
        if settings.disclosure_method not in DISCLOSURE_METHODS:
            raise ValueError(f"NNS_DISCLOSURE_METHOD must be one of {', '.join(DISCLOSURE_METHODS)}, "
                             f"got {settings.disclosure_method!r}")
        if settings.disclosure_threshold < 1:
            raise ValueError("NNS_DISCLOSURE_THRESHOLD must be at least 1")
        if settings.api_max_cells < 1:
            raise ValueError("NNS_API_MAX_CELLS must be at least 1")
        for name in ("check_max_upload_bytes", "check_concurrent", "check_per_minute", "check_request_seconds",
                     "check_max_connections"):
            if getattr(settings, name) < 1:
                raise ValueError(f"NNS_{name.upper()} must be at least 1")
        return settings

    def local_date(self, moment: datetime | None = None) -> date:
        """The operator's calendar day (NNS_TIMEZONE) at `moment` (UTC if naive), now if None."""
        moment = moment or datetime.now(ZoneInfo("UTC"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo("UTC"))
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def as_of_day(self, today: date | None = None) -> date:
        """A build's day: `today` if given, else NNS_AS_OF (the demo and the benchmark replay a night), else today."""
        if today is not None:
            return today
        return date.fromisoformat(self.as_of) if self.as_of else self.local_date()

    # The data home's layout, derived from `home`: every path the product reads or writes comes
    # from here (docs/operations.md, "The data home"), so there is one place to move it.
    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def register_inbox(self) -> Path:
        """Where agencies drop register extracts (a folder of the inbox)."""
        return self.inbox / "register"

    @property
    def arrivals(self) -> Path:
        """When each inbox file was first seen unchanged (ingest/inbox.py)."""
        return self.home / "arrivals"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def raw(self) -> Path:
        return self.lake / "raw"

    def raw_source(self, source: str) -> Path:
        """Landed Parquet of one source (`survey` or `register`), a folder per submission."""
        return self.raw / source

    @property
    def archive(self) -> Path:
        return self.lake / "archive"

    @property
    def quarantine(self) -> Path:
        return self.lake / "quarantine"

    @property
    def ledger(self) -> Path:
        return self.lake / "ledger"

    @property
    def set_aside(self) -> Path:
        """Submissions an operator set aside (`nns quarantine`), one record each."""
        return self.lake / "set_aside"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def dbt_target(self) -> Path:
        """dbt's target folder: the manifest, run results, compiled SQL."""
        return self.home / "dbt_target"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def status(self) -> Path:
        """The operator's state files: the writer lock, the last build, what changed."""
        return self.home / "status"

    @property
    def writer_lock(self) -> Path:
        return self.status / "writer.lock"

    @property
    def build_log(self) -> Path:
        return self.status / "last_build.json"

    @property
    def space_reserve(self) -> Path:
        return self.status / ".space-reserve"

    @property
    def fingerprints(self) -> Path:
        return self.status / "fingerprints.json"

    @property
    def audit_proofs(self) -> Path:
        """The attacker's audit's answer per connected set of the last gate (publication.attack)."""
        return self.status / "audit_proofs.json"

    @property
    def quality(self) -> Path:
        """The gate's working folder: its GX file data context, and the staged candidate's record."""
        return self.home / "quality"

    @property
    def candidate_record(self) -> Path:
        """What the staging step wrote for the gate to judge (publication/stage.py)."""
        return self.quality / "candidate.json"

    @property
    def publish(self) -> Path:
        return self.home / "publish"

    @property
    def published_database(self) -> Path:
        """The analyst database: written only by publication/, read by api/ and report/ through one reader."""
        return self.publish / "marts.duckdb"

    @property
    def reports(self) -> Path:
        return self.publish / "report"

    @property
    def quality_docs(self) -> Path:
        """The gate's page, its verdict (gate.json) and Data Docs: a symlink swapped to each run's folder."""
        return self.publish / "quality"

    @property
    def feedback(self) -> Path:
        """Swedish feedback pages for rejected submissions, one per file."""
        return self.home / "feedback"

    @property
    def airflow_home(self) -> Path:
        """The embedded Airflow of `nns demo` and `nns airflow` (SQLite metadata)."""
        return self.home / "airflow"

    def dbt_env(self) -> dict[str, str]:
        """The environment a dbt subprocess needs to find this data home."""
        return {
            "NNS_HOME": str(self.home),
            "NNS_DISCLOSURE_THRESHOLD": str(self.disclosure_threshold),
            "NNS_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "NNS_DUCKDB_THREADS": str(self.duckdb_threads),
            "NNS_AS_OF": self.as_of or "",
            "NNS_CKM_SECRET": self.ckm_secret,  # read by the record keys' model (int_register__record_keys.py)
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
        }


def get_settings() -> Settings:
    """Read the settings afresh (cheap), so tests and tasks see the current env."""
    return Settings.from_env()
