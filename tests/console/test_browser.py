"""The console in a real browser: Debian's headless Chromium driven by Playwright against a live server.

Skipped when /usr/bin/chromium or Playwright is missing. Screenshots of the main pages go to artifacts/screenshots/;
with CHECKIN_UPDATE_SCREENSHOTS=1 the review page is also written to docs/console-review.png (photos blurred).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from storage.blobs import Payload
from storage.models import Alert, AuditEvent, Checkin, LeaveRequest, Person, Sanction, Task
from supervision import accounts, faces
from supervision.checkin_judge import CheckinPolicy
from supervision.checkin_pipeline import CheckinContext, Submission, submit_checkin
from supervision.checkins import Fix
from supervision.errors import UnusableImage
from supervision.liveness import LivenessPolicy
from tests.console.conftest import PASSWORD
from tests.console.helpers import AWAY, make_alert, make_checkin, make_leave, make_processed_inspection
from tests.factories import make_person
from verification.engine import get_engine

pytestmark = [pytest.mark.browser, pytest.mark.faces]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
DOCS_SCREENSHOT = REPO / "docs" / "console-review.png"
IDENTITY = "people/Hu_Jintao"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The test app (same database as the test) served on a free local port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="console-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """Pages in fresh browser contexts (one per user) at an office screen's size."""
    contexts: list[Any] = []

    def open_page() -> Any:
        context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True,
                                      locale="zh-CN")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def login(page: Any, base: str, username: str = "officer1") -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/console/login" not in page.url, page.content()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path


def _enrol_and_check_in(app: Any, db_session: Any, blobs: Any, faces_dir: Path, world: Any, clock: Any,
                        probes: int) -> list[Checkin]:
    """Three references through the real enrolment gates, then check-ins from far away that need review."""
    engine = get_engine(app.config["CHECKIN"]["FACE_ENGINE"])
    officer = accounts.actor_for_account(world.officer)
    person = world.person
    photos = sorted((faces_dir / IDENTITY).glob("*.jpg"), key=lambda p: int(p.stem))
    spare = []
    enrolled = 0
    for photo in photos:
        if enrolled == 3:
            spare.append(photo)
            continue
        try:
            faces.enrol_reference(session=db_session, blobs=blobs, engine=engine, actor=officer, person=person,
                                  photo=photo.read_bytes(), force=False, note=None, now=clock.now(), max_references=10)
            enrolled += 1
        except UnusableImage:
            continue
    db_session.commit()
    assert enrolled == 3, "not enough enrolable photos"
    phone = accounts.actor_for_person(person, device_id="phone-1")
    made = []
    for photo in spare:
        ctx = CheckinContext(session=db_session, blobs=blobs, engine=engine, policy=CheckinPolicy(),
                             liveness=LivenessPolicy(), now=clock.now())
        outcome = submit_checkin(ctx, Submission(
            person=person, device_id=phone.device_id, photo=Payload.of(photo.read_bytes(), "image/jpeg"),
            fix=Fix(AWAY[0], AWAY[1], 20.0), captured_at=clock.now() - timedelta(minutes=2)))
        db_session.commit()
        if outcome.checkin.status == "needs_review":
            made.append(outcome.checkin)
        if len(made) == probes:
            return made
    raise AssertionError("the probes did not land in needs_review")


def _images_loaded(page: Any, selector: str) -> list[bool]:
    page.wait_for_function(
        "s => Array.from(document.querySelectorAll(s)).every(i => i.complete)", arg=selector)
    return page.eval_on_selector_all(selector, "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")


def test_review_queue_accept_and_reject(app, live_server, new_page, world, db_session, blobs, faces_dir, clock):
    first, second = _enrol_and_check_in(app, db_session, blobs, faces_dir, world, clock, probes=2)
    page = new_page()
    login(page, live_server)

    assert page.locator(".queue-item").count() == 2
    assert _images_loaded(page, f"#checkin-{first.id} img") == [True, True]
    assert "不在住所或准假范围内" in page.inner_text(f"#checkin-{first.id}")
    assert page.locator(f"#checkin-{first.id} svg.locmap circle.area-home").count() == 1
    screenshot(page, "review")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet in portrait
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "review-tablet")
    page.set_viewport_size({"width": 1366, "height": 768})
    if os.environ.get("CHECKIN_UPDATE_SCREENSHOTS") == "1":
        # The test photos must not end up in the repository: the committed screenshot shows them blurred.
        page.eval_on_selector_all("img", "imgs => imgs.forEach(i => { i.style.filter = 'blur(7px)'; })")
        page.screenshot(path=str(DOCS_SCREENSHOT))
        page.eval_on_selector_all("img", "imgs => imgs.forEach(i => { i.style.filter = ''; })")
        assert DOCS_SCREENSHOT.stat().st_size < 300_000
    db_session.rollback()
    viewed = set(db_session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == world.officer.id)))
    assert {"checkin.photo_viewed", "face.photo_viewed"} <= viewed

    # The common path by keyboard: "a" accepts the current (oldest) item.
    with page.expect_navigation():
        page.keyboard.press("a")
    assert f"签到 #{first.id} 已确认通过" in page.inner_text(".flash-ok")
    assert page.locator(f"#checkin-{first.id}").count() == 0

    with page.expect_navigation():
        page.click(f"#checkin-{second.id} button[value=reject]")
    error = page.locator(".flash-error")
    assert error.is_visible() and "拒绝签到必须填写理由" in error.inner_text()
    assert page.locator(f"#checkin-{second.id}").count() == 1

    page.keyboard.press("r")
    page.keyboard.type("照片与本人不符，位置异常")
    with page.expect_navigation():
        page.click(f"#checkin-{second.id} button[value=reject]")
    assert "队列已清空" in page.inner_text("main")

    db_session.rollback()
    statuses = dict(db_session.execute(select(Checkin.id, Checkin.status).where(Checkin.id.in_([first.id,
                                                                                                second.id]))).all())
    assert statuses == {first.id: "accepted", second.id: "confirmed_violation"}

    # The person's file, and one more reference uploaded through the page.
    page.goto(f"{live_server}/console/persons/{world.person.id}")
    assert page.locator("#references img").count() == 3
    page.set_input_files("input[name=photo]", str(sorted((faces_dir / IDENTITY).glob("*.jpg"))[-1]))
    with page.expect_navigation():
        page.click("form.enrol button[type=submit]")
    assert "登记照片已保存" in page.inner_text(".flash-ok")
    assert page.locator("#references img").count() == 4
    screenshot(page, "person")


def test_officer_of_another_office_cannot_open_the_person(live_server, new_page, world):
    page = new_page()
    login(page, live_server, "officer2")

    response = page.goto(f"{live_server}/console/persons/{world.person.id}")

    assert response.status == 404
    assert "不在您的管辖范围内" in page.inner_text("main")
    page.goto(f"{live_server}/console/persons")
    assert "P001" not in page.inner_text("main")


def test_leave_approval_and_alert_resolved_with_an_admonition(live_server, new_page, world, db_session, clock):
    leave = make_leave(db_session, world.person, clock.now())
    alert = make_alert(db_session, world.person, clock.now())
    page = new_page()
    login(page, live_server)

    page.goto(f"{live_server}/console/leave")
    screenshot(page, "leave")
    with page.expect_navigation():
        page.click(f"#leave-{leave.id} button[value=approve]")
    assert f"请假 #{leave.id} 已批准" in page.inner_text(".flash-ok")

    page.goto(f"{live_server}/console/alerts")
    screenshot(page, "alerts")
    card = f"#alert-{alert.id}"
    page.select_option(f"{card} select[name=action]", "admonition")
    page.fill(f"{card} textarea[name=note]", "未按规定签到，已当面训诫")
    with page.expect_navigation():
        page.click(f"{card} button[type=submit]")
    assert "已处理：训诫" in page.inner_text(".flash-ok")

    db_session.rollback()
    assert db_session.scalar(select(LeaveRequest.status).where(LeaveRequest.id == leave.id)) == "approved"
    assert db_session.scalar(select(Alert.status).where(Alert.id == alert.id)) == "resolved"
    sanction = db_session.scalar(select(Sanction).where(Sanction.alert_id == alert.id))
    assert (sanction.kind, sanction.decided_by_id) == ("admonition", world.officer.id)


def test_report_csv_download_matches_the_database(live_server, new_page, world, db_session, clock, tmp_path):
    for n, (sentence, gender) in enumerate([("probation", "male"), ("probation", "female"), ("parole", "male"),
                                            ("control", "female")]):
        make_person(db_session, world.office, f"R{n}", sentence_type=sentence, gender=gender)
    make_person(db_session, world.other_office, "R9")
    page = new_page()
    login(page, live_server)
    # The report's days are the office's calendar days (16:00 UTC is already tomorrow in Shanghai).
    today = clock.now().astimezone(ZoneInfo(world.office.timezone)).date()
    page.goto(f"{live_server}/console/persons/{world.person.id}")
    page.fill("#sanctions input[name=note]", "多次未按时签到")
    page.select_option("#sanctions select[name=kind]", "admonition")
    with page.expect_navigation():
        page.click("#sanctions button[type=submit]")

    page.goto(f"{live_server}/console/report?start={today.replace(month=1, day=1)}&end={today}")
    screenshot(page, "report")
    assert page.locator("svg.chart").count() == 7
    with page.expect_download() as download_info:
        page.click("a[href*='report.csv']")
    target = tmp_path / "report.csv"
    download_info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    # A ratio with nothing to divide by reads "—".
    values = {(row["section"], row["item"]): None if row["value"] == "—" else float(row["value"]) for row in rows}

    db_session.rollback()
    in_office = Person.office_id == world.office.id
    assert values[("register", "total")] == db_session.scalar(select(func.count(Person.id)).where(in_office)) == 5
    by_type = dict(db_session.execute(select(Person.sentence_type, func.count()).where(in_office)
                                      .group_by(Person.sentence_type)).all())
    assert {item: int(v) for (section, item), v in values.items() if section == "sentence_type" and v} == by_type
    assert values[("sanctions", "admonition")] == db_session.scalar(
        select(func.count(Sanction.id)).where(Sanction.office_id == world.office.id)) == 1
    shutil.copy(target, SCREENSHOTS / "report.csv")


# The result of a form post must be where the officer looks: in the window after the redirect, at an office
# screen's width and at a narrow one (a small laptop or a tablet in portrait).
WIDTHS = (1400, 800)


def _in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    height, width = page.evaluate("[window.innerHeight, window.innerWidth]")
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height and box["x"] >= 0 and (
        box["x"] + box["width"] <= width)


@pytest.mark.parametrize("width", WIDTHS)
def test_review_messages_are_in_view_and_a_decision_can_be_undone(width, live_server, new_page, world, db_session,
                                                                  blobs, clock):
    made = [make_checkin(db_session, blobs, world.person, clock.now() - timedelta(minutes=n)) for n in range(4)]
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    login(page, live_server)
    last = made[0]  # the newest is at the bottom of the queue (oldest first)

    # A reject without a note, at the bottom of a long page: the error is next to that item's form, in view.
    page.locator(f"#checkin-{last.id} button[value=reject]").scroll_into_view_if_needed()
    with page.expect_navigation():
        page.click(f"#checkin-{last.id} button[value=reject]")
    error = f"#checkin-{last.id} .form-notice.flash-error"
    assert "拒绝签到必须填写理由" in page.inner_text(error)
    assert _in_view(page, error)

    # "a" accepts the current item; the confirmation, with its undo button, is in view wherever the page is.
    with page.expect_navigation():
        page.keyboard.press("a")
    assert f"签到 #{last.id} 已确认通过" in page.inner_text("#notices .flash-ok")
    assert _in_view(page, "#notices .flash-ok") and _in_view(page, "#notices .undo-button")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"review-notice-{width}.png"))  # the window as the officer sees it
    db_session.rollback()
    assert db_session.scalar(select(Checkin.status).where(Checkin.id == last.id)) == "accepted"

    with page.expect_navigation():
        page.click("#notices .undo-button")
    assert f"已撤销对签到 #{last.id} 的审核结论" in page.inner_text("#notices .flash-ok")
    assert _in_view(page, "#notices .flash-ok")
    assert page.locator(f"#checkin-{last.id}").count() == 1
    db_session.rollback()
    assert db_session.scalar(select(Checkin.status).where(Checkin.id == last.id)) == "needs_review"
    assert db_session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "checkin.review_undone",
                                                                     AuditEvent.target_id == str(last.id))) == 1
    # The notice can be put away.
    page.click("#notices [data-close-notice]")
    assert page.locator("#notices .notice").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_person_page_messages_are_in_view(width, live_server, new_page, world, db_session):
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    login(page, live_server)
    page.goto(f"{live_server}/console/persons/{world.person.id}")

    # The sanction form is far down the page: its refusal (no note) shows next to it, in view.
    page.select_option("#sanctions select[name=kind]", "admonition")
    with page.expect_navigation():
        page.click("#sanctions button[type=submit]")
    assert "/console/persons/" in page.url and page.url.endswith("#sanctions")
    assert _in_view(page, "#sanctions .form-notice.flash-error")

    page.fill("#sanctions input[name=note]", "未按时报到")
    page.select_option("#sanctions select[name=kind]", "admonition")
    with page.expect_navigation():
        page.click("#sanctions button[type=submit]")
    assert "已记录：训诫" in page.inner_text("#notices .flash-ok")
    assert _in_view(page, "#notices .flash-ok")

    with page.expect_navigation():
        page.click("#compliance form.inline-form button[type=submit]")  # a spot check
    assert _in_view(page, "#notices .flash-ok")
    db_session.rollback()
    assert db_session.scalar(select(func.count(Sanction.id)).where(Sanction.person_id == world.person.id)) == 1


@pytest.mark.parametrize("width", WIDTHS)
def test_alerts_inbox_messages_are_in_view(width, live_server, new_page, world, db_session, clock):
    alerts = [make_alert(db_session, world.person, clock.now()) for _ in range(6)]
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    login(page, live_server)
    page.goto(f"{live_server}/console/alerts")
    card = f"#alert-{alerts[0].id}"  # the oldest is the last card

    page.select_option(f"{card} select[name=action]", "dismiss")
    with page.expect_navigation():
        page.click(f"{card} button[type=submit]")  # no note: refused next to this card's form
    assert "操作失败" in page.inner_text(f"{card} .form-notice.flash-error")
    assert _in_view(page, f"{card} .form-notice.flash-error")

    page.fill(f"{card} textarea[name=note]", "已电话核实，系误报")
    with page.expect_navigation():
        page.click(f"{card} button[type=submit]")
    assert f"预警 #{alerts[0].id} 已处理" in page.inner_text("#notices .flash-ok")
    assert _in_view(page, "#notices .flash-ok")

    page.check(f"#alert-{alerts[1].id} input[name=alert_id]")
    page.check(f"#alert-{alerts[2].id} input[name=alert_id]")
    page.fill("#bulk-dismiss textarea[name=note]", "同一次缺席，已说明")
    with page.expect_navigation():
        page.click("#bulk-dismiss button[type=submit]")
    assert "已忽略 2 条预警" in page.inner_text("#notices .flash-ok")
    assert _in_view(page, "#notices .flash-ok")
    db_session.rollback()
    assert db_session.scalar(select(func.count(Alert.id)).where(Alert.status == "open")) == 3

    # Ticked the wrong boxes: the dismissal is taken back from its confirmation.
    with page.expect_navigation():
        page.click("#notices .undo-button")
    assert "2 条预警重新打开" in page.inner_text("#notices .flash-ok")
    assert _in_view(page, "#notices .flash-ok")
    db_session.rollback()
    assert db_session.scalar(select(func.count(Alert.id)).where(Alert.status == "open")) == 5


def test_one_key_accept_of_a_video_inspection_asks_first(live_server, new_page, world, db_session, blobs, clock):
    task = make_processed_inspection(db_session, blobs, world, clock.now())
    page = new_page()
    login(page, live_server)
    page.goto(f"{live_server}/console/video-inspections/{task.id}")
    asked: list[str] = []

    def refuse(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", refuse)
    page.keyboard.press("a")
    page.wait_for_timeout(300)
    assert asked == ["确认通过此次视频点验？"]
    db_session.rollback()
    assert db_session.scalar(select(Task.reviewed_at).where(Task.id == task.id)) is None

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.keyboard.press("a")
    assert _in_view(page, "#notices .flash-ok")
    db_session.rollback()
    assert db_session.scalar(select(Task.reviewed_by_id).where(Task.id == task.id)) == world.officer.id
