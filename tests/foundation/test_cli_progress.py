"""Long `checkin` commands log their progress on stderr when it is no terminal (cron, systemd, CI), in the configured
log format, and keep stdout for their result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("progress")
    environ = {**os.environ, "CHECKIN_ENV": "development", "CHECKIN_INSTANCE_PATH": str(folder / "instance"),
               "CHECKIN_LOG_FORMAT": "json", "CHECKIN_LOG_LEVEL": "INFO"}
    for name in ("CHECKIN_DATABASE_URL", "CHECKIN_JWT_SECRET_KEY", "CHECKIN_ENCRYPTION_KEY",
                 "CHECKIN_ENCRYPTION_KEYS", "CHECKIN_QUEUE_URL", "CHECKIN_BLOB_BACKEND"):
        environ.pop(name, None)
    subprocess.run([BIN / "checkin", "init-db"], env=environ, check=True, capture_output=True)
    return environ


def _run(env: dict[str, str], *args: str) -> tuple[str, list[dict[str, object]]]:
    result = subprocess.run([BIN / "checkin", *args], env=env, capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return result.stdout, records


@pytest.mark.parametrize(("args", "first", "last"), [
    (("purge",), "counting (dry run) 0 rows: started, 0 to do", "counting (dry run) 0 rows: finished 0/0"),
    (("rotate-keys",), "re-encrypting 0 blobs under", "re-sealing templates: finished 0/0"),
    (("fsck",), "fsck: listing rows and blobs", "fsck: finished in"),
    (("sweep", "--purge", "--fsck"), "sweep: purge and fsck started", "sweep: finished in"),
])
def test_long_commands_log_where_they_are(env, args, first, last):
    stdout, records = _run(env, *args)

    messages = [str(record["message"]) for record in records if record["level"] == "INFO"]
    assert any(message.startswith(first) for message in messages), messages
    assert any(message.startswith(last) for message in messages), messages
    if args[0] == "sweep":
        assert messages[0] == "sweep: started"
    assert "{" not in stdout  # the result on stdout, the log lines on stderr


@pytest.mark.faces
def test_eval_faces_logs_its_progress(env, faces_dir):
    stdout, records = _run(env, "eval-faces", str(faces_dir / "people"), "--limit", "2", "--refs", "3")

    progress = [r for r in records if r["logger"] == "checkin.progress"]
    assert progress[0]["message"].startswith("analysing photos: started, 16 to do")
    assert progress[-1]["message"].startswith("analysing photos: finished 16/16")
    # About every tenth of the work (or every 10 s): several counts in between, each with its percentage.
    between = [r for r in progress[1:-1] if str(r["message"]).endswith("%)")]
    assert len(between) >= 5, progress
    assert "TAR" in stdout
