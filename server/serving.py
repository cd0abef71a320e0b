"""How the service runs under gunicorn: one set of options for `checkin serve` and the repository's gunicorn.conf.py.

No app is built at import time: gunicorn calls warm_app() in each worker (the ``wsgi_app`` setting), which builds the
app and loads the face models before the worker takes its first request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from server.config import log_format
from server.logs import gunicorn_logconfig

DEFAULT_BIND = "127.0.0.1:8000"
DEFAULT_WORKERS = 2
# Verification is CPU-bound and dlib holds the GIL: 2 threads let a worker read the next upload while it verifies;
# more only contend for the GIL (bench/checkin_bench.py: 84% of ideal throughput with 2, 78% with 4).
DEFAULT_THREADS = 2
WSGI_APP = "server.serving:warm_app()"


def gunicorn_options(config: Mapping[str, Any], *, bind: str = DEFAULT_BIND, workers: int = DEFAULT_WORKERS,
                     threads: int = DEFAULT_THREADS) -> dict[str, Any]:
    """gunicorn settings for this service; the worker timeout is the idempotency lease (a request's longest run)."""
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": int(float(config["IDEMPOTENCY_LEASE_SECONDS"])),
        "graceful_timeout": 30,
        # The app writes the access log itself (server._init_request_log), with the request id, in LOG_FORMAT.
        "accesslog": None,
        "errorlog": "-",
        "logconfig_dict": gunicorn_logconfig(log_format(config), str(config["LOG_LEVEL"])),
    }


def preload_models(config: Mapping[str, Any]) -> None:
    """Load (and checksum) the face models in the arbiter, before it forks the workers.

    The workers inherit the loaded models and share their pages (dlib's ~130 MB and SFace's expanded weights are only
    read after loading), so each worker adds only its own inference buffers (bench/hostile_upload_bench.py prints RSS
    and PSS). The models are loaded here, never run: no OpenCV thread pool or database connection exists before the
    fork. warm_app() in the worker then finds them in memory (it loads them itself only where settings differ).
    """
    import logging

    from verification.engine import get_engine, warm_up

    logging.captureWarnings(True)  # a model library's import-time warning becomes a log line in the log format
    warm_up(get_engine(config["FACE_ENGINE"]))


def warm_app() -> Flask:
    """The app for one gunicorn worker, with the face models loaded (and checksummed) before its first check-in."""
    import logging

    from server import create_app
    from verification.engine import get_engine, warm_up

    # Python warnings (a library's deprecation notice at import) become log records, in the log format too.
    logging.captureWarnings(True)
    app = create_app()
    warm_up(get_engine(app.config["CHECKIN"]["FACE_ENGINE"]))
    return app
