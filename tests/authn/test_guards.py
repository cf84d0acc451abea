"""Pure checks of the authentication layer's helpers (no socket, no database)."""

from __future__ import annotations

import pytest
from twisted.internet import task

from callcenter.runtime.clock import Clock
from callcenter.web.authn import Authenticator
from callcenter.web.signin import _language, _safe_next, same_token


def test_roles_must_be_known():
    """Guards refuse unknown or empty role lists at wiring time."""
    authn = Authenticator(users=None, clock=Clock(task.Clock()))
    with pytest.raises(ValueError):
        authn.api_guard(("root",))
    with pytest.raises(ValueError):
        authn.guard(None, roles=())


@pytest.mark.parametrize("value, expected", [("/desktop", "/desktop"), ("/a?b=c", "/a?b=c"), ("//x.org", None),
                                             ("/\\x.org", None), ("https://x.org", None), ("", None),
                                             ("/a\nb", None), (None, None)])
def test_next_must_stay_on_site(value, expected):
    """Only same-site absolute paths are followed after login."""
    assert _safe_next(value) == expected


def test_same_token_is_strict():
    """Tokens match only when both are present and equal."""
    assert same_token("a", "a") and not same_token("a", "b") and not same_token(None, None) and not same_token("", None)


@pytest.mark.parametrize("query, header, expected", [(b"zh-CN", None, "zh-CN"), (b"en", b"zh-CN", "en"),
                                                     (None, b"zh-TW,zh;q=0.8", "zh-CN"), (None, b"fr-FR", "en"),
                                                     (None, None, "en")])
def test_login_page_language(query, header, expected):
    """?lang= wins over Accept-Language; any Chinese gets the Simplified Chinese page, anything else English."""
    from twisted.web.test.requesthelper import DummyRequest

    request = DummyRequest([b"login"])
    if query:
        request.args[b"lang"] = [query]
    if header:
        request.requestHeaders.setRawHeaders(b"accept-language", [header])
    assert _language(request) == expected
