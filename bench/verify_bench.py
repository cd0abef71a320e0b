"""Time the face engine on a 12 MP phone photo against face_recognition's own calls.

Run: .venv/bin/python bench/verify_bench.py [--runs 9] [--default-runs 2]
Needs ../shared/faces beside the repository (the photos are never copied into it).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from verification.engine import get_engine, warm_up  # noqa: E402  (after the path set-up above)
from verification.models import onnx_model_files  # noqa: E402

FACES = REPO_ROOT.parent / "shared" / "faces"
SOURCE = FACES / "edge" / "large_highres_3061x4600.jpg"
PHONE_SIZE = (3024, 4032)  # width, height of a 12 MP portrait
FACE_SHARE = 0.33  # face box width as a share of the photo width: a selfie at arm's length


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(samples)


def make_phone_photo() -> tuple[bytes, bytes]:
    """Build a 3024x4032 JPEG (quality 90) with a realistically sized face, and a 640 px version of it."""
    engine = get_engine()
    source = SOURCE.read_bytes()
    face_px = engine.analyze(source, purpose="checkin").quality["face_px"]
    rgb = np.asarray(Image.open(io.BytesIO(source)).convert("RGB"))
    scale = FACE_SHARE * PHONE_SIZE[0] / face_px
    resized = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # Pad with mirrored scenery rather than a flat colour so the JPEG has a phone photo's size and texture.
    pad_x = max(0, PHONE_SIZE[0] - resized.shape[1])
    pad_y = max(0, PHONE_SIZE[1] - resized.shape[0])
    canvas = cv2.copyMakeBorder(
        resized, pad_y // 2, pad_y - pad_y // 2, pad_x // 2, pad_x - pad_x // 2, cv2.BORDER_REFLECT
    )[: PHONE_SIZE[1], : PHONE_SIZE[0]]
    noise = np.random.default_rng(1).normal(0, 2.0, canvas.shape)
    canvas = np.clip(canvas + noise, 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[271], exif[272] = "BenchPhone", "Model 12"
    big, small = io.BytesIO(), io.BytesIO()
    Image.fromarray(canvas).save(big, "JPEG", quality=90, exif=exif)
    Image.fromarray(canvas).resize((480, 640), Image.Resampling.LANCZOS).save(small, "JPEG", quality=90)
    return big.getvalue(), small.getvalue()


def main() -> None:
    """Print median timings and the ratios the targets are stated in."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--default-runs", type=int, default=2)
    args = parser.parse_args()
    if not SOURCE.exists():
        sys.exit(f"test photos not found at {FACES}")

    engine = get_engine()
    warm_up(engine)
    import face_recognition  # already imported (and its Pillow side effect undone) by the engine

    big, small = make_phone_photo()
    refs = {key: [engine.analyze(small, purpose="checkin").templates[key] * (1.0 + 0.01 * i) for i in range(5)]
            for key in engine.template_keys}
    size = f"{PHONE_SIZE[0]}x{PHONE_SIZE[1]}"
    print(f"engine {engine.version}; 12 MP photo: {len(big) / 1e6:.1f} MB JPEG, {size}; 640 px photo: {len(small)} B")

    results: dict[str, dict[str, float]] = {}
    for label, data in (("12MP", big), ("640px", small)):
        engine.analyze(data, purpose="checkin")  # warm-up
        parts: dict[str, list[float]] = {"decode": [], "detect": [], "encode": [], "whole": []}
        face_px = 0
        for _ in range(args.runs):
            started = time.perf_counter()
            analysis = engine.analyze(data, purpose="checkin")
            engine.decide(analysis.templates, refs)
            parts["whole"].append((time.perf_counter() - started) * 1000.0)
            for key in ("decode", "detect", "encode"):
                parts[key].append(analysis.timings_ms[key])
            face_px = analysis.quality["face_px"]
        templates = engine.analyze(data, purpose="checkin").templates
        match_ms = _median_ms(lambda t=templates: engine.decide(t, refs), 200)
        results[label] = {k: statistics.median(v) for k, v in parts.items()} | {"match": match_ms}
        r = results[label]
        print(
            f"engine {label:>5}: decode {r['decode']:6.1f} ms  detect {r['detect']:6.1f} ms  "
            f"templates {r['encode']:6.1f} ms  match {r['match'] * 1000:5.0f} us  "
            f"analyze+decide {r['whole']:6.1f} ms  (face {face_px} px)"
        )

    # The bare model calls, on the very same 640 px pixels, with nothing added: face_recognition's HOG without
    # upsampling + its encoder, and YuNet + SFace alignCrop + feature (one instance, as the library documents).
    array640 = np.asarray(Image.open(io.BytesIO(small)).convert("RGB"))

    def bare_dlib() -> None:
        locations = face_recognition.face_locations(array640, number_of_times_to_upsample=0)
        face_recognition.face_encodings(array640, locations)

    files = onnx_model_files()
    bgr640 = cv2.cvtColor(array640, cv2.COLOR_RGB2BGR)
    yunet = cv2.FaceDetectorYN.create(str(files.yunet), "", (bgr640.shape[1], bgr640.shape[0]))
    sface = cv2.FaceRecognizerSF.create(str(files.sface), "")

    def bare_sface() -> None:
        _, rows = yunet.detect(bgr640)
        for row in rows:
            sface.feature(sface.alignCrop(bgr640, row))

    for fn in (bare_dlib, bare_sface):
        fn()
    bare = _median_ms(bare_dlib, args.runs)
    bare_cv = _median_ms(bare_sface, args.runs)
    print(f"bare face_recognition HOG (no upsampling) + encodings on the 640 px array: {bare:6.1f} ms")
    print(f"bare YuNet + SFace (alignCrop + feature) on the 640 px array:            {bare_cv:6.1f} ms")

    # load_image_file wants a path: write the photo to a temporary file outside the repository.
    with tempfile.NamedTemporaryFile(suffix=".jpg", delete=False) as handle:
        handle.write(big)
        big_path = Path(handle.name)
    try:

        def defaults_full() -> None:
            image = face_recognition.load_image_file(str(big_path))
            locations = face_recognition.face_locations(image)
            face_recognition.face_encodings(image, locations)

        full = _median_ms(defaults_full, args.default_runs)
    finally:
        big_path.unlink(missing_ok=True)
    print(f"face_recognition defaults on the 12 MP file (load+locations+encodings): {full:8.1f} ms")

    whole = results["12MP"]["whole"]
    decode = results["12MP"]["decode"]
    print(f"ratio engine 12 MP / bare face_recognition 640 px: {whole / bare:.2f}x (target <= 1.0x)")
    print(f"ratio engine 12 MP / bare YuNet + SFace 640 px:    {whole / bare_cv:.2f}x (target <= 1.3x)")
    print(f"  of which decoding the 12 MP JPEG at 1/4 scale:    {decode:.1f} ms; "
          f"without it {(whole - decode) / bare_cv:.2f}x")
    print(f"speed-up vs face_recognition defaults on 12 MP: {full / whole:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
