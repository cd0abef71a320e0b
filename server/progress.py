"""Progress of long CLI commands: a bar on a terminal, and log lines everywhere (cron, systemd, CI, files)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

log = logging.getLogger("checkin.progress")

# A log line at most this often, and at least at every tenth of the work.
LOG_EVERY_SECONDS = 10.0


@contextmanager
def progress(length: int, label: str, *,
             clock: Callable[[], float] = time.monotonic) -> Iterator[Callable[[int], None]]:
    """Yield update(n): advances a progress bar on stderr when it is a terminal, and logs the count as it goes."""
    done = 0
    started = last_logged = clock()
    next_fraction = 0.1
    log.info("%s: started, %d to do", label, length, extra={"task": label, "done": 0, "total": length})
    bar = click.progressbar(length=length, label=label, file=sys.stderr) if sys.stderr.isatty() else None

    def update(n: int = 1) -> None:
        nonlocal done, last_logged, next_fraction
        done += n
        if bar is not None:
            bar.update(n)
        now = clock()
        fraction = done / length if length else 1.0
        if fraction >= next_fraction or now - last_logged >= LOG_EVERY_SECONDS:
            last_logged = now
            while next_fraction <= fraction:
                next_fraction += 0.1
            log.info("%s: %d/%d (%d%%)", label, done, length, round(100 * fraction),
                     extra={"task": label, "done": done, "total": length})

    try:
        if bar is not None:
            with bar:
                yield update
        else:
            yield update
    finally:
        log.info("%s: finished %d/%d in %.1f s", label, done, length, clock() - started,
                 extra={"task": label, "done": done, "total": length})
