"""The check-in decision as a table: every status and reason code of the README's "Check-in decisions", judged by
the pure function, with no database and no engine."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.enums import CheckinStatus, Reason
from supervision.checkin_judge import CheckinPolicy, FaceFacts, Facts, Timing, judge

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ON_TIME = Timing(captured_at=NOW - timedelta(minutes=1), received_at=NOW)
GOOD_FACE = FaceFacts(band="verified", faces=1, references_active=5, references_used=5)
CLEAN = Facts(timing=ON_TIME, face=GOOD_FACE)
POLICY = CheckinPolicy(late_after=timedelta(minutes=10), min_references=3)
PASSED = {"passed": True, "different_person": False}

# (case, facts, expected status, expected reasons in their recorded order)
TABLE = [
    ("clean", CLEAN, "verified", ()),
    ("unusable photo", Facts(timing=ON_TIME, failure="no_face"), "failed", ()),
    ("non-image bytes", Facts(timing=ON_TIME, failure="unsupported_media_type"), "failed", ()),
    ("same bytes again", Facts(timing=ON_TIME, duplicate_of=7), "rejected", ("duplicate_image",)),
    ("face mismatch", replace(CLEAN, face=replace(GOOD_FACE, band="rejected")), "rejected", ("face_mismatch",)),
    ("between the thresholds", replace(CLEAN, face=replace(GOOD_FACE, band="needs_review")), "needs_review",
     ("face_inconclusive",)),
    ("two faces", replace(CLEAN, face=replace(GOOD_FACE, faces=2)), "needs_review", ("multiple_faces",)),
    # With nothing to compare, the match is needs_review (verification.matching.band_for): an officer decides.
    ("no references", replace(CLEAN, face=FaceFacts(band="needs_review", references_active=0, references_used=0)),
     "needs_review", ("no_references",)),
    ("references lack templates", replace(CLEAN, face=replace(GOOD_FACE, references_used=0)), "needs_review",
     ("references_not_encoded",)),
    ("too few references", replace(CLEAN, face=replace(GOOD_FACE, references_active=2, references_used=2)),
     "needs_review", ("too_few_references",)),
    ("too few but inconclusive", replace(CLEAN, face=FaceFacts(band="needs_review", references_active=2,
                                                                references_used=2)),
     "needs_review", ("face_inconclusive",)),
    ("outside the area", replace(CLEAN, location_reasons=("outside_area",)), "needs_review", ("outside_area",)),
    ("coarse fix", replace(CLEAN, location_reasons=("location_inaccurate",)), "needs_review",
     ("location_inaccurate",)),
    ("attendance out of hours", replace(CLEAN, location_reasons=("outside_area", "outside_session_time")),
     "needs_review", ("outside_area", "outside_session_time")),
    ("late", replace(CLEAN, timing=Timing(captured_at=NOW - timedelta(minutes=11), received_at=NOW)),
     "needs_review", ("late",)),
    ("just in time", replace(CLEAN, timing=Timing(captured_at=NOW - timedelta(minutes=10), received_at=NOW)),
     "verified", ()),
    ("task answered late", replace(CLEAN, timing=replace(ON_TIME, task_due_at=NOW - timedelta(minutes=5))),
     "needs_review", ("task_late",)),
    ("task answered in time", replace(CLEAN, timing=replace(ON_TIME, task_due_at=NOW)), "verified", ()),
    ("another phone", replace(CLEAN, device_bound=False), "needs_review", ("device_not_bound",)),
    ("liveness passed", replace(CLEAN, liveness=PASSED), "verified", ()),
    ("liveness failed", replace(CLEAN, liveness={"passed": False}), "needs_review", ("liveness_failed",)),
    ("liveness of someone else", replace(CLEAN, liveness={"passed": False, "different_person": True}), "rejected",
     ("liveness_failed",)),
    ("everything at once", Facts(
        timing=Timing(captured_at=NOW - timedelta(hours=1), received_at=NOW, task_due_at=NOW - timedelta(hours=2)),
        face=replace(GOOD_FACE, band="needs_review", faces=3), location_reasons=("outside_area",),
        device_bound=False, liveness={"passed": False}),
     "needs_review",
     ("face_inconclusive", "multiple_faces", "outside_area", "late", "task_late", "device_not_bound",
      "liveness_failed")),
    ("a mismatch keeps its other reasons", replace(CLEAN, face=replace(GOOD_FACE, band="rejected"),
                                                   device_bound=False), "rejected",
     ("face_mismatch", "device_not_bound")),
]


@pytest.mark.parametrize(("facts", "status", "reasons"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_decision_table(facts: Facts, status: str, reasons: tuple[str, ...]) -> None:
    verdict = judge(facts, POLICY)
    assert (verdict.status, verdict.reasons) == (status, reasons)


def test_the_table_covers_every_status_and_reason_the_readme_lists() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Check-in decisions", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    listed = set(re.findall(r"`([a-z_]+)`", table))
    statuses = {str(status) for status in CheckinStatus}
    reasons = {str(reason) for reason in Reason}
    # Officers' decisions (accepted, confirmed_violation) come from the review, not from the judge.
    review_only = {CheckinStatus.ACCEPTED, CheckinStatus.CONFIRMED_VIOLATION}
    judged_statuses = {row[2] for row in TABLE}
    judged_reasons = {reason for row in TABLE for reason in row[3]}
    assert (listed & statuses) - review_only <= judged_statuses
    assert listed & reasons <= judged_reasons
    assert listed & reasons, "the README's decision table lists no reason code"


def test_an_analysed_photo_needs_its_face_facts() -> None:
    with pytest.raises(ValueError):
        judge(Facts(timing=ON_TIME), POLICY)
