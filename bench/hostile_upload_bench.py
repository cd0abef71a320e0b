"""Hostile uploads against `checkin serve`: tiny files that declare huge images, sent by 8 clients for ~20 s each.

Starts the real server (gunicorn) on a scratch instance like bench/checkin_bench.py (whose helpers it imports),
creates an office, an officer and a person, warms every worker with a real check-in (so the face models are loaded
and counted in the baseline), then runs phases of C concurrent clients sending one kind of file as check-ins for
S seconds while sampling the resident memory of every gunicorn worker (/proc/<pid>/status VmRSS every 20 ms; the
kernel's peak, VmHWM, is reset before each phase through /proc/<pid>/clear_refs). Prints per phase: requests, status
codes, p50/p95 latency and peak worker memory, absolute and over the warm baseline; target: no worker grows by 300 MB
with 8 concurrent hostile PNGs (a few-KB PNG declaring 8000 x 8000 pixels, which used to cost ~600 MB and 1 s to
decode). The face models (shared with the arbiter, which loads them before it forks) keep a warm worker's RSS at
~330 MB, its PSS at ~195 MB, so an absolute 300 MB RSS cannot be met by any upload limit.

Run: .venv/bin/python bench/hostile_upload_bench.py [--seconds 20] [-c 8] [--workers 2] [--threads 2] [--all]
Without --all only the hostile PNG phase and the mixed phase run. Needs ../shared/faces for the warm-up photo.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checkin_bench import (  # noqa: E402  (bench/ is not a package)
    FACES,
    OFFICER,
    OFFICER_PASSWORD,
    PERSON,
    PERSON_PASSWORD,
    Api,
    Reply,
    create_person,
    free_port,
    percentile,
    prepare_instance,
    running_server,
    server_env,
)

TARGET_MB = 300.0


# ------------------------------------------------------------------------------------------------ hostile files
def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def hostile_png() -> bytes:
    """8000 x 8000 (64 MP) of one grey: ~60 KB."""
    return _save(Image.new("L", (8000, 8000), 128), "PNG", optimize=True)


def png_50mp() -> bytes:
    """An RGB PNG of 8660 x 5774 (50 MP, the old global cap): ~150 KB."""
    return _save(Image.new("RGB", (8660, 5774), (120, 130, 140)), "PNG", optimize=True)


def huge_webp() -> bytes:
    """A lossless WEBP of 8000 x 8000 (64 MP): a few KB."""
    return _save(Image.new("RGB", (8000, 8000), (120, 130, 140)), "WEBP", lossless=True)


def huge_heic() -> bytes:
    """A real 64 x 64 HEIC whose header ("ispe") declares 8200 x 6400 (52.5 MP)."""
    heic = bytearray(_save(Image.new("RGB", (64, 64), (120, 130, 140)), "HEIF"))
    at = heic.find(b"ispe")
    heic[at + 8 : at + 16] = struct.pack(">II", 8200, 6400)
    return bytes(heic)


def largest_allowed_png() -> bytes:
    """The worst PNG still decoded: 4096 x 4096 RGBA (the PNG cap) of noise-free colour, ~70 KB."""
    return _save(Image.new("RGBA", (4096, 4096), (120, 130, 140, 255)), "PNG", optimize=True)


def heic_24mp() -> bytes:
    """The largest HEIC still decoded: 5712 x 4284 (iPhone's default 24 MP) of one colour, a few KB."""
    return _save(Image.new("RGB", (5712, 4284), (120, 130, 140)), "HEIF", quality=30)


def jpeg_200mp() -> bytes:
    """A baseline JPEG of 16320 x 12240 (200 MP, the JPEG cap), decoded at 1/8 scale: ~3 MB."""
    return _save(Image.new("RGB", (16320, 12240), (120, 130, 140)), "JPEG", quality=80)


HOSTILE: dict[str, Callable[[], bytes]] = {
    "png_64mp": hostile_png,
    "png_50mp": png_50mp,
    "webp_64mp": huge_webp,
    "heic_52mp_header": huge_heic,
    "png_16mp_allowed": largest_allowed_png,
    "heic_24mp_allowed": heic_24mp,
    "jpeg_200mp_allowed": jpeg_200mp,
}


# ------------------------------------------------------------------------------------------------ worker memory
def gunicorn_workers(port: int) -> list[int]:
    """Pids of the gunicorn workers serving port: children of the master (workers share the master's cmdline)."""
    serving: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"serve" in cmdline and str(port).encode() in cmdline:
            serving[int(entry.name)] = ppid
    return sorted(pid for pid, ppid in serving.items() if ppid in serving)


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def reset_peak(pid: int) -> None:
    # "5" resets VmHWM to the current RSS (Linux >= 4.0); the processes are our own children.
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def pss_kb(pid: int) -> int:
    """Proportional set size: private pages plus this process's share of the pages it shares (the models)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


@dataclass
class Sampler:
    """Samples VmRSS and PSS of the workers every `interval` seconds in a thread; keeps the maximum per pid."""

    pids: list[int]
    interval: float = 0.02
    peak_kb: dict[int, int] = field(default_factory=dict)
    peak_pss_kb: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        for pid in self.pids:
            reset_peak(pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for pid in self.pids:  # the kernel's own peak catches spikes between two samples
            try:
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), status_kb(pid, "VmHWM"))
            except OSError:
                pass

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                try:
                    self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), status_kb(pid, "VmRSS"))
                    self.peak_pss_kb[pid] = max(self.peak_pss_kb.get(pid, 0), pss_kb(pid))
                except OSError:
                    pass
            time.sleep(self.interval)


# ------------------------------------------------------------------------------------------------ phases
def hammer(api: Api, token: str, files: list[bytes], concurrency: int, seconds: float) -> list[Reply]:
    """`concurrency` clients send the files round-robin as check-ins until `seconds` have passed."""
    replies: list[Reply] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(offset: int) -> None:
        index = offset
        while time.monotonic() < deadline:
            reply = api.checkin(token, files[index % len(files)])
            index += 1
            with lock:
                replies.append(reply)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replies


def report(name: str, replies: list[Reply], sampler: Sampler, seconds: float, baseline: dict[int, int]) -> bool:
    """Print one phase; True when every worker's peak RSS stayed under TARGET_MB."""
    codes = Counter(str(r.status) + ("" if r.status == 201 or not isinstance(r.body, dict)
                                     else f" {r.body.get('code', '')}") for r in replies)
    latencies = [r.seconds * 1000.0 for r in replies] or [0.0]
    peak = max(sampler.peak_kb.values(), default=0) / 1024.0
    growth = max((kb - baseline.get(pid, 0) for pid, kb in sampler.peak_kb.items()), default=0) / 1024.0
    per_worker = ", ".join(f"{baseline.get(pid, 0) / 1024:.0f} -> {kb / 1024:.0f}"
                           for pid, kb in sorted(sampler.peak_kb.items()))
    print(f"{name:<19} {len(replies):>5} requests ({len(replies) / seconds:6.1f}/s)  p50 "
          f"{statistics.median(latencies):5.0f} ms  p95 {percentile(latencies, 0.95):5.0f} ms  peak worker "
          f"RSS {peak:4.0f} MB (+{growth:.0f} MB; per worker {per_worker}), peak worker PSS "
          f"{max(sampler.peak_pss_kb.values(), default=0) / 1024:4.0f} MB  {dict(codes)}")
    return peak < TARGET_MB


def run(args: argparse.Namespace) -> int:
    warm_photo = next((FACES / "people").glob("*/1.jpg"), None)
    if warm_photo is None:
        raise SystemExit(f"test photos not found at {FACES}")
    print("building hostile files ...", flush=True)
    files = {name: make() for name, make in HOSTILE.items()}
    for name, data in files.items():
        print(f"  {name:<20} {len(data) / 1024:8.1f} KB")

    with tempfile.TemporaryDirectory(prefix="checkin-hostile-") as tmp:
        instance = Path(tmp) / "instance"
        env = server_env(instance, None)
        prepare_instance(env)
        port = free_port()
        with running_server(env, port, args.workers, args.threads, Path(tmp) / "server.log"):
            api = Api(port)
            officer = api.login(OFFICER, OFFICER_PASSWORD)
            create_person(api, officer, PERSON)
            person = api.login(PERSON, PERSON_PASSWORD, device_id="bench-phone")
            workers = gunicorn_workers(port)
            if len(workers) != args.workers:
                raise SystemExit(f"found worker pids {workers}, expected {args.workers}")
            # Load the face models in every worker: real check-ins from more clients than workers x threads.
            warm = hammer(api, person, [warm_photo.read_bytes()], args.workers * args.threads * 2, 3.0)
            baseline = {pid: status_kb(pid, "VmRSS") for pid in workers}
            print(f"\nwarm-up: {len(warm)} real check-ins, codes {dict(Counter(r.status for r in warm))}; "
                  f"worker RSS {', '.join(f'{kb / 1024:.0f} MB' for kb in baseline.values())}, PSS "
                  f"{', '.join(f'{pss_kb(pid) / 1024:.0f} MB' for pid in workers)}")
            print(f"\n== hostile uploads: {args.workers} workers x {args.threads} threads, {args.concurrency} "
                  f"clients, {args.seconds:.0f} s per phase, {os.cpu_count()} CPUs ==")
            phases: list[tuple[str, list[bytes]]] = [("png_64mp", [files["png_64mp"]])]
            if args.all:
                phases += [(name, [data]) for name, data in files.items() if name != "png_64mp"]
            phases.append(("mixed", list(files.values())))
            results = []
            for name, payload in phases:
                with Sampler(workers) as sampler:
                    replies = hammer(api, person, payload, args.concurrency, args.seconds)
                results.append(report(name, replies, sampler, args.seconds, baseline))
    print(f"\ntarget: every worker's peak RSS under {TARGET_MB:.0f} MB with {args.concurrency} concurrent hostile "
          f"PNGs: {'met' if results[0] else 'MISSED'} (warm baseline RSS {max(baseline.values()) / 1024:.0f} MB; RSS "
          "counts in full the model pages the workers share with the arbiter, PSS counts each worker's share)")
    return 0 if results[0] or not args.check else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--all", action="store_true", help="also one phase per hostile file")
    parser.add_argument("--check", action="store_true", help="exit 1 when the PNG target is missed")
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
