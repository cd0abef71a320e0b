"""The server fixes glibc's mmap threshold for itself and its workers, unless the operator set glibc's variable."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = "from server.serving import tune_allocator; print(tune_allocator())"


def run_probe(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"} | env
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip()


def glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallopt")
    except OSError:
        return False


@pytest.mark.skipif(not glibc(), reason="not a glibc system (no libc.so.6 with mallopt)")
def test_the_threshold_is_set_on_glibc() -> None:
    assert run_probe() == "True"


def test_the_operators_own_setting_wins() -> None:
    assert run_probe(MALLOC_MMAP_THRESHOLD_="4194304") == "False"
