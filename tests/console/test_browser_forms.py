"""The person registration form in Chromium at desktop and narrow widths: a refused field shows its hint right
beside it, and after saving the confirmation is in view at the top of the person page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console import test_browser
from tests.console.test_browser import login, screenshot

# The Chromium fixtures of the main browser test module, shared rather than copied.
browser = test_browser.browser
live_server = test_browser.live_server
new_page = test_browser.new_page

pytestmark = [pytest.mark.browser]


def _in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


@pytest.mark.parametrize("width", [1400, 800])
def test_registration_errors_beside_fields_then_confirmation_in_view(new_page, live_server, world, width):
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    login(page, live_server)
    page.goto(f"{live_server}/console/persons")
    with page.expect_navigation():
        page.click("a[href='/console/persons/new']")
    page.fill("input[name=code]", "x")
    page.fill("input[name=name]", "王五")
    page.select_option("select[name=gender]", "female")
    page.fill("input[name=birth_date]", "1980-03-04")
    page.select_option("select[name=sentence_type]", "probation")
    page.select_option("select[name=supervision_level]", "ordinary")
    page.fill("input[name=start_date]", "2026-02-01")
    page.fill("input[name=end_date]", "2027-02-01")
    page.fill("input[name=password]", "river-lantern-42")
    page.fill("input[name=home_address]", "上海市黄浦区南京东路 100 号")
    with page.expect_navigation():
        page.click("button.primary[type=submit]")

    assert page.locator("#err-code").is_visible()
    field = page.locator("input[name=code]").bounding_box()
    hint = page.locator("#err-code").bounding_box()
    assert field and hint and 0 <= hint["y"] - field["y"] <= 80 and abs(hint["x"] - field["x"]) <= 40
    assert _in_view(page, "p.flash-error")
    assert page.input_value("input[name=name]") == "王五"
    screenshot(page, f"person-form-refused-{width}")

    page.fill("input[name=code]", "P100")
    page.fill("input[name=password]", "river-lantern-42")
    with page.expect_navigation():
        page.click("button.primary[type=submit]")

    assert "/console/persons/" in page.url and "/new" not in page.url
    assert _in_view(page, "#notices .flash-ok")
    assert "已登记矫正对象 王五（P100）。" in page.locator("#notices .flash-ok").inner_text()
    # The page is no wider than the screen: nothing to scroll sideways to.
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
