"""Soak and fault harness: N phones check in for M minutes against `checkin serve` while faults are injected.

Each phone sends unique selfies with an Idempotency-Key and retries the same key and body (honouring Retry-After)
until it gets an answer it can act on, as the app does. Faults: a kill -9 of one gunicorn worker a third of the
way in and, on PostgreSQL, the database stopped for --db-stop-seconds in the middle (pg_ctlcluster). Afterwards
every acknowledged check-in is compared with the rows and the blobs.

Run: .venv/bin/python bench/soak_bench.py [--phones 8] [--minutes 1]
     .venv/bin/python bench/soak_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
Prints throughput, p50/p95 of first attempts and of whole check-ins (with retries), 5xx by status, lost rows,
orphan blobs and stuck idempotency keys. Exits 1 with --check when a row is lost, a blob orphaned, a key stuck or
a 5xx other than 503 was seen. Needs ../shared/faces beside the repository; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checkin_bench import (  # noqa: E402  (after the path set-up above)
    FACES,
    HOME,
    OFFICER,
    OFFICER_PASSWORD,
    Api,
    create_person,
    enrol,
    free_port,
    multipart,
    numbered,
    phone_canvas,
    phone_jpeg,
    prepare_instance,
    running_server,
    scratch_database,
    server_env,
)

from verification.engine import get_engine  # noqa: E402

SOAK_SIZE = (1512, 2016)  # half a 12 MP photo each way: the faults matter here, not the pixels
PERSON_PASSWORD = "soak-password-123"


@dataclass
class PhoneLog:
    """What one phone saw."""

    acknowledged: dict[str, int] = field(default_factory=dict)  # idempotency key -> check-in id
    refused: dict[str, str] = field(default_factory=dict)  # key -> problem code (422 etc.): answered, no check-in
    unanswered: list[str] = field(default_factory=list)  # keys still retrying when the run ended
    first_attempt_s: list[float] = field(default_factory=list)
    whole_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    connection_errors: int = 0


def checkin_once(api: Api, token: str, key: str, body: bytes, content_type: str) -> tuple[int, object, float, str]:
    """One attempt; (status, body, seconds, Retry-After) or status 0 for a connection failure."""
    import http.client
    import json

    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
    try:
        connection.request("POST", "/api/v1/checkins", body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": content_type, "Idempotency-Key": key,
            "Accept": "application/json"})
        response = connection.getresponse()
        raw = response.read()
        parsed = json.loads(raw) if raw and "json" in (response.getheader("Content-Type") or "") else raw
        return response.status, parsed, time.perf_counter() - started, response.getheader("Retry-After") or ""
    except (OSError, http.client.HTTPException):
        # Refused, reset, or cut mid-answer (IncompleteRead) by the killed worker: the phone retries.
        return 0, None, time.perf_counter() - started, ""
    finally:
        connection.close()


def phone(api: Api, index: int, token: str, canvas: np.ndarray, deadline: float, grace: float,
          log: PhoneLog) -> None:
    """Check in until the deadline; finish retrying the last check-in for up to `grace` seconds after it."""
    sequence = 0
    while time.monotonic() < deadline:
        sequence += 1
        key = f"soak-{index}-{sequence}-{uuid.uuid4().hex[:8]}"
        fields = {"latitude": str(HOME["lat"]), "longitude": str(HOME["lon"]), "accuracy_m": "12",
                  "captured_at": datetime.now(UTC).isoformat()}
        photo = phone_jpeg(canvas, index * 1_000_000 + sequence, 88)
        body, content_type = multipart(fields, {"photo": ("selfie.jpg", photo, "image/jpeg")})
        started = time.perf_counter()
        attempt = 0
        while True:
            status, answer, seconds, retry_after = checkin_once(api, token, key, body, content_type)
            attempt += 1
            log.statuses[status] += 1
            if attempt == 1:
                log.first_attempt_s.append(seconds)
            if status == 201 and isinstance(answer, dict):
                log.acknowledged[key] = int(answer["id"])
                break
            if status in (400, 401, 403, 404, 413, 415, 422) and isinstance(answer, dict):
                log.refused[key] = str(answer.get("code"))
                break
            # 0 (connection refused or reset: a worker died), 409 (still in progress), 5xx: retry the same request.
            log.retries += 1
            log.connection_errors += status == 0
            if time.monotonic() > deadline + grace:
                log.unanswered.append(key)
                return
            time.sleep(min(5.0, float(retry_after)) if retry_after.replace(".", "", 1).isdigit() else 0.5)
        log.whole_s.append(time.perf_counter() - started)


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers: children of the master process."""
    found = []
    for task in Path(f"/proc/{master}/task").iterdir():
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        found.extend(int(pid) for pid in children)
    return found


def gunicorn_master(port: int) -> int:
    """The pid of the gunicorn master listening on port (the `checkin serve` process)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and str(port).encode() in cmdline:
            return int(proc.name)
    raise SystemExit("gunicorn master not found")


def postgres(action: str) -> None:
    """Stop or start the machine's PostgreSQL cluster."""
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action], check=True,
                   capture_output=True, timeout=120)


def audit(db_url: str, blob_root: Path, logs: list[PhoneLog]) -> dict[str, int]:
    """Compare what the phones were told with what the database and the blob store hold."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = {row[0]: row[1] for row in conn.execute(text("SELECT id, photo_blob_key FROM checkin"))}
        referenced = {key for key in rows.values() if key}
        for table, column in (("reference_face", "blob_key"), ("leave_request", "attachment_blob_key"),
                              ("task", "clip_blob_key")):
            referenced |= {row[0] for row in conn.execute(text(f"SELECT {column} FROM {table}")) if row[0]}
        stuck = conn.execute(text("SELECT count(*) FROM idempotency_record WHERE completed_at IS NULL")).scalar_one()
    engine.dispose()
    acknowledged = {cid for log in logs for cid in log.acknowledged.values()}
    stored = {p.name for p in blob_root.rglob("*") if p.is_file() and not p.name.startswith(".")}
    missing_blobs = sum(1 for cid in acknowledged if cid in rows and rows[cid] and rows[cid] not in stored)
    return {
        "acknowledged": len(acknowledged),
        "rows": len(rows),
        "lost_rows": len(acknowledged - set(rows)),
        "missing_blobs": missing_blobs,
        "orphan_blobs": len(stored - referenced),
        "stuck_keys": int(stuck),
        "temp_files": sum(1 for p in blob_root.rglob(".tmp-*")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phones", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--database-url", default=None, help="postgresql+psycopg:// URL of the local server")
    parser.add_argument("--db-stop-seconds", type=float, default=10.0)
    parser.add_argument("--no-kill", action="store_true", help="do not kill -9 a worker")
    # Longer than the idempotency lease (the worker timeout, 120 s): a key whose worker was killed is taken over.
    parser.add_argument("--grace", type=float, default=150.0, help="seconds phones keep retrying after the run")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    identity = FACES / "people" / "Colin_Powell"
    if not identity.is_dir():
        raise SystemExit(f"test photos not found at {FACES}")
    engine = get_engine()

    with tempfile.TemporaryDirectory(prefix="checkin-soak-") as tmp, \
            scratch_database(args.database_url) as scratch_url:
        instance = Path(tmp) / "instance"
        env = server_env(instance, scratch_url)
        prepare_instance(env, "SOAK")
        port = free_port()
        logs = [PhoneLog() for _ in range(args.phones)]
        events: list[str] = []
        with running_server(env, port, args.workers, args.threads, Path(tmp) / "server.log"):
            api = Api(port)
            officer = api.login(OFFICER, OFFICER_PASSWORD)
            tokens = []
            photos = numbered(identity)
            probes: list[Path] = []
            for n in range(args.phones):
                code = f"SOAK{n:03d}"
                person_id = create_person(api, officer, code, office="SOAK", password=PERSON_PASSWORD)
                _, probes = enrol(api, officer, person_id, photos, 3)
                tokens.append(api.login(code, PERSON_PASSWORD, device_id=f"soak-phone-{n}"))
            canvas = phone_canvas(probes[0].read_bytes(), engine)
            canvas = np.asarray(Image.fromarray(canvas).resize(SOAK_SIZE, Image.Resampling.BILINEAR))

            started = time.monotonic()
            deadline = started + args.minutes * 60.0
            threads = [threading.Thread(target=phone, args=(api, n, tokens[n], canvas, deadline, args.grace, logs[n]))
                       for n in range(args.phones)]
            for thread in threads:
                thread.start()
            master = gunicorn_master(port)
            if not args.no_kill:
                time.sleep(max(0.0, started + (deadline - started) / 3 - time.monotonic()))
                victims = worker_pids(master)
                if victims:
                    os.kill(victims[0], signal.SIGKILL)
                    events.append(f"{time.monotonic() - started:5.1f} s  kill -9 worker {victims[0]}")
            if args.database_url:
                time.sleep(max(0.0, started + (deadline - started) / 2 - time.monotonic()))
                events.append(f"{time.monotonic() - started:5.1f} s  PostgreSQL stopped")
                postgres("stop")
                time.sleep(args.db_stop_seconds)
                postgres("start")
                events.append(f"{time.monotonic() - started:5.1f} s  PostgreSQL started")
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
        db_url = scratch_url or f"sqlite:///{instance / 'checkin.db'}"
        result = audit(db_url, instance / "blobs", logs)
        # A worker killed between writing a photo and committing its row cannot clean up after itself: the
        # nightly `checkin fsck --repair` (sweep --fsck) is what removes such blobs. Run it and count again.
        repair = subprocess.run([str(Path(sys.executable).with_name("checkin")), "fsck", "--repair",
                                 "--grace-minutes", "0"], env=env, capture_output=True, text=True, timeout=300)
        after = audit(db_url, instance / "blobs", logs)
        result["orphan_blobs_after_fsck"] = after["orphan_blobs"]
        result["fsck_exit"] = repair.returncode

    statuses: Counter[int] = Counter()
    for log in logs:
        statuses.update(log.statuses)
    first = [s for log in logs for s in log.first_attempt_s]
    whole = [s for log in logs for s in log.whole_s]
    unanswered = sum(len(log.unanswered) for log in logs)
    bad_5xx = sum(count for status, count in statuses.items() if status >= 500 and status != 503)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n== soak ({backend}, {args.phones} phones, {args.minutes:g} min, {args.workers} workers x "
          f"{args.threads} threads) ==")
    for event in events:
        print(f"fault                {event}")
    print(f"check-ins            {result['acknowledged']} acknowledged, "
          f"{sum(len(log.refused) for log in logs)} refused with a 4xx, {unanswered} still unanswered at the end")
    print(f"throughput           {result['acknowledged'] / wall:.2f} acknowledged check-ins/s over {wall:.0f} s "
          f"(the run and the retries after it)")
    if first:
        print(f"latency              first attempt p50 {statistics.median(first) * 1000:.0f} ms, "
              f"p95 {sorted(first)[int(0.95 * (len(first) - 1))] * 1000:.0f} ms; whole check-in with retries p95 "
              f"{sorted(whole)[int(0.95 * (len(whole) - 1))] * 1000:.0f} ms, max {max(whole):.1f} s")
    print(f"answers              {dict(sorted(statuses.items()))} (0 = connection refused or reset); "
          f"retries {sum(log.retries for log in logs)}")
    print(f"5xx other than 503   {bad_5xx}")
    print(f"lost rows            {result['lost_rows']} (acknowledged ids missing from the database)")
    print(f"missing blobs        {result['missing_blobs']} (acknowledged check-ins whose photo is gone)")
    print(f"orphan blobs         {result['orphan_blobs']} (blobs no row points to); temp files {result['temp_files']}; "
          f"after `checkin fsck --repair`: {result['orphan_blobs_after_fsck']} (exit {result['fsck_exit']})")
    print(f"stuck keys           {result['stuck_keys']} (idempotency reservations never completed)")
    failed = (result["lost_rows"] or result["missing_blobs"] or result["orphan_blobs_after_fsck"]
              or result["stuck_keys"] or bad_5xx or unanswered)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
