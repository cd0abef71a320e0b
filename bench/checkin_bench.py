"""End-to-end check-in benchmark: N selfie check-ins with 12 MP photos through `checkin serve` (gunicorn).

Starts the real server on a free localhost port with a fresh instance folder, sets it up through the CLI and the
API (office, officer, person, 3-5 reference photos), sends N check-ins from C concurrent clients and prints latency
(median, p95), throughput, and the verification-only cost measured in-process on the same photos, with the targets:
throughput >= 80% of workers / verification cost per photo, and p95 < 1 s.

Run: .venv/bin/python bench/checkin_bench.py [-n 100] [-c 4] [--workers 2] [--threads 2]
     .venv/bin/python bench/checkin_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
With --database-url the server uses a scratch database `checkin_bench_ci` on that PostgreSQL server (created with an
autocommit connection, dropped afterwards); the database named in the URL is only used to connect.
Needs ../shared/faces beside the repository (the photos are never copied into it).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from verification.engine import FaceEngine, get_engine  # noqa: E402  (after the path set-up above)

FACES = REPO_ROOT.parent / "shared" / "faces"
CHECKIN_BIN = Path(sys.executable).with_name("checkin")
SCRATCH_DB = "checkin_bench_ci"
PHONE_SIZE = (3024, 4032)  # width x height of a 12 MP portrait photo
FACE_SHARE = 0.30  # face width as a share of the photo width: a selfie at arm's length
HOME = {"lat": 31.2304, "lon": 121.4737, "radius_m": 3000}
OFFICER, OFFICER_PASSWORD = "bench-officer", "bench-password-1"
PERSON, PERSON_PASSWORD = "BENCH001", "bench-password-2"


# ------------------------------------------------------------------------------------------------ photos
def numbered(folder: Path) -> list[Path]:
    """The photos of an identity folder in numeric order."""
    return sorted((p for p in folder.iterdir() if p.suffix == ".jpg"), key=lambda p: int(p.stem))


def phone_canvas(source: bytes, engine: FaceEngine) -> np.ndarray:
    """A 3024x4032 RGB scene with the face of `source` scaled to selfie size, upper middle."""
    face_px = engine.analyze(source, purpose="checkin").quality["face_px"]
    face = Image.open(io.BytesIO(source)).convert("RGB")
    scale = FACE_SHARE * PHONE_SIZE[0] / face_px
    face = face.resize((round(face.width * scale), round(face.height * scale)), Image.Resampling.BICUBIC)
    width, height = PHONE_SIZE
    # A lit wall behind the person: a vertical gradient with sensor-like noise, so the JPEG has a phone photo's size.
    rows = np.linspace(170, 110, height, dtype=np.float32)[:, None, None]
    tint = np.array([1.0, 0.96, 0.9], dtype=np.float32)[None, None, :]
    noise = np.random.default_rng(7).normal(0.0, 6.0, (height, width, 1)).astype(np.float32)
    canvas = np.clip(rows * tint + noise, 0, 255).astype(np.uint8)
    patch = np.asarray(face)
    # Centre the face horizontally, a third of the way down; crop the patch if it is wider than the photo.
    crop_x = max(0, (patch.shape[1] - width) // 2)
    patch = patch[: height - height // 8, crop_x : crop_x + width]
    left = (width - patch.shape[1]) // 2
    top = max(0, min(height // 3 - patch.shape[0] // 2, height - patch.shape[0]))
    canvas[top : top + patch.shape[0], left : left + patch.shape[1]] = patch
    return canvas


def phone_jpeg(canvas: np.ndarray, variant: int, quality: int = 90) -> bytes:
    """The scene as a JPEG with `variant` written as 32 black/white pixels in a corner (unique sha256)."""
    pixels = canvas.copy()
    for bit in range(32):
        pixels[8, 8 + bit] = 255 if variant >> bit & 1 else 0
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=quality)
    return out.getvalue()


# ------------------------------------------------------------------------------------------------ HTTP
@dataclass
class Reply:
    status: int
    body: Any
    seconds: float


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, content_type) in files.items():
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                      f"Content-Type: {content_type}\r\n\r\n".encode())
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


class Api:
    """A tiny HTTP client for the server under test (one connection per request: safe to share across threads)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
             body: bytes | None = None, content_type: str | None = None) -> Reply:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body, content_type = json.dumps(json_body).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        seconds = time.perf_counter() - started
        parsed = json.loads(raw) if raw and "json" in (response.getheader("Content-Type") or "") else raw
        return Reply(response.status, parsed, seconds)

    def login(self, username: str, password: str, device_id: str | None = None) -> str:
        body = {"username": username, "password": password}
        if device_id:
            body["device_id"] = device_id
        reply = self.call("POST", "/api/v1/auth/login", json_body=body)
        expect(reply, 200, f"login {username}")
        return reply.body["access_token"]

    def upload(self, path: str, token: str, photo: bytes, fields: dict[str, str] | None = None) -> Reply:
        data, content_type = multipart(fields or {}, {"photo": ("photo.jpg", photo, "image/jpeg")})
        return self.call("POST", path, token=token, body=data, content_type=content_type)

    def checkin(self, token: str, photo: bytes) -> Reply:
        fields = {"latitude": str(HOME["lat"]), "longitude": str(HOME["lon"]), "accuracy_m": "12",
                  "captured_at": datetime.now(UTC).isoformat()}
        return self.upload("/api/v1/checkins", token, photo, fields)


def expect(reply: Reply, status: int, what: str) -> None:
    if reply.status != status:
        raise SystemExit(f"{what}: expected HTTP {status}, got {reply.status}: {reply.body!r:.500}")


# ------------------------------------------------------------------------------------------------ server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(instance: Path, database_url: str | None) -> dict[str, str]:
    """The environment of the CLI and server: nothing CHECKIN_* inherited, so engine settings are the defaults."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHECKIN_")}
    env["CHECKIN_INSTANCE_PATH"] = str(instance)
    if database_url:
        env["CHECKIN_DATABASE_URL"] = database_url
    return env


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    result = subprocess.run([str(CHECKIN_BIN), *args], env=env, input=stdin, text=True, capture_output=True,
                            cwd=REPO_ROOT, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"checkin {args[0]} failed:\n{result.stdout}{result.stderr}")


@contextmanager
def running_server(env: dict[str, str], port: int, workers: int, threads: int, log: Path) -> Iterator[None]:
    """`checkin serve` in its own process group; stopped (TERM, then KILL) however the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(CHECKIN_BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
             "--threads", str(threads)],
            env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_until_healthy(port, process, log)
            yield
        finally:
            stop(process)


def wait_until_healthy(port: int, process: subprocess.Popen[bytes], log: Path, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if Api(port).call("GET", "/healthz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not healthy after {seconds:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the gunicorn master we started (it stops its workers); kill its process group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def scratch_database(server_url: str | None) -> Iterator[str | None]:
    """A fresh `checkin_bench_ci` database on the PostgreSQL server of server_url (None: SQLite), dropped after."""
    if not server_url:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    if url.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a postgresql+psycopg:// URL")
    admin = create_engine(url.set(database=url.database or "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{SCRATCH_DB}"'))
        try:
            yield url.set(database=SCRATCH_DB).render_as_string(hide_password=False)
        finally:
            # A fresh connection: the soak bench restarts the server in between, which kills pooled ones.
            admin.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)'))
    finally:
        admin.dispose()


def prepare_instance(env: dict[str, str], office: str = "BENCH") -> None:
    """A migrated instance with one office and its officer (OFFICER / OFFICER_PASSWORD)."""
    cli(env, "init-db")
    cli(env, "create-office", office, "--name", f"{office.title()} office", "--county", f"{office.title()} county")
    cli(env, "create-officer", OFFICER, "--office", office, "--password-stdin", stdin=OFFICER_PASSWORD + "\n")


def create_person(api: Api, officer: str, code: str, *, office: str = "BENCH", password: str = PERSON_PASSWORD) -> int:
    """A person of the office living at HOME; returns the id."""
    created = api.call("POST", "/api/v1/officer/persons", token=officer, json_body={
        "code": code, "name": f"Bench {code}", "gender": "male", "birth_date": "1980-01-01",
        "sentence_type": "probation", "supervision_level": "ordinary", "start_date": "2026-01-01",
        "end_date": "2028-01-01", "office_code": office, "password": password, "home": HOME})
    expect(created, 201, "create person")
    return int(created.body["id"])


# ------------------------------------------------------------------------------------------------ the run
def enrol(api: Api, token: str, person_id: int, photos: list[Path], wanted: int) -> tuple[list[Path], list[Path]]:
    """Enrol the first `wanted` photos the server accepts; returns (references, the other photos)."""
    references: list[Path] = []
    for path in photos:
        if len(references) == wanted:
            break
        reply = api.upload(f"/api/v1/officer/persons/{person_id}/faces", token, path.read_bytes())
        if reply.status == 201:
            references.append(path)
        elif reply.status != 422:
            expect(reply, 201, f"enrol {path}")
    if len(references) < 3:
        raise SystemExit(f"only {len(references)} photos of {photos[0].parent.name} were accepted as references")
    return references, [p for p in photos if p not in references]


def send_all(api: Api, token: str, photos: list[bytes], concurrency: int) -> tuple[list[Reply], float]:
    """Send every photo as a check-in from `concurrency` client threads; returns the replies and the wall time."""
    lock = threading.Lock()
    pending = iter(range(len(photos)))
    replies: list[Reply | None] = [None] * len(photos)

    def client() -> None:
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            replies[index] = api.checkin(token, photos[index])

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    wall = time.perf_counter() - started
    return [reply for reply in replies if reply is not None], wall


def verification_cost(engine: FaceEngine, photos: list[bytes], references: list[Path]) -> list[float]:
    """CPU seconds per photo for analyze(purpose="checkin") + decide, in this process, one photo at a time."""
    enrolled = [engine.analyze(p.read_bytes(), purpose="enrol").templates.complete() for p in references]
    gallery = {key: [t[key] for t in enrolled] for key in engine.template_keys}
    engine.analyze(photos[0], purpose="checkin")  # warm-up
    costs = []
    for photo in photos:
        started = time.process_time()  # CPU seconds of every thread: OpenCV runs one call on several cores
        analysis = engine.analyze(photo, purpose="checkin")
        for face in analysis.faces:
            engine.decide(face.templates, gallery)
        costs.append(time.process_time() - started)
    return costs


def bare_face_recognition_ms(photos: list[bytes], runs: int = 9) -> float:
    """Median of face_recognition's HOG (no upsampling) + encodings on a 640 px copy of the photos: the honest
    minimal call of the previous model on the same pixels the engine detects on."""
    import face_recognition

    arrays = []
    for photo in photos[:3]:
        image = Image.open(io.BytesIO(photo)).convert("RGB")
        image.thumbnail((640, 640), Image.Resampling.LANCZOS)
        arrays.append(np.asarray(image))
    samples = []
    for index in range(runs + 1):
        array = arrays[index % len(arrays)]
        started = time.perf_counter()
        face_recognition.face_encodings(array, face_recognition.face_locations(array, number_of_times_to_upsample=0))
        if index:  # the first call warms up
            samples.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(samples)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def run(args: argparse.Namespace) -> int:
    if not (FACES / "people").is_dir():
        raise SystemExit(f"test photos not found at {FACES}")
    identity = FACES / args.identity
    engine = get_engine()
    backend = "PostgreSQL" if args.database_url else "SQLite"

    with tempfile.TemporaryDirectory(prefix="checkin-bench-") as tmp, scratch_database(args.database_url) as db_url:
        instance = Path(tmp) / "instance"
        env = server_env(instance, db_url)
        prepare_instance(env)

        port = free_port()
        with running_server(env, port, args.workers, args.threads, Path(tmp) / "server.log"):
            api = Api(port)
            officer = api.login(OFFICER, OFFICER_PASSWORD)
            person_id = create_person(api, officer, PERSON)
            references, probes = enrol(api, officer, person_id, numbered(identity), args.references)
            if not probes:
                raise SystemExit("no photo of the identity is left to check in with")

            print(f"building {args.n + 2 * args.workers} photos of {PHONE_SIZE[0]}x{PHONE_SIZE[1]} "
                  f"from {len(probes)} probe(s) of {identity.name} ...", flush=True)
            canvases = [phone_canvas(p.read_bytes(), engine) for p in probes]
            with ThreadPoolExecutor(max_workers=2) as pool:
                photos = list(pool.map(lambda i: phone_jpeg(canvases[i % len(canvases)], i),
                                       range(args.n + 2 * args.workers + args.serial)))
            warmup, photos = photos[: 2 * args.workers], photos[2 * args.workers :]
            photos, serial_photos = photos[: args.n], photos[args.n :]

            person = api.login(PERSON, PERSON_PASSWORD, device_id="bench-phone")
            # Every worker loads the face models on its first check-in; keep that out of the figures.
            send_all(api, person, warmup, max(args.concurrency, args.workers))
            load_before = os.getloadavg()[0]
            replies, wall = send_all(api, person, photos, args.concurrency)
            load_after = os.getloadavg()[0]
            # One phone at a time: what a single check-in costs end to end (upload, server, answer).
            serial, _ = send_all(api, person, serial_photos, 1) if serial_photos else ([], 0.0)

        costs = verification_cost(engine, photos, references)
        bare_ms = bare_face_recognition_ms(photos)

    failed = [r for r in replies if r.status != 201]
    statuses = Counter(r.body["status"] if r.status == 201 else f"HTTP {r.status}" for r in replies)
    latencies = [r.seconds for r in replies]
    median, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    throughput = len(replies) / wall
    cost = statistics.mean(costs)
    # The machine is the limit: with OpenCV spreading one call over several cores, the ideal is the cores (or the
    # workers, if fewer) divided by the CPU time one verification needs.
    lanes = min(args.workers, os.cpu_count() or 1)
    target = 0.8 * lanes / cost
    mb = statistics.mean(len(p) for p in photos) / 1e6
    print(f"\n== check-in benchmark ({backend}, {args.workers} workers x {args.threads} threads, "
          f"{args.concurrency} clients) ==")
    print(f"machine              {os.cpu_count()} CPUs, 1-min load average {load_before:.1f} before and "
          f"{load_after:.1f} after the run (other processes make every figure noisier)")
    print(f"check-ins            {len(replies)} ({mb:.1f} MB JPEG each, {len(references)} references); "
          f"outcomes {dict(statuses)}")
    print(f"latency              median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms")
    print(f"throughput           {throughput:.2f} check-ins/s ({wall:.1f} s wall)")
    print(f"verification only    {cost * 1000:.0f} ms CPU per photo in-process (median "
          f"{statistics.median(costs) * 1000:.0f} ms) -> ideal {lanes / cost:.2f}/s on {lanes} cores")
    throughput_ok = throughput >= target
    p95_ok = p95 < 1.0
    print(f"target throughput    >= {target:.2f}/s (80% of cores / CPU cost of one verification): "
          f"{'met' if throughput_ok else 'MISSED'} ({throughput / (lanes / cost) * 100:.0f}% of ideal)")
    print(f"target p95           < 1000 ms: {'met' if p95_ok else 'MISSED'}")
    if serial:
        single = statistics.median(r.seconds for r in serial) * 1000.0
        print(f"one client           median {single:.0f} ms per 12 MP check-in over HTTP ({len(serial)} sent one "
              f"at a time); bare face_recognition HOG + encode at 640 px in the same run {bare_ms:.0f} ms -> "
              f"ratio {single / bare_ms:.2f}x (target <= 1.0x)")
        failed += [r for r in serial if r.status != 201]
    if failed:
        print(f"failed requests      {len(failed)}: {failed[0].status} {failed[0].body!r:.300}")
    return 0 if (throughput_ok and p95_ok and not failed) or not args.check else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--checkins", dest="n", type=int, default=100, help="check-ins to send")
    # Two clients per worker: with one, a worker idles while its client uploads the next 2 MB photo.
    parser.add_argument("-c", "--concurrency", type=int, default=4, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker (serve's default)")
    parser.add_argument("--references", type=int, default=3, choices=range(3, 6), help="reference photos (3-5)")
    parser.add_argument("--identity", default="people/Colin_Powell", help="identity folder under ../shared/faces")
    parser.add_argument("--database-url", default=None,
                        help="postgresql+psycopg:// URL of a server to run on (a scratch database is used)")
    parser.add_argument("--serial", type=int, default=15, help="check-ins sent one at a time after the load run")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed or a request failed")
    args = parser.parse_args()
    if args.n < 1 or args.concurrency < 1 or args.workers < 1:
        parser.error("counts must be positive")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
