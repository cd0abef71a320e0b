"""Time the supervision sweep over 10,000 persons with a month of check-ins.

    .venv/bin/python bench/sweep_bench.py          # a fresh SQLite file in a temporary folder
    CHECKIN_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/sweep_bench.py

With CHECKIN_BENCH_DATABASE_URL the benchmark also runs on PostgreSQL: it connects to that server, creates a database
`checkin_bench`, seeds it, times the sweep and drops the database again (the database named in the URL is not touched).
Rows are written with bulk inserts; the sweep runs twice (the second run must create nothing).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import migrate  # noqa: E402  (after the path set-up above)
from storage.db import make_engine  # noqa: E402
from storage.models import Alert, Checkin, Office, Person, Task  # noqa: E402
from supervision.duties import DutyPolicy  # noqa: E402
from supervision.sweep import SweepSettings, run_sweep  # noqa: E402

BENCH_DATABASE = "checkin_bench"
LEVELS = (("strict", 0.3), ("ordinary", 0.5), ("lenient", 0.2))
CHUNK = 20_000


def seed(url: str, persons: int, days: int, now: datetime, rng: random.Random) -> dict[str, int]:
    """Offices, persons, a month of check-ins and some spot checks, with bulk inserts."""
    engine = make_engine(url)
    duties = DutyPolicy().for_office(None, "Asia/Shanghai")
    since = now - timedelta(days=days)
    windows = {level: list(duties.windows(level, since, now)) for level, _ in LEVELS}
    counts = {"offices": 28, "persons": persons, "checkins": 0, "tasks": 0}
    with engine.begin() as conn:
        conn.execute(insert(Office), [{"code": f"O{n:02d}", "name": f"Office {n}", "county": "Bench County",
                                       "timezone": "Asia/Shanghai", "created_at": since} for n in range(28)])
        office_ids = list(conn.scalars(select(Office.id).order_by(Office.id)))
        people = []
        for n in range(persons):
            level = rng.choices([lv for lv, _ in LEVELS], [w for _, w in LEVELS])[0]
            people.append({
                "code": f"B{n:06d}", "name": f"Bench {n}", "gender": "male", "birth_date": date(1985, 1, 1),
                "sentence_type": "probation", "supervision_level": level, "start_date": date(2020, 1, 1),
                "end_date": date(2035, 1, 1), "office_id": office_ids[n % len(office_ids)], "home_lat": 31.23,
                "home_lon": 121.47, "home_radius_m": 3000.0, "status": "active", "employment_status": "unknown",
                "password_hash": "x", "created_at": since - timedelta(days=30), "updated_at": since,
            })
        for start in range(0, len(people), CHUNK):
            conn.execute(insert(Person), people[start:start + CHUNK])
        rows = conn.execute(select(Person.id, Person.office_id, Person.supervision_level).order_by(Person.id)).all()

        batch: list[dict[str, Any]] = []

        def checkin(person_id: int, office_id: int, at: datetime, status: str) -> None:
            batch.append({
                "person_id": person_id, "office_id": office_id, "kind": "scheduled", "device_id": "phone",
                "device_bound": True, "received_at": at + timedelta(seconds=3), "captured_at": at,
                "latitude": 31.23, "longitude": 121.47, "accuracy_m": 12.0,
                "photo_sha256": hashlib.sha256(f"{person_id}:{at.isoformat()}".encode()).hexdigest(),
                "status": status, "reasons": [], "flags": [],
            })
            if len(batch) >= CHUNK:
                flush()

        def flush() -> None:
            if batch:
                conn.execute(insert(Checkin), batch)
                counts["checkins"] += len(batch)
                batch.clear()

        tasks = []
        for person_id, office_id, level in rows:
            for window in windows[level]:
                if window.start > now:
                    continue
                roll = rng.random()
                at = window.start + timedelta(minutes=rng.randrange(0, 600))
                if at > now:
                    continue
                if roll < 0.90:
                    checkin(person_id, office_id, at, "verified")
                elif roll < 0.93:
                    checkin(person_id, office_id, at, "needs_review")
                elif roll < 0.95:
                    checkin(person_id, office_id, at, "rejected")
                # else: the duty was missed
            if rng.random() < 0.02:  # a bad day: three failed attempts in the last hours
                for minutes in (30, 20, 10):
                    checkin(person_id, office_id, now - timedelta(minutes=minutes), "failed")
            if rng.random() < 0.1:
                created = now - timedelta(minutes=rng.randrange(30, 3 * 24 * 60))
                tasks.append({"person_id": person_id, "office_id": office_id, "kind": "spot_check",
                              "status": rng.choice(("open", "completed")), "created_at": created,
                              "due_at": created + timedelta(minutes=60)})
        flush()
        conn.execute(insert(Task), tasks)
        counts["tasks"] = len(tasks)
    engine.dispose()
    return counts


def time_sweeps(url: str, now: datetime) -> list[tuple[float, dict[str, int], int]]:
    """Run the sweep twice; the time, counts and number of SQL statements of each run."""
    engine = make_engine(url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    settings = SweepSettings.from_config({})
    results = []
    for _ in range(2):
        statements.clear()
        with engine.connect() as conn:
            with Session(bind=conn) as session:
                started = time.perf_counter()
                counts = run_sweep(session=session, now=now, settings=settings)
                session.commit()
                elapsed = time.perf_counter() - started
        results.append((elapsed, counts, len(statements)))
    engine.dispose()
    return results


def count_alerts(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        alerts = conn.scalar(select(func.count()).select_from(Alert)) or 0
    engine.dispose()
    return alerts


def bench(label: str, url: str, persons: int, days: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(20261130)
    print(f"{label}: seeding {persons} persons with {days} days of check-ins ...", flush=True)
    migrate.upgrade(url)
    started = time.perf_counter()
    counts = seed(url, persons, days, now, rng)
    print(f"  seeded {counts} in {time.perf_counter() - started:.1f} s")
    for run, (elapsed, result, statements) in enumerate(time_sweeps(url, now), start=1):
        print(f"  sweep run {run}: {elapsed:.2f} s, {statements} SQL statements, {result}")
    print(f"  alerts in the database after both runs: {count_alerts(url)}")


def postgres(base_url: str, persons: int, days: int) -> None:
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}"))
        conn.execute(text(f"CREATE DATABASE {BENCH_DATABASE}"))
    url = make_url(base_url).set(database=BENCH_DATABASE).render_as_string(hide_password=False)
    try:
        bench("PostgreSQL", url, persons, days)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", args.persons, args.days)
    base_url = os.environ.get("CHECKIN_BENCH_DATABASE_URL")
    if base_url:
        postgres(base_url, args.persons, args.days)


if __name__ == "__main__":
    main()
