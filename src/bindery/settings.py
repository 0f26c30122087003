"""Django settings, derived entirely from :mod:`bindery.config`.

Nothing here is meant to be edited per deployment: set ``BINDERY_*`` variables instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from bindery import config as _config
from bindery.config import DatabaseURL

CONFIG = _config.load()
BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)
BINDERY_HOST_NAME = CONFIG.host_name
BINDERY_PUBLIC_URL = CONFIG.public_url
BINDERY_DIRECTORY_TTL = CONFIG.directory_ttl

INSTALLED_APPS = [
    "django.contrib.admin.apps.SimpleAdminConfig",  # our own site at /ops/, no autodiscover
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves its Swagger UI from local static files (no CDN, CSP-friendly)
    "bindery.ops",
    "bindery.control",
    "bindery.accounts",
    "bindery.security",
    "bindery.catalog",
    "bindery.sales",
    "bindery.privacy",
    "bindery.api",
    "bindery.web",
    "bindery.integration",
    "bindery.backups",
]

MIDDLEWARE = [
    "bindery.security.bruteforce.BlacklistMiddleware",
    "bindery.security.iprules.IpRulesMiddleware",
    "bindery.ops.middleware.RequestLogMiddleware",  # before the firewall: its refusals are logged with an id
    "bindery.security.waf.middleware.FirewallMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "bindery.ops.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "bindery.control.middleware.TenantScopeMiddleware",
    "bindery.accounts.sessions.SessionGuardMiddleware",
    "bindery.privacy.audit.PersonalDataAuditMiddleware",
    "bindery.api.middleware.ApiErrorShapeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bindery.urls"
WSGI_APPLICATION = "bindery.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database(url: DatabaseURL) -> dict[str, Any]:
    if url.is_sqlite:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(url.path),
            "OPTIONS": {
                # WAL lets readers work beside the one writer; IMMEDIATE takes the write lock at
                # BEGIN so two writers queue on the busy timeout instead of failing mid-transaction.
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=20000;"
                ),
            },
        }
    parsed: dict[str, Any] = dict(
        dj_database_url.parse(url.url, conn_max_age=60, conn_health_checks=True)
    )
    parsed.setdefault("OPTIONS", {})["connect_timeout"] = 5
    return parsed


# "default" is this delivery host's database; "control" the control plane's. The router sends
# each model to one of them (bindery.control.routers).
DATABASES = {
    "default": _database(CONFIG.host_db),
    "control": _database(CONFIG.control_db),
}
DATABASE_ROUTERS = ["bindery.control.routers.CellRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "bindery.security.bruteforce.BruteForceGuardBackend",  # refuses before any password is hashed
    "bindery.accounts.backends.TenantUserBackend",
    "bindery.accounts.backends.OperatorBackend",
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Sessions and cookies: __Host- names bind cookies to this exact origin over HTTPS.
SESSION_COOKIE_NAME = "__Host-bindery_session"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600
CSRF_COOKIE_NAME = "__Host-bindery_csrf"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = [CONFIG.public_url]

# Transport and browser hardening.
SECURE_SSL_REDIRECT = True
# A backup snapshot over plain HTTP is refused (and recorded), never redirected: its token already crossed.
SECURE_REDIRECT_EXEMPT = [r"^_snapshot/"]
SECURE_HSTS_SECONDS = 63072000  # two years, Mozilla's recommendation
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
BINDERY_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = CONFIG.var_dir / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from the apps when collectstatic was not run

# Mail: an SMTP server when configured; else files in <VAR_DIR>/outbox that operators read at
# /ops/outbox/ (never the console backend: reset links in the log would be credentials in logs).
DEFAULT_FROM_EMAIL = CONFIG.mail_from
SERVER_EMAIL = CONFIG.mail_from
if CONFIG.smtp is not None:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = CONFIG.smtp.host
    EMAIL_PORT = CONFIG.smtp.port
    EMAIL_HOST_USER = CONFIG.smtp.user
    EMAIL_HOST_PASSWORD = CONFIG.smtp.password
    EMAIL_USE_SSL = CONFIG.smtp.implicit_tls
    EMAIL_USE_TLS = not CONFIG.smtp.implicit_tls
    EMAIL_TIMEOUT = 20
else:
    EMAIL_BACKEND = "bindery.accounts.outbox.OutboxBackend"
BINDERY_OUTBOX_DIR = CONFIG.var_dir / "outbox"

# Jobs: see bindery.ops.queue, which builds the huey instance from these values lazily.
BINDERY_QUEUE = CONFIG.queue_backend
BINDERY_QUEUE_FILE = CONFIG.var_dir / "queue.sqlite3"
BINDERY_WORKER_THREADS = CONFIG.worker_threads

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "bindery.ops.logs.RedactSecretsFilter"}},
    "formatters": {"json": {"()": "bindery.ops.logs.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
    "loggers": {
        # Our request log replaces Django's own per-request warnings.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR"},
        "huey": {"level": "WARNING"},
        # httpx logs every request's full URL at INFO, query string included; remote APIs that
        # take keys in the query would leak them. bindery.integration.http logs calls itself.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

SILENCED_SYSTEM_CHECKS = [
    # Tenant users' e-mail is unique per tenant (a database constraint), and our backend looks
    # users up by tenant and e-mail together.
    "auth.W004",
]

# Integration engine: technologies load from these modules (each exposes TECHNOLOGY); node
# credentials are sealed with the master keys (bindery.security.envelope).
BINDERY_VAR_DIR = CONFIG.var_dir
BINDERY_MASTER_KEY = CONFIG.master_key
BINDERY_RUN_STALE_SECONDS = CONFIG.run_stale_seconds
BINDERY_RUN_RETENTION_DAYS = CONFIG.run_retention_days
BINDERY_TRUSTED_PROXIES = CONFIG.trusted_proxies
BINDERY_WAF_MODE = CONFIG.waf_mode
BINDERY_WAF_PARANOIA = CONFIG.waf_paranoia
BINDERY_WAF_THRESHOLD = CONFIG.waf_threshold
BINDERY_REDIS_URL = CONFIG.redis_url  # brute-force counters and ban lookups; empty: the host database
BINDERY_REDIS_PREFIX = f"bindery:{CONFIG.host_name}:"  # tests set a unique prefix per test
BINDERY_TECHNOLOGIES = [
    "bindery.technologies.hub",
    "bindery.technologies.files",
    "bindery.technologies.web_server",
    "bindery.technologies.bindery_api",
    "bindery.technologies.logistics",
    "bindery.technologies.legacy_erp",
    "bindery.technologies.woocommerce",
]

# Local-folder nodes of the files technology are confined to <VAR_DIR>/files/<tenant id>/.
BINDERY_FILES_ROOT = CONFIG.var_dir / "files"
