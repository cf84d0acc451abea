"""The CTI token travels in a header (or, for PBXs that cannot, the path) and never reaches the access log."""

from __future__ import annotations

import dataclasses
import io

import pytest
from twisted.internet import reactor

from tests.support.http import http_request

TOKEN = "cti-header-token-9c41d7"
NEW_CALL = {"event": "newCall", "callId": "hdr-1", "from": "+14155550123", "direction": "in"}


@pytest.fixture
def app(make_app):
    """The application with a CTI token, its access log written to memory."""
    app = make_app(adjust=lambda s: dataclasses.replace(s, telephony=dataclasses.replace(s.telephony, cti_token=TOKEN)))
    app.http.site.logFile = io.StringIO()
    return app


def _post(run, app, path: str, headers: dict | None = None, body: dict | None = None):
    host, port = app.http.address
    return run(http_request(reactor, "POST", f"http://{host}:{port}{path}", json_body=body or NEW_CALL,
                            headers=headers or {}))


def test_the_token_in_the_x_cti_token_header_is_accepted(run, app):
    """POST /api/cti with X-CTI-Token creates the call like the path form does."""
    r = _post(run, app, "/api/cti", {"x-cti-token": TOKEN})
    assert r.status == 200 and r.json()["action"] == "accept" and r.json()["interaction"] is not None


@pytest.mark.parametrize("headers", [{}, {"x-cti-token": "wrong"}, {"x-cti-token": ""}])
def test_a_missing_or_wrong_header_token_is_404(run, app, headers):
    """Without the right header the endpoint does not exist (404), and nothing is created."""
    r = _post(run, app, "/api/cti", headers)
    assert r.status == 404
    assert run(app.store.find_customer_by_phone("+14155550123")) is None


def test_the_path_form_still_works_and_its_token_is_not_logged(run, app):
    """POST /api/cti/<token> is accepted, and the access log shows /api/cti/<redacted> instead of the token."""
    r = _post(run, app, f"/api/cti/{TOKEN}", body={**NEW_CALL, "callId": "path-1"})
    assert r.status == 200
    wrong = _post(run, app, "/api/cti/not-the-token-123")
    assert wrong.status == 404
    logged = app.http.site.logFile.getvalue()
    assert "/api/cti/<redacted>" in logged and TOKEN not in logged and "not-the-token-123" not in logged
