"""The JSON API dispatcher over a real loopback socket."""

from __future__ import annotations

from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.server import Site

from callcenter.web.jsonapi import ApiError, ApiRequest, JsonApi, JsonResponse
from tests.support.http import http_request


class Boom(Exception):
    """A domain error the translator maps to 409."""


class JsonApiTests(TestCase):
    """Routing, bodies and errors of JsonApi."""

    def setUp(self):
        api = JsonApi(translate_error=lambda e: ApiError(409, "boom", str(e)) if isinstance(e, Boom) else None, max_body=64)

        async def get_item(req: ApiRequest):
            return {"id": req.params["id"], "limit": req.query_int("limit", 10, 1, 100)}

        async def post_item(req: ApiRequest):
            body = req.json_object()
            return JsonResponse({"got": body}, status=201, headers={"location": "/api/items/1"})

        async def fail_known(req: ApiRequest):
            raise Boom("already there")

        async def fail_unknown(req: ApiRequest):
            raise RuntimeError("secret internals")

        api.add("GET", "/api/items/{id}", get_item)
        api.add("POST", "/api/items", post_item)
        api.add("GET", "/api/known", fail_known)
        api.add("GET", "/api/unknown", fail_unknown)
        self.port = reactor.listenTCP(0, Site(api), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.base = f"http://127.0.0.1:{self.port.getHost().port}"

    async def test_path_parameter_and_query(self):
        """A path parameter and an integer query parameter reach the handler."""
        r = await http_request(reactor, "GET", self.base + "/api/items/abc?limit=5")
        self.assertEqual((r.status, r.json()), (200, {"id": "abc", "limit": 5}))

    async def test_query_out_of_range_names_field(self):
        """An out-of-range query parameter is a 400 naming the parameter."""
        r = await http_request(reactor, "GET", self.base + "/api/items/abc?limit=0")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["field"], "limit")

    async def test_json_body_and_status(self):
        """A JSON object body is parsed; a JsonResponse sets status and headers."""
        r = await http_request(reactor, "POST", self.base + "/api/items", json_body={"a": 1})
        self.assertEqual((r.status, r.json(), r.headers["location"]), (201, {"got": {"a": 1}}, "/api/items/1"))

    async def test_malformed_json(self):
        """Malformed JSON is a 400 with code malformed_json."""
        r = await http_request(reactor, "POST", self.base + "/api/items", body=b"{nope", headers={"content-type": "application/json"})
        self.assertEqual((r.status, r.json()["error"]["code"]), (400, "malformed_json"))

    async def test_deeply_nested_json_is_a_400_not_a_500(self):
        """Bodies nested 1,000 and 100,000 levels deep, and one just past MAX_JSON_DEPTH, are 400s;
        one at the limit is parsed."""
        from callcenter.web.jsonapi import MAX_JSON_DEPTH

        api = JsonApi()

        async def echo(req: ApiRequest):
            return {"ok": isinstance(req.json(), list)}

        api.add("POST", "/api/echo", echo)
        port = reactor.listenTCP(0, Site(api), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        url = f"http://127.0.0.1:{port.getHost().port}/api/echo"
        for depth in (1000, 100_000, MAX_JSON_DEPTH + 1):
            r = await http_request(reactor, "POST", url, body=b"[" * depth + b"]" * depth,
                                   headers={"content-type": "application/json"})
            self.assertEqual((r.status, r.json()["error"]["code"]), (400, "malformed_json"), depth)
        r = await http_request(reactor, "POST", url, body=b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH,
                               headers={"content-type": "application/json"})
        self.assertEqual((r.status, r.json()), (200, {"ok": True}))

    async def test_nul_in_a_path_parameter_is_a_404(self):
        """%00 in an id is a JSON 404 naming nothing internal, never a 500."""
        api = JsonApi()

        async def get_one(req: ApiRequest):
            return {"id": req.path_id("item")}

        api.add("GET", "/api/one/{id}", get_one)
        port = reactor.listenTCP(0, Site(api), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        r = await http_request(reactor, "GET", f"http://127.0.0.1:{port.getHost().port}/api/one/1%00")
        self.assertEqual((r.status, r.json()["error"]["code"]), (404, "not_found"))

    async def test_wrong_content_type(self):
        """A body that is not application/json is a 415."""
        r = await http_request(reactor, "POST", self.base + "/api/items", body=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 415)

    async def test_body_too_large(self):
        """A body over the cap is a 413 before the handler runs."""
        r = await http_request(reactor, "POST", self.base + "/api/items", json_body={"a": "x" * 100})
        self.assertEqual((r.status, r.json()["error"]["code"]), (413, "body_too_large"))

    async def test_unknown_path_and_method(self):
        """An unknown path is a JSON 404; a known path with another method is a 405 with Allow."""
        r = await http_request(reactor, "GET", self.base + "/api/nothing")
        self.assertEqual((r.status, r.json()["error"]["code"]), (404, "not_found"))
        r = await http_request(reactor, "DELETE", self.base + "/api/items/1")
        self.assertEqual((r.status, r.headers["allow"]), (405, "GET"))

    async def test_translated_and_unhandled_errors(self):
        """A translated domain error keeps its message; an unexpected one is a bare 500."""
        r = await http_request(reactor, "GET", self.base + "/api/known")
        self.assertEqual((r.status, r.json()["error"]["message"]), (409, "already there"))
        r = await http_request(reactor, "GET", self.base + "/api/unknown")
        self.assertEqual(r.status, 500)
        self.assertNotIn(b"secret", r.body)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
