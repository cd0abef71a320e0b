"""check_actions on constructed measure sequences, and the landmark measures on real faces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from verification.engine import FaceEngine
from verification.liveness import (
    ACTIONS,
    FrameMeasures,
    LivenessThresholds,
    check_actions,
    check_identity,
    eye_aspect_ratio,
    head_yaw,
    landmark_points,
    mouth_open_ratio,
)

FPS = 10.0
OPEN_EAR = 0.30
REST_MOUTH = 0.05
RNG = np.random.default_rng(7)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _frame_of(base: np.ndarray) -> np.ndarray:
    """An SFace-like template of one frame: unit length, about 0.28 from the person's own (like a frontal selfie)."""
    return _unit(base + RNG.normal(0, 0.025, 128))


# Unit vectors like SFace templates; two random ones lie about 1.41 apart, as two real people do (median 1.40).
PERSON = _unit(RNG.normal(0, 1, 128))
STRANGER = _unit(RNG.normal(0, 1, 128))
T = LivenessThresholds()

Shape = Callable[[float], dict[str, float]]


def _neutral(_t: float) -> dict[str, float]:
    return {"ear": OPEN_EAR, "mouth": REST_MOUTH, "yaw": 0.0}


def blink_at(start: float) -> Shape:
    """Eyes close for 0.2 s from start (two samples at 10 per second)."""
    return lambda t: {"ear": 0.08} if start <= t < start + 0.2 else {}


def turn_at(start: float, degrees: float) -> Shape:
    """The head turns to `degrees` (image-space yaw) for 0.6 s from start, ramping in and out."""

    def shape(t: float) -> dict[str, float]:
        if start <= t < start + 0.6:
            return {"yaw": degrees * min(1.0, (t - start + 0.1) / 0.3)}
        return {}

    return shape


def mouth_at(start: float, ratio: float = 0.7) -> Shape:
    return lambda t: {"mouth": ratio} if start <= t < start + 0.5 else {}


def sequence(*events: Shape, seconds: float = 5.0, identity: Callable[[float], np.ndarray] | None = None,
             faces: Callable[[float], int] | None = None, jitter: float = 0.005) -> list[FrameMeasures]:
    """Measures sampled at 10 per second; every 4th sample is an identity frame with an encoding."""
    frames = []
    for i in range(int(seconds * FPS)):
        t = round(i / FPS, 3)
        values = _neutral(t)
        for event in events:
            values.update(event(t))
        noise = RNG.normal(0, jitter, 3)
        encoding = None
        count = None
        if i % 4 == 0:
            encoding = _frame_of(identity(t) if identity else PERSON)
            count = faces(t) if faces else 1
        frames.append(FrameMeasures(time_s=t, ear=values["ear"] * (1 + noise[0]), mouth=values["mouth"] + noise[1],
                                    yaw=values["yaw"] + 50 * noise[2], faces=count, encoding=encoding))
    return frames


EVENT_FOR = {
    "blink": blink_at(2.0),
    "turn_left": turn_at(2.0, 30.0),  # nose toward the image's right edge: the person's own left, un-mirrored
    "turn_right": turn_at(2.0, -30.0),
    "open_mouth": mouth_at(2.0),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_is_seen_when_done(action):
    result = check_actions(sequence(EVENT_FOR[action]), [action])

    assert result.passed, result.as_dict()
    assert result.steps[0].passed and 1.9 <= (result.steps[0].time_s or 0) <= 2.7


@pytest.mark.parametrize("action", ACTIONS)
def test_a_face_that_does_nothing_fails_every_action(action):
    result = check_actions(sequence(), [action])

    assert not result.passed
    assert result.failed_step == action


def test_actions_must_come_in_the_asked_order():
    frames = sequence(turn_at(1.0, 30.0), blink_at(3.0))

    assert check_actions(frames, ["turn_left", "blink"]).passed
    result = check_actions(frames, ["blink", "turn_left"])
    assert not result.passed
    assert result.failed_step == "turn_left"
    assert [s.passed for s in result.steps] == [True, False]


def test_three_actions_in_order_and_a_missing_last_one():
    frames = sequence(mouth_at(0.8), turn_at(2.0, -30.0), blink_at(3.6), seconds=5.0)

    assert check_actions(frames, ["open_mouth", "turn_right", "blink"]).passed
    result = check_actions(frames, ["open_mouth", "turn_right", "turn_left"])
    assert result.failed_step == "turn_left"


def test_mirrored_clips_swap_left_and_right():
    frames = sequence(turn_at(2.0, 30.0))

    assert check_actions(frames, ["turn_left"]).passed
    assert check_actions(frames, ["turn_left"], mirrored=True).failed_step == "turn_left"
    assert check_actions(frames, ["turn_right"], mirrored=True).passed


def test_a_small_turn_is_not_a_turn():
    frames = sequence(turn_at(2.0, T.turn_degrees * 0.7))

    assert check_actions(frames, ["turn_left"]).failed_step == "turn_left"


def test_eyes_that_close_and_stay_closed_are_not_a_blink():
    frames = sequence(lambda t: {"ear": 0.08} if t >= 2.0 else {})

    assert check_actions(frames, ["blink"]).failed_step == "blink"


def test_a_squint_is_not_a_blink():
    # Measured squints reached 0.70 of the open-eye baseline.
    frames = sequence(lambda t: {"ear": OPEN_EAR * 0.7} if 2.0 <= t < 2.3 else {})

    assert check_actions(frames, ["blink"]).failed_step == "blink"


def test_a_blink_while_turned_away_does_not_count():
    frames = sequence(lambda t: {"yaw": 35.0, "ear": 0.08 if 2.2 <= t < 2.4 else OPEN_EAR} if 2.0 <= t < 3.0 else {})

    assert check_actions(frames, ["blink"]).failed_step == "blink"


def test_talking_is_not_an_open_mouth():
    frames = sequence(mouth_at(2.0, ratio=0.4))

    assert check_actions(frames, ["open_mouth"]).failed_step == "open_mouth"


def test_another_person_halfway_fails_the_same_person_check():
    frames = sequence(EVENT_FOR["blink"], identity=lambda t: PERSON if t < 2.5 else STRANGER)

    result = check_actions(frames, ["blink"])

    assert result.failed_step == "same_person"
    assert result.identity.clusters == 2 and not result.identity.same_person
    assert result.identity.different_person


def test_frames_of_someone_else_fail_against_the_references():
    frames = sequence(EVENT_FOR["blink"], identity=lambda t: STRANGER)

    result = check_actions(frames, ["blink"], references=[_frame_of(PERSON)])

    assert result.identity.same_person  # one person throughout ...
    assert result.identity.band == "rejected" and result.identity.different_person  # ... but not this one
    assert result.failed_step == "same_person"


def test_the_enrolled_person_passes_against_the_references():
    frames = sequence(EVENT_FOR["blink"])

    result = check_actions(frames, ["blink"], references=[_frame_of(PERSON)])

    assert result.passed
    assert result.identity.band == "verified" and not result.identity.different_person


def test_a_second_face_fails_the_one_face_check():
    frames = sequence(EVENT_FOR["blink"], faces=lambda t: 2 if 1.0 <= t < 1.5 else 1)

    assert check_actions(frames, ["blink"]).failed_step == "one_face"


def test_too_few_face_frames_fail():
    frames = [f if f.time_s < 0.3 else FrameMeasures(time_s=f.time_s, faces=0) for f in sequence()]

    assert check_actions(frames, ["blink"]).failed_step == "face"


def test_unknown_actions_are_refused():
    with pytest.raises(ValueError):
        check_actions(sequence(), ["wink"])


def test_identity_tolerates_a_single_odd_frame():
    odd = {1.2}
    frames = sequence(identity=lambda t: STRANGER if t in odd else PERSON)

    assert check_identity(frames).same_person


# ------------------------------------------------------------------------------ measures on real faces
@pytest.fixture(scope="module")
def portrait_points(engine: FaceEngine, faces_dir: Path) -> np.ndarray:
    # Still-photo analysis no longer places the 68 points; a video frame's search does.
    rgb = cv2.cvtColor(cv2.imread(str(faces_dir / "edge" / "exif_upright_reference.jpg")), cv2.COLOR_BGR2RGB)
    faces = engine.encode_frame(rgb)
    assert faces and faces[0].landmarks
    return landmark_points(faces[0].landmarks)


def test_open_eyes_and_closed_mouth_measure_in_the_expected_ranges(portrait_points):
    assert 0.18 <= eye_aspect_ratio(portrait_points) <= 0.5
    assert mouth_open_ratio(portrait_points) < T.mouth_open_min


def test_yaw_ignores_head_tilt(portrait_points):
    centre = portrait_points.mean(axis=0)
    angle = np.radians(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = (portrait_points - centre) @ rotation.T + centre

    assert abs(head_yaw(tilted) - head_yaw(portrait_points)) < 1.0


def test_yaw_changes_sign_in_a_mirrored_photo(engine, faces_dir):
    # A photo with a clearly turned head, and the same photo flipped left to right.
    photo = faces_dir / "people" / "Ariel_Sharon" / "1.jpg"
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    yaws = []
    for image in (rgb, np.ascontiguousarray(rgb[:, ::-1])):
        faces = engine.encode_frame(image)
        assert faces and faces[0].landmarks
        yaws.append(head_yaw(landmark_points(faces[0].landmarks)))

    assert abs(yaws[0]) > 5, yaws
    assert yaws[0] * yaws[1] < 0 and abs(abs(yaws[0]) - abs(yaws[1])) < 6, yaws
