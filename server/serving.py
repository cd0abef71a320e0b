"""How the service runs under gunicorn: one set of options for `checkin serve` and the repository's gunicorn.conf.py.

No app is built at import time: gunicorn calls warm_app() in each worker (the ``wsgi_app`` setting), which builds the
app and loads the face models before the worker takes its first request.
"""

from __future__ import annotations

import ctypes
import os
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


# glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MB); from then on decode-sized
# buffers (a 24 MP HEIC's planes, a PNG's rows, the arrays made from them) come from the per-thread arenas and stay
# in the worker's memory after the request, one arena per thread. A fixed 1 MiB threshold keeps every such buffer in
# a mapping of its own, given back when freed (bench/hostile_upload_bench.py --all: peak growth per worker for a
# 24 MP HEIC +283 MB with the default, +183 MB with this).
MMAP_THRESHOLD_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter number


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold for this process and the workers it forks; False where it is not glibc or the
    operator set MALLOC_MMAP_THRESHOLD_ (glibc's own variable, which wins)."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    return mallopt is not None and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1


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
    tune_allocator()
    warm_up(get_engine(config["FACE_ENGINE"]))


def warm_app() -> Flask:
    """The app for one gunicorn worker, with the face models loaded (and checksummed) before its first check-in."""
    import logging

    from server import create_app
    from verification.engine import warm_up

    # Python warnings (a library's deprecation notice at import) become log records, in the log format too.
    logging.captureWarnings(True)
    tune_allocator()  # inherited from the arbiter under `checkin serve`; set here for other launchers
    app = create_app()
    warm_up(app.extensions["checkin.services"].engine)
    return app
