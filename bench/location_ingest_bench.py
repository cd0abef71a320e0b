"""Location upload throughput through HTTP: batches of 50 fixes against `checkin serve` (gunicorn).

    .venv/bin/python bench/location_ingest_bench.py                       # SQLite in a fresh instance folder
    .venv/bin/python bench/location_ingest_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

With --database-url the server uses a scratch database `checkin_bench_ci` on that PostgreSQL server (created and
dropped again; the database named in the URL is not touched). The officer switches tracking on for --persons persons;
--clients threads then post --batches batches of 50 fixes (each person's fixes 0.2 s apart at home, so every batch
is stored and evaluated: zone checks, speed checks, check-in comparison). The server runs --workers processes with
2 threads each; the figure printed is fixes per second per worker process, plus the latency of one batch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checkin_bench import (  # noqa: E402  (after the path set-up above)
    HOME,
    OFFICER,
    OFFICER_PASSWORD,
    PERSON_PASSWORD,
    Api,
    create_person,
    expect,
    free_port,
    prepare_instance,
    running_server,
    scratch_database,
    server_env,
)

BATCH = 50
STEP = timedelta(milliseconds=200)


def batch_for(person: int, k: int, start: datetime) -> dict:
    """The k-th batch of one person: 50 fixes 0.2 s apart, jittered by a few metres around home."""
    fixes = []
    for i in range(BATCH):
        n = k * BATCH + i
        fixes.append({"id": f"p{person}-{n}", "at": (start + n * STEP).isoformat(),
                      "lat": HOME["lat"] + ((n * 7) % 11 - 5) * 1e-5, "lon": HOME["lon"] + ((n * 3) % 7 - 3) * 1e-5,
                      "accuracy_m": 8.0 + n % 5, "provider": "gps"})
    return {"fixes": fixes}


def run(database_url: str | None, persons: int, batches: int, clients: int, workers: int) -> None:
    with tempfile.TemporaryDirectory() as folder, scratch_database(database_url) as url:
        instance = Path(folder) / "instance"
        env = server_env(instance, url)
        env["CHECKIN_LOGIN_RATE_LIMIT"] = "10000 per minute"  # the bench logs in one phone per person
        prepare_instance(env)
        port = free_port()
        label = "PostgreSQL" if url else "SQLite"
        with running_server(env, port, workers=workers, threads=2, log=Path(folder) / "server.log"):
            api = Api(port)
            officer = api.login(OFFICER, OFFICER_PASSWORD)
            tokens = []
            until = (date.today() + timedelta(days=30)).isoformat()
            for p in range(persons):
                person_id = create_person(api, officer, f"LOC{p:04d}")
                expect(api.call("POST", f"/api/v1/officer/persons/{person_id}/tracking", token=officer,
                                json_body={"reason": "bench", "until": until, "interval_minutes": 1}), 200, "track")
                tokens.append(api.login(f"LOC{p:04d}", PERSON_PASSWORD, device_id=f"phone-{p}"))
            start = datetime.now(UTC)
            per_person = -(-(batches + persons) // persons)
            if per_person * BATCH * STEP > timedelta(minutes=4):
                raise SystemExit("too many batches per person for the 5-minute future limit: add --persons")
            # Warm-up: one batch per person (imports, statement caches, connection pools).
            for p, token in enumerate(tokens):
                expect(api.call("POST", "/api/v1/locations", token=token, json_body=batch_for(p, 0, start)), 202,
                       "warm-up")
            jobs = iter(range(batches))
            lock = threading.Lock()
            latencies: list[float] = []
            counts = {"accepted": 0, "errors": 0}

            def client() -> None:
                while True:
                    with lock:
                        job = next(jobs, None)
                    if job is None:
                        return
                    person, k = job % persons, 1 + job // persons
                    reply = api.call("POST", "/api/v1/locations", token=tokens[person],
                                     json_body=batch_for(person, k, start))
                    with lock:
                        latencies.append(reply.seconds)
                        if reply.status == 202:
                            counts["accepted"] += reply.body["accepted"]
                        else:
                            counts["errors"] += 1

            threads = [threading.Thread(target=client) for _ in range(clients)]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
        rate = counts["accepted"] / wall
        latencies.sort()
        print(f"{label}: {batches} batches x {BATCH} fixes, {clients} clients, {workers} worker(s) x 2 threads, "
              f"{persons} persons")
        print(f"  accepted {counts['accepted']:,} fixes in {wall:.2f} s, errors {counts['errors']}")
        print(f"  {rate:,.0f} fixes/s in all, {rate / workers:,.0f} fixes/s per worker process")
        print(f"  batch latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
              f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL server URL (a scratch database is created on it)")
    parser.add_argument("--persons", type=int, default=40)
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    run(args.database_url, args.persons, args.batches, args.clients, args.workers)


if __name__ == "__main__":
    main()
