"""Configuration from ``BINDERY_*`` environment variables.

Every variable is declared once in :data:`VARIABLES` (name, default, meaning); the README's
configuration table is generated from that list (``bindery config --markdown``) so the two
cannot drift. :func:`load` parses and validates everything up front and raises
:class:`ConfigError` naming the first bad variable; the CLI turns that into one line on stderr
and a non-zero exit, never a traceback.

Secrets may come from files: for any variable marked ``secret``, ``NAME_FILE`` holds a path
whose contents are used instead of ``NAME``.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

PREFIX = "BINDERY_"


class ConfigError(Exception):
    """A configuration variable is missing or malformed."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    meaning: str
    secret: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable("BINDERY_VAR_DIR", "./var", "Folder for the embedded databases, queue, TLS files and generated secrets."),
    Variable("BINDERY_CONTROL_DATABASE_URL", "sqlite:///<VAR_DIR>/control.sqlite3",
             "Control-plane database (tenants, hosts, operators): `sqlite:///path` or `postgres://user:pass@host:port/db`.",
             secret=True),
    Variable("BINDERY_HOST_DATABASE_URL", "sqlite:///<VAR_DIR>/host.sqlite3",
             "This delivery host's database (everything tenant-owned, sessions, the job queue on PostgreSQL).",
             secret=True),
    Variable("BINDERY_HOST_NAME", "local", "Name of this delivery host in the control plane."),
    Variable("BINDERY_SECRET_KEY", "generated into `<VAR_DIR>/secret_key`",
             "Django secret key (signing sessions and tokens), at least 50 characters.", secret=True),
    Variable("BINDERY_DEBUG", "false", "Development mode with detailed error pages. Never in production."),
    Variable("BINDERY_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]",
             "Comma-separated host names this server answers to."),
    Variable("BINDERY_BIND", "127.0.0.1", "Address the web server listens on (`0.0.0.0` or `::` for all)."),
    Variable("BINDERY_HTTPS_PORT", "8443", "HTTPS port."),
    Variable("BINDERY_HTTP_PORT", "8080", "Plain HTTP port that only redirects to HTTPS; `0` turns it off."),
    Variable("BINDERY_PUBLIC_URL", "https://localhost:<HTTPS_PORT>",
             "Address users reach this host at (links, redirects)."),
    Variable("BINDERY_TLS_CERT_FILE", "self-signed, generated into `<VAR_DIR>/tls/`",
             "PEM certificate chain. Set together with BINDERY_TLS_KEY_FILE."),
    Variable("BINDERY_TLS_KEY_FILE", "self-signed, generated into `<VAR_DIR>/tls/`", "PEM private key (PKCS#8)."),
    Variable("BINDERY_QUEUE", "auto",
             "Job queue: `auto` (PostgreSQL queue in the host database when it is PostgreSQL, else SQLite), "
             "`sqlite`, `postgres` or `immediate` (run jobs inline, for tests)."),
    Variable("BINDERY_WEB_WORKERS", "1", "Web server worker processes."),
    Variable("BINDERY_WORKER_THREADS", "2", "Job worker threads."),
    Variable("BINDERY_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR."),
    Variable("BINDERY_DEMO", "true", "`bindery run` creates a demo tenant with an owner account on first start."),
    Variable("BINDERY_MASTER_KEY", "generated into `<VAR_DIR>/master_key`",
             "Master keys wrapping the data keys of stored node credentials and the tenants' field-encryption "
             "keys: comma-separated base64url 32-byte keys, the current one first, older ones kept for "
             "unwrapping until `bindery keys rotate`.",
             secret=True),
    Variable("BINDERY_RUN_STALE_SECONDS", "120",
             "A running integration run without a heartbeat for this long is retried or failed."),
    Variable("BINDERY_RUN_RETENTION_DAYS", "30",
             "Finished integration runs (with their logs and failed items) older than this are deleted."),
    Variable("BINDERY_TRUSTED_PROXIES", "",
             "Comma-separated IPs/CIDRs of reverse proxies whose `X-Forwarded-For` is believed "
             "(read right to left); empty: the socket peer is the client."),
    Variable("BINDERY_WAF_MODE", "block", "Application firewall: `block`, `detect` (log only) or `off`."),
    Variable("BINDERY_WAF_PARANOIA", "1", "Application firewall paranoia level, 1 (fewest false positives) to 4."),
    Variable("BINDERY_WAF_THRESHOLD", "5", "Anomaly score at which the application firewall blocks a request."),
    Variable("BINDERY_REDIS_URL", "",
             "Redis for the brute-force guard's counters and ban lookups, shared by every process of this host: "
             "`redis://[:password@]host:6379/0`, `rediss://` for TLS. Empty: counters in the host database. "
             "If Redis stops answering, the guard falls back to the database until it is back.", secret=True),
    Variable("BINDERY_FIREWALL_MANAGE", "false",
             "`true`: this host manages its nftables firewall; `bindery firewall watch` (run as root or with "
             "CAP_NET_ADMIN) re-applies `table inet bindery` when the policy or the blacklist changes."),
    Variable("BINDERY_DIRECTORY_TTL", "30",
             "Seconds a host trusts its cached copy of the tenant directory before asking the control plane again."),
    Variable("BINDERY_SMTP_URL", "",
             "Mail server for invitations and password resets: `smtp://user:pass@host:587` (STARTTLS) or "
             "`smtps://user:pass@host:465` (TLS). Empty: mail goes to `<VAR_DIR>/outbox/`, readable by "
             "operators at `/ops/outbox/`.", secret=True),
    Variable("BINDERY_MAIL_FROM", "Bindery <no-reply@localhost>", "Sender address of the platform's e-mail."),
    Variable("BINDERY_BACKUP_SITE_KEY", "generated into `<VAR_DIR>/backup_site_key`",
             "The backup site's own keys (never the master key): comma-separated base64url 32-byte keys, current "
             "first; they wrap every backup's data key and sign its manifest.", secret=True),
    Variable("BINDERY_BACKUP_TARGET", "<VAR_DIR>/backups",
             "Where the backup site stores backups: a folder path (`file:///path`) or `sftp://user@host:port/folder`."),
    Variable("BINDERY_BACKUP_SFTP_HOST_KEY", "",
             "The SFTP server's OpenSSH public host key line (required for an sftp:// target; no trust on first use)."),
    Variable("BINDERY_BACKUP_SFTP_PASSWORD", "", "Password of the backup site's SFTP account.", secret=True),
    Variable("BINDERY_BACKUP_SFTP_PRIVATE_KEY", "", "OpenSSH private key of the backup site's SFTP account.",
             secret=True),
    Variable("BINDERY_BACKUP_TIME", "02:30",
             "Daily backup time (UTC, HH:MM), optionally per host: `02:30,eu1=04:00`; missed runs are caught up."),
    Variable("BINDERY_BACKUP_RETENTION", "14,8,12",
             "Grandfather-father-son retention: daily, weekly and monthly backups kept per database."),
    Variable("BINDERY_BACKUP_DRILL_DATABASE_URL", "the backed-up database's own server",
             "PostgreSQL server (`postgres://...`, role with CREATEDB) where restore drills create and drop scratch "
             "databases.", secret=True),
    Variable("BINDERY_BACKUP_SNAPSHOT_TOKENS", "",
             "Tokens the backup site presents to SQLite hosts' snapshot endpoints (`eu2=TOKEN,eu3=TOKEN`, from "
             "`bindery hosts snapshot-access`); a host listed here is pulled over HTTPS instead of read directly.",
             secret=True),
    Variable("BINDERY_BACKUP_SNAPSHOT_CA", "the system's trust store",
             "PEM file of the certificate authority (or the certificate itself) the hosts' snapshot endpoints must "
             "present: pins them."),
    Variable("BINDERY_BACKUP_DATACENTER", "",
             "The backup site's own datacenter (a name from `bindery datacenters`): databases less than 500 km away "
             "are refused unless an operator records an override. Empty: not checked (alerted)."),
    Variable("BINDERY_BACKUP_PRIORITY", "lowest",
             "CPU and I/O priority of the backup site's work: `lowest` (nice 19, idle I/O class, also for "
             "pg_dump) or `normal`; on a host, the priority of the snapshot endpoint's copy step."),
    Variable("BINDERY_BACKUP_RATE_LIMIT", "0 (unlimited)",
             "Most MB per second the backup site reads from a database: a host's snapshot stream or pg_dump's "
             "output (the server then waits on the network, as with Barman's `bandwidth_limit`)."),
)
_BY_NAME = {v.name: v for v in VARIABLES}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
QUEUES = ("auto", "sqlite", "postgres", "immediate")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL; ``engine`` is ``sqlite`` or ``postgresql``."""

    engine: str
    url: str
    path: Path | None = None  # SQLite only

    @property
    def is_sqlite(self) -> bool:
        return self.engine == "sqlite"


@dataclass(frozen=True)
class SmtpURL:
    host: str
    port: int
    user: str
    password: str
    implicit_tls: bool

    def __repr__(self) -> str:  # never show the password
        return f"SmtpURL({self.host}:{self.port})"


@dataclass(frozen=True)
class Config:
    var_dir: Path
    control_db: DatabaseURL
    host_db: DatabaseURL
    host_name: str
    secret_key: str
    debug: bool
    allowed_hosts: tuple[str, ...]
    bind: str
    https_port: int
    http_port: int
    public_url: str
    tls_cert_file: Path | None
    tls_key_file: Path | None
    queue: str
    web_workers: int
    worker_threads: int
    log_level: str
    demo: bool
    master_key: str | None = None
    run_stale_seconds: int = 120
    run_retention_days: int = 30
    trusted_proxies: tuple[str, ...] = ()
    waf_mode: str = "block"
    waf_paranoia: int = 1
    waf_threshold: int = 5
    redis_url: str = ""
    firewall_manage: bool = False
    directory_ttl: int = 30
    smtp: SmtpURL | None = None
    mail_from: str = "Bindery <no-reply@localhost>"
    backup_site_key: str | None = None
    backup_target: str = ""
    backup_sftp_host_key: str = ""
    backup_sftp_password: str | None = None
    backup_sftp_private_key: str | None = None
    backup_times: tuple[tuple[str, str], ...] = (("", "02:30"),)
    backup_retention: tuple[int, int, int] = (14, 8, 12)
    backup_drill_url: str | None = None
    backup_snapshot_tokens: tuple[tuple[str, str], ...] = ()
    backup_snapshot_ca: str = ""
    backup_datacenter: str = ""
    backup_low_priority: bool = True
    backup_rate_limit: int = 0  # MB/s the backup site reads from a database; 0: unlimited

    @property
    def tls_dir(self) -> Path:
        return self.var_dir / "tls"

    @property
    def queue_backend(self) -> str:
        """The queue actually used: ``auto`` resolved against the host database."""
        if self.queue != "auto":
            return self.queue
        return "sqlite" if self.host_db.is_sqlite else "postgres"


def _raw(env: Mapping[str, str], name: str) -> str | None:
    """Return a variable's value, reading ``NAME_FILE`` for secrets."""
    variable = _BY_NAME[name]
    if variable.secret:
        file_var = f"{name}_FILE"
        path = env.get(file_var)
        if path:
            if name in env:
                raise ConfigError(file_var, f"set either {name} or {file_var}, not both")
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(file_var, f"cannot read {path}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise ConfigError(file_var, f"{path} is not UTF-8 text") from None
    value = env.get(name)
    return value.strip() if value is not None else None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _raw(env, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(name, f"expected true or false, got {value!r}")


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    value = _raw(env, name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {number}")
    return number


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(env, name) or default
    normalized = value.upper() if name == "BINDERY_LOG_LEVEL" else value.lower()
    if normalized not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return normalized


def parse_database_url(name: str, value: str) -> DatabaseURL:
    """Parse a ``sqlite:///`` or ``postgres://`` URL; relative SQLite paths resolve from the working folder."""
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # dj-database-url's convention: sqlite:///relative/file, sqlite:////absolute/file
        raw_path = value[len("sqlite:///"):] if value.startswith("sqlite:///") else ""
        if not raw_path or raw_path.endswith("/"):
            raise ConfigError(name, "a SQLite URL needs a file name, e.g. sqlite:///var/host.sqlite3")
        path = Path(raw_path).resolve()
        return DatabaseURL("sqlite", value, path)
    if scheme in ("postgres", "postgresql", "pgsql"):
        if not parts.hostname and "host=" not in parts.query:
            raise ConfigError(name, "a PostgreSQL URL needs a host, e.g. postgres://user@127.0.0.1:5432/bindery")
        if not parts.path.strip("/"):
            raise ConfigError(name, "a PostgreSQL URL needs a database name after the host")
        try:
            _ = parts.port
        except ValueError:
            raise ConfigError(name, "the port in the URL is not a number") from None
        return DatabaseURL("postgresql", value)
    shown = scheme or "(none)"
    raise ConfigError(name, f"unsupported database scheme {shown!r}; use sqlite:/// or postgres://")


def _hosts(value: str) -> tuple[str, ...]:
    return tuple(h.strip() for h in value.split(",") if h.strip())


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Parse a comma-separated list of IP addresses or CIDR networks; keep their normal form."""
    import ipaddress

    parts = [p.strip() for p in (_raw(env, name) or "").split(",") if p.strip()]
    try:
        return tuple(str(ipaddress.ip_network(p, strict=False)) for p in parts)
    except ValueError as exc:
        raise ConfigError(name, f"not an IP address or network: {exc}") from None


def _bind(env: Mapping[str, str]) -> str:
    value = _raw(env, "BINDERY_BIND") or "127.0.0.1"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError("BINDERY_BIND", f"expected an IP address, got {value!r}") from None
    return value


def _secret_key(env: Mapping[str, str], var_dir: Path, *, create: bool) -> str:
    value = _raw(env, "BINDERY_SECRET_KEY")
    if value is not None:
        if len(value) < 50 or len(set(value)) < 5:
            raise ConfigError("BINDERY_SECRET_KEY", "must be at least 50 characters with at least 5 distinct ones")
        return value
    path = var_dir / "secret_key"
    if path.exists():
        try:
            stored = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("BINDERY_SECRET_KEY", f"cannot read the generated key {path}: {exc}") from None
        if len(stored) >= 50:
            return stored
        raise ConfigError("BINDERY_SECRET_KEY", f"the generated key in {path} is damaged; delete it to make a new one")
    if not create:
        # Read-only callers (e.g. printing the configuration) must not write files.
        return "not-yet-generated-" + "x" * 40
    _ensure_dir(var_dir)
    key = secrets.token_urlsafe(64)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError("BINDERY_VAR_DIR", f"cannot create {path}: {exc.strerror}") from None


def _tls_files(env: Mapping[str, str]) -> tuple[Path | None, Path | None]:
    cert = _raw(env, "BINDERY_TLS_CERT_FILE")
    key = _raw(env, "BINDERY_TLS_KEY_FILE")
    if bool(cert) != bool(key):
        missing = "BINDERY_TLS_KEY_FILE" if cert else "BINDERY_TLS_CERT_FILE"
        raise ConfigError(missing, "must be set together with its pair (certificate and key)")
    if not cert or not key:
        return None, None
    for name, value in (("BINDERY_TLS_CERT_FILE", cert), ("BINDERY_TLS_KEY_FILE", key)):
        if not os.access(value, os.R_OK) or not Path(value).is_file():
            raise ConfigError(name, f"cannot read {value}")
    return Path(cert), Path(key)


def _smtp(env: Mapping[str, str]) -> SmtpURL | None:
    value = _raw(env, "BINDERY_SMTP_URL")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("BINDERY_SMTP_URL", "expected smtp://user:pass@host:port or smtps://user:pass@host:port")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError:
        raise ConfigError("BINDERY_SMTP_URL", "the port is not a number between 1 and 65535") from None
    return SmtpURL(host=parts.hostname, port=port, user=unquote(parts.username or ""),
                   password=unquote(parts.password or ""), implicit_tls=parts.scheme == "smtps")


def _redis_url(env: Mapping[str, str]) -> str:
    value = (_raw(env, "BINDERY_REDIS_URL") or "").strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise ConfigError("BINDERY_REDIS_URL", "expected redis://host:6379/0, rediss://host:6380/0 or unix:///path")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ConfigError("BINDERY_REDIS_URL", "the port is not a number between 1 and 65535") from None
    return value


def _mail_from(env: Mapping[str, str]) -> str:
    value = _raw(env, "BINDERY_MAIL_FROM") or "Bindery <no-reply@localhost>"
    if "\n" in value or "\r" in value or "@" not in value or len(value) > 254:
        raise ConfigError("BINDERY_MAIL_FROM", f"expected an e-mail address, got {value!r}")
    return value


def _master_key(env: Mapping[str, str]) -> str | None:
    value = _raw(env, "BINDERY_MASTER_KEY")
    if not value:
        return None
    from bindery.security.envelope import EnvelopeError, Keyring

    try:
        Keyring.from_text(value)
    except EnvelopeError as exc:
        raise ConfigError("BINDERY_MASTER_KEY", str(exc)) from None
    return value


def _backup_site_key(env: Mapping[str, str]) -> str | None:
    value = _raw(env, "BINDERY_BACKUP_SITE_KEY")
    if not value:
        return None
    from bindery.security.envelope import EnvelopeError, Keyring

    try:
        Keyring.from_text(value)
    except EnvelopeError as exc:
        raise ConfigError("BINDERY_BACKUP_SITE_KEY", str(exc)) from None
    master = _raw(env, "BINDERY_MASTER_KEY")
    if master and set(value.replace("\n", ",").split(",")) & set(master.replace("\n", ",").split(",")):
        raise ConfigError("BINDERY_BACKUP_SITE_KEY", "must differ from BINDERY_MASTER_KEY (the hosts hold that one)")
    return value


def _backup_target(env: Mapping[str, str], var_dir: Path) -> str:
    value = _raw(env, "BINDERY_BACKUP_TARGET") or str(var_dir / "backups")
    if value.startswith("sftp://"):
        parts = urlsplit(value)
        if not parts.hostname or not parts.username:
            raise ConfigError("BINDERY_BACKUP_TARGET", "an SFTP target looks like sftp://user@host:port/folder")
        if not _raw(env, "BINDERY_BACKUP_SFTP_HOST_KEY"):
            raise ConfigError("BINDERY_BACKUP_SFTP_HOST_KEY", "an sftp:// target needs the server's public host key")
        return value
    if "://" in value and not value.startswith("file://"):
        raise ConfigError("BINDERY_BACKUP_TARGET", "use a folder path, file:///path or sftp://user@host/folder")
    return str(Path(value.removeprefix("file://")).resolve())


def _backup_times(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    import re

    value = _raw(env, "BINDERY_BACKUP_TIME") or "02:30"
    times: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        host, _, at = part.rpartition("=")
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", at):
            raise ConfigError("BINDERY_BACKUP_TIME", f"expected HH:MM (UTC) or host=HH:MM, got {part!r}")
        times[host] = at
    times.setdefault("", "02:30")
    return tuple(sorted(times.items()))


def _backup_snapshot_tokens(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    value = _raw(env, "BINDERY_BACKUP_SNAPSHOT_TOKENS") or ""
    out: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        host, sep, token = part.partition("=")
        if not sep or not host.strip() or len(token.strip()) < 20:
            raise ConfigError("BINDERY_BACKUP_SNAPSHOT_TOKENS", "expected host=TOKEN pairs (tokens of 20+ characters)")
        out[host.strip()] = token.strip()
    return tuple(sorted(out.items()))


def _backup_snapshot_ca(env: Mapping[str, str]) -> str:
    value = (_raw(env, "BINDERY_BACKUP_SNAPSHOT_CA") or "").strip()
    if value and not Path(value).is_file():
        raise ConfigError("BINDERY_BACKUP_SNAPSHOT_CA", f"no file {value}")
    return value


def _backup_priority(env: Mapping[str, str]) -> bool:
    value = (_raw(env, "BINDERY_BACKUP_PRIORITY") or "lowest").strip().lower()
    if value not in ("lowest", "normal"):
        raise ConfigError("BINDERY_BACKUP_PRIORITY", "expected lowest or normal")
    return value == "lowest"


def _backup_retention(env: Mapping[str, str]) -> tuple[int, int, int]:
    value = _raw(env, "BINDERY_BACKUP_RETENTION") or "14,8,12"
    try:
        daily, weekly, monthly = (int(p) for p in value.split(","))
    except ValueError:
        raise ConfigError("BINDERY_BACKUP_RETENTION",
                          f"expected daily,weekly,monthly e.g. 14,8,12, got {value!r}") from None
    if min(daily, weekly, monthly) < 0 or daily + weekly + monthly == 0:
        raise ConfigError("BINDERY_BACKUP_RETENTION", "counts must be >= 0 and keep at least one backup")
    return daily, weekly, monthly


def load(env: Mapping[str, str] | None = None, *, create: bool = True) -> Config:
    """Parse and validate the whole configuration; raise :class:`ConfigError` on the first problem.

    With ``create`` the var folder and a generated secret key are made when missing.
    """
    env = os.environ if env is None else env
    secret_files = {f"{v.name}_FILE" for v in VARIABLES if v.secret}
    unknown = sorted(k for k in env if k.startswith(PREFIX) and k not in _BY_NAME and k not in secret_files)
    if unknown:
        raise ConfigError(unknown[0], "unknown variable (misspelt?); see the configuration table in README.md")

    var_dir = Path(_raw(env, "BINDERY_VAR_DIR") or "./var").resolve()
    if create:
        _ensure_dir(var_dir)

    def db(name: str, default_file: str) -> DatabaseURL:
        value = _raw(env, name) or f"sqlite:///{var_dir / default_file}"
        return parse_database_url(name, value)

    control_db = db("BINDERY_CONTROL_DATABASE_URL", "control.sqlite3")
    host_db = db("BINDERY_HOST_DATABASE_URL", "host.sqlite3")
    if control_db.url == host_db.url:
        raise ConfigError("BINDERY_HOST_DATABASE_URL", "must differ from BINDERY_CONTROL_DATABASE_URL")

    host_name = _raw(env, "BINDERY_HOST_NAME") or "local"
    if not host_name.replace("-", "").isalnum() or len(host_name) > 63:
        raise ConfigError("BINDERY_HOST_NAME", "use letters, digits and dashes, at most 63 characters")

    https_port = _int(env, "BINDERY_HTTPS_PORT", 8443, low=1, high=65535)
    http_port = _int(env, "BINDERY_HTTP_PORT", 8080, low=0, high=65535)
    if http_port == https_port:
        raise ConfigError("BINDERY_HTTP_PORT", "must differ from BINDERY_HTTPS_PORT")
    public_url = _raw(env, "BINDERY_PUBLIC_URL") or f"https://localhost:{https_port}"
    if urlsplit(public_url).scheme != "https" or not urlsplit(public_url).hostname:
        raise ConfigError("BINDERY_PUBLIC_URL", f"expected an https:// address, got {public_url!r}")

    queue = _choice(env, "BINDERY_QUEUE", "auto", QUEUES)
    if queue == "postgres" and host_db.is_sqlite:
        raise ConfigError("BINDERY_QUEUE", "postgres needs BINDERY_HOST_DATABASE_URL to be a PostgreSQL URL")

    tls_cert, tls_key = _tls_files(env)
    return Config(
        var_dir=var_dir,
        control_db=control_db,
        host_db=host_db,
        host_name=host_name,
        secret_key=_secret_key(env, var_dir, create=create),
        debug=_bool(env, "BINDERY_DEBUG", False),
        allowed_hosts=_hosts(_raw(env, "BINDERY_ALLOWED_HOSTS") or "localhost,127.0.0.1,[::1]"),
        bind=_bind(env),
        https_port=https_port,
        http_port=http_port,
        public_url=public_url.rstrip("/"),
        tls_cert_file=tls_cert,
        tls_key_file=tls_key,
        queue=queue,
        web_workers=_int(env, "BINDERY_WEB_WORKERS", 1, low=1, high=64),
        worker_threads=_int(env, "BINDERY_WORKER_THREADS", 2, low=1, high=64),
        log_level=_choice(env, "BINDERY_LOG_LEVEL", "INFO", LOG_LEVELS),
        demo=_bool(env, "BINDERY_DEMO", True),
        master_key=_master_key(env),
        run_stale_seconds=_int(env, "BINDERY_RUN_STALE_SECONDS", 120, low=5, high=86400),
        run_retention_days=_int(env, "BINDERY_RUN_RETENTION_DAYS", 30, low=1, high=3650),
        trusted_proxies=_networks(env, "BINDERY_TRUSTED_PROXIES"),
        waf_mode=_choice(env, "BINDERY_WAF_MODE", "block", ("block", "detect", "off")),
        waf_paranoia=_int(env, "BINDERY_WAF_PARANOIA", 1, low=1, high=4),
        waf_threshold=_int(env, "BINDERY_WAF_THRESHOLD", 5, low=1, high=1000),
        redis_url=_redis_url(env),
        firewall_manage=_bool(env, "BINDERY_FIREWALL_MANAGE", False),
        directory_ttl=_int(env, "BINDERY_DIRECTORY_TTL", 30, low=0, high=86400),
        smtp=_smtp(env),
        mail_from=_mail_from(env),
        backup_site_key=_backup_site_key(env),
        backup_target=_backup_target(env, var_dir),
        backup_sftp_host_key=_raw(env, "BINDERY_BACKUP_SFTP_HOST_KEY") or "",
        backup_sftp_password=_raw(env, "BINDERY_BACKUP_SFTP_PASSWORD") or None,
        backup_sftp_private_key=_raw(env, "BINDERY_BACKUP_SFTP_PRIVATE_KEY") or None,
        backup_times=_backup_times(env),
        backup_retention=_backup_retention(env),
        backup_drill_url=_raw(env, "BINDERY_BACKUP_DRILL_DATABASE_URL") or None,
        backup_snapshot_tokens=_backup_snapshot_tokens(env),
        backup_snapshot_ca=_backup_snapshot_ca(env),
        backup_datacenter=(_raw(env, "BINDERY_BACKUP_DATACENTER") or "").strip(),
        backup_low_priority=_backup_priority(env),
        backup_rate_limit=_int(env, "BINDERY_BACKUP_RATE_LIMIT", 0, low=0, high=100_000),
    )


def markdown_table() -> str:
    """Return the configuration table for the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for v in VARIABLES:
        meaning = v.meaning + (f" May be read from a file named by `{v.name}_FILE`." if v.secret else "")
        default = v.default if "`" in v.default else f"`{v.default}`" if v.default else "not set"
        rows.append(f"| `{v.name}` | {default} | {meaning} |")
    return "\n".join(rows)

