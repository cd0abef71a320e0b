"""Building test clips from photos and cutting frames out of the shared clip."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

CLIP_SIZE = (640, 360)


def on_canvas(photo: Path, size: tuple[int, int] = CLIP_SIZE) -> np.ndarray:
    """A photo (BGR) centred on a black frame of size, shrunk to fit when larger."""
    image = cv2.imread(str(photo))
    assert image is not None, photo
    width, height = size
    factor = min(1.0, width / image.shape[1], height / image.shape[0])
    if factor < 1.0:
        image = cv2.resize(image, (int(image.shape[1] * factor), int(image.shape[0] * factor)))
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
    canvas[top : top + image.shape[0], left : left + image.shape[1]] = image
    return canvas


def write_clip(path: Path, frames: Sequence[np.ndarray], fps: float = 30.0, fourcc: str = "mp4v") -> bytes:
    """Encode BGR frames with OpenCV (mp4v in .mp4, MJPG in .avi) and return the file's bytes."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path.read_bytes()


def still_clip(path: Path, photo: Path, seconds: float = 2.0, fps: float = 30.0, fourcc: str = "mp4v") -> bytes:
    """A 'video' that is one photo repeated: what holding a picture up to the camera (or replaying it) gives."""
    frame = on_canvas(photo)
    return write_clip(path, [frame] * round(seconds * fps), fps, fourcc)


def read_frames(clip: Path, numbers: Sequence[int]) -> dict[int, np.ndarray]:
    """The given frames of a clip as RGB arrays, decoded in order."""
    wanted = set(numbers)
    capture = cv2.VideoCapture(str(clip))
    found: dict[int, np.ndarray] = {}
    index = 0
    while wanted - found.keys():
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            found[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        index += 1
    capture.release()
    return found


def cut_clip(path: Path, source: Path, segments: Sequence[tuple[float, float]], *, fps: float | None = None,
             size: tuple[int, int] | None = None, fourcc: str = "mp4v") -> bytes:
    """Join [start, end) second ranges of a source clip, in the given order, into a new clip; return its bytes.

    Frames are taken by their time in the source and written at `fps` (default: the source's), resized to
    `size` (width, height; default: the source's). Several sources: cut each, then `join_clips`.
    """
    return join_clips(path, [(source, segments)], fps=fps, size=size, fourcc=fourcc)


def join_clips(path: Path, parts: Sequence[tuple[Path, Sequence[tuple[float, float]]]], *, fps: float | None = None,
               size: tuple[int, int] | None = None, fourcc: str = "mp4v") -> bytes:
    """Like cut_clip, with segments from several sources (the first source sets the default fps and size)."""
    first = cv2.VideoCapture(str(parts[0][0]))
    out_fps = fps or first.get(cv2.CAP_PROP_FPS)
    out_size = size or (int(first.get(cv2.CAP_PROP_FRAME_WIDTH)), int(first.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    first.release()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), out_fps, out_size)
    assert writer.isOpened(), f"OpenCV cannot write {fourcc}"
    for source, segments in parts:
        for start, end in segments:
            _copy_segment(writer, source, start, end, out_fps, out_size)
    writer.release()
    return path.read_bytes()


def _copy_segment(writer: cv2.VideoWriter, source: Path, start: float, end: float, fps: float,
                  size: tuple[int, int]) -> None:
    """Write [start, end) of the source at fps: each output instant gets the source frame on screen then."""
    capture = cv2.VideoCapture(str(source))
    source_fps = capture.get(cv2.CAP_PROP_FPS)
    index, written = 0, 0
    wanted = start
    while wanted < end - 1e-6:
        ok, frame = capture.read()
        if not ok:
            break
        index += 1  # the frame just read is on screen until index / source_fps
        if wanted >= index / source_fps:
            continue
        if frame.shape[1::-1] != size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        while wanted < index / source_fps and wanted < end - 1e-6:
            writer.write(frame)
            written += 1
            wanted = start + written / fps
    capture.release()
    assert written > 0, f"{source.name}: nothing between {start} and {end} s"
