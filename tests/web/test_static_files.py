"""The pages' static files: served as they are, and a NUL in the path is a 404, never a 500."""

from __future__ import annotations

import pytest
from twisted.internet import reactor

from tests.support.http import http_request


@pytest.mark.parametrize("path", ["/static/%00", "/static/app%00.js", "/static/%00/x.css"])
def test_a_nul_in_a_static_path_is_a_404(run, make_app, path):
    """The file system refuses a name with NUL; the answer is a plain 404, not a crash."""
    app = make_app()
    base = "http://%s:%d" % app.http.address
    assert run(http_request(reactor, "GET", base + path)).status == 404


def test_the_static_files_are_still_served(run, make_app):
    """A real stylesheet of the pages comes back 200."""
    app = make_app()
    base = "http://%s:%d" % app.http.address
    assert run(http_request(reactor, "GET", base + "/static/desktop.css")).status == 200
