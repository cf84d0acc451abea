"""The customer REST API, /health and /api/openapi.json through the real application.

Each test builds the server with ``build_application`` on the shipped config, a migrated
database (SQLite and PostgreSQL) and HTTP on a free loopback port, and talks HTTP to it.
"""

from __future__ import annotations


import pytest
from twisted.internet import reactor

from callcenter.web.api import openapi_document
from tests.support.http import http_request



@pytest.fixture
def server(run, make_app, migrated_database_url):
    """A started application with an integration token; (app, base URL)."""
    app = make_app(migrated_database_url, always_open=False)
    run(app.users.create("crm-sync", "admin", "CRM integration"))
    _, secret = run(app.users.create_token("crm-sync", "tests"))
    TOKENS[0] = secret
    host, port = app.http.address
    return app, f"http://{host}:{port}"


TOKENS = [""]


def call(run, method, url, body=None, token=None):
    """One HTTP request on the reactor with the integration's bearer token; the HttpResult."""
    headers = {"authorization": f"Bearer {TOKENS[0] if token is None else token}"} if token != "" else {}
    return run(http_request(reactor, method, url, json_body=body, headers=headers))


def test_the_customer_api_needs_a_signed_in_user_or_a_token(run, server):
    """Without credentials the API is a 401; a wrong token is a 401 too; /health stays open."""
    _, base = server
    assert call(run, "GET", base + "/api/customers?phone=1", token="").status == 401
    assert call(run, "GET", base + "/api/customers?phone=1", token="not-a-token").status == 401
    assert call(run, "GET", base + "/health", token="").status == 200


def test_create_then_look_up_by_phone_in_any_format(run, server):
    """A created customer is found by its phone written nationally or in E.164, and by email any case."""
    _, base = server
    r = call(run, "POST", base + "/api/customers", {
        "display_name": "Ana Silva", "tier": "gold",
        "contact_points": [{"kind": "phone", "value": "(415) 555-0134"}, {"kind": "email", "value": "Ana@Example.COM"}],
    })
    assert r.status == 201, r.body
    created = r.json()
    assert r.headers["location"] == f"/api/customers/{created['id']}"
    assert sorted((p["kind"], p["value"]) for p in created["contact_points"]) == [
        ("email", "ana@example.com"), ("phone", "+14155550134")]
    for query in ("phone=%2B14155550134", "phone=415-555-0134", "email=ANA@example.com"):
        found = call(run, "GET", base + "/api/customers?" + query).json()["customers"]
        assert [c["id"] for c in found] == [created["id"]], query
    assert call(run, "GET", base + "/api/customers?phone=4155550199").json() == {"customers": []}


def test_lookup_needs_exactly_one_contact(run, server):
    """Looking up with neither or both of phone and email is a 400 naming the parameter."""
    _, base = server
    r = call(run, "GET", base + "/api/customers")
    assert (r.status, r.json()["error"]["field"]) == (400, "phone")
    assert call(run, "GET", base + "/api/customers?phone=1&email=a@b.c").status == 400


def test_invalid_contact_is_422_naming_the_field_and_stores_nothing(run, server):
    """A bad phone in a create is a 422 naming the contact point; no customer is created."""
    app, base = server
    r = call(run, "POST", base + "/api/customers", {
        "display_name": "X", "contact_points": [{"kind": "email", "value": "x@example.com"}, {"kind": "phone", "value": "12"}]})
    assert r.status == 422
    assert r.json()["error"]["code"] == "invalid_contact"
    assert "contact_points" in r.json()["error"]["field"]
    assert call(run, "GET", base + "/api/customers?email=x@example.com").json() == {"customers": []}


def test_unknown_field_and_oversized_document_are_rejected(run, server):
    """An unknown field is a 422 naming it; an attributes document over the cap is a 422 naming attributes."""
    _, base = server
    r = call(run, "POST", base + "/api/customers", {"nickname": "x"})
    assert (r.status, r.json()["error"]["field"]) == (422, "nickname")
    r = call(run, "POST", base + "/api/customers", {"attributes": {"blob": "x" * 70_000}})
    assert (r.status, r.json()["error"]["field"]) == (422, "attributes")


def test_get_patch_and_timeline(run, server):
    """A customer is read with its timeline page, patched, and the patch is what a later read sees."""
    app, base = server
    cid = call(run, "POST", base + "/api/customers", {"display_name": "Li Wei"}).json()["id"]
    customer = run(app.store.get_customer(cid))
    for n in range(3):
        run(app.store.create_interaction(customer_id=customer.id, channel="email", direction="inbound",
                                         subject=f"question {n}"))
    body = call(run, "GET", base + f"/api/customers/{cid}?limit=2").json()
    assert body["customer"]["display_name"] == "Li Wei"
    assert [i["subject"] for i in body["timeline"]["items"]] == ["question 2", "question 1"]
    cursor = body["timeline"]["next_cursor"]
    rest = call(run, "GET", base + f"/api/customers/{cid}/timeline?limit=2&cursor={cursor}").json()
    assert [i["subject"] for i in rest["items"]] == ["question 0"] and rest["next_cursor"] is None
    r = call(run, "PATCH", base + f"/api/customers/{cid}", {"tier": "platinum", "language": "zh"})
    assert (r.status, r.json()["tier"], r.json()["language"]) == (200, "platinum", "zh")
    assert call(run, "GET", base + f"/api/customers/{cid}").json()["customer"]["tier"] == "platinum"
    r = call(run, "PATCH", base + f"/api/customers/{cid}", {"tier": "diamond"})
    assert (r.status, r.json()["error"]["field"]) == (422, "tier")


def test_unknown_ids_are_404(run, server):
    """Unknown or non-numeric customer and interaction ids are JSON 404s."""
    _, base = server
    for path in ("/api/customers/999999", "/api/customers/abc", "/api/customers/5/timeline", "/api/interactions/77"):
        r = call(run, "GET", base + path)
        assert (r.status, r.json()["error"]["code"]) == (404, "not_found"), path


def test_contact_point_conflict_is_409(run, server):
    """Adding a phone that belongs to another customer is a 409 and changes nothing."""
    _, base = server
    a = call(run, "POST", base + "/api/customers", {"contact_points": [{"kind": "phone", "value": "+14155550100"}]}).json()
    b = call(run, "POST", base + "/api/customers", {"display_name": "B"}).json()
    r = call(run, "POST", base + f"/api/customers/{b['id']}/contact-points", {"kind": "phone", "value": "+1 415 555 0100"})
    assert r.status == 409
    owner = call(run, "GET", base + "/api/customers?phone=%2B14155550100").json()["customers"]
    assert [c["id"] for c in owner] == [a["id"]]


def test_merge_moves_contacts_and_the_merged_id_resolves(run, server):
    """After a merge the merged customer's contacts belong to the survivor and its id reads the survivor."""
    _, base = server
    a = call(run, "POST", base + "/api/customers", {"display_name": "A", "contact_points": [{"kind": "email", "value": "a@example.com"}]}).json()
    b = call(run, "POST", base + "/api/customers", {"display_name": "B", "contact_points": [{"kind": "email", "value": "b@example.com"}]}).json()
    r = call(run, "POST", base + f"/api/customers/{a['id']}/merge", {"merge_id": b["id"]})
    assert r.status == 200, r.body
    assert sorted(p["value"] for p in r.json()["contact_points"]) == ["a@example.com", "b@example.com"]
    assert call(run, "GET", base + f"/api/customers/{b['id']}").json()["customer"]["id"] == a["id"]
    r = call(run, "POST", base + f"/api/customers/{a['id']}/merge", {"merge_id": a["id"]})
    assert (r.status, r.json()["error"]["field"]) == (422, "merge_id")
    r = call(run, "POST", base + f"/api/customers/{a['id']}/merge", {"merge_id": "b"})
    assert (r.status, r.json()["error"]["field"]) == (422, "merge_id")


def test_merge_records_the_caller_and_needs_a_supervisor(run, server):
    """An agent's merge is a 403 and merges nothing; an actor in the body is a 422; the audit
    entry of an allowed merge names the authenticated caller only."""
    app, base = server
    a = call(run, "POST", base + "/api/customers", {"display_name": "A"}).json()
    b = call(run, "POST", base + "/api/customers", {"display_name": "B"}).json()
    run(app.users.create("agent7", "agent", "Agent Seven"))
    _, agent_token = run(app.users.create_token("agent7", "tests"))
    r = call(run, "POST", base + f"/api/customers/{a['id']}/merge", {"merge_id": b["id"]}, token=agent_token)
    assert (r.status, r.json()["error"]["code"]) == (403, "forbidden")
    r = call(run, "POST", base + f"/api/customers/{a['id']}/merge", {"merge_id": b["id"], "actor": "root (admin) - approved by legal"})
    assert (r.status, r.json()["error"]["field"]) == (422, "actor")
    assert call(run, "GET", base + f"/api/customers/{b['id']}").json()["customer"]["id"] == b["id"]
    assert run(app.store.recent_audit("customer.merge")) == []
    assert call(run, "POST", base + f"/api/customers/{a['id']}/merge", {"merge_id": b["id"]}).status == 200
    (entry,) = run(app.store.recent_audit("customer.merge"))
    assert entry.actor == "crm-sync"


def test_health_reports_database_and_channels(run, server):
    """/health is 200 with the database ok while the database answers."""
    _, base = server
    r = call(run, "GET", base + "/health")
    assert r.status == 200
    assert r.json()["database"]["ok"] is True
    assert r.json()["status"] in ("ok", "degraded")


def test_openapi_document_lists_exactly_the_served_routes(run, server):
    """Every served customer/health route is in openapi.yaml and every documented one is served."""
    app, base = server
    served = {(m.lower(), t) for m, t in app.api.routes() if t.startswith(("/api/customers", "/api/interactions", "/health", "/api/openapi"))}
    documented = {(m, p) for p, ops in openapi_document()["paths"].items() for m in ops if m != "parameters"
                  if p.startswith(("/api/customers", "/api/interactions", "/health", "/api/openapi"))}
    assert served == documented
    r = call(run, "GET", base + "/api/openapi.json")
    assert r.status == 200 and r.json()["openapi"].startswith("3.")
