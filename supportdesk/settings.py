"""Settings, read from the environment (12-factor) with an embedded default for every one.

The embedded default (no variables set) is a single process: SQLite in the project folder,
the in-memory channel layer and Celery tasks run in-process. Set DATABASE_URL and REDIS_URL to
run on PostgreSQL and Redis with separate workers; docs/settings.md lists every setting.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from supportdesk.placeholders import placeholder_secrets_refuse

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=0.")
    # A development key generated once and kept beside the project so that sessions
    # survive a restart; never used when DEBUG=0.
    path = BASE_DIR / ".secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        return key


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG=0.")
    ALLOWED_HOSTS = ["*"]

PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000").rstrip("/")
# Where `manage.py serve` notes its address for commands run in another terminal
# (apps/core/runfile.py); empty: nowhere.
SERVER_RUN_FILE = env.str("SERVER_RUN_FILE", default=str(BASE_DIR / ".supportdesk-server.json"))
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Index expressions with operator classes (the trigram indexes of contact search); its
    # PostgreSQL hooks only act on PostgreSQL connections.
    "django.contrib.postgres",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "apps.core",
    "apps.accounts",
    "apps.contacts",
    "apps.conversations",
    "apps.bus",
    "apps.gateways",
    "apps.gateways.xmpp",
    "apps.gateways.telegram",
    "apps.gateways.mastodon",
    "apps.linking",
    "apps.assignment",
    "apps.triage",
    "apps.dispatch",
    "apps.console",
    "apps.mail",
    "apps.widget",
    "apps.whatsapp",
    "apps.webhooks",
    "apps.broadcasts",
    "apps.sla",
    "apps.macros",
    "apps.csat",
    "apps.reports",
    "apps.api",
]

MIDDLEWARE = [
    # First: the request id and the duration cover everything below (apps/core/middleware.py).
    "apps.core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A strict Content-Security-Policy on every HTML page (apps/core/csp.py).
    "apps.core.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = env.str("ROOT_URLCONF", default="supportdesk.urls")
ASGI_APPLICATION = "supportdesk.asgi.application"
# The API's GET/HEAD requests run through Django's synchronous handler in this many threads per
# process (apps/core/sync_http.py, issue 14); 0: every request through the ASGI handler.
SYNC_HTTP_THREADS = env.int("SYNC_HTTP_THREADS", default=16)
# How long `manage.py serve` keeps an idle HTTP/1.1 connection open (uvicorn's own default is 5 s).
# It must outlast the idle timeout of whatever sits in front and reuses connections (nginx's
# upstream keepalive_timeout, 60 s in docker/nginx.conf; a cloud load balancer's, often 60 s):
# otherwise the proxy can send a request down a connection the server is closing, and nginx
# answers that POST with a 502 it does not retry, a webhook turned away at the door.
HTTP_KEEPALIVE_SECONDS = env.int("HTTP_KEEPALIVE_SECONDS", default=75)
# An API token that authenticated is remembered this many seconds per process (token -> agent,
# apps/api/authentication.py): a revoked token or deactivated agent is refused within that; 0: off.
API_TOKEN_CACHE_SECONDS = env.float("API_TOKEN_CACHE_SECONDS", default=5.0)
WSGI_APPLICATION = "supportdesk.wsgi.application"

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

# --- Database -----------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# The password apart from the URL, taken as it is: a password with '@', '/', ':' or '#' needs no
# URL-encoding here (docker-compose.yml passes POSTGRES_PASSWORD this way).
if env.str("DATABASE_PASSWORD", default=""):
    DATABASES["default"]["PASSWORD"] = env.str("DATABASE_PASSWORD")
_engine = DATABASES["default"]["ENGINE"]
if _engine == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so
    # two writers queue on the timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif "postgresql" in _engine and env.bool("DATABASE_POOL", default=True):
    # A per-process pool: ASGI closes connections after each request, so without a pool every
    # webhook would pay a new PostgreSQL connection.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=20),
        "timeout": 10,
    }


def _postgres_session_setting(name: str, value: str) -> None:
    """Set a PostgreSQL setting on every connection (libpq's `options`, at connect time)."""
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c {name}={value}".strip()


# PostgreSQL's JIT compiles a big query's plan on every call (tens of ms); the desk's reads are
# short index scans that never win that back (bench/reads.py --jit). "off" (default) or "on" sets
# it per connection; "server" leaves the server's setting.
DATABASE_JIT = env.str("DATABASE_JIT", default="off")
if "postgresql" in _engine and DATABASE_JIT in ("on", "off"):
    _postgres_session_setting("jit", DATABASE_JIT)
# PostgreSQL's parallel query starts worker processes for a scan it expects to be long: the list's
# due walk at 1M conversations took 2 workers and 16-20 ms, against 2.2 ms in the backend alone,
# and 8 clients at once queued on the workers (bench/reads.py). The desk's queries are short and
# many run at once, so each connection asks for no workers: 0 (default), a number of workers per
# query, or "server" for the server's max_parallel_workers_per_gather.
DATABASE_PARALLEL_WORKERS = env.str("DATABASE_PARALLEL_WORKERS", default="0")
if "postgresql" in _engine and DATABASE_PARALLEL_WORKERS != "server":
    if not DATABASE_PARALLEL_WORKERS.isdigit():
        raise ImproperlyConfigured("DATABASE_PARALLEL_WORKERS is a number of workers (0: none) or 'server'.")
    _postgres_session_setting("max_parallel_workers_per_gather", DATABASE_PARALLEL_WORKERS)
# The list page's statements are prepared on each connection (apps/core/pg_prepared.py): planning
# was most of their time. 0 behind a pooler in transaction mode, which cannot keep them.
DATABASE_PREPARE = env.bool("DATABASE_PREPARE", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.Agent"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"

# --- Redis, channel layer, Celery --------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Processes that share Redis talk to each other only when their prefixes match.
CHANNEL_LAYER_PREFIX = env.str("CHANNEL_LAYER_PREFIX", default="asgi")
# Cache keys (sign-in throttles, widget rate limits, visitor presence) are prefixed too, so that
# two deployments sharing a Redis never share a counter; by default the channel layer's prefix,
# which such deployments must set apart anyway.
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default=CHANNEL_LAYER_PREFIX)

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # channels_redis blocks on Redis for up to 5 s waiting for a message; redis-py's
                # default 5 s read timeout would fire first and kill an idle socket.
                "hosts": [
                    {"address": url, "socket_timeout": 30, "socket_connect_timeout": 5}
                    for url in env.list("CHANNEL_REDIS_URLS", default=[REDIS_URL])
                ],
                "capacity": 1500,
                "expiry": 30,
                "prefix": CHANNEL_LAYER_PREFIX,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": CACHE_KEY_PREFIX}}

# memory://localhost/ and not memory://: kombu warns "No hostname was supplied" on every publish.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Without a broker the tasks run in-process, right after the transaction that queued them.
CELERY_TASK_ALWAYS_EAGER = env.bool("TASKS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
# A broker outage must not hold a webhook answer (Twilio gives up after 15 s and does not
# retry): publishing gives up quickly, the journal entry is durable and the sweeper re-queues it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300, "socket_connect_timeout": 2, "socket_timeout": 5}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
    # kombu's Redis transport, surviving a teardown path that stopped the worker after a Redis
    # restart (supportdesk/broker.py).
    CELERY_BROKER_TRANSPORT = "supportdesk.broker:Transport"
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BEAT_SCHEDULE = {
    "bus-sweep": {"task": "apps.bus.tasks.sweep", "schedule": 15.0},
    "presence-expire": {"task": "apps.assignment.tasks.presence_expire", "schedule": 15.0},
    "events-prune": {"task": "apps.bus.tasks.events_prune", "schedule": 3600.0},
}
# Task modules outside an app's tasks.py (autodiscovery finds only those).
CELERY_IMPORTS = ["apps.gateways.email.tasks"]

# --- Channels, providers -----------------------------------------------------------------
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
# Subaccounts of TWILIO_ACCOUNT_SID whose numbers post to this desk: webhooks of any other
# account are refused (403), signed or not. With neither set, the signature alone decides.
TWILIO_SUBACCOUNT_SIDS = env.list("TWILIO_SUBACCOUNT_SIDS", default=[])
# In development a fixed token lets `simulate_sms` sign webhooks the server accepts. With
# DEBUG=0 and no token every Twilio webhook is refused.
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="supportdesk-dev-token" if DEBUG else "")
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://api.twilio.com").rstrip("/")
# Hosts MMS media may be fetched from (the API host is always allowed).
TWILIO_MEDIA_HOSTS = env.list(
    "TWILIO_MEDIA_HOSTS",
    default=["api.twilio.com", "media.twiliocdn.com", "mms.twiliocdn.com", "s3-external-1.amazonaws.com"],
)
TWILIO_MEDIA_MAX_BYTES = env.int("TWILIO_MEDIA_MAX_BYTES", default=16 * 1024 * 1024)
TWILIO_MEDIA_TYPES = env.list(
    "TWILIO_MEDIA_TYPES",
    default=[
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/heic",
        "video/mp4",
        "video/3gpp",
        "audio/mpeg",
        "audio/ogg",
        "audio/amr",
        "audio/mp4",
        "application/pdf",
        "text/vcard",
        "text/x-vcard",
        "text/plain",
    ],
)
TWILIO_SEND_TIMEOUT = env.float("TWILIO_SEND_TIMEOUT", default=10.0)
# Twilio's Content API (WhatsApp templates); point it at a local server in tests and staging.
TWILIO_CONTENT_BASE_URL = env.str("TWILIO_CONTENT_BASE_URL", default="https://content.twilio.com").rstrip("/")
# How often the bus sweep reads the templates again (an agent can also sync them at once).
WHATSAPP_TEMPLATES_SYNC_SECONDS = env.int("WHATSAPP_TEMPLATES_SYNC_SECONDS", default=3600)
# Files an agent attaches are handed to providers as links under PUBLIC_BASE_URL
# (/files/<signed token>/<name>), valid this long.
MEDIA_LINK_SECONDS = env.int("MEDIA_LINK_SECONDS", default=3600)
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="US")

# Telegram (docs/telegram.md). The Bot API base: https://api.telegram.org, or a self-hosted
# Bot API server, or the tests' local fake. Methods are <base>/bot<token>/<method>, files
# <base>/file/bot<token>/<path>.
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org").rstrip("/")
TELEGRAM_SEND_TIMEOUT = env.float("TELEGRAM_SEND_TIMEOUT", default=15.0)
# Long polling (manage.py run_telegram, or `make run`): seconds getUpdates waits for an update.
TELEGRAM_POLL_TIMEOUT = env.int("TELEGRAM_POLL_TIMEOUT", default=25)
# Bots may download files up to 20 MB from the public Bot API; bigger ones are recorded, not fetched.
TELEGRAM_MEDIA_MAX_BYTES = env.int("TELEGRAM_MEDIA_MAX_BYTES", default=20 * 1024 * 1024)

# Mastodon (docs/mastodon.md). Each inbox names its own instance URL; these are the listener's
# pace: the stream is followed live, and the notifications API is read again this often (and
# after every reconnect) so that nothing posted while the stream was down is missed.
MASTODON_BACKFILL_SECONDS = env.float("MASTODON_BACKFILL_SECONDS", default=300.0)
# Seconds without a byte (events or heartbeats) after which the stream is taken for dead.
MASTODON_STREAM_TIMEOUT = env.float("MASTODON_STREAM_TIMEOUT", default=90.0)
MASTODON_SEND_TIMEOUT = env.float("MASTODON_SEND_TIMEOUT", default=15.0)
# Media links on hosts other than the inbox's instance must resolve to public addresses, unless this.
MASTODON_MEDIA_PRIVATE_ADDRESSES = env.bool("MASTODON_MEDIA_PRIVATE_ADDRESSES", default=False)
MASTODON_MEDIA_MAX_BYTES = env.int("MASTODON_MEDIA_MAX_BYTES", default=40 * 1024 * 1024)
# Linking a social account to a customer (docs/mastodon.md §Linking): a code's lifetime, how many
# codes one contact may be issued an hour, how many wrong codes one social account may send an hour.
LINK_CODE_TTL_SECONDS = env.int("LINK_CODE_TTL_SECONDS", default=600)
LINK_STARTS_PER_HOUR = env.int("LINK_STARTS_PER_HOUR", default=5)
LINK_FAILURES_PER_HOUR = env.int("LINK_FAILURES_PER_HOUR", default=5)

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
INBOUND_EMAIL_DOMAIN = env.str("INBOUND_EMAIL_DOMAIN", default="")
SMTP_LISTEN = env.str("SMTP_LISTEN", default="127.0.0.1:2525")
# Mail in (docs/EMAIL.md): the largest mail accepted by any intake (SMTP answers 552 above it,
# the webhook 413), the largest attachment stored, the raw-MIME webhook's shared secret (unset:
# the webhook answers 403), and how often IMAP mailboxes are polled.
EMAIL_MAX_BYTES = env.int("EMAIL_MAX_BYTES", default=25 * 1024 * 1024)
EMAIL_ATTACHMENT_MAX_BYTES = env.int("EMAIL_ATTACHMENT_MAX_BYTES", default=15 * 1024 * 1024)
EMAIL_WEBHOOK_SECRET = env.str("EMAIL_WEBHOOK_SECRET", default="")
IMAP_POLL_SECONDS = env.float("IMAP_POLL_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE["imap-poll"] = {"task": "apps.gateways.email.tasks.imap_poll", "schedule": IMAP_POLL_SECONDS}
# Mail out (docs/EMAIL.md §4): seconds for one SMTP conversation with the EMAIL_URL server.
EMAIL_SEND_TIMEOUT = env.float("EMAIL_SEND_TIMEOUT", default=30.0)
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org")

# --- Behaviour knobs -----------------------------------------------------------------------
PRESENCE_TTL_SECONDS = env.int("PRESENCE_TTL_SECONDS", default=90)
CONSOLE_HEARTBEAT_SECONDS = env.float("CONSOLE_HEARTBEAT_SECONDS", default=20.0)
# Widget sockets: heartbeat frame and the hub's catch-up from the event log (apps.widget.hub).
WIDGET_HEARTBEAT_SECONDS = env.float("WIDGET_HEARTBEAT_SECONDS", default=30.0)
# How often a waiting visitor's widget asks for its place in the queue (apps/widget/queue.py).
WIDGET_QUEUE_POLL_SECONDS = env.float("WIDGET_QUEUE_POLL_SECONDS", default=10.0)
EVENT_REPLAY_LIMIT = env.int("EVENT_REPLAY_LIMIT", default=2000)
# Each web process's event stream reads the log at least this often, rung or not (apps.bus.stream).
STREAM_POLL_SECONDS = env.float("STREAM_POLL_SECONDS", default=1.0)
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=7)
BUS_SWEEP_AFTER_SECONDS = env.int("BUS_SWEEP_AFTER_SECONDS", default=60)
# Triage (docs/triage.md): how often a process checks for new rules or a new model, how often the
# bus sweep looks for new labels, how many new labels start a retraining, and how many labels of
# each kind (actionable, not) training needs.
TRIAGE_RELOAD_SECONDS = env.float("TRIAGE_RELOAD_SECONDS", default=30.0)
TRIAGE_RETRAIN_SECONDS = env.float("TRIAGE_RETRAIN_SECONDS", default=600.0)
TRIAGE_RETRAIN_NEW_LABELS = env.int("TRIAGE_RETRAIN_NEW_LABELS", default=20)
TRIAGE_MIN_LABELS_PER_KIND = env.int("TRIAGE_MIN_LABELS_PER_KIND", default=20)
# The bus worker (manage.py run_bus): journal entries per batch, how often it looks without a
# doorbell, threads sending replies, and the outbox lease (renewed while a send runs).
BUS_BATCH_SIZE = env.int("BUS_BATCH_SIZE", default=100)
BUS_POLL_SECONDS = env.float("BUS_POLL_SECONDS", default=1.0)
# A burst of status callbacks rings the receipt drain once per callback: it lets them gather this
# long after a ring, so that one transaction applies many (a delivery tick waits that much more).
BUS_RECEIPTS_GATHER_SECONDS = env.float("BUS_RECEIPTS_GATHER_SECONDS", default=0.05)
# Drainers take turns (apps.bus.services.journal): a drainer waits at most this long for the
# one whose batch is running before it drains beside it (the other is stuck: stopped, paused).
BUS_DRAIN_TURN_WAIT_SECONDS = env.float("BUS_DRAIN_TURN_WAIT_SECONDS", default=1.0)
BUS_SEND_THREADS = env.int("BUS_SEND_THREADS", default=8)
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=15)
OUTBOUND_MAX_ATTEMPTS = env.int("OUTBOUND_MAX_ATTEMPTS", default=8)
MESSAGE_MAX_CHARS = env.int("MESSAGE_MAX_CHARS", default=10_000)
# Files an agent attaches to one reply or note, together (18 MiB keeps a mail under the 25 MB
# most mail providers take, once base64 has grown it by a third).
AGENT_ATTACHMENTS_MAX_BYTES = env.int("AGENT_ATTACHMENTS_MAX_BYTES", default=18 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)

# Outgoing webhooks (docs/webhooks.md). Private, loopback and reserved destinations are refused
# unless allowed here (every subscription) or by an admin on one subscription.
WEBHOOKS_ALLOW_PRIVATE = env.bool("WEBHOOKS_ALLOW_PRIVATE", default=False)
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
# Waits before each retry (the last one repeats), for up to WEBHOOKS_RETRY_HOURS after the first try.
WEBHOOKS_RETRY_SECONDS = [
    int(s)
    for s in env.list("WEBHOOKS_RETRY_SECONDS", default=["10", "60", "300", "1800", "3600", "7200", "14400", "28800"])
]
WEBHOOKS_RETRY_HOURS = env.float("WEBHOOKS_RETRY_HOURS", default=24.0)
WEBHOOKS_SEND_THREADS = env.int("WEBHOOKS_SEND_THREADS", default=4)
WEBHOOKS_LEASE_SECONDS = env.int("WEBHOOKS_LEASE_SECONDS", default=60)
# Settled deliveries (and their attempts) are kept in the log this long.
WEBHOOKS_LOG_DAYS = env.int("WEBHOOKS_LOG_DAYS", default=30)
# Status broadcasts (docs/broadcasts.md): recipients prepared per round, and the messages per
# second per sender address for channels whose gateway declares no rate (registry `rate=`).
BROADCAST_BATCH_SIZE = env.int("BROADCAST_BATCH_SIZE", default=50)
BROADCAST_DEFAULT_RATE = env.float("BROADCAST_DEFAULT_RATE", default=10.0)
# Twilio's sending rate per number (messages per second): 1 for a long code, more for toll-free
# and short codes; WhatsApp senders take more.
TWILIO_SMS_MPS = env.float("TWILIO_SMS_MPS", default=1.0)
TWILIO_WHATSAPP_MPS = env.float("TWILIO_WHATSAPP_MPS", default=20.0)

# XMPP inboxes (docs/xmpp.md): `manage.py run_xmpp` keeps one c2s connection per account.
# Plaintext SASL only for a loopback/test server; never on a real one.
XMPP_ALLOW_PLAINTEXT = env.bool("XMPP_ALLOW_PLAINTEXT", default=False)
XMPP_RECONNECT_MAX_SECONDS = env.float("XMPP_RECONNECT_MAX_SECONDS", default=60.0)
XMPP_KEEPALIVE_SECONDS = env.int("XMPP_KEEPALIVE_SECONDS", default=60)
XMPP_SEND_TIMEOUT_SECONDS = env.float("XMPP_SEND_TIMEOUT_SECONDS", default=30.0)
XMPP_SEND_THREADS = env.int("XMPP_SEND_THREADS", default=4)
XMPP_MAM_PAGE_SIZE = env.int("XMPP_MAM_PAGE_SIZE", default=100)
# Files customers share as links (XEP-0066): fetched into our storage, within these limits;
# links to private or loopback addresses are refused unless XMPP_MEDIA_PRIVATE_ADDRESSES.
XMPP_MEDIA_MAX_BYTES = env.int("XMPP_MEDIA_MAX_BYTES", default=16 * 1024 * 1024)
XMPP_MEDIA_PRIVATE_ADDRESSES = env.bool("XMPP_MEDIA_PRIVATE_ADDRESSES", default=False)
# `make run` / `serve` with in-process tasks: run the XMPP connections on a thread when an
# XMPP account exists.
XMPP_EMBEDDED = env.bool("XMPP_EMBEDDED", default=True)

# The web chat widget (docs/DESIGN.md §5). Rates are "count/seconds".
WIDGET_MAX_TEXT = env.int("WIDGET_MAX_TEXT", default=4000)
WIDGET_MAX_UPLOAD_BYTES = env.int("WIDGET_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
WIDGET_UPLOAD_TYPES = env.list(
    "WIDGET_UPLOAD_TYPES",
    default=[
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        # voice notes (what browsers record, and phones' formats) and short videos
        "audio/webm",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/wav",
        "video/mp4",
        "video/webm",
        "video/quicktime",
    ],
)
WIDGET_RATE_CONNECTS = env.str("WIDGET_RATE_CONNECTS", default="30/60")
WIDGET_RATE_MESSAGES = env.str("WIDGET_RATE_MESSAGES", default="20/10")
WIDGET_OFFLINE_EMAIL_DELAY = env.int("WIDGET_OFFLINE_EMAIL_DELAY", default=120)

# --- REST framework ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.api.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "supportdesk API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "REST API v1 of supportdesk: conversations, messages, contacts, agents, events.",
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "apps.conversations.models.Conversation.Status",
        "MessageStatusEnum": "apps.conversations.models.Message.Status",
        "MessageKindEnum": "apps.conversations.models.Message.Kind",
        "IdentityKindEnum": "apps.contacts.models.Identity.Kind",
        # What an agent sends (JSON or multipart with files): one name for both request bodies.
        "MessageCreateKindEnum": [("message", "message"), ("note", "note")],
    },
}

# --- Static, media, i18n -------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

# Logs (apps/core/logs.py): `plain` for people (make run), `json` for a log pipeline: one object
# per line with the request id, conversation id and message id where there is one.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "apps.core.logs.ContextFilter"}},
    "formatters": {
        "plain": {"()": "apps.core.logs.PlainFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "apps.core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own console handler would print every line a second time while DEBUG=1.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # 4xx answers (a scanner's 404, a refused token) are not an operator's to act on; the
        # refusals that are say so themselves. 5xx stay errors.
        "django.request": {"level": "ERROR"},
        "django.channels.server": {"level": "WARNING"},
        # aiosmtpd logs every SMTP command at INFO; ours say what matters.
        "mail.log": {"level": "WARNING"},
    },
}
# Celery workers log through the handler above (JSON too), not a root logger of their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# GET /metrics (Prometheus): for a Bearer METRICS_TOKEN, or from METRICS_ALLOWED_NETWORKS
# (CIDRs); with neither it answers 404. `make run` allows the loopback addresses.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])

# Twilio webhooks signed with a SharedKey (X-Twilio-Webhooks-Signature-Settings: key=…):
# "keyid=secret,keyid2=secret2".
TWILIO_WEBHOOK_SHARED_KEYS = env.dict("TWILIO_WEBHOOK_SHARED_KEYS", default={})

# Where browsers report Content-Security-Policy violations (report-uri); empty: nowhere.
CSP_REPORT_URI = env.str("CSP_REPORT_URI", default="")

# Origins (besides the server's own host) whose pages may open the console socket.
CONSOLE_ORIGINS = env.list("CONSOLE_ORIGINS", default=[PUBLIC_BASE_URL])

if not DEBUG:
    # Production never runs on an example secret (.env.example copied unedited).
    placeholder_secrets_refuse(
        {
            "SECRET_KEY": SECRET_KEY,
            "the database password (DATABASE_URL / DATABASE_PASSWORD)": str(DATABASES["default"].get("PASSWORD") or ""),
            "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
            "EMAIL_WEBHOOK_SECRET": EMAIL_WEBHOOK_SECRET,
            "METRICS_TOKEN": METRICS_TOKEN,
            **{f"TWILIO_WEBHOOK_SHARED_KEYS ({key})": value for key, value in TWILIO_WEBHOOK_SHARED_KEYS.items()},
        }
    )

# Satisfaction surveys (apps.csat): asked once after a conversation is resolved; a reply 1-5
# within CSAT_REPLY_WINDOW seconds of the question is its answer (not a new conversation).
CSAT_ENABLED = env.bool("CSAT_ENABLED", default=True)
CSAT_REPLY_WINDOW = env.int("CSAT_REPLY_WINDOW", default=3 * 24 * 3600)
