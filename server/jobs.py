"""The RQ side of background jobs: a worker process builds its services (database, blob store, engine, clock) from
configuration with the composition root's build_services and runs job functions named by dotted path (see web.jobs)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from typing import Any

from server.composition import Services, build_services
from server.config import load_config

# The web process enqueues this entry point with the job's "module:function" and keyword arguments.
ENTRY_POINT = "server.jobs.run_job"
# Only domain job functions may be named by a queued job.
_ALLOWED_MODULES = ("supervision.",)

_context: dict[str, Any] | None = None
_services: Services | None = None
_lock = threading.Lock()


def configure_worker(config: Mapping[str, Any]) -> dict[str, Any]:
    """Build (and keep for this process) the job context from a resolved configuration."""
    global _context, _services
    services = build_services(config)
    context = services.job_context()
    reset_worker()
    with _lock:
        _context, _services = context, services
    return context


def reset_worker() -> None:
    """Forget the job context and close its database connections."""
    global _context, _services
    with _lock:
        services, _context, _services = _services, None, None
    if services is not None:
        services.close()


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
