"""Time remote video inspection and liveness measurement on a 10 s 640x360 clip, pinned to one core.

Run: .venv/bin/python bench/video_bench.py [--runs 3] [--all-cores]
The clip is the shared short_hamilton_clip.mp4 (9.2 s) with its first 25 frames appended, re-encoded (mp4v) to
exactly 300 frames at 29.97 fps; liveness is timed on its 4 s close-up of the singer (frames 90-209), and on a real
phone selfie challenge: selfie_actions_real.mp4 from 1.2 to 8.6 s (368x656, he turns to his own left and then to his
own right), checked against ["turn_left", "turn_right"].
Needs ../shared/faces beside the repository (never copied into it).
Wall times depend on what else runs on the machine; CPU times less so: both are printed, with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from verification import liveness, video  # noqa: E402  (after the path set-up above)
from verification.engine import get_engine  # noqa: E402

CLIP = REPO_ROOT.parent / "shared" / "faces" / "video" / "short_hamilton_clip.mp4"
SELFIE = REPO_ROOT.parent / "shared" / "faces" / "video" / "selfie_actions_real.mp4"
SELFIE_FRAMES = (36, 258)  # 1.2 s to 8.6 s at 30 fps
SINGER_FRAMES = (97, 143, 187)
TARGET_S = 5.0


def _write(path: Path, frames: list) -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 29.97, (640, 360))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path.read_bytes()


def _clips(folder: Path) -> tuple[bytes, bytes, list]:
    """The 10 s clip, a 4 s clip of the singer's close-up (a face in every frame, like a selfie), and the frames."""
    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    frames = frames + frames[: 300 - len(frames)]
    return _write(folder / "ten_seconds.mp4", frames), _write(folder / "close_up.mp4", frames[90:210]), frames


def _selfie_challenge(folder: Path) -> bytes:
    """Frames SELFIE_FRAMES of the real selfie, re-encoded (mp4v) at the source's size and rate."""
    capture = cv2.VideoCapture(str(SELFIE))
    fps = capture.get(cv2.CAP_PROP_FPS)
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    path = folder / "selfie_challenge.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    index = 0
    while index < SELFIE_FRAMES[1]:
        ok, frame = capture.read()
        if not ok:
            break
        if index >= SELFIE_FRAMES[0]:
            writer.write(frame)
        index += 1
    capture.release()
    writer.release()
    return path.read_bytes()


def _timed(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    walls, cpus, result = [], [], None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--all-cores", action="store_true", help="do not pin the process to one core")
    args = parser.parse_args()
    for needed in (CLIP, SELFIE):
        if not needed.is_file():
            sys.exit(f"{needed} not found (../shared/faces must sit beside the repository)")
    if not args.all_cores:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        cv2.setNumThreads(1)
    engine = get_engine()
    limits = video.VideoLimits()
    with tempfile.TemporaryDirectory() as folder:
        data, close_up, frames = _clips(Path(folder))
        selfie = _selfie_challenge(Path(folder))
    ratio = engine.settings.significant_face_ratio
    references = [video.significant_faces(engine.encode_frame(cv2.cvtColor(frames[n], cv2.COLOR_BGR2RGB)), ratio)[0]
                  .encoding for n in SINGER_FRAMES]
    engine.encode_frame(cv2.cvtColor(frames[0], cv2.COLOR_BGR2RGB))  # warm-up
    engine.models  # noqa: B018  (dlib's HOG and landmarks load on first use; not part of the timings)

    info = video.probe_video(data, limits)
    decode_wall, decode_cpu, samples = _timed(
        lambda: sum(1 for _ in video.sample_frames(data, limits=limits, fps=3.0, max_frames=36)), args.runs)
    inspect_wall, inspect_cpu, inspection = _timed(
        lambda: video.inspect_clip(data, engine=engine, references=references, limits=limits), args.runs)
    summary = inspection.summary  # type: ignore[attr-defined]
    sampled = summary["frames_sampled"]
    live_wall, live_cpu, measures = _timed(
        lambda: video.liveness_measures(close_up, engine=engine, limits=limits), args.runs)
    selfie_wall, selfie_cpu, selfie_measures = _timed(
        lambda: video.liveness_measures(selfie, engine=engine, limits=limits), args.runs)
    challenge = liveness.check_actions(selfie_measures, ["turn_left", "turn_right"],  # type: ignore[arg-type]
                                       verify_threshold=engine.settings.verify,
                                       reject_threshold=engine.settings.reject)

    print(f"engine {engine.version}: bands {engine.settings.verify:.2f} / {engine.settings.reject:.2f}")
    print(f"clip: {info.width}x{info.height}, {info.frame_count} frames, {info.duration_s:.2f} s, "
          f"{len(data) / 1024:.0f} KiB; cores: {'all' if args.all_cores else 1}; "
          f"load average {os.getloadavg()[0]:.2f}; median of {args.runs} runs")
    print(f"decode + sample 3/s : {decode_wall:6.2f} s wall {decode_cpu:6.2f} s CPU  ({samples} samples, "
          f"{info.frame_count / decode_wall:.0f} decoded frames/s)")
    print(f"inspection          : {inspect_wall:6.2f} s wall {inspect_cpu:6.2f} s CPU  ({sampled} frames sampled, "
          f"{sampled / inspect_wall:.1f} analysed frames/s, {1000 * inspect_wall / sampled:.0f} ms/frame) "
          f"-> band {summary['band']}, {summary['frames_matching']} frames matching; "
          f"target < {TARGET_S:.0f} s: {'met' if inspect_wall < TARGET_S else 'MISSED'}")
    count = len(measures)  # type: ignore[arg-type]
    print(f"liveness, 4 s at 10/s: {live_wall:6.2f} s wall {live_cpu:6.2f} s CPU  ({count} samples, "
          f"{1000 * live_wall / count:.0f} ms/sample; a face in every frame, whole-frame search every 0.4 s)")
    count = len(selfie_measures)  # type: ignore[arg-type]
    searched = sum(1 for m in selfie_measures if m.faces is not None)  # type: ignore[attr-defined]
    print(f"selfie challenge 7.4 s: {selfie_wall:6.2f} s wall {selfie_cpu:6.2f} s CPU  ({count} samples, "
          f"{searched} whole-frame searches, {1000 * selfie_wall / count:.0f} ms/sample) -> turn_left, turn_right "
          f"{'passed' if challenge.passed else 'FAILED at ' + str(challenge.failed_step)}")


if __name__ == "__main__":
    main()
