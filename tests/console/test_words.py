"""Face and photo-quality numbers in words an officer can act on (the raw values one click away), distances in
km past 1,000 m, and times in the office's local time, on the pages an officer reads."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from officer_console.review import face_verdict, quality_verdicts
from storage.models import Alert
from tests.console.helpers import make_checkin, make_reference
from verification.settings import EngineSettings

GATES = EngineSettings().gates("checkin")
MATCH = {"verify_threshold": 0.39, "reject_threshold": 0.52}


def _text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize(("distance", "key", "tone"), [
    (0.30, "face.same", "ok"), (0.39, "face.same", "ok"), (0.45, "face.unsure", "warn"), (0.52, "face.unsure", "warn"),
    (0.60, "face.different", "bad"),
])
def test_the_face_distance_reads_against_the_thresholds(distance, key, tone):
    verdict = face_verdict({**MATCH, "distance": distance})

    assert verdict is not None and (verdict.key, verdict.tone) == (key, tone)


def test_a_check_in_without_a_comparison_says_so_and_none_without_a_match():
    assert face_verdict({"band": None, "distance": None}).key == "face.not_compared"  # type: ignore[union-attr]
    assert face_verdict(None) is None
    assert face_verdict({"distance": 0.7, "band": "rejected"}).key == "face.different"  # type: ignore[union-attr]


def test_quality_numbers_are_read_against_the_check_in_gates():
    def keys(**quality: Any) -> list[str]:
        return [verdict.key for verdict in quality_verdicts(quality, GATES)]

    fine = {"face_px": GATES.min_face_px * 3, "brightness": 130.0, "blur": GATES.min_blur * 5, "yaw": 2.0,
            "faces_detected": 1}
    assert keys(**fine) == ["quality_word.good"]
    assert keys(**{**fine, "face_px": GATES.min_face_px * 1.2}) == ["quality_word.small"]
    assert keys(**{**fine, "face_px": GATES.min_face_px - 1}) == ["quality_word.too_small"]
    assert keys(**{**fine, "brightness": GATES.min_brightness + 5}) == ["quality_word.dark"]
    assert keys(**{**fine, "brightness": GATES.max_brightness + 1}) == ["quality_word.too_bright"]
    assert keys(**{**fine, "blur": GATES.min_blur * 1.2}) == ["quality_word.soft"]
    assert keys(**{**fine, "yaw": -30.0}) == ["quality_word.turned"]
    assert keys(**{**fine, "faces_detected": 2, "blur": GATES.min_blur / 2}) == [
        "quality_word.several_faces", "quality_word.blurred"]
    assert keys() == []  # no quality block: no words, the page shows "–"


def test_review_queue_shows_words_with_the_raw_values_behind_a_click(officer_console, world, db_session, blobs,
                                                                     clock):
    reference = make_reference(db_session, blobs, world.person, world.officer, clock.now())
    same = make_checkin(db_session, blobs, world.person, clock.now(), reference=reference, distance=0.36)
    unsure = make_checkin(db_session, blobs, world.person, clock.now(), reference=reference, distance=0.47)
    unsure.quality = {"face_px": GATES.min_face_px * 1.1, "brightness": 141.5, "blur": 92.1, "yaw": 3.0}
    db_session.commit()

    page = _text(officer_console.get("/console/"))
    cards = {int(m.group(1)): m.group(0) for m in re.finditer(r'id="checkin-(\d+)".*?</article>', page, re.S)}

    assert "与参考照片是同一人" in cards[same.id] and "照片质量良好" in cards[same.id]
    assert "无法确定是否本人" in cards[unsure.id] and "人脸偏小" in cards[unsure.id]
    # The raw distance, thresholds and quality numbers are inside a closed <details>.
    raw = re.search(r'<details class="raw"><summary>原始数值</summary><strong class="distance">(.*?)</strong>',
                    cards[same.id])
    assert raw and raw.group(1) == "0.360"
    assert re.search(r"<details class=\"raw\"><summary>原始数值</summary><span>人脸像素 <b>", cards[same.id])
    # The helpers' check-in lies 14 km from home with 25 m accuracy.
    assert "距住所 14公里" in cards[same.id] and "定位精度 ±25米" in cards[same.id]


def test_english_words_and_kilometres(officer_console, world, db_session, blobs, clock):
    reference = make_reference(db_session, blobs, world.person, world.officer, clock.now())
    make_checkin(db_session, blobs, world.person, clock.now(), reference=reference, distance=0.60)
    officer_console.get("/console/lang/en")

    page = _text(officer_console.get("/console/"))

    assert "Does not look like the reference photo" in page and "14 km from home" in page


def test_check_in_detail_reads_liveness_in_words_and_keeps_the_json_folded(officer_console, world, db_session,
                                                                           blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now())
    checkin.liveness = {"passed": False, "score": 0.4, "actions": ["blink"]}
    db_session.commit()

    page = _text(officer_console.get(f"/console/checkins/{checkin.id}"))

    assert "活体检测未通过" in page
    assert re.search(r'<details class="raw"><summary>原始数据</summary><code>\{"actions"', page)


def test_alert_evidence_times_are_in_the_office_time_zone(officer_console, world, db_session, clock):
    at = datetime(2026, 3, 31, 16, 30, 5, tzinfo=UTC)  # 00:30:05 on 1 April in Shanghai
    alert = Alert(person_id=world.person.id, office_id=world.person.office_id, type="leave_overdue", status="open",
                  dedupe_key="test:evidence-time", occurred_at=clock.now(), created_at=clock.now(),
                  evidence={"leave_request_id": 1, "end_at": at.isoformat(), "captured_at": at.isoformat()})
    db_session.add(alert)
    db_session.commit()

    page = _text(officer_console.get("/console/alerts"))

    assert "2026-04-01 00:30:05" in page
    assert at.isoformat() not in page and "2026-03-31T16:30" not in page
