"""push.js in a real Chromium: DOM events, native reconnect, hard-failure back-off with replay, resync."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet import task
from twisted.web.resource import Resource
from twisted.web.pages import notFound

import callcenter.web
from callcenter.runtime.clock import Clock
from callcenter.web.principal import Principal
from callcenter.web.push import PushHub, PushResource
from callcenter.web.site import HttpService
from tests.support.browser import run_in_chromium

PAGE = b"""<!doctype html><meta charset="utf-8"><title>push</title>
<script src="/static/push.js"></script>
<script>
window.log = [];
["snapshot", "resync", "offer", "open", "lost"].forEach(function (kind) {
  document.addEventListener("push:" + kind, function (e) {
    var n = e.detail && e.detail.data && e.detail.data.n;
    window.log.push(kind + (n !== undefined && n !== null ? ":" + n : ""));
  });
});
window.stream = CallcenterPush.connect("/push", { kinds: ["offer"], minDelay: 100, maxDelay: 400 });
</script>"""

ALICE = Principal(1, "alice", "agent", "alice")


class Bytes(Resource):
    """A fixed body with a content type."""

    isLeaf = True

    def __init__(self, body: bytes, content_type: bytes) -> None:
        super().__init__()
        self.body, self.content_type = body, content_type

    def render_GET(self, request):  # noqa: N802 - twisted API
        request.setHeader(b"content-type", self.content_type)
        return self.body


class Root(Resource):
    """The test site's root: anything unknown (the favicon) is a plain 404."""

    def getChild(self, path, request):  # noqa: N802 - twisted API
        return notFound()


async def always_alice(request):
    """The browser is alice (authentication is tested elsewhere)."""
    return ALICE


@pytest.mark.browser
def test_push_js_replays_after_a_hard_failure_and_resyncs_when_too_far_behind(tmp_path, run):
    """Events become push:<kind> DOM events; after a 503 the wrapper reconnects and gets exactly the
    missed events; when too many were missed it gets resync then snapshot."""
    from twisted.internet import reactor

    async def snapshot(principal):
        return {"n": None, "who": principal.login}

    hub = PushHub(Clock(task.Clock()), replay=4, snapshot=snapshot, epoch="e1")
    root = Root()
    root.putChild(b"push", PushResource(hub, always_alice))
    static = Resource()
    script = (Path(callcenter.web.__file__).parent / "static" / "push.js").read_bytes()
    static.putChild(b"push.js", Bytes(script, b"text/javascript; charset=utf-8"))
    root.putChild(b"static", static)
    root.putChild(b"page", Bytes(PAGE, b"text/html; charset=utf-8"))
    http = HttpService(reactor, root, "127.0.0.1", 0)
    hub.startService()
    http.startService()
    host, port = http.address

    async def offers(page, count):
        await page.wait_for_function(f"window.log.filter(x => x.startsWith('offer')).length >= {count}")

    async def scenario(context):
        page = await context.new_page()
        await page.goto(f"http://{host}:{port}/page")
        await page.wait_for_function("window.log.indexOf('snapshot') >= 0")
        hub.publish("agent:alice", "offer", {"n": 1})
        hub.publish("agent:alice", "offer", {"n": 2})
        await offers(page, 2)
        hub.stopService()  # streams end; reconnects get 503 and EventSource gives up
        await page.wait_for_function("window.log.filter(x => x === 'lost').length >= 2")
        hub.publish("agent:alice", "offer", {"n": 3})
        hub.publish("agent:alice", "offer", {"n": 4})
        hub.startService()
        await offers(page, 4)
        after_replay = await page.evaluate("window.log.slice()")
        hub.stopService()
        await page.wait_for_function("window.log.filter(x => x === 'lost').length >= 4")
        for n in range(5, 12):
            hub.publish("agent:alice", "offer", {"n": n})
        hub.startService()
        await page.wait_for_function("window.log.filter(x => x === 'snapshot').length >= 2")
        hub.publish("agent:alice", "offer", {"n": 12})
        await offers(page, 5)
        return after_replay, await page.evaluate("window.log.slice()")

    try:
        after_replay, final = run_in_chromium(scenario, tmp_path)
    finally:
        if hub.running:
            hub.stopService()
        run(http.stopService())
    events = [x for x in after_replay if x not in ("open", "lost")]
    assert events == ["snapshot", "offer:1", "offer:2", "offer:3", "offer:4"]
    tail = [x for x in final[len(after_replay):] if x not in ("open", "lost")]
    assert tail == ["resync", "snapshot", "offer:12"]
