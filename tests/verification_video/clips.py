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
