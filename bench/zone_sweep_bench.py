"""Time the sweep's zone pass for 10,000 tracked persons with a day of location fixes.

    .venv/bin/python bench/zone_sweep_bench.py                       # a fresh SQLite file in a temporary folder
    .venv/bin/python bench/zone_sweep_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

With --database-url the benchmark also runs on PostgreSQL: it creates a database `checkin_zone_bench` on that
server (the database named in the URL is not touched), seeds it with bulk inserts, times the passes and drops it.
Every person has tracking on, a home area of 2 km in Shanghai and one fix every --interval minutes for the last day;
10% have an exclusion zone (禁止令), 10% a 22:00-06:00 curfew, 5% spend an hour in Pudong, 1% go to Hangzhou and 1%
send a teleport. The zone pass runs twice: the first evaluates every fix, the second finds nothing new (watermarks).
The full location sweep (partitions, zone pass, gaps, separation signals, retention) is timed after them.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import migrate  # noqa: E402  (after the path set-up above)
from storage.db import make_engine  # noqa: E402
from storage.models import Alert, LocationFix, LocationTracking, LocationZone, Office, Person  # noqa: E402
from supervision.duties import DutyPolicy  # noqa: E402
from supervision.tracking import LocationPolicy, run_location_sweep, zone_pass  # noqa: E402

BENCH_DATABASE = "checkin_zone_bench"
CHUNK = 20_000
HOME = (31.2237, 121.4453)  # 静安寺
PUDONG = (31.2397, 121.4998)
HANGZHOU = (30.2590, 120.1500)
XINTIANDI = (31.2196, 121.4750)


def seed(url: str, persons: int, interval: int, now: datetime, rng: random.Random) -> dict[str, int]:
    """Offices, persons with tracking on, zones, and a day of fixes each, with bulk inserts."""
    engine = make_engine(url)
    since = now - timedelta(days=1)
    counts = {"persons": persons, "fixes": 0, "zones": 0}
    with engine.begin() as conn:
        conn.execute(insert(Office), [{"code": f"O{n:02d}", "name": f"Office {n}", "county": "Bench County",
                                       "timezone": "Asia/Shanghai", "created_at": since} for n in range(28)])
        office_ids = list(conn.scalars(select(Office.id).order_by(Office.id)))
        people = [{"code": f"B{n:06d}", "name": f"Bench {n}", "gender": "male", "birth_date": date(1985, 1, 1),
                   "sentence_type": "probation", "supervision_level": "ordinary", "start_date": date(2020, 1, 1),
                   "end_date": date(2035, 1, 1), "office_id": office_ids[n % len(office_ids)], "home_lat": HOME[0],
                   "home_lon": HOME[1], "home_radius_m": 2000.0, "status": "active", "employment_status": "unknown",
                   "password_hash": "x", "created_at": since - timedelta(days=30), "updated_at": since}
                  for n in range(persons)]
        for start in range(0, len(people), CHUNK):
            conn.execute(insert(Person), people[start:start + CHUNK])
        rows = conn.execute(select(Person.id, Person.office_id).order_by(Person.id)).all()
        conn.execute(insert(LocationTracking), [
            {"person_id": pid, "office_id": oid, "reason": "bench", "until": now.date() + timedelta(days=30),
             "interval_minutes": interval, "started_at": since - timedelta(hours=1)} for pid, oid in rows])
        zones = []
        for pid, oid in rows:
            draw = rng.random()
            if draw < 0.1:
                zones.append({"person_id": pid, "office_id": oid, "kind": "exclusion", "scope": "home",
                              "center_lat": XINTIANDI[0], "center_lon": XINTIANDI[1], "radius_m": 300.0,
                              "hours_start": "20:00", "hours_end": "02:00", "created_at": since})
            elif draw < 0.2:
                zones.append({"person_id": pid, "office_id": oid, "kind": "curfew", "scope": "home",
                              "hours_start": "22:00", "hours_end": "06:00", "created_at": since})
        conn.execute(insert(LocationZone), zones)
        counts["zones"] = len(zones)
        batch: list[dict[str, Any]] = []
        steps = 24 * 60 // interval
        for pid, _oid in rows:
            draw = rng.random()
            for n in range(steps):
                at = since + timedelta(minutes=n * interval, seconds=rng.randrange(60))
                place = (HOME[0] + rng.uniform(-0.006, 0.006), HOME[1] + rng.uniform(-0.006, 0.006))
                if draw < 0.05 and steps // 2 <= n < steps // 2 + 60 // interval + 1:
                    place = PUDONG
                elif draw < 0.06 and n >= steps * 3 // 4:
                    place = HANGZHOU
                elif draw < 0.07 and n == steps // 3:
                    place = (32.0, 118.3)
                batch.append({"person_id": pid, "fixed_at": at, "client_id": f"{pid}-{n}",
                              "received_at": at + timedelta(seconds=20), "lat": place[0], "lon": place[1],
                              "accuracy_m": rng.choice((8.0, 12.0, 20.0, 35.0, 900.0)), "mock": False})
                if len(batch) >= CHUNK:
                    conn.execute(insert(LocationFix), batch)
                    counts["fixes"] += len(batch)
                    batch = []
        if batch:
            conn.execute(insert(LocationFix), batch)
            counts["fixes"] += len(batch)
    engine.dispose()
    return counts


def bench(label: str, url: str, persons: int, interval: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    print(f"{label}: seeding {persons} tracked persons with a day of fixes every {interval} min ...", flush=True)
    migrate.upgrade(url)
    started = time.perf_counter()
    counts = seed(url, persons, interval, now, random.Random(20261201))
    print(f"  seeded {counts} in {time.perf_counter() - started:.1f} s")
    if url.startswith("postgresql"):
        with create_engine(url).begin() as conn:
            conn.execute(text("ANALYZE"))
    policy = LocationPolicy()
    engine = make_engine(url)
    for run in (1, 2):
        with Session(bind=engine) as session:
            started = time.perf_counter()
            result = zone_pass(session=session, now=now, policy=policy, lookback=timedelta(hours=72))
            session.commit()
            print(f"  zone pass run {run}: {time.perf_counter() - started:.2f} s, {result}")
    with Session(bind=engine) as session:
        started = time.perf_counter()
        result = run_location_sweep(session=session, now=now + timedelta(minutes=5), policy=policy,
                                    lookback=timedelta(hours=72), duties=DutyPolicy())
        session.commit()
        print(f"  whole location sweep 5 min later: {time.perf_counter() - started:.2f} s, {result}")
    with Session(bind=engine) as session:
        by_type = dict(session.execute(select(Alert.type, func.count()).group_by(Alert.type)).all())
    print(f"  alerts: {by_type}")
    engine.dispose()


def postgres(base_url: str, persons: int, interval: int) -> None:
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {BENCH_DATABASE}"))
    url = make_url(base_url).set(database=BENCH_DATABASE).render_as_string(hide_password=False)
    try:
        bench("PostgreSQL", url, persons, interval)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--interval", type=int, default=15, help="minutes between fixes")
    parser.add_argument("--database-url", help="PostgreSQL server URL (a scratch database is created on it)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            bench("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", args.persons, args.interval)
    if args.database_url:
        postgres(args.database_url, args.persons, args.interval)


if __name__ == "__main__":
    main()
