"""The RQ side of background jobs: a worker process builds its own database, blob store, engine and clock
from configuration and runs job functions named by dotted path (see web.jobs)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from typing import Any

from server.config import load_config

# The web process enqueues this entry point with the job's "module:function" and keyword arguments.
ENTRY_POINT = "server.jobs.run_job"
# Only domain job functions may be named by a queued job.
_ALLOWED_MODULES = ("supervision.",)

_context: dict[str, Any] | None = None
_database: Any = None
_lock = threading.Lock()


def configure_worker(config: Mapping[str, Any]) -> dict[str, Any]:
    """Build (and keep for this process) the job context from a resolved configuration."""
    global _context, _database
    from storage.blobs import make_blob_store
    from storage.db import Database
    from supervision.clock import Clock
    from verification.engine import get_engine

    database = Database()
    database.configure(config["DATABASE_URL"], keyring=config.get("KEYRING"))
    context = {
        "open_session": database.session,
        "blobs": make_blob_store(config),
        "engine": get_engine(config["FACE_ENGINE"]),
        "clock": config.get("CLOCK") or Clock(),
    }
    reset_worker()
    with _lock:
        _context, _database = context, database
    return context


def reset_worker() -> None:
    """Forget the job context and close its database connections."""
    global _context, _database
    with _lock:
        database, _context, _database = _database, None, None
    if database is not None and database.engine is not None:
        database.engine.dispose()


def _worker_context() -> dict[str, Any]:
    with _lock:
        context = _context
    return context if context is not None else configure_worker(load_config())


def _resolve(target: str) -> Any:
    module_name, _, name = target.partition(":")
    if not module_name.startswith(_ALLOWED_MODULES) or not name.isidentifier():
        raise ValueError(f"not a job function: {target!r}")
    return getattr(importlib.import_module(module_name), name)


def run_job(target: str, kwargs: dict[str, Any]) -> None:
    """RQ entry point: run the job function target ("module:function") with the worker's context."""
    _resolve(target)(**_worker_context(), **kwargs)


def run_worker(config: Mapping[str, Any], *, burst: bool = False) -> None:
    """Process queued jobs until stopped (or, with burst, until the queue is empty)."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    configure_worker(config)  # loads the dlib models once, before the first job
    connection = Redis.from_url(config["QUEUE_URL"])
    queue = Queue(config.get("QUEUE_NAME") or "checkin", connection=connection)
    # SimpleWorker runs jobs in this process, so the loaded models and the connection pool are reused.
    SimpleWorker([queue], connection=connection).work(burst=burst)
