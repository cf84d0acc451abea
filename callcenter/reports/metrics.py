"""Prometheus text exposition (format 0.0.4) of counters and gauges, without a client library.

Components register metric families once; counters are incremented as things happen, gauges
are either set or read from a callback at scrape time (queue depth, agents by state), so a
scrape always shows the live value. A counter read from a callback never shows less than it
showed before: a counter only grows (Prometheus reads a fall as a restart).

:func:`register_kpi_metrics` exposes the contact-center figures of
:mod:`callcenter.reports.kpi` as counters that are never reset (``increase(...[1d])`` gives
a day) and today's service level as a gauge. :class:`MetricsAccess` restricts the endpoint
to a bearer token and/or a list of client addresses; :class:`MetricsEndpoint` serves it.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

from twisted.web.resource import Resource

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Labels = tuple[tuple[str, str], ...]


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(float(value))


class MetricFamily:
    """One named metric (counter or gauge) with label names and per-label-set values."""

    def __init__(self, name: str, kind: str, help_text: str, label_names: tuple[str, ...] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        if kind not in ("counter", "gauge"):
            raise ValueError(f"unsupported metric type {kind!r}")
        for label in label_names:
            if not _LABEL.match(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r}")
        self.name, self.kind, self.help, self.label_names = name, kind, help_text, label_names
        self._values: dict[Labels, float] = {}
        self._collector: Callable[[], Iterable[tuple[Mapping[str, str], float]]] | None = None

    def _key(self, labels: Mapping[str, str]) -> Labels:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} needs labels {self.label_names}, got {tuple(labels)}")
        return tuple((name, str(labels[name])) for name in self.label_names)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (>= 0 for counters) to the value for ``labels``."""
        if self.kind == "counter" and amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, value: float, **labels: str) -> None:
        """Set a gauge's value for ``labels``."""
        if self.kind != "gauge":
            raise ValueError("only a gauge can be set")
        self._values[self._key(labels)] = value

    def collect_with(self, collector: Callable[[], Iterable[tuple[Mapping[str, str], float]]]) -> None:
        """Read (labels, value) pairs from ``collector`` at every scrape instead of stored values."""
        self._collector = collector

    def samples(self) -> list[tuple[Labels, float]]:
        """The current (labels, value) pairs, sorted by labels."""
        if self._collector is not None:
            read = sorted((self._key(labels), float(value)) for labels, value in self._collector())
            if self.kind != "counter":
                return read
            # A counter never shows less than it showed (a recount after a reload may be lower).
            out = []
            for key, value in read:
                value = max(value, self._values.get(key, 0.0))
                self._values[key] = value
                out.append((key, value))
            return out
        return sorted(self._values.items())


class MetricsRegistry:
    """All metric families of the process, rendered together."""

    def __init__(self) -> None:
        self._families: dict[str, MetricFamily] = {}

    def family(self, name: str, kind: str, help_text: str, label_names: tuple[str, ...] = ()) -> MetricFamily:
        """Register (or return the identical existing) family; ValueError on a conflicting re-registration."""
        existing = self._families.get(name)
        if existing is not None:
            if (existing.kind, existing.label_names) != (kind, label_names):
                raise ValueError(f"metric {name} already registered differently")
            return existing
        fam = MetricFamily(name, kind, help_text, label_names)
        self._families[name] = fam
        return fam

    def render(self) -> str:
        """The exposition text of every family, families sorted by name."""
        lines: list[str] = []
        for name in sorted(self._families):
            fam = self._families[name]
            lines.append(f"# HELP {name} {_escape_help(fam.help)}")
            lines.append(f"# TYPE {name} {fam.kind}")
            sample_name = name + "_total" if fam.kind == "counter" and not name.endswith("_total") else name
            for labels, value in fam.samples():
                label_text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                lines.append(f"{sample_name}{{{label_text}}} {_format_value(value)}" if label_text else f"{sample_name} {_format_value(value)}")
        return "\n".join(lines) + "\n"


# --- the contact-center figures ---

#: Counter families of :func:`register_kpi_metrics`: (name, help, Tally attribute).
KPI_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("callcenter_legs_offered", "Queue legs that entered the queue (each contact once per queue it visits)",
     "offered"),
    ("callcenter_legs_answered", "Queue legs answered", "answered"),
    ("callcenter_legs_answered_within_target", "Queue legs answered within the target's T", "answered_within"),
    ("callcenter_legs_abandoned", "Queue legs abandoned after the short-abandon threshold", "abandoned"),
    ("callcenter_legs_short_abandoned", "Queue legs abandoned before the short-abandon threshold",
     "short_abandoned"),
    ("callcenter_legs_overflowed_out", "Queue legs that left unanswered for another queue", "overflowed_out"),
    ("callcenter_legs_transferred_out", "Answered queue legs transferred to another queue", "transferred_out"),
    ("callcenter_callbacks_requested", "Queue legs left with a callback request", "callbacks_requested"),
    ("callcenter_answer_wait_seconds", "Seconds answered legs waited (ASA = rate of this / rate of answered)",
     "wait_total"),
    ("callcenter_handles", "Legs whose handling (talk, hold, wrap-up) ended", "handle_count"),
    ("callcenter_handle_seconds", "Seconds of talk, hold and wrap-up of handled legs", "handle_total"),
)


def register_kpi_metrics(registry: MetricsRegistry, stats: Any, queues: Callable[[], Iterable[str]]) -> None:
    """Expose ``stats`` (a :class:`callcenter.reports.livestats.LiveStats`) on ``registry``.

    Counters by queue and channel come from :meth:`LiveStats.lifetime` (never reset at
    midnight); the gauge ``callcenter_queue_service_level_today`` is today's service level of
    each queue of ``queues()`` under the site's definition (no sample while it is undefined).
    No sample is given before today's figures are recomputed from the record.
    """

    def counter(attribute: str) -> Callable[[], list]:
        def collect() -> list:
            if not stats.ready:
                return []
            return [({"queue": q, "channel": c}, float(getattr(stats.lifetime(q, c), attribute)))
                    for q, c in stats.keys()]
        return collect

    for name, help_text, attribute in KPI_COUNTERS:
        registry.family(name, "counter", help_text, ("queue", "channel")).collect_with(counter(attribute))

    def service_level() -> list:
        if not stats.ready:
            return []
        levels = [(q, stats.queue(q).service_level()) for q in queues()]
        return [({"queue": q, "definition": stats.rules.service_level}, v) for q, v in levels if v is not None]

    registry.family("callcenter_queue_service_level_today", "gauge",
                    "Today's service level per queue (0..1) under the site's definition",
                    ("queue", "definition")).collect_with(service_level)


class InvalidMetricsAccess(ValueError):
    """A token or address of the endpoint's access list is malformed; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


MIN_TOKEN_LENGTH = 16


class MetricsAccess:
    """Who may read ``/metrics``: with ``token``, only requests with ``Authorization: Bearer
    <token>``; with ``allow`` (addresses or networks, IPv4 or IPv6), only clients whose
    address is in one of them; with both, only requests that pass both; with neither, anyone.

    Raises :class:`InvalidMetricsAccess` for a token shorter than :data:`MIN_TOKEN_LENGTH`
    or with spaces, or an entry that is not an address or network.
    """

    def __init__(self, token: str | None = None, allow: Sequence[str] = ()) -> None:
        if token is not None and (len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token)):
            raise InvalidMetricsAccess("token", f"must be at least {MIN_TOKEN_LENGTH} characters without spaces")
        self._token = token
        self._networks = []
        for entry in allow:
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise InvalidMetricsAccess("allow", f"{entry!r} is not an IP address or network") from None

    def allows(self, address: str | None, authorization: str | None) -> bool:
        """Whether a client at ``address`` with this ``Authorization`` header may read."""
        if self._networks:
            try:
                ip = ipaddress.ip_address(address or "")
            except ValueError:
                return False
            if getattr(ip, "ipv4_mapped", None) is not None:
                ip = ip.ipv4_mapped
            if not any(ip in net for net in self._networks):
                return False
        if self._token is not None:
            scheme, _, given = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token.encode()):
                return False
        return True


class MetricsEndpoint(Resource):
    """``GET /metrics``: the exposition of ``registry`` to clients ``access()`` (the access in
    force, read at each request so a reload applies) allows; others get 403."""

    isLeaf = True

    def __init__(self, registry: MetricsRegistry, access: Callable[[], MetricsAccess]) -> None:
        super().__init__()
        self._registry = registry
        self._access = access

    def render_GET(self, request: Any) -> bytes:  # noqa: N802 - twisted API
        access = self._access()
        peer = request.getClientAddress()
        authorization = request.getHeader(b"authorization")
        text = authorization.decode("latin-1") if authorization else None
        if not access.allows(getattr(peer, "host", None), text):
            request.setResponseCode(403)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"forbidden\n"
        request.setHeader(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return self._registry.render().encode("utf-8")
