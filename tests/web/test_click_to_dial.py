"""Click-to-dial's input: the phone formats the web form takes are dialled in E.164, anything
else is a 422 naming the field, and nothing is logged while the PBX link is down."""

from __future__ import annotations

import pytest
from twisted.internet.defer import ensureDeferred

from callcenter.web.jsonapi import ApiError


def _place(run, app, login: str, number: str) -> ApiError:
    with pytest.raises(ApiError) as raised:
        run(ensureDeferred(app.click_to_dial.place(login, number)))
    return raised.value


@pytest.mark.parametrize("number", ["+1 212 555 0100", "(212) 555-0100", "212.555.0100", "+12125550100"])
def test_the_web_forms_phone_formats_are_accepted(run, make_app, number):
    """Every format a customer may type is a valid number; with AMI off the answer is 503, not 422."""
    app = make_app()
    error = _place(run, app, "alice", number)
    assert (error.status, error.code) == (503, "pbx_unavailable")
    assert run(app.store.find_customer_by_phone("+12125550100")) is None


@pytest.mark.parametrize("number", ["12", "call me", "+1 212 555 0100\r\nAction: Command"])
def test_what_is_not_a_phone_number_is_refused_with_the_field(run, make_app, number):
    """Garbage, a too-short number and a header injection attempt get 422 on ``number``."""
    error = _place(run, make_app(), "alice", number)
    assert (error.status, error.code, error.field) == (422, "invalid_number", "number")


def test_someone_without_a_phone_cannot_dial(run, make_app):
    """A login that is not a configured agent is refused (403)."""
    error = _place(run, make_app(), "sam", "+12125550100")
    assert (error.status, error.code) == (403, "not_an_agent")
