"""Background jobs: in-process threads by default, RQ on Redis when CHECKIN_QUEUE_URL is set, inline for tests.

A job is a module-level function taking the keyword context ``open_session``, ``blobs``, ``engine`` and ``clock``
plus its own keyword arguments (e.g. supervision.video_inspections.run_clip_job). In-process, the context comes
from the app; on RQ the worker builds it from configuration (the composition root names the worker's entry point).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from web.db import clock, database, face_engine

log = logging.getLogger(__name__)

Job = Callable[..., None]


@dataclass
class _Backend:
    mode: str  # "sync" | "threads" | "rq"
    executor: ThreadPoolExecutor | None = None
    queue: Any = None  # rq.Queue
    rq_entry: str | None = None
    job_timeout: int = 600
    pending: set[Future[None]] = field(default_factory=set)


class JobRunner:
    """Created unbound; init_app attaches a backend to each app (state lives on the app, not here)."""

    def init_app(self, app: Flask, *, rq_entry: str | None = None) -> None:
        """Choose the backend from config: JOBS_SYNC, then QUEUE_URL (RQ), else a thread pool."""
        config = app.config["CHECKIN"]
        if config.get("JOBS_SYNC"):
            backend = _Backend("sync")
        elif config.get("QUEUE_URL"):
            if rq_entry is None:
                raise RuntimeError("RQ needs the dotted path of the worker's job entry point")
            from redis import Redis
            from rq import Queue

            connection = Redis.from_url(config["QUEUE_URL"])
            backend = _Backend("rq", queue=Queue(config.get("QUEUE_NAME") or "checkin", connection=connection),
                               rq_entry=rq_entry, job_timeout=int(config.get("JOB_TIMEOUT_SECONDS") or 600))
        else:
            threads = int(config.get("JOB_THREADS") or 1)
            backend = _Backend("threads", executor=ThreadPoolExecutor(threads, thread_name_prefix="checkin-job"))
        app.extensions["checkin.jobs"] = backend

    @staticmethod
    def _backend() -> _Backend:
        return current_app.extensions["checkin.jobs"]

    @property
    def mode(self) -> str:
        """The current app's backend: sync, threads or rq."""
        return self._backend().mode

    def enqueue(self, job: Job, **kwargs: Any) -> Any:
        """Run job(**context, **kwargs) off the request (call after commit); returns a Future, an RQ job or None."""
        backend = self._backend()
        if backend.mode == "rq":
            target = f"{job.__module__}:{job.__qualname__}"
            return backend.queue.enqueue(backend.rq_entry, target, kwargs, job_timeout=backend.job_timeout)
        context = {
            "open_session": database().session,
            "blobs": current_app.extensions["checkin.blobs"],
            "engine": face_engine(),
            "clock": clock(),
        }
        if backend.mode == "sync":
            job(**context, **kwargs)
            return None
        assert backend.executor is not None
        future = backend.executor.submit(_logged, job, {**context, **kwargs})
        backend.pending.add(future)
        future.add_done_callback(backend.pending.discard)
        return future

    def drain(self, app: Flask, timeout: float | None = None) -> bool:
        """Wait for the app's in-process jobs to finish (tests, shutdown); True when none is left."""
        backend: _Backend = app.extensions["checkin.jobs"]
        if backend.mode != "threads":
            return True
        _done, not_done = wait(list(backend.pending), timeout=timeout)
        return not not_done

    def ping(self, app: Flask) -> bool:
        """Whether the queue is reachable (always true in-process)."""
        backend: _Backend = app.extensions["checkin.jobs"]
        if backend.mode != "rq":
            return True
        try:
            return bool(backend.queue.connection.ping())
        except Exception:  # noqa: BLE001  (any failure means not reachable)
            return False


def _logged(job: Job, kwargs: dict[str, Any]) -> None:
    try:
        job(**kwargs)
    except Exception:
        log.exception("background job %s failed", getattr(job, "__qualname__", job))
        raise


jobs = JobRunner()
