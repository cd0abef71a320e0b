# gunicorn settings for `gunicorn -c gunicorn.conf.py` (what `checkin serve` uses too: server/serving.py).
# Every CHECKIN_* setting is read from the environment as usual; GUNICORN_BIND, GUNICORN_WORKERS and GUNICORN_THREADS
# (or gunicorn's own --bind/--workers/--threads) change where and how much it serves.
import os

from server.config import ConfigError, check_service_config, load_config
from server.serving import DEFAULT_BIND, DEFAULT_THREADS, DEFAULT_WORKERS, WSGI_APP, gunicorn_options, preload_models

try:
    _config = load_config()
    check_service_config(_config)
except ConfigError as exc:  # one line, before any worker is forked
    raise SystemExit(f"Error: {exc}") from None

_options = gunicorn_options(
    _config,
    bind=os.environ.get("GUNICORN_BIND", DEFAULT_BIND),
    workers=int(os.environ.get("GUNICORN_WORKERS", DEFAULT_WORKERS)),
    threads=int(os.environ.get("GUNICORN_THREADS", DEFAULT_THREADS)),
)

wsgi_app = WSGI_APP
bind = _options["bind"]
workers = _options["workers"]
threads = _options["threads"]
worker_class = _options["worker_class"]
timeout = _options["timeout"]
graceful_timeout = _options["graceful_timeout"]
accesslog = _options["accesslog"]
errorlog = _options["errorlog"]
logconfig_dict = _options["logconfig_dict"]


def on_starting(server):  # noqa: ARG001  (gunicorn's hook signature)
    # The arbiter loads the face models once before forking, so the workers share them (server/serving.py).
    preload_models(_config)
