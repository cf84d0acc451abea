"""Historical report pages, CSV export, SVG charts and the Erlang C calculator.

:class:`ReportsResource` is mounted by the composition root (for example at ``/reports``);
paths below are relative to it. Every request first passes ``authorize(request)`` (a bool
or an awaitable bool): False gives 403 and nothing is read, except that a page asked for by
nobody signed in (with the header hooks given) answers 303 to ``/login?next=...``.

``GET /``                the report page: form, table, charts (``?from&to&interval&by&queue``)
``GET /export.csv``      the same rows as CSV (:mod:`callcenter.reports.export`)
``GET /chart/<name>.svg`` ``volume``, ``service-level`` or ``handle-time`` of the totals
``GET /erlang``          the Erlang C calculator page
``GET /erlang.json``     the same as JSON

A range read from the record serves the requests that follow within a minute (the page's
three charts, its CSV), so one page is one read; figures are at most a minute old.

The pages link their charts, CSV and each other by absolute paths under the mount point, so
``/reports`` and ``/reports/`` show the same working page; they carry the shared page header
(links of the signed-in role and sign-out) when the integrator supplies ``csrf_for``.

Report parameters: ``from`` and ``to`` are local dates ``YYYY-MM-DD`` of the site time zone
(``to`` inclusive; both default to today), ``interval`` is ``15min``, ``hour`` (default) or
``day``, ``by`` is ``queue`` (default), ``channel``, ``agent``, a pair of them joined by a
comma (``queue,channel``, ``queue,agent``, ``channel,agent``) or ``none``, and ``queue``
optionally keeps one queue. ``bom=1`` on the CSV puts a UTF-8 byte-order mark first (for
Excel). The figures are those of :mod:`callcenter.reports.kpi`, over queue legs. The calculator takes the observed traffic of one interval
(``date``, ``interval``, ``start`` = local ``HH:MM``, optional ``queue``): contacts offered,
their AHT, the queue's target; ``contacts``, ``period``, ``aht``, ``target`` (percent) and
``within`` (seconds) given in the query replace the observed values. Bad parameters give
400 naming the parameter (JSON body ``{"error": {"code", "message", "field"}}`` on the JSON
route, plain text elsewhere).
"""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Awaitable, Callable
from urllib.parse import quote
from zoneinfo import ZoneInfo

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from callcenter.reports import charts
from callcenter.reports.erlang import InvalidTraffic, Staffing, agents_needed, erlang_c, offered_load
from callcenter.reports.export import rows_to_csv
from callcenter.reports.intervals import GRANULARITIES, Interval, day_range, interval_of
from callcenter.reports.kpi import SERVICE_LEVELS, KpiRow, compute_report, rules_from_settings, total
from callcenter.web.i18n import labels
from callcenter.web.pages import header_context, page_environment, request_language

log = Logger(namespace="callcenter.web.reports")

Authorize = Callable[[Request], "bool | Awaitable[bool]"]
BY_CHOICES = ("queue", "channel", "agent", "queue,channel", "queue,agent", "channel,agent", "none")
BY_LABELS = {"queue,channel": "queue × channel", "queue,agent": "queue × agent", "channel,agent": "channel × agent"}
_PAGES = ("", "index.html", "erlang")  # HTML pages: without a session they lead to sign-in
MAX_DAYS = 92
READ_KEPT_FOR = 60.0  # seconds a range read serves the page's charts and CSV too
READ_KEPT_MAX = 4
CHARTS = {"volume": charts.volume_chart, "handle-time": charts.handle_time_chart}
_CSP = b"default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"


class BadParameter(Exception):
    """A query parameter is wrong; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReportQuery:
    """A checked report request: local dates (``last`` inclusive), granularity, grouping, queue filter."""

    first: date
    last: date
    interval: str
    by: str
    queue: str | None

    def query_string(self) -> str:
        """These parameters as a URL query (for links to the CSV and the charts)."""
        parts = [f"from={self.first}", f"to={self.last}", f"interval={self.interval}", f"by={self.by}"]
        return "&".join(parts + ([f"queue={self.queue}"] if self.queue else []))


def _arg(request: Request, name: str) -> str | None:
    values = request.args.get(name.encode())
    if not values:
        return None
    try:
        return values[0].decode("utf-8").strip() or None
    except UnicodeDecodeError:
        raise BadParameter(name, "is not UTF-8") from None


def _date(request: Request, name: str, default: date) -> date:
    text = _arg(request, name)
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadParameter(name, "must be a date like 2026-03-02") from None


def _choice(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    text = _arg(request, name) or default
    if text not in choices:
        raise BadParameter(name, f"must be one of {', '.join(choices)}")
    return text


def _number(request: Request, name: str, low: float, high: float) -> float | None:
    text = _arg(request, name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadParameter(name, "must be a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise BadParameter(name, f"must be a number from {low:g} to {high:g}")
    return value


@dataclass
class _Read:
    """A range read from the record: under way (``waiters`` wait for it) or done at ``at``."""

    at: float
    done: bool = False
    value: Any = None
    waiters: list = field(default_factory=list)


class ReportsResource(Resource):
    """The report pages described in the module docstring.

    ``reader`` has ``async legs(start, end)`` and ``async spans(start, end)`` (a
    :class:`~callcenter.records.reporting.ReportingReader`);
    ``settings()`` returns the settings in force (queues, targets, time zone, short-abandon
    threshold); ``clock`` (:class:`callcenter.runtime.clock.Clock`) says what "today" is;
    ``authorize(request)`` is the access check the integrator supplies; ``csrf_for(request)``
    and ``principal_of(request)`` (the principal ``authorize`` found) fill the page header.
    """

    isLeaf = True

    def __init__(self, reader: Any, settings: Callable[[], Any], clock: Any, authorize: Authorize,
                 csrf_for: Callable[[Request], str] | None = None,
                 principal_of: Callable[[Request], Any] = lambda request: None) -> None:
        super().__init__()
        self._reader = reader
        self._settings = settings
        self._clock = clock
        self._authorize = authorize
        self._csrf_for = csrf_for
        self._principal_of = principal_of
        self._kept: dict[tuple[str, datetime, datetime], _Read] = {}
        self._env = page_environment()
        self._env.filters["percent"] = lambda v: "–" if v is None else f"{v * 100:.1f} %"
        self._env.filters["seconds"] = lambda v: "–" if v is None else ("∞" if math.isinf(v) else f"{v:.0f} s")

    def render_GET(self, request: Request) -> object:  # noqa: N802 - twisted API
        d = Deferred.fromCoroutine(self._serve(request))
        d.addErrback(lambda f: (log.failure("report request failed", f), _fail(request)))
        return NOT_DONE_YET

    async def _serve(self, request: Request) -> None:
        path = b"/".join(request.postpath).decode("utf-8", "replace")
        json_route = path == "erlang.json"
        allowed = self._authorize(request)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if not allowed:
            if self._csrf_for is not None and self._principal_of(request) is None and path in _PAGES:
                return _to_sign_in(request)  # a person who is not signed in, not one who may not
            return _send(request, 403, "text/plain; charset=utf-8", "forbidden")
        try:
            if path in ("", "index.html"):
                await self._report_page(request)
            elif path == "export.csv":
                await self._export(request)
            elif path.startswith("chart/") and path.endswith(".svg"):
                await self._chart(request, path[len("chart/"):-len(".svg")])
            elif path in ("erlang", "erlang.json"):
                await self._erlang(request, json_route)
            else:
                _send(request, 404, "text/plain; charset=utf-8", "not found")
        except BadParameter as e:
            if json_route:
                body = {"error": {"code": "invalid_parameter", "message": f"{e.field}: {e.message}", "field": e.field}}
                _send(request, 400, "application/json", json.dumps(body))
            else:
                _send(request, 400, "text/plain; charset=utf-8", f"{e.field}: {e.message}")

    # -- pages --------------------------------------------------------------------------------
    def _page(self, request: Request, template: str, current: str, **values: Any) -> None:
        """Render ``template`` with the header and ``base`` (this resource's absolute path)."""
        base = "/" + "/".join(p.decode("utf-8", "replace") for p in request.prepath)
        header = None
        if self._csrf_for is not None:
            header = header_context(self._principal_of(request), labels(request_language(request)),
                                    self._csrf_for(request), base + current)
        html = self._env.get_template(template).render(base=base, header=header, **values)
        request.setHeader(b"content-security-policy", _CSP)
        _send(request, 200, "text/html; charset=utf-8", html)

    # -- reports ------------------------------------------------------------------------------
    async def _read(self, what: str, start: datetime, end: datetime) -> Any:
        """``reader.legs`` or ``reader.spans`` of a range, kept for :data:`READ_KEPT_FOR` seconds:
        a page's table and its three charts (four requests, often at once) read the record once.
        A failed read is not kept; its error reaches every request that waited for it."""
        now = self._clock.now()
        self._kept = {k: v for k, v in self._kept.items() if not v.done or now - v.at < READ_KEPT_FOR}
        key = (what, start, end)
        kept = self._kept.get(key)
        if kept is not None:
            if kept.done:
                return kept.value
            waiter: Deferred = Deferred()
            kept.waiters.append(waiter)
            return await waiter
        while len(self._kept) >= READ_KEPT_MAX:
            del self._kept[min(self._kept, key=lambda k: self._kept[k].at)]
        kept = self._kept[key] = _Read(now)
        try:
            kept.value = await getattr(self._reader, what)(start, end)
        except Exception as error:
            self._kept.pop(key, None)
            for waiter in kept.waiters:
                waiter.errback(error)
            raise
        kept.done = True
        for waiter in kept.waiters:
            waiter.callback(kept.value)
        kept.waiters = []
        return kept.value

    def _tz(self) -> ZoneInfo:
        return ZoneInfo(self._settings().server.timezone)

    def _today(self) -> date:
        return self._clock.utcnow().astimezone(self._tz()).date()

    def _query(self, request: Request) -> ReportQuery:
        today = self._today()
        first = _date(request, "from", today)
        last = _date(request, "to", first)
        if last < first:
            raise BadParameter("to", "must not be before from")
        if (last - first).days >= MAX_DAYS:
            raise BadParameter("to", f"a report covers at most {MAX_DAYS} days")
        queue = _arg(request, "queue")
        if queue is not None and queue not in self._settings().queues:
            raise BadParameter("queue", "is not a configured queue")
        return ReportQuery(first, last, _choice(request, "interval", GRANULARITIES, "hour"),
                           _choice(request, "by", BY_CHOICES, "queue"), queue)

    async def _rows(self, q: ReportQuery, by: str | None = None) -> tuple[list[KpiRow], Any]:
        settings = self._settings()
        tz = self._tz()
        start, end = day_range(q.first, tz)[0], day_range(q.last, tz)[1]
        legs = await self._read("legs", start, end)
        if q.queue is not None:
            legs = [leg for leg in legs if leg.queue == q.queue]
        by = q.by if by is None else by
        dims = [] if by == "none" else by.split(",")
        groups = [(name,) for name in settings.queues if q.queue in (None, name)] if by == "queue" else []
        # Occupancy is every agent's (or each agent's) time: not for one queue's report.
        spans = await self._read("spans", start, end) if by in ("none", "agent") and q.queue is None else []
        rules = rules_from_settings(settings)
        return compute_report(legs, start, end, q.interval, tz, rules, group_by=dims, groups=groups,
                              spans=spans), settings

    async def _report_page(self, request: Request) -> None:
        q = self._query(request)
        rows, settings = await self._rows(q)
        busy = {r.interval.start for r in rows if not _empty(r)}  # intervals where anything happened
        whole = Interval(rows[0].interval.start, rows[-1].interval.end, "total") if rows else None
        groups: dict[str | None, list[KpiRow]] = {}
        for row in rows if q.by != "none" else ():
            groups.setdefault(_group_of(row, q.by), []).append(row)
        definition = rules_from_settings(settings).service_level
        self._page(request, "reports/report.html", "/",
                   q=q, rows=[r for r in rows if r.interval.start in busy], by_labels=BY_LABELS,
                   definition=definition, definition_text=SERVICE_LEVELS[definition],
                   occupancy=q.by in ("agent", "none") and q.queue is None,
                   folded=len({r.interval.start for r in rows} - busy),
                   group_totals=[(name, total(members, whole)) for name, members in groups.items()]
                   if len(busy) > 1 else [],
                   totals=total(rows, whole) if rows else None, queues=sorted(settings.queues.items()),
                   granularities=GRANULARITIES, by_choices=BY_CHOICES, timezone=settings.server.timezone,
                   short_abandon=settings.supervision.short_abandon, charts=("volume", "service-level", "handle-time"))

    async def _export(self, request: Request) -> None:
        q = self._query(request)
        bom = _choice(request, "bom", ("0", "1"), "0") == "1"
        rows, settings = await self._rows(q)
        request.setHeader(b"content-disposition",
                          f'attachment; filename="report-{q.first}-{q.last}-{q.interval}.csv"'.encode())
        _send(request, 200, "text/csv; charset=utf-8",
              rows_to_csv(rows, self._tz(), rules_from_settings(settings).service_level, bom=bom))

    async def _chart(self, request: Request, name: str) -> None:
        if name not in CHARTS and name != "service-level":
            return _send(request, 404, "text/plain; charset=utf-8", "no such chart")
        q = self._query(request)
        rows, settings = await self._rows(q, by="none")
        if name == "service-level":
            target = settings.queues[q.queue].service_level.percent / 100 if q.queue else None
            svg = charts.service_level_chart(rows, target, settings.server.timezone)
        else:
            svg = CHARTS[name](rows, settings.server.timezone)
        request.setHeader(b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'")
        _send(request, 200, "image/svg+xml; charset=utf-8", svg)

    # -- Erlang C -----------------------------------------------------------------------------
    async def _observed(self, request: Request) -> dict[str, Any]:
        settings = self._settings()
        tz = self._tz()
        day = _date(request, "date", self._today())
        granularity = _choice(request, "interval", GRANULARITIES, "hour")
        start_text = _arg(request, "start") or "09:00"
        try:
            hh, mm = (int(p) for p in start_text.split(":"))
            local = datetime.combine(day, datetime.min.time().replace(hour=hh, minute=mm), tzinfo=tz)
        except ValueError:
            raise BadParameter("start", "must be a local time like 09:00") from None
        slot = interval_of(local, granularity, tz)
        queue = _arg(request, "queue")
        if queue is not None and queue not in settings.queues:
            raise BadParameter("queue", "is not a configured queue")
        legs = [leg for leg in await self._read("legs", slot.start, slot.end) if queue in (None, leg.queue)]
        rules = rules_from_settings(settings)
        [row] = compute_report(legs, slot.start, slot.end, granularity, tz, rules)
        target = rules.target(queue)
        return {"interval": slot.label, "granularity": granularity, "interval_start": slot.start.astimezone(tz).isoformat(),
                "queue": queue, "contacts": row.offered - row.short_abandoned,
                "period": (slot.end - slot.start).total_seconds(), "aht": row.aht,
                "target": target.percent, "within": target.within}

    async def _erlang(self, request: Request, as_json: bool) -> None:
        observed = await self._observed(request)
        given = {name: _number(request, name, low, high) for name, low, high in (
            ("contacts", 0, 1e7), ("period", 1, 86400 * 31), ("aht", 1, 86400), ("target", 1, 99.9),
            ("within", 0, 3600))}
        inputs = {**observed, **{k: v for k, v in given.items() if v is not None}}
        inputs["given"] = sorted(k for k, v in given.items() if v is not None)
        result: Staffing | None = None
        table: list[Staffing] = []
        if inputs["aht"] is None:
            problem = "no handled interaction in this interval to take an AHT from; give aht"
        else:
            problem = None
            try:
                load = offered_load(inputs["contacts"], inputs["period"], inputs["aht"])
                result = agents_needed(load, inputs["aht"], inputs["target"] / 100, inputs["within"])
                table = [erlang_c(load, n, inputs["aht"], inputs["within"])
                         for n in range(max(1, result.agents - 2), result.agents + 4)]
            except InvalidTraffic as e:
                raise BadParameter(e.field, e.message) from None
        if as_json:
            body = {"inputs": inputs, "problem": problem,
                    "result": _staffing_json(result) if result else None,
                    "table": [_staffing_json(s) for s in table]}
            return _send(request, 200, "application/json", json.dumps(body))
        self._page(request, "reports/erlang.html", "/erlang",
                   inputs=inputs, result=result, table=table, problem=problem, queues=sorted(self._settings().queues),
                   granularities=GRANULARITIES, timezone=self._settings().server.timezone)


def _group_of(row: KpiRow, by: str) -> str | None:
    """The value of the ``by`` dimension(s) of ``row`` (queue, channel, agent; a pair joined by " / ")."""
    values = {"queue": row.queue, "channel": row.channel, "agent": row.agent}
    return " / ".join(values[d] or "(none)" for d in by.split(","))


def _empty(row: KpiRow) -> bool:
    """True for an interval and group where nothing happened; an interval whose every group is
    empty is folded away on the page (the CSV keeps it)."""
    return not (row.offered or row.callbacks_offered or row.staffed_seconds)


def _staffing_json(s: Staffing) -> dict[str, Any]:
    return {"agents": s.agents, "load": round(s.load, 4), "wait_probability": round(s.wait_probability, 6),
            "service_level": round(s.service_level, 6), "asa": None if math.isinf(s.asa) else round(s.asa, 3),
            "occupancy": round(s.occupancy, 6)}


def _send(request: Request, status: int, content_type: str, body: str) -> None:
    request.setResponseCode(status)
    request.setHeader(b"content-type", content_type.encode())
    request.setHeader(b"cache-control", b"no-store")
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.write(body.encode("utf-8"))
    request.finish()


def _to_sign_in(request: Request) -> None:
    """303 to the sign-in page, coming back to this page afterwards."""
    back = quote(request.uri.decode("latin-1"), safe="/")
    request.setResponseCode(303)
    request.setHeader(b"location", f"/login?next={back}".encode("ascii"))
    request.setHeader(b"cache-control", b"no-store")
    request.finish()


def _fail(request: Request) -> None:
    if not request.finished and not request.startedWriting:
        _send(request, 500, "text/plain; charset=utf-8", "internal error")

