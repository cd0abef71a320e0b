"""Compare one probe encoding with a person's reference encodings and place it in a decision band."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Band = Literal["verified", "needs_review", "rejected"]


@dataclass
class MatchResult:
    """Distances of a probe to the references and the band they fall in."""

    distance: float | None  # smallest distance over the references; None when there are none
    second_distance: float | None
    mean_distance: float | None
    best_index: int | None
    band: Band
    verify_threshold: float
    reject_threshold: float
    template: str | None = None  # which template the distances are of (embedder key)
    # The fused rule's second template: its distance, its veto level and whether it vetoed a "verified".
    second_opinion: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-serialisable values."""
        extra: dict[str, Any] = {"template": self.template} if self.template else {}
        if self.second_opinion is not None:
            extra["second_opinion"] = dict(self.second_opinion)
        return extra | {
            "distance": self.distance,
            "second_distance": self.second_distance,
            "mean_distance": self.mean_distance,
            "best_index": self.best_index,
            "band": self.band,
            "verify_threshold": self.verify_threshold,
            "reject_threshold": self.reject_threshold,
        }


def band_for(distance: float | None, verify_threshold: float, reject_threshold: float) -> Band:
    """Map a distance to its band: <= verify is verified, > reject is rejected, else needs_review."""
    if distance is None:
        # Nothing to compare with is not evidence against the person: an officer decides.
        return "needs_review"
    if distance <= verify_threshold:
        return "verified"
    if distance > reject_threshold:
        return "rejected"
    return "needs_review"


def face_distances(probe: np.ndarray, references: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Euclidean distances from one 128-d encoding to each reference."""
    if len(references) == 0:
        return np.empty(0, dtype=np.float64)
    refs = np.asarray(references, dtype=np.float64).reshape(len(references), -1)
    return np.linalg.norm(refs - np.asarray(probe, dtype=np.float64).reshape(1, -1), axis=1)


def match_encodings(
    probe: np.ndarray,
    references: Sequence[np.ndarray] | np.ndarray,
    *,
    verify_threshold: float,
    reject_threshold: float,
) -> MatchResult:
    """Match a probe against all references using the minimum distance."""
    if verify_threshold > reject_threshold:
        raise ValueError("verify_threshold must not exceed reject_threshold")
    distances = face_distances(probe, references)
    if distances.size == 0:
        return MatchResult(None, None, None, None, "needs_review", verify_threshold, reject_threshold)
    order = np.argsort(distances)
    best = int(order[0])
    distance = float(distances[best])
    return MatchResult(
        distance=distance,
        second_distance=float(distances[order[1]]) if distances.size > 1 else None,
        mean_distance=float(distances.mean()),
        best_index=best,
        band=band_for(distance, verify_threshold, reject_threshold),
        verify_threshold=verify_threshold,
        reject_threshold=reject_threshold,
    )
