"""The REST API of the customer record, ``/health`` and the OpenAPI document.

:func:`build_api` registers every route on a :class:`JsonApi`; the routes and their shapes
are documented in ``callcenter/web/openapi.yaml`` (served as ``/api/openapi.json``), and a
test checks that the two list the same operations. Record-layer errors become JSON errors
naming the field: NotFound -> 404, InvalidInput/InvalidContact -> 422, Conflict -> 409.
Other parts of the server add their own routes to the same :class:`JsonApi`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Awaitable, Callable

import yaml

from callcenter.runtime.health import HealthCheck
from callcenter.records.errors import Conflict, InvalidContact, InvalidInput, NotFound
from callcenter.web.jsonapi import ApiError, ApiRequest, JsonApi, JsonResponse
from callcenter.web import notes
from callcenter.web.serialize import to_json

CUSTOMER_FIELDS = ("display_name", "tier", "language", "attributes", "external_ids")
MAX_TIMELINE_LIMIT = 200

# authorize(request, action) raises ApiError 401/403 when the caller may not do ``action``;
# otherwise it returns who the caller is (an object with ``login``), or None when nobody signs in.
Authorizer = Callable[[ApiRequest, str], Awaitable[Any]]


async def _allow_all(_req: ApiRequest, _action: str) -> None:
    return None


def translate_record_error(error: Exception) -> ApiError | None:
    """The JSON error for a record-layer exception, or None for anything else."""
    if isinstance(error, NotFound):
        return ApiError(404, "not_found", str(error))
    if isinstance(error, InvalidContact):
        return ApiError(422, "invalid_contact", error.message, error.field)
    if isinstance(error, InvalidInput):
        return ApiError(422, "invalid_input", error.message, error.field)
    if isinstance(error, Conflict):
        return ApiError(409, "conflict", error.message)
    return None


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    """The OpenAPI document shipped in this package, parsed."""
    text = resources.files("callcenter.web").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _only_fields(body: dict, allowed: tuple[str, ...]) -> dict:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(422, "unknown_field", f"unknown field {unknown[0]!r}; allowed: {', '.join(allowed)}", unknown[0])
    return body


class CustomerApi:
    """Handlers of ``/api/customers``; ``authorize`` guards each (actions ``customers.read/write``,
    and ``customers.merge``, which the application grants to supervisors and admins only)."""

    def __init__(self, store: Any, authorize: Authorizer = _allow_all) -> None:
        self._store = store
        self._authorize = authorize

    def register(self, api: JsonApi) -> None:
        """Add every customer route to ``api``."""
        api.add("GET", "/api/customers", self.lookup)
        api.add("POST", "/api/customers", self.create)
        api.add("GET", "/api/customers/{id}", self.get)
        api.add("PATCH", "/api/customers/{id}", self.update)
        api.add("GET", "/api/customers/{id}/timeline", self.timeline)
        api.add("POST", "/api/customers/{id}/contact-points", self.add_contact_point)
        api.add("POST", "/api/customers/{id}/merge", self.merge)
        api.add("GET", "/api/interactions/{id}", self.interaction)

    async def lookup(self, req: ApiRequest) -> object:
        """Customers owning the phone or email in the query (zero or one)."""
        await self._authorize(req, "customers.read")
        phone, email = req.query_one("phone"), req.query_one("email")
        if (phone is None) == (email is None):
            raise ApiError(400, "missing_parameter", "give exactly one of phone or email", "phone" if phone is None else "email")
        if phone is not None:
            found = await self._store.find_customer_by_phone(phone)
        else:
            found = await self._store.find_customer_by_email(email)
        return {"customers": [to_json(found)] if found is not None else []}

    async def create(self, req: ApiRequest) -> object:
        """Create a customer with its contact points; 201 with the customer."""
        await self._authorize(req, "customers.write")
        body = _only_fields(req.json_object(), CUSTOMER_FIELDS + ("contact_points",))
        points = body.pop("contact_points", [])
        if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
            raise ApiError(422, "invalid_input", "contact_points must be a list of {kind, value} objects", "contact_points")
        for index, point in enumerate(points):
            if set(point) != {"kind", "value"}:
                raise ApiError(422, "invalid_input", "each contact point has exactly kind and value",
                               f"contact_points[{index}]")
        customer = await self._store.create_customer(contact_points=points, **body)
        return JsonResponse(to_json(customer), 201, {"location": f"/api/customers/{customer.id}"})

    async def get(self, req: ApiRequest) -> object:
        """The customer (a merged id resolves to the survivor) with its first timeline page."""
        viewer = await self._authorize(req, "customers.read")
        customer = await self._store.get_customer(req.path_id("customer"))
        limit = req.query_int("limit", 50, 1, MAX_TIMELINE_LIMIT)
        page = await self._store.timeline(customer.id, limit=limit)
        return {"customer": to_json(customer), "timeline": notes.timeline_for(viewer, to_json(page))}

    async def update(self, req: ApiRequest) -> object:
        """Change some of the customer's fields; documents are replaced whole."""
        await self._authorize(req, "customers.write")
        body = _only_fields(req.json_object(), CUSTOMER_FIELDS)
        if not body:
            raise ApiError(422, "invalid_input", f"nothing to change; give any of {', '.join(CUSTOMER_FIELDS)}")
        return to_json(await self._store.update_customer(req.path_id("customer"), **body))

    async def timeline(self, req: ApiRequest) -> object:
        """A page of the customer's interactions on every channel, newest first."""
        viewer = await self._authorize(req, "customers.read")
        limit = req.query_int("limit", 50, 1, MAX_TIMELINE_LIMIT)
        page = await self._store.timeline(req.path_id("customer"), limit=limit, cursor=req.query_one("cursor"))
        return notes.timeline_for(viewer, to_json(page))

    async def add_contact_point(self, req: ApiRequest) -> object:
        """Give the customer another phone or email; 409 if it belongs to someone else."""
        await self._authorize(req, "customers.write")
        body = req.json_object()
        for name in ("kind", "value"):
            if not isinstance(body.get(name), str):
                raise ApiError(422, "invalid_input", f"{name} must be a string", name)
        _only_fields(body, ("kind", "value"))
        customer = await self._store.add_contact_point(req.path_id("customer"), body["kind"], body["value"])
        return JsonResponse(to_json(customer), 201)

    async def merge(self, req: ApiRequest) -> object:
        """Merge ``merge_id`` into the customer in the path; the survivor is returned.

        The audit entry names the authenticated caller and nobody else: an ``actor`` in the body
        is refused (422) rather than silently replaced, so no client believes it was recorded.
        """
        caller = await self._authorize(req, "customers.merge")
        body = _only_fields(req.json_object(), ("merge_id",))
        merge_id = body.get("merge_id")
        if not isinstance(merge_id, int) or isinstance(merge_id, bool):
            raise ApiError(422, "invalid_input", "merge_id must be a customer id (integer)", "merge_id")
        survivor = req.path_id("customer")
        if merge_id == survivor:
            raise ApiError(422, "invalid_input", "a customer cannot be merged into itself", "merge_id")
        actor = getattr(caller, "login", None)
        return to_json(await self._store.merge_customers(survivor, merge_id, actor=actor))

    async def interaction(self, req: ApiRequest) -> object:
        """One interaction with its append-only event log."""
        viewer = await self._authorize(req, "interactions.read")
        interaction = await self._store.get_interaction(req.path_id("interaction"))
        events = await self._store.interaction_events(interaction.id)
        return {"interaction": notes.interaction_for(viewer, to_json(interaction)),
                "events": notes.events_for(viewer, to_json(events))}


def build_api(store: Any, health: HealthCheck, authorize: Authorizer = _allow_all) -> JsonApi:
    """The JSON API with ``/health``, ``/api/openapi.json`` and the customer record routes."""
    api = JsonApi(translate_error=translate_record_error)

    async def get_health(_req: ApiRequest) -> object:
        status, report = await health.report()
        return JsonResponse(report, 503 if status in ("down", "recovering") else 200)

    async def get_openapi(_req: ApiRequest) -> object:
        return openapi_document()

    api.add("GET", "/health", get_health)
    api.add("GET", "/api/openapi.json", get_openapi)
    CustomerApi(store, authorize).register(api)
    return api

