"""Console forms are read through declared schemas (officer_console/forms.py): what each field keeps, what is shown
again, and the per-field hints of the API schema a form's values must pass."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from officer_console import forms
from officer_console.activities import ActivityForm
from officer_console.auth import LoginForm
from officer_console.pages import PersonEditForm
from officer_console.work import DismissForm, TaskForm


def _post(app, data):
    return app.test_request_context("/console/", method="POST", data=MultiDict(data))


def test_fields_keep_what_the_views_used_to_cut_by_hand(app):
    posted = [("username", "  officer1  "), ("password", " secret with spaces "), ("next", " /console/leave"),
              ("csrf_token", "anything"), ("unknown", "ignored")]
    with _post(app, posted):
        values = forms.read(LoginForm())

    assert values == {"username": "officer1", "password": " secret with spaces ", "next": " /console/leave"}


def test_ticked_ids_keep_only_row_ids_and_numbers_refuse_what_is_not_digits(app):
    with _post(app, [("alert_id", "7"), ("alert_id", "0"), ("alert_id", "2147483648"), ("alert_id", "x"),
                     ("alert_id", ""), ("alert_id", "12")]):
        assert forms.read(DismissForm()) == {"alert_id": [7, 12], "note": None}
    for minutes, expected in (("30", 30), ("", None), ("123456", None), ("²", None), ("-5", None)):
        with _post(app, [("minutes", minutes)]):
            assert forms.read(TaskForm()) == {"minutes": expected}, minutes


def test_a_refused_form_names_each_field_and_shows_the_entered_values_without_secrets(app):
    posted = [("kind", "group_education"), ("title", "  "), ("venue_name", "Hall"), ("venue_lat", "north"),
              ("venue_lon", "121.4"), ("venue_radius_m", "200"), ("start_at", "2026-05-01T09:00"),
              ("end_at", "2026-05-01T11:00"), ("levels", "strict"), ("levels", ""), ("person_ids", "abc")]
    with _post(app, posted):
        result = forms.load(ActivityForm())

    assert result.data is None
    assert set(result.errors) == {"title", "venue_lat", "person_ids"}
    assert result.values["levels"] == ["strict"] and result.values["venue_lat"] == "north"
    with _post(app, [("name", ""), ("supervision_level", "ordinary"), ("end_date", "2027-01-01"),
                     ("status", "active"), ("employment_status", "employed")]):
        masked = forms.load(PersonEditForm(name_shown=False))
        shown = forms.load(PersonEditForm(name_shown=True))

    assert masked.errors == {} and masked.data is not None and "name" not in masked.data  # masked name: unchanged
    assert masked.data["home"] is None and masked.data["home_address"] is None
    assert set(shown.errors) == {"name"}


def test_a_form_with_a_body_schema_cannot_be_read_unchecked(app):
    with _post(app, []), pytest.raises(TypeError):
        forms.read(ActivityForm())
