"""Measurements of a face region that decide whether a photo is good enough to trust."""

from __future__ import annotations

import math

import cv2
import numpy as np

# Blur is measured on the face scaled to this side, so the number means the same for a 60 px face in a
# webcam frame and a 900 px face in a 12 MP photo.
BLUR_CROP_PX = 128
# Contrast is normalised to this standard deviation (grey levels) before the Laplacian, so exposure is
# judged by the brightness gates and not a second time by the blur gate.
BLUR_REFERENCE_STD = 50.0

Box = tuple[int, int, int, int]  # top, right, bottom, left


def to_luma(rgb: np.ndarray) -> np.ndarray:
    """Return Rec. 601 luma as float32."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def crop(gray: np.ndarray, box: Box) -> np.ndarray:
    """Cut the box out of an image, clipped to its borders."""
    top, right, bottom, left = box
    h, w = gray.shape[:2]
    return gray[max(top, 0) : min(bottom, h), max(left, 0) : min(right, w)]


def brightness(face: np.ndarray) -> float:
    """Mean luma (0-255) of a face crop."""
    return float(face.mean()) if face.size else 0.0


def blur_score(face: np.ndarray) -> float:
    """Variance of the Laplacian on the face at a fixed size and contrast (higher is sharper)."""
    if face.size == 0 or min(face.shape[:2]) < 2:
        return 0.0
    interpolation = cv2.INTER_AREA if min(face.shape[:2]) > BLUR_CROP_PX else cv2.INTER_LINEAR
    fixed = cv2.resize(face, (BLUR_CROP_PX, BLUR_CROP_PX), interpolation=interpolation).astype(np.float64)
    std = float(fixed.std())
    if std < 1e-6:
        return 0.0
    normalised = (fixed - fixed.mean()) * (BLUR_REFERENCE_STD / std)
    return float(cv2.Laplacian(normalised, cv2.CV_64F).var())


def box_side(box: Box) -> float:
    """Mean of a box's width and height."""
    top, right, bottom, left = box
    return ((right - left) + (bottom - top)) / 2.0


def eye_centres(points: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the two eyes from 68-point landmarks (image-left eye first)."""
    pts = np.asarray(points, dtype=np.float64)
    return pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)


def inter_eye_px(points: list[tuple[int, int]]) -> float:
    """Distance between the eye centres in pixels."""
    a, b = eye_centres(points)
    return float(np.linalg.norm(a - b))


def yaw_degrees(points: list[tuple[int, int]]) -> float:
    """Rough head yaw from where the nose tip sits between the jaw edges (0 = frontal)."""
    pts = np.asarray(points, dtype=np.float64)
    left, right, nose = pts[0, 0], pts[16, 0], pts[30, 0]
    width = right - left
    if width <= 0:
        return 90.0
    # Treat the head as a cylinder: the nose tip moves by sin(yaw) of the half-width.
    offset = (nose - (left + right) / 2.0) / (width / 2.0)
    return math.degrees(math.asin(max(-1.0, min(1.0, offset))))


def yaw_from_five(points5: np.ndarray) -> float:
    """Rough head yaw from five landmarks: how far the nose tip sits from the eyes' midline (0 = frontal)."""
    pts = np.asarray(points5, dtype=np.float64)
    eye_a, eye_b, nose = pts[0], pts[1], pts[2]
    half = float(np.linalg.norm(eye_b - eye_a)) / 2.0
    if half <= 0:
        return 90.0
    axis = (eye_b - eye_a) / (2.0 * half)
    # The nose tip stands about one half eye-distance in front of the eye plane, so its sideways offset over that
    # depth is sin(yaw).
    offset = float(np.dot(nose - (eye_a + eye_b) / 2.0, axis)) / half
    return math.degrees(math.asin(max(-1.0, min(1.0, offset))))


def touches_border(box: Box, width: int, height: int) -> bool:
    """True when the face box runs off the image."""
    top, right, bottom, left = box
    return top < 0 or left < 0 or bottom > height or right > width
