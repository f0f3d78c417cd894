"""Settings, read from the environment only (see README's configuration table)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from . import localenv
from .env import env_bool, env_choice, env_float, env_int, env_list, env_str, env_url
from .queues import TASK_ROUTES, broker_transport_options

BASE_DIR = Path(__file__).resolve().parent.parent
# The env file `make run` wrote (var/local.env) fills in what the environment leaves unset.
localenv.load()
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)
# Unique per checkout, so two checkouts on one machine never share test databases or queues.
CHECKOUT_ID = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]

DEBUG = env_bool("DEBUG", False)
TESTING = "pytest" in sys.modules or env_bool("TESTING", False)


def _state_dir(name: str) -> str:
    """A folder under VAR_DIR; under test, one per test process (``name-test-<pid>``): test runs side by side,
    and the workers of one parallel run, never share files (the test session removes them at its end)."""
    return str(VAR_DIR / (name if not TESTING else f"{name}-test-{os.getpid()}"))


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off")
    # A development key, refused by `check --deploy`; production sets SECRET_KEY.
    SECRET_KEY = "django-insecure-dev-only-" + CHECKOUT_ID
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_url("SITE_URL", "http://localhost:8000")

INSTALLED_APPS = [
    "django.contrib.admin.apps.SimpleAdminConfig",  # admin.autodiscover() runs in urls.py
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "template_partials",
    "pitchey_incidents",
    "backups",
    "recovery",
    "incidents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "pitchey_incidents.middleware.BodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pitchey_incidents.middleware.LoginRequiredMiddleware",
    "pitchey_incidents.middleware.UserTimeZoneMiddleware",
]

ROOT_URLCONF = "pitchey_incidents.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pitchey_incidents.context_processors.roles",
                "recovery.context_processors.switches",
            ],
            # Tag libraries that live in the incident domain's sub-packages (Django only looks in an
            # app's own templatetags/ package).
            "libraries": {
                "communications": "incidents.comms.templatetags",
            },
        },
    }
]
WSGI_APPLICATION = "pitchey_incidents.wsgi.application"
ASGI_APPLICATION = "pitchey_incidents.asgi.application"

# --- Own database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'pitchey.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
except Exception as exc:  # dj_database_url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{CHECKOUT_ID}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", f"test_pitchey_{CHECKOUT_ID}")}
    # Under ASGI every request runs in a fresh thread, so persistent connections are not reused;
    # a psycopg pool per process is (DB_POOL=1, with DB_CONN_MAX_AGE=0). The ASGI entry point
    # (pitchey_incidents/asgi.py) turns it on unless DB_POOL says otherwise.
    if env_bool("DB_POOL", False):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN", 2, minimum=0),
            "max_size": env_int("DB_POOL_MAX", 20, minimum=1),
            "timeout": env_float("DB_POOL_TIMEOUT_S", 10.0),
        }
DB_POOL_SIZE = DATABASES["default"].get("OPTIONS", {}).get("pool", {}).get("max_size", 0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Live stream set-ups (pitchey_incidents/stream_gate.py) ------------------------------------------
# At most this many /events/stream/ set-ups (session and role check) per web process at once: half the
# pool, so a reconnect storm leaves connections for every other page.
STREAM_SETUP_MAX = env_int("STREAM_SETUP_MAX", max(1, DB_POOL_SIZE // 2) if DB_POOL_SIZE else 10, minimum=1)
STREAM_SETUP_QUEUE = env_int("STREAM_SETUP_QUEUE", 2000, minimum=0)  # set-ups that may wait for a turn
STREAM_SETUP_WAIT_S = env_float("STREAM_SETUP_WAIT_S", 15.0)  # then 503 with Retry-After
STREAM_RETRY_AFTER_S = env_int("STREAM_RETRY_AFTER_S", 3, minimum=1)

# --- Broker and Redis ---------------------------------------------------------------------------
BROKER_DIR = Path(env_str("BROKER_DIR", _state_dir("broker")))
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
REDIS_URL = env_url("REDIS_URL", "")
# Key prefix on Redis (or a per-checkout broker folder) so that parallel test runs never share work.
CELERY_QUEUE_PREFIX = env_str("CELERY_QUEUE_PREFIX", f"test-{CHECKOUT_ID}-{os.getpid()}:" if TESTING else "")
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL, BROKER_DIR, CELERY_QUEUE_PREFIX)
# The embedded broker writes each message whole before a worker can see it (pitchey_incidents/broker_fs.py).
CELERY_BROKER_TRANSPORT = (
    "pitchey_incidents.broker_fs:Transport" if CELERY_BROKER_URL.startswith("filesystem://") else None
)
# Workers outlive a broker outage: they retry the connection forever (Celery's default gives up after
# 100 attempts and exits), and a task running when the connection drops runs to its end: tasks claim
# their rows, so the copy redelivered after the visibility timeout finds its work done, while cancelling
# would throw away a two-hour backup on every blip. The kombu failure that killed a worker on the
# reconnect is patched in pitchey_incidents/celery.py.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# Heartbeats (pitchey_incidents/workers.py): how often a worker writes one per queue, when a queue is
# shown as having no worker, and when a critical queue with none fails readiness and opens an incident.
WORKER_HEARTBEAT_S = env_float("WORKER_HEARTBEAT_S", 10.0)
WORKER_STALE_S = env_int("WORKER_STALE_S", 30, minimum=1)
WORKER_MISSING_S = env_int("WORKER_MISSING_S", 60, minimum=1)
# The CLI's broker check: longer than this and it runs the job inline (see pitchey_incidents/jobs.py).
BROKER_CHECK_TIMEOUT_S = env_float("BROKER_CHECK_TIMEOUT_S", 0.5)
CELERY_TASK_DEFAULT_QUEUE = "default"
# The queues themselves (kombu objects) are declared in pitchey_incidents/celery.py from QUEUES.
CELERY_TASK_ROUTES = {pattern: {"queue": queue} for pattern, queue in TASK_ROUTES.items()}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_POOL_RESTARTS = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Fixed housekeeping jobs; beat copies them into django-celery-beat's tables (editable in the admin).
CELERY_BEAT_SCHEDULE = {
    "mitigations-sweep": {"task": "incidents.tasks.mitigations_sweep", "schedule": 60.0},
    "postmortem-reminders": {"task": "incidents.tasks.postmortem_reminders", "schedule": 300.0},
    "notification-sweep": {
        "task": "incidents.tasks.notification_sweep",
        "schedule": env_float("NOTIFICATION_SWEEP_S", 15.0),
    },
    "escalation-fire-due": {
        "task": "incidents.tasks.escalation_fire_due",
        "schedule": env_float("ESCALATION_TICK_S", 5.0),
    },
    "oncall-handoff": {"task": "incidents.tasks.oncall_handoff_notify", "schedule": 60.0},
    "detection-run": {"task": "incidents.tasks.detection_run", "schedule": env_float("DETECTION_INTERVAL_S", 30.0)},
    "detection-chains-sweep": {
        "task": "incidents.tasks.detection_chains_sweep",
        "schedule": env_float("DETECTION_CHAIN_SWEEP_S", 60.0),
    },
    "alerts-auto-resolve": {"task": "incidents.tasks.alerts_auto_resolve", "schedule": 60.0},
    "probe-results-prune": {"task": "incidents.tasks.probe_results_prune", "schedule": 3600.0},
    "recovery-sweep": {"task": "recovery.tasks.runs_sweep", "schedule": 60.0},
    "controls-sweep": {"task": "recovery.tasks.controls_sweep", "schedule": 60.0},
    "workers-check": {"task": "incidents.tasks.workers_check", "schedule": env_float("WORKERS_CHECK_S", 20.0)},
}

# --- Auth ---------------------------------------------------------------------------------------
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
if TESTING:
    # Fast hashing in tests. PBKDF2 stays accepted: servers that tests start run without TESTING,
    # so a user who logs in to them through a browser gets a PBKDF2 password.
    PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
CELERY_TIMEZONE = TIME_ZONE

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = VAR_DIR / "media"

# --- Behind a TLS-terminating proxy: plain HTTP inside, HTTPS outside ----------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# The HTTPS redirect is the TLS proxy's job (W008); HSTS preloading is the operator's choice (W021).
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", ["security.W008", "security.W021"])

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "pitchey_incidents.drf.TokenAuthentication",
        "pitchey_incidents.drf.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["pitchey_incidents.drf.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "pitchey_incidents.drf.Pagination",
    "DEFAULT_PARSER_CLASSES": ["pitchey_incidents.drf.JSONParser"],  # the API reads JSON (else 415)
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "pitchey_incidents.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Pitchey Incidents API",
    "DESCRIPTION": "Incident response and disaster recovery: incidents, alerts, backups, recovery.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["pitchey_incidents.drf.RolePermission"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "pitchey_incidents.schema.declare_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "SeverityEnum": "recovery.models.Severity.choices",
        "IncidentStatusEnum": "incidents.lifecycle.models.Status.choices",
        # queued/running/succeeded/failed: mitigations and backups share one set of job states.
        "JobStatusEnum": "incidents.lifecycle.models.MitigationStatus.choices",
        "RecoveryRunStatusEnum": "recovery.models.RunStatus.choices",
        "RecoveryStepStatusEnum": "recovery.models.StepStatus.choices",
        "ActionItemStatusEnum": "incidents.postmortems.models.ActionItemStatus.choices",
        "PostMortemStatusEnum": "incidents.postmortems.models.PostMortemStatus.choices",
        # A mitigation's `action` and an action's `name` are the one registry of mitigation actions.
        "ActionNameEnum": "recovery.actions.ACTION_NAMES",
        # Two fields named `kind`: a backup's keeps the name it always had, a contact method's has its own.
        "KindEnum": "backups.models.Kind.choices",
        "ContactKindEnum": "incidents.comms.api.people.KIND_CHOICES",
    },
}

# --- Protected platform (what we back up, probe and recover) -------------------------------------
TARGET_DATABASE_URL = env_str("TARGET_DATABASE_URL", "")  # default: our own database
TARGET_REDIS_URL = env_url("TARGET_REDIS_URL", "")
MEDIA_DIR = env_str("MEDIA_DIR", "")
CONFIG_PATHS = env_list("CONFIG_PATHS", [], sep=":")
BACKUP_DIR = Path(env_str("BACKUP_DIR", _state_dir("backups")))
PROMETHEUS_URL = env_url("PROMETHEUS_URL", "")
# Detection (docs/detection.md): probe history kept, intake limit. HTTP probes: SERVICE_HEALTH_URLS.
PROBE_HISTORY_DAYS = env_int("PROBE_HISTORY_DAYS", 14, minimum=1)
# Health endpoint samples (one per HEALTH_SAMPLE_INTERVAL_S on beat) are kept this long.
HEALTH_SAMPLE_KEEP_S = env_int("HEALTH_SAMPLE_KEEP_S", 6 * 3600, minimum=60)
# A worker holds a detection chain's step this long; past it, the sweeper hands the step to another.
DETECTION_CHAIN_LEASE_S = env_int("DETECTION_CHAIN_LEASE_S", 900, minimum=1)
ALERT_MAX_BODY_BYTES = env_int("ALERT_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# Every other API request body (README, API): larger → 413 naming the limit; JSON nested deeper → 400.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32, minimum=4)
# Backups (docs/backups.md): rate limit, worker heartbeat, where restore tests create scratch databases.
BACKUP_MAX_BYTES_PER_S = env_int("BACKUP_MAX_BYTES_PER_S", 0, minimum=0)
BACKUP_HEARTBEAT_TIMEOUT_S = env_int("BACKUP_HEARTBEAT_TIMEOUT_S", 120, minimum=5)
BACKUP_SCRATCH_DATABASE_URL = env_str("BACKUP_SCRATCH_DATABASE_URL", "")
BACKUP_S3_PART_SIZE_MB = env_int("BACKUP_S3_PART_SIZE_MB", 16, minimum=5)
# Encryption at rest with age (docs/backups.md): public keys (age1… or ssh-…, ';'-separated), for every
# tier or per tier (BACKUP_AGE_RECIPIENTS_LOCAL, _CLOUD, _ARCHIVE: set, even empty, it replaces the
# global list for that tier). Reading needs the private key: BACKUP_AGE_IDENTITY_FILE (age-keygen's file).
BACKUP_AGE_RECIPIENTS = env_list("BACKUP_AGE_RECIPIENTS", [], sep=";")
BACKUP_AGE_RECIPIENTS_BY_TIER = {
    tier: env_list(f"BACKUP_AGE_RECIPIENTS_{tier.upper()}", [], sep=";")
    for tier in ("local", "cloud", "archive")
    if f"BACKUP_AGE_RECIPIENTS_{tier.upper()}" in os.environ
}
BACKUP_AGE_IDENTITY_FILE = env_str("BACKUP_AGE_IDENTITY_FILE", "")
# S3 Object Lock per tier: governance, compliance or empty (none); copies are locked until their
# retention date (a legal hold where the retention table keeps them indefinitely).
BACKUP_OBJECT_LOCK = {
    tier: env_choice(f"BACKUP_OBJECT_LOCK_{tier.upper()}", "", ("", "governance", "compliance"))
    for tier in ("cloud", "archive")
}
# Continuous archiving (docs/backups.md, "Point-in-time recovery"): a role with REPLICATION on the
# protected PostgreSQL. The receiver keeps WAL in a spool until it is on the tiers.
# With PITR_AUTO and no PITR_DATABASE_URL, the protected database itself when its role may replicate.
PITR_DATABASE_URL = env_str("PITR_DATABASE_URL", "")
PITR_AUTO = env_bool("PITR_AUTO", True)
PITR_SLOT = env_str("PITR_SLOT", "pitchey_pitr")
PITR_SPOOL_DIR = Path(env_str("PITR_SPOOL_DIR", _state_dir("wal-spool")))
PITR_RESTORE_DIR = Path(env_str("PITR_RESTORE_DIR", _state_dir("pitr")))
PITR_RESTORE_TIMEOUT_S = env_int("PITR_RESTORE_TIMEOUT_S", 3600, minimum=10)
PITR_RESTORE_WAL_AHEAD = env_int("PITR_RESTORE_WAL_AHEAD", 8, minimum=1)  # segments fetched ahead of replay
PITR_SLOT_WARN_BYTES = env_int("PITR_SLOT_WARN_BYTES", 1 << 30, minimum=1)
PITR_SLOT_MAX_BYTES = env_int("PITR_SLOT_MAX_BYTES", 8 << 30, minimum=1)
PITR_SERVER_USER = env_str("PITR_SERVER_USER", "postgres")  # runs a restored server when we are root
PG_BINDIR = env_str("PG_BINDIR", "")  # where pg_dump, pg_restore, pg_basebackup, pg_ctl… live; default: PATH
# Commands that the run_command action may run: NAME=command line, separated by ';'.
ALLOWED_COMMANDS = {
    name.strip(): cmd.strip()
    for name, _, cmd in (item.partition("=") for item in env_list("ALLOWED_COMMANDS", [], sep=";"))
    if name.strip() and cmd.strip()
}
COMMAND_TIMEOUT_S = env_float("COMMAND_TIMEOUT_S", 60.0)
CELERY_WORKER_NAMES = env_list("CELERY_WORKER_NAMES", [])
WORKERS_PING_TIMEOUT_S = env_float("WORKERS_PING_TIMEOUT_S", 3.0)  # `workers restart` waits this for answers

# --- Outside services: each enabled when its credentials are set ---------------------------------
SLACK_WEBHOOK = env_str("SLACK_WEBHOOK")
SLACK_WEBHOOK_CRITICAL = env_str("SLACK_WEBHOOK_CRITICAL")
SLACK_WEBHOOK_WARNING = env_str("SLACK_WEBHOOK_WARNING")
PAGERDUTY_ROUTING_KEY = env_str("PAGERDUTY_ROUTING_KEY")
PAGERDUTY_SERVICE_ID = env_str("PAGERDUTY_SERVICE_ID")
PAGERDUTY_EVENTS_URL = env_url("PAGERDUTY_EVENTS_URL", "https://events.pagerduty.com")
MATTERMOST_WEBHOOK = env_str("MATTERMOST_WEBHOOK")
MATTERMOST_WEBHOOK_CRITICAL = env_str("MATTERMOST_WEBHOOK_CRITICAL")
MATTERMOST_WEBHOOK_WARNING = env_str("MATTERMOST_WEBHOOK_WARNING")
MATTERMOST_ACTION_TOKEN = env_str("MATTERMOST_ACTION_TOKEN")  # shared with message buttons' posts back
TEAMS_WEBHOOK = env_str("TEAMS_WEBHOOK")  # Workflows (Power Automate) "post to a channel" webhook URLs
TEAMS_WEBHOOK_CRITICAL = env_str("TEAMS_WEBHOOK_CRITICAL")
TEAMS_WEBHOOK_WARNING = env_str("TEAMS_WEBHOOK_WARNING")
PAGERDUTY_WEBHOOK_SECRET = env_str("PAGERDUTY_WEBHOOK_SECRET")  # v3 webhook subscription's secret
SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET")  # the Slack app's signing secret (interactivity)
# Where Slack's response_url may point (tests point it at a local server).
SLACK_RESPONSE_URL_PREFIX = env_url("SLACK_RESPONSE_URL_PREFIX", "https://hooks.slack.com/")
STATUSPAGE_API_KEY = env_str("STATUSPAGE_API_KEY")
STATUSPAGE_PAGE_ID = env_str("STATUSPAGE_PAGE_ID")
STATUSPAGE_API_URL = env_url("STATUSPAGE_API_URL", "https://api.statuspage.io/v1")
NEON_API_KEY = env_str("NEON_API_KEY")
NEON_PROJECT_ID = env_str("NEON_PROJECT_ID")
NEON_ENDPOINT_ID = env_str("NEON_ENDPOINT_ID")
NEON_API_URL = env_url("NEON_API_URL", "https://console.neon.tech/api/v2")
CF_API_TOKEN = env_str("CF_API_TOKEN")
CF_ZONE_ID = env_str("CF_ZONE_ID")
CF_ACCOUNT_ID = env_str("CF_ACCOUNT_ID")
CF_WORKER_NAME = env_str("CF_WORKER_NAME")
CLOUDFLARE_API_URL = env_url("CLOUDFLARE_API_URL", "https://api.cloudflare.com/client/v4")
R2_BUCKET = env_str("R2_BUCKET")
R2_ARCHIVE_BUCKET = env_str("R2_ARCHIVE_BUCKET")
R2_PREFIX = env_str("R2_PREFIX", "")
R2_ARCHIVE_PREFIX = env_str("R2_ARCHIVE_PREFIX", "archive/")  # used when R2_ARCHIVE_BUCKET is empty
# The archive bucket's own endpoint and credentials (optional; default: the cloud tier's).
ARCHIVE_S3_ENDPOINT_URL = env_url("ARCHIVE_S3_ENDPOINT_URL", "")
ARCHIVE_AWS_ACCESS_KEY_ID = env_str("ARCHIVE_AWS_ACCESS_KEY_ID")
ARCHIVE_AWS_SECRET_ACCESS_KEY = env_str("ARCHIVE_AWS_SECRET_ACCESS_KEY")
S3_ENDPOINT_URL = env_url("S3_ENDPOINT_URL", "")
AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID")
AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY")
AWS_REGION = env_str("AWS_REGION", "auto")
OUTGOING_WEBHOOK_URL = env_url("OUTGOING_WEBHOOK_URL", "")
OUTGOING_WEBHOOK_SECRET = env_str("OUTGOING_WEBHOOK_SECRET")
HTTP_TIMEOUT_S = env_float("HTTP_TIMEOUT_S", 10.0)
# The notification outbox (docs/communications.md): a claimed delivery is the worker's for this long;
# after that the sweeper may hand it to another worker. Must exceed HTTP_TIMEOUT_S.
NOTIFICATION_LEASE_S = env_float("NOTIFICATION_LEASE_S", 60.0)
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 8, minimum=1)
NOTIFICATION_RETRY_BASE_S = env_float("NOTIFICATION_RETRY_BASE_S", 2.0)
NOTIFICATION_SWEEP_GRACE_S = env_float("NOTIFICATION_SWEEP_GRACE_S", 10.0)
STATUS_PAGE_TITLE = env_str("STATUS_PAGE_TITLE", "Pitchey Platform Status")
# Paging people (docs/communications.md): SMS through a gateway speaking Twilio's Messages API.
SMS_GATEWAY_URL = env_url("SMS_GATEWAY_URL", "https://api.twilio.com")
SMS_ACCOUNT_SID = env_str("SMS_ACCOUNT_SID")
SMS_AUTH_TOKEN = env_str("SMS_AUTH_TOKEN")
SMS_FROM = env_str("SMS_FROM")
NTFY_DEFAULT_SERVER = env_url("NTFY_DEFAULT_SERVER", "https://ntfy.sh")
# The Acknowledge / Escalate / Resolve links in a page work this long, once each.
PAGE_LINK_MAX_AGE_S = env_int("PAGE_LINK_MAX_AGE_S", 24 * 3600, minimum=60)

# --- Recovery (docs/recovery.md) -----------------------------------------------------------------
# Health URLs the recovery plans verify, per service slug: "api=https://…/health;auth=https://…".
SERVICE_HEALTH_URLS = {
    name.strip(): url.strip()
    for name, _, url in (item.partition("=") for item in env_list("SERVICE_HEALTH_URLS", [], sep=";"))
    if name.strip() and url.strip()
}
PROVIDER_HTTP_ATTEMPTS = env_int("PROVIDER_HTTP_ATTEMPTS", 5, minimum=1)
PROVIDER_RETRY_BASE_S = env_float("PROVIDER_RETRY_BASE_S", 1.0)
NEON_OPERATION_TIMEOUT_S = env_float("NEON_OPERATION_TIMEOUT_S", 600.0)
NEON_POLL_INTERVAL_S = env_float("NEON_POLL_INTERVAL_S", 2.0)
DRILL_REDIS_DB = env_int("DRILL_REDIS_DB", 15, minimum=0)
# A scratch Redis for the cache drill (default: DRILL_REDIS_DB on the protected cache's server).
DRILL_REDIS_URL = env_url("DRILL_REDIS_URL", "")
# A scratch Cloudflare Worker the API-rollback drill really rolls back and forward again.
DRILL_CF_WORKER_NAME = env_str("DRILL_CF_WORKER_NAME")
# Read-only or maintenance mode on for longer than this, and nobody turned it off: a P3 incident.
SWITCH_OVERDUE_AFTER_S = env_int("SWITCH_OVERDUE_AFTER_S", 4 * 3600, minimum=60)
# A switch being changed longer than this was claimed by a process that was lost: the next attempt
# takes it over, and the sweep reports it.
SWITCH_CLAIM_TIMEOUT_S = env_int("SWITCH_CLAIM_TIMEOUT_S", 300, minimum=10)
# How often every open page asks whether a switch went on or off (the banner).
SWITCH_BANNER_POLL_S = env_int("SWITCH_BANNER_POLL_S", 10, minimum=1)
RECOVERY_ALLOW_SELF_RESTORE = env_bool("RECOVERY_ALLOW_SELF_RESTORE", False)
DRILL_SLACK_WEBHOOK = env_str("DRILL_SLACK_WEBHOOK")
# The communication drill: the address its test email goes to, and a Statuspage test page or component.
DRILL_EMAIL = env_str("DRILL_EMAIL")
DRILL_STATUSPAGE_PAGE_ID = env_str("DRILL_STATUSPAGE_PAGE_ID")
DRILL_STATUSPAGE_COMPONENT_ID = env_str("DRILL_STATUSPAGE_COMPONENT_ID")
RECOVERY_LEASE_S = env_int("RECOVERY_LEASE_S", 3600, minimum=10)
if SERVICE_HEALTH_URLS:  # sampling the health endpoints on a cadence (docs/detection.md)
    CELERY_BEAT_SCHEDULE["health-sample"] = {
        "task": "incidents.tasks.health_sample",
        "schedule": env_float("HEALTH_SAMPLE_INTERVAL_S", 10.0),
    }

EMAIL_URL = env_str("EMAIL_URL")
if EMAIL_URL:
    from urllib.parse import unquote, urlparse

    _email = urlparse(EMAIL_URL)
    if _email.scheme not in {"smtp", "smtps", "submission", "console", "locmem"}:
        raise ImproperlyConfigured("EMAIL_URL scheme must be smtp, smtps, submission, console or locmem")
    if _email.scheme in {"console", "locmem"}:
        EMAIL_BACKEND = f"django.core.mail.backends.{_email.scheme}.EmailBackend"
    else:
        EMAIL_HOST = _email.hostname or "localhost"
        EMAIL_PORT = _email.port or {"smtp": 25, "smtps": 465, "submission": 587}[_email.scheme]
        EMAIL_HOST_USER = unquote(_email.username or "")
        EMAIL_HOST_PASSWORD = unquote(_email.password or "")
        EMAIL_USE_SSL = _email.scheme == "smtps"
        EMAIL_USE_TLS = _email.scheme == "submission"
else:
    EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
    EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "incidents@localhost")
CUSTOMER_EMAILS = env_list("CUSTOMER_EMAILS", [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"refusals": {"()": "pitchey_incidents.logs.RefusalsOnOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["refusals"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own console handler (DEBUG only) would print refusals a second time, tracebacks and all.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}
