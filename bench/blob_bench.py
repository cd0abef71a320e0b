"""Time the blob stores: put, get and rewrap of 300 KB selfies on the filesystem store and on an S3 endpoint.

    .venv/bin/python bench/blob_bench.py                 # filesystem + moto's S3 server on a local port
    .venv/bin/python bench/blob_bench.py --endpoint http://127.0.0.1:9000 --bucket checkin-bench   # a real MinIO

Prints per-operation latency (p50/p95, ms) and throughput with N threads. Against moto the S3 figures measure the
SDK, the sealing and a local HTTP server in Python, not a real object store: they bound the client-side cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.blobs import FilesystemBlobStore, S3BlobStore  # noqa: E402  (after the path set-up above)
from storage.crypto import Keyring, decode_key, generate_key  # noqa: E402


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _report(name: str, samples: list[float], wall: float, threads: int) -> None:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"  {name:<7} p50 {statistics.median(ordered):6.1f} ms  p95 {p95:6.1f} ms  "
          f"{len(samples) / wall:7.1f}/s with {threads} threads")


def bench(label: str, store: Any, count: int, size: int, threads: int) -> None:
    payloads = [os.urandom(size) for _ in range(count)]
    keys: list[str] = []
    print(f"{label}: {count} blobs of {size // 1024} KB")

    def put(data: bytes) -> float:
        holder: list[str] = []
        ms = _timed(lambda: holder.append(store.put(data, content_type="image/jpeg").key))
        keys.append(holder[0])
        return ms

    for name, fn, items in (("put", put, payloads),):
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            samples = list(pool.map(fn, items))
        _report(name, samples, time.perf_counter() - start, threads)
    for name, op in (("get", store.get), ("rewrap", store.rewrap)):
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            samples = list(pool.map(lambda key, op=op: _timed(lambda: op(key)), keys))
        _report(name, samples, time.perf_counter() - start, threads)
    for key in keys:
        store.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size-kb", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--endpoint", default="", help="an S3 endpoint (default: start moto's server)")
    parser.add_argument("--bucket", default="checkin-bench")
    args = parser.parse_args()
    old, new = decode_key(generate_key()), decode_key(generate_key())
    # The store writes with "old"; rewrap moves every blob to "new", as `checkin rotate-keys` does.
    writing, rotating = Keyring({"old": old}), Keyring([("old", old), ("new", new)])
    size = args.size_kb * 1024

    with tempfile.TemporaryDirectory() as folder:
        store = FilesystemBlobStore(folder, writing)
        bench("filesystem", _Rotating(store, FilesystemBlobStore(folder, rotating)), args.count, size, args.threads)

    server = None
    endpoint = args.endpoint
    if not endpoint:
        import logging

        from moto.server import ThreadedMotoServer

        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(name, "bench")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
    try:
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        if server is not None:
            client.create_bucket(Bucket=args.bucket)
        s3 = S3BlobStore(bucket=args.bucket, key=writing, prefix="bench", endpoint_url=endpoint, region="us-east-1")
        s3_rotating = S3BlobStore(bucket=args.bucket, key=rotating, prefix="bench", endpoint_url=endpoint,
                                  region="us-east-1")
        bench(f"s3 ({'moto' if server else endpoint})", _Rotating(s3, s3_rotating), args.count, size, args.threads)
    finally:
        if server is not None:
            server.stop()


class _Rotating:
    """put/get/delete through one store, rewrap through the same place with the rotated keyring."""

    def __init__(self, store: Any, rotated: Any) -> None:
        self.put, self.get, self.delete, self.rewrap = store.put, store.get, store.delete, rotated.rewrap


if __name__ == "__main__":
    main()
