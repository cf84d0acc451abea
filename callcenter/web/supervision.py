"""Supervisor and admin actions over JSON, and the live snapshot the dashboard shows.

``GET  /api/supervisor/snapshot``                       queues, waiting work with scores, agents
``POST /api/supervisor/agents/{agent}/state``           ``{"state": "available"|"not_ready"|"logged_out", "reason"?}``
``POST /api/supervisor/interactions/{id}/move``         ``{"queue"}``
``POST /api/supervisor/interactions/{id}/priority``     ``{"priority": int}``
``POST /api/admin/reload``                               validate and apply config/ (admin only)
``POST /api/admin/dry-run``                              a routing dry run of the posted interaction

Every action is audited (who, what, when). Supervisors and admins only; reload is admin only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Awaitable, Callable

from callcenter.reports.metrics import MetricsRegistry, register_kpi_metrics
from callcenter.dispatch.agent_work import InvalidState
from callcenter.dispatch.switchboard import Switchboard
from callcenter.web.jsonapi import ApiError, ApiRequest, JsonApi, JsonResponse
from callcenter.web.serialize import to_json
from routing import RoutingError

Guard = Callable[[ApiRequest], Awaitable[Any]]


def snapshot(board: Switchboard, clock: Any, monitor: Any = None) -> dict[str, Any]:
    """Everything the live dashboard shows, JSON-ready: per queue its waiting count, longest
    wait, target, agents by state and today's figures; the waiting work in order with its
    score parts and channel; the active alerts of ``monitor`` (an
    :class:`~callcenter.reports.alerting.AlertMonitor`, if any); every agent with time in state."""
    now = clock.now()
    by_queue = board.waiting_by_queue(now)
    waiting = [view for views in by_queue.values() for view in views]
    agents = board.router.agents()
    queues = {}
    for name, q in sorted(board.settings.queues.items()):
        mine = by_queue[name]
        counters = board.stats.queue(name) if board.stats is not None else None
        members = {m.agent for m in q.members}
        queues[name] = {
            "label": q.label, "waiting": len(mine), "longest_wait": max((w.waited for w in mine), default=0.0),
            "target": {"percent": q.service_level.percent, "within": q.service_level.within},
            "agents": {state: sum(1 for a in agents if a.agent in members and a.state == state)
                       for state in ("available", "busy", "wrap_up", "not_ready")},
            "today": None if counters is None else counters.today_json(),
        }
    alerts = [{"queue": a.queue, "kind": a.kind, "message": a.message} for a in (monitor.active if monitor else ())]
    def today(agent: str) -> dict[str, Any]:
        if board.stats is None:
            return {"handled": None, "occupancy": None}
        counters = board.stats.agent(agent)
        return {"handled": counters.handled, "occupancy": counters.occupancy(now)}

    waiting_json = [dict(view, channel=board.channel_of.get(view["interaction"])) for view in to_json(waiting)]
    return {"now": now, "queues": queues, "waiting": waiting_json, "alerts": alerts,
            "agents": [dict(to_json(a), name=board.settings.agents[a.agent].name if a.agent in board.settings.agents
                            else a.agent, since_seconds=time_in_state(a, now), today=today(a.agent),
                            work_channels=[board.channel_of.get(iid) for iid in a.work],
                            offer_channels=[board.channel_of.get(iid) for iid in a.offers])
                       for a in agents]}


def time_in_state(agent: Any, now: float) -> float | None:
    """Seconds ``agent`` has been in its state, or None when that means nothing: a logged-out
    agent (whose ``since`` is 0, the epoch, until the first login) or a state with no start."""
    if agent.state == "logged_out" or agent.since <= 0:
        return None
    return round(max(0.0, now - agent.since), 1)


async def today_snapshot(board: Switchboard, clock: Any, monitor: Any = None) -> dict[str, Any]:
    """:func:`snapshot`, once today's figures have been recomputed from the record."""
    if board.stats is not None:
        await board.stats.recomputed()
    return snapshot(board, clock, monitor)


class SupervisionApi:
    """The routes above; ``supervisor``/``admin`` authenticate and check the role."""

    def __init__(self, board: Switchboard, store: Any, clock: Any, supervisor: Guard, admin: Guard,
                 reload: Callable[[str], Awaitable[Any]], dry_run: Callable[[dict, dt.datetime], dict],
                 alerts: Any = None) -> None:
        self._board = board
        self._alerts = alerts
        self._store = store
        self._clock = clock
        self._supervisor = supervisor
        self._admin = admin
        self._reload = reload
        self._dry_run = dry_run

    def register(self, api: JsonApi) -> None:
        """Add the routes to ``api``."""
        api.add("GET", "/api/supervisor/snapshot", self.get_snapshot)
        api.add("POST", "/api/supervisor/agents/{agent}/state", self.agent_state)
        api.add("POST", "/api/supervisor/interactions/{id}/move", self.move)
        api.add("POST", "/api/supervisor/interactions/{id}/priority", self.priority)
        api.add("POST", "/api/admin/reload", self.reload)
        api.add("POST", "/api/admin/dry-run", self.dry_run)

    async def get_snapshot(self, req: ApiRequest) -> object:
        """Queues, waiting work with score parts, agents."""
        await self._supervisor(req)
        return await today_snapshot(self._board, self._clock, self._alerts)

    async def agent_state(self, req: ApiRequest) -> object:
        """Change an agent's state (audited)."""
        who = await self._supervisor(req)
        agent = req.params["agent"]
        if agent not in self._board.settings.agents:
            raise ApiError(404, "not_found", f"agent {agent!r} not found")
        body = req.json_object()
        state, reason = body.get("state"), body.get("reason")
        try:
            self._board.change_state(agent, state, reason)
        except InvalidState as error:
            raise ApiError(422, "invalid_input", error.message, error.field) from None
        except RoutingError as error:
            raise ApiError(409, "not_possible", str(error)) from None
        await self._store.record_audit("agent.state", "agent", 0, actor=who.login,
                                       details={"agent": agent, "state": state, "reason": reason})
        return to_json(self._board.router.agent_view(agent))

    async def move(self, req: ApiRequest) -> object:
        """Move a waiting interaction to another queue (audited)."""
        who = await self._supervisor(req)
        iid = req.path_id("interaction")
        queue = req.json_object().get("queue")
        if not isinstance(queue, str) or queue not in self._board.settings.queues:
            raise ApiError(422, "invalid_input", "queue must be a configured queue", "queue")
        try:
            self._board.move(iid, queue, who.login)
        except RoutingError as error:
            raise ApiError(409, "not_waiting", str(error)) from None
        await self._store.record_audit("interaction.move", "interaction", iid, actor=who.login, details={"queue": queue})
        return {"moved": iid, "queue": queue}

    async def priority(self, req: ApiRequest) -> object:
        """Change a waiting interaction's priority (audited)."""
        who = await self._supervisor(req)
        iid = req.path_id("interaction")
        priority = req.json_object().get("priority")
        if not isinstance(priority, int) or isinstance(priority, bool) or not -100 <= priority <= 100:
            raise ApiError(422, "invalid_input", "priority must be an integer from -100 to 100", "priority")
        try:
            self._board.set_priority(iid, priority, who.login)
        except RoutingError as error:
            raise ApiError(409, "not_waiting", str(error)) from None
        await self._store.record_audit("interaction.priority", "interaction", iid, actor=who.login,
                                       details={"priority": priority})
        return {"interaction": iid, "priority": priority}

    async def reload(self, req: ApiRequest) -> object:
        """Validate config/ and apply it, or keep the running one and list the errors."""
        who = await self._admin(req)
        outcome = await self._reload(who.login)
        result = outcome.to_json()
        if not outcome.applied:
            return JsonResponse(result, 422)
        return result

    async def dry_run(self, req: ApiRequest) -> object:
        """How the posted interaction would be routed now, with every agent assumed available."""
        await self._supervisor(req)
        return self._dry_run(_dry_run_input(req.json_object()), self._clock.utcnow())


_DRY_RUN_TEXT = ("channel", "to", "digits", "language", "subject", "body", "tier", "at")
_DRY_RUN_MAPS = ("variables", "attributes")


def _dry_run_input(body: dict) -> dict:
    """The posted sample interaction, checked: ApiError 422 naming a key the rules do not read,
    a text that is not a string, an unknown channel, or variables/attributes that are not flat."""
    unknown = sorted(set(body) - set(_DRY_RUN_TEXT) - set(_DRY_RUN_MAPS))
    if unknown:
        raise ApiError(422, "invalid_input", f"unknown key; use {', '.join(_DRY_RUN_TEXT + _DRY_RUN_MAPS)}", unknown[0])
    for key in _DRY_RUN_TEXT:
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ApiError(422, "invalid_input", f"{key} must be a string", key)
    if body.get("channel") not in (None, "voice", "email", "webform"):
        raise ApiError(422, "invalid_input", "channel must be voice, email or webform", "channel")
    for key in _DRY_RUN_MAPS:
        value = body.get(key)
        if value is not None and (not isinstance(value, dict)
                                  or any(isinstance(v, (dict, list)) for v in value.values())):
            raise ApiError(422, "invalid_input", f"{key} must be an object of strings, numbers or booleans", key)
    return body


def collect_metrics(registry: MetricsRegistry, board: Switchboard, health: Any, clock: Any) -> None:
    """Register the server's Prometheus families, read from the live state at scrape time."""

    def per_queue(value: Callable[[str, list], float], today: bool = False) -> Callable[[], list]:
        def collect() -> list:
            if today and board.stats is not None and not board.stats.ready:
                return []  # no sample rather than a zero a counter would read as a reset
            by_queue = board.waiting_by_queue(clock.now())
            return [({"queue": name}, value(name, by_queue[name])) for name in sorted(board.settings.queues)]
        return collect

    def agents_by_state() -> list:
        states = {s: 0 for s in ("logged_out", "not_ready", "available", "busy", "wrap_up")}
        for a in board.router.agents():
            states[a.state] = states.get(a.state, 0) + 1
        return [({"state": s}, float(n)) for s, n in sorted(states.items())]

    def channels_up() -> list:
        return [({"channel": name}, 1.0 if state == "up" else 0.0) for name, state in sorted(health.channel_states().items())]

    registry.family("callcenter_queue_waiting", "gauge", "Interactions waiting per queue", ("queue",)).collect_with(
        per_queue(lambda _n, mine: float(len(mine))))
    registry.family("callcenter_queue_longest_wait_seconds", "gauge", "Longest current wait per queue",
                    ("queue",)).collect_with(per_queue(lambda _n, mine: max((w.waited for w in mine), default=0.0)))
    if board.stats is not None:
        register_kpi_metrics(registry, board.stats, lambda: sorted(board.settings.queues))
    registry.family("callcenter_agents", "gauge", "Agents by state", ("state",)).collect_with(agents_by_state)
    registry.family("callcenter_channel_up", "gauge", "1 when the channel is up, 0 otherwise",
                    ("channel",)).collect_with(channels_up)
