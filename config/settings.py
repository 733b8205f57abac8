"""Settings, all from the environment. Defaults need nothing but Python: SQLite and the ORM broker."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "staticfiles").mkdir(exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("REQUIRE_SECRET_KEY", False):
        raise RuntimeError("SECRET_KEY must be set in production")
    # A stable per-checkout key for local use, kept out of git under var/.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        from django.core.management.utils import get_random_secret_key

        key_file.write_text(get_random_secret_key())
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_q",
    "django_htmx",
    "template_partials",
    "lifecycle",
    "registry",
    "scoring",
]

MIDDLEWARE = [
    # Outermost: every answer, redirects and errors included, carries a request id and is counted.
    "lifecycle.core.logs.RequestIdMiddleware",
    "lifecycle.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Ahead of the CSRF check, which reads a form's body: an oversized samples file is refused unread.
    "lifecycle.uploads.UploadSizeMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A NUL (or text no encoder takes) in the path or query string is a 400 before any view reads it.
    "lifecycle.core.inputs.OddQueryMiddleware",
    "lifecycle.core.middleware.LoginRequiredMiddleware",
    "lifecycle.core.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "lifecycle.core.context_processors.roles",
                "lifecycle.core.context_processors.choices",
                "registry.context_processors.reviews",
            ],
            "builtins": ["lifecycle.templatetags.lifecycle_tags", "template_partials.templatetags.partials"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # Reused connections: opening one per request cost 7x the throughput of the bare endpoint (docs/BENCHMARKS.md).
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and immediate transactions let the web and worker processes share the file without
    # "database is locked" errors; the test database is a file too so a real worker can see it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]
LOGIN_URL = "login"
# The login brake (lifecycle/auth.py): failures per window for one username from one address, for one
# username from anywhere, and from one address over all usernames (high: many people may share a proxy).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_USER_LIMIT = env_int("LOGIN_FAILURE_USER_LIMIT", 4 * LOGIN_FAILURE_LIMIT)
LOGIN_FAILURE_ADDRESS_LIMIT = env_int("LOGIN_FAILURE_ADDRESS_LIMIT", 10 * LOGIN_FAILURE_LIMIT)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 15 * 60)
# Proxies in front of the web processes that append to X-Forwarded-For: 0 trusts only REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
LOGIN_REDIRECT_URL = "lifecycle:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# Bodies of 100,000 JSON samples fit; anything bigger is refused with a clear 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 64 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
# Samples in one call (upload or JSON), counted while the file is read. Rows, not bytes, set an upload's time:
# about 0.14 ms a row on 2 busy cores, so 100,000 rows take ~15 s, inside the web worker's 30 s (README, Settings).
SAMPLE_UPLOAD_MAX_ROWS = env_int("SAMPLE_UPLOAD_MAX_ROWS", 100_000)
# A samples file's request body, refused from its Content-Length before it is read (a 413).
SAMPLE_UPLOAD_MAX_BYTES = env_int("SAMPLE_UPLOAD_MAX_BYTES", 32 * 1000 * 1000)

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Behind HTTPS (the production profile): secure cookies, HSTS, redirects; `check --deploy` is clean.
if env_bool("HTTPS", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SECURE_REFERRER_POLICY = "same-origin"
SILENCED_SYSTEM_CHECKS = ["security.W021"] if not env_bool("SECURE_HSTS_PRELOAD", False) else []

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "lifecycle.core.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["lifecycle.core.api.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "lifecycle.core.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "lifecycle.core.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        # NUL, lone surrogates, NaN/Infinity/1e400 and nesting deeper than 64 are a 400 naming the field.
        # JSON only: bodies are nested, which a form cannot carry. The samples upload declares its own parsers.
        "lifecycle.core.api.parsers.StrictJSONParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Rates: API_THROTTLE_RATE and API_THROTTLE_ANON_RATE below, read on every request.
    "DEFAULT_THROTTLE_CLASSES": ["lifecycle.core.api.throttling.TokenRateThrottle",
                                 "lifecycle.core.api.throttling.AnonRateThrottle"],
}
# API token -> user and permissions, cached per web process this long (0: off); see README "Users and tokens".
API_AUTH_CACHE_SECONDS = float(os.environ.get("API_AUTH_CACHE_SECONDS", "5"))
# Requests per token (or logged-in user), and per address for anonymous callers: "N/s|min|hour|day" or
# "off". Generous by default, so that only a runaway script meets it; over it the API answers 429.
API_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "30000/min")
API_THROTTLE_ANON_RATE = os.environ.get("API_THROTTLE_ANON_RATE", "600/min")
# The list filters' help texts describe the API parameters in the schema; the pages' filter toolbars show labels only.
FILTERS_DISABLE_HELP_TEXT = True
SPECTACULAR_SETTINGS = {
    "TITLE": "Model lifecycle API",
    "DESCRIPTION": "Scoring models from draft through training, versions, promotion, learning and outcome weights.",
    "VERSION": "1.0.0",
    # OpenAPI 3.1: a nullable reference is oneOf [$ref, null], which strict validators and generators read as meant.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Only /healthz answers an anonymous caller: the schema and its UI need a login or a token too.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "lifecycle.core.api.schema.finish_schema",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OperationalStatusEnum": "lifecycle.choices.OperationalStatus",
        "RunStatusEnum": "lifecycle.choices.RunStatus",
        "RegistryStatusEnum": "lifecycle.choices.RegistryStatus",
        "RequestStateEnum": "registry.choices.RequestState",
        "ExperimentStatusEnum": "registry.choices.ExperimentStatus",
    },
    # Swagger UI's assets come from the sidecar package, served by WhiteNoise: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Training runs: how long a run may go without a heartbeat, and at most, before it is declared dead.
LIFECYCLE_RUN_HEARTBEAT_TIMEOUT = env_int("LIFECYCLE_RUN_HEARTBEAT_TIMEOUT", 120)
LIFECYCLE_RUN_TIME_LIMIT = env_int("LIFECYCLE_RUN_TIME_LIMIT", 3600)
LIFECYCLE_RUN_QUEUE_TIMEOUT = env_int("LIFECYCLE_RUN_QUEUE_TIMEOUT", 6 * 3600)
# Pause between progress steps, in seconds: 0 in production; demos and worker tests slow runs down
# so that a person (or a test) can watch the progress bar move.
LIFECYCLE_TRAINING_STEP_PAUSE = float(os.environ.get("LIFECYCLE_TRAINING_STEP_PAUSE", "0"))
# Progress steps closer together than this are written once, the newest (see services.RunHeartbeat).
LIFECYCLE_RUN_PROGRESS_GAP = float(os.environ.get("LIFECYCLE_RUN_PROGRESS_GAP", "0.25"))
# Threads a training or scoring call may use: unbounded OpenMP pools collapse throughput on small hosts.
LIFECYCLE_TRAINING_THREADS = env_int("LIFECYCLE_TRAINING_THREADS", 1)
LIFECYCLE_VERSIONS_KEPT_UNTAGGED = env_int("LIFECYCLE_VERSIONS_KEPT_UNTAGGED", 20)

# Endpoints an external_endpoint model may call, as host:port (comma-separated; a bare host means port 80 for
# http, 443 for https); nothing else is reachable from scoring.
EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [h.strip() for h in os.environ.get("EXTERNAL_ENDPOINT_ALLOWED_HOSTS", "").split(",")
                                   if h.strip()]
# Webhook receivers an admin may configure, as host:port (comma-separated). Empty: any host, but never a
# link-local or reserved address (cloud metadata services live there).
WEBHOOK_ALLOWED_HOSTS = [h.strip() for h in os.environ.get("WEBHOOK_ALLOWED_HOSTS", "").split(",") if h.strip()]
# Calls in flight to one endpoint per web process (more are refused at once), and how long an endpoint's calls
# are refused after 5 failures in a row: a slow endpoint must not hold every web worker.
EXTERNAL_ENDPOINT_MAX_CONCURRENCY = env_int("EXTERNAL_ENDPOINT_MAX_CONCURRENCY", 2)
EXTERNAL_ENDPOINT_BREAKER_SECONDS = env_int("EXTERNAL_ENDPOINT_BREAKER_SECONDS", 30)
SCORE_BATCH_MAX = env_int("SCORE_BATCH_MAX", 10_000)
SCORE_REQUEST_RETENTION_DAYS = env_int("SCORE_REQUEST_RETENTION_DAYS", 30)
# Impressions (one row per offer shown by /recommend) are what suppression rules and contact policies count;
# older rows are purged daily, so no rule may look back further than this.
IMPRESSION_RETENTION_DAYS = env_int("IMPRESSION_RETENTION_DAYS", 90)
# A plain score's request log commits without waiting for the WAL flush (PostgreSQL); see README "Scoring".
SCORE_LOG_ASYNC_COMMIT = env_bool("SCORE_LOG_ASYNC_COMMIT", True)
DECISION_TRACE_SAMPLE_RATE = float(os.environ.get("DECISION_TRACE_SAMPLE_RATE", "1.0"))
# How often an open page asks whether reviews, promotions or runs changed (one indexed read, 204 when nothing did).
LIVE_POLL_SECONDS = env_int("LIVE_POLL_SECONDS", 10)

REDIS_URL = os.environ.get("REDIS_URL", "")
# The login brake and other counters need one cache that every web process sees: Redis when there is
# one, else the database (`createcachetable` runs in `make migrate`).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL else {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "lifecycle_cache"},
    # API rate counters: one increment per API call, so never the database; without Redis each web process
    # counts for itself. A Redis that is slow or down lets calls through uncounted after half a second at most.
    "throttle": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                 "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-throttle"},
}
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "lifecycle"),
    "workers": env_int("Q_WORKERS", 1),
    "recycle": 50,
    # retry must exceed the longest run, or a running task is delivered again.
    "timeout": LIFECYCLE_RUN_TIME_LIMIT,
    "retry": LIFECYCLE_RUN_TIME_LIMIT + 600,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 500,
    "label": "Worker tasks",
    "poll": 0.5,
    "sync": env_bool("Q_SYNC", False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; without a token it is off (404).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "lifecycle.core.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "lifecycle.core.logs.JsonFormatter"},
    },
    # LOG_FORMAT=json for log shippers: one JSON object per line; plain (the default) for people.
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id"],
                             "formatter": "json" if os.environ.get("LOG_FORMAT", "plain") == "json" else "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
