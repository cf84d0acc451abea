"""Supervisor alerts (pure): thresholds checked against a live snapshot of the queues.

Three kinds of alert, per queue:

- ``service_level``: today's service level is below the threshold (the queue's target
  unless configured otherwise); not raised while today's service level is unknown;
- ``longest_wait``: the longest waiting interaction waited more than N seconds;
- ``no_agent``: the queue is open, and no agent serving it is logged in.

:func:`evaluate` turns a snapshot into the set of active alerts; :class:`AlertBoard` keeps
the active set between snapshots and reports only changes: an alert is *raised* when it
becomes active and *cleared* when it stops, never repeated while it stays active.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

KINDS = ("service_level", "longest_wait", "no_agent")


@dataclass(frozen=True)
class QueueSnapshot:
    """One queue now: waiting count, longest wait (s), today's service level (0..1 or None),
    agents serving it that are logged in, and whether its hours say it is open."""

    queue: str
    waiting: int
    longest_wait: float
    service_level_today: float | None
    agents_logged_in: int
    open: bool


@dataclass(frozen=True)
class AlertThresholds:
    """The thresholds of one queue; None disables a kind.

    ``service_level_below`` is a fraction (0.8 for 80 %); ``longest_wait_above`` seconds.
    """

    service_level_below: float | None = None
    longest_wait_above: float | None = None
    no_agent_logged_in: bool = True


@dataclass(frozen=True, order=True)
class Alert:
    """An active condition: its ``kind``, the ``queue``, and a sentence for people.

    Identity is ``(queue, kind)``: the message (which quotes the current value) does not
    make a still-active alert a new one.
    """

    queue: str
    kind: str
    message: str = field(compare=False)
    value: float | None = field(default=None, compare=False)
    threshold: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AlertChanges:
    """What one evaluation changed: alerts ``raised`` and ``cleared``, and all ``active`` now."""

    raised: tuple[Alert, ...]
    cleared: tuple[Alert, ...]
    active: tuple[Alert, ...]


def evaluate(snapshots: Iterable[QueueSnapshot], thresholds: Mapping[str, AlertThresholds]) -> tuple[Alert, ...]:
    """The alerts active in ``snapshots``, ordered by queue and kind.

    A queue without an entry in ``thresholds`` gets the defaults of :class:`AlertThresholds`.
    """
    out: list[Alert] = []
    for snap in snapshots:
        limits = thresholds.get(snap.queue, AlertThresholds())
        sl_min = limits.service_level_below
        if sl_min is not None and snap.service_level_today is not None and snap.service_level_today < sl_min:
            out.append(Alert(snap.queue, "service_level",
                             f"{snap.queue}: service level today {snap.service_level_today:.0%} is below {sl_min:.0%}",
                             snap.service_level_today, sl_min))
        wait_max = limits.longest_wait_above
        if wait_max is not None and snap.waiting > 0 and snap.longest_wait > wait_max:
            out.append(Alert(snap.queue, "longest_wait",
                             f"{snap.queue}: longest wait {snap.longest_wait:.0f} s is above {wait_max:.0f} s",
                             snap.longest_wait, wait_max))
        if limits.no_agent_logged_in and snap.open and snap.agents_logged_in == 0:
            out.append(Alert(snap.queue, "no_agent", f"{snap.queue}: open with no agent logged in", 0.0, None))
    return tuple(sorted(out))


def changes(previous: Iterable[Alert], current: Iterable[Alert]) -> AlertChanges:
    """The transitions from the ``previous`` active set to the ``current`` one.

    Alerts are matched by ``(queue, kind)``; the active alerts carry the current messages.
    """
    before = {(a.queue, a.kind): a for a in previous}
    now = {(a.queue, a.kind): a for a in current}
    raised = tuple(sorted(a for key, a in now.items() if key not in before))
    cleared = tuple(sorted(a for key, a in before.items() if key not in now))
    return AlertChanges(raised, cleared, tuple(sorted(now.values())))


class AlertBoard:
    """The active alerts between snapshots; :meth:`update` says what was raised or cleared.

    ``thresholds`` may be replaced (:meth:`set_thresholds`) on a configuration reload; the
    next update then raises or clears against the new values.
    """

    def __init__(self, thresholds: Mapping[str, AlertThresholds]) -> None:
        self._thresholds = dict(thresholds)
        self._active: tuple[Alert, ...] = ()

    @property
    def active(self) -> tuple[Alert, ...]:
        """The alerts active after the last update."""
        return self._active

    def set_thresholds(self, thresholds: Mapping[str, AlertThresholds]) -> None:
        """Use ``thresholds`` from the next :meth:`update` on."""
        self._thresholds = dict(thresholds)

    def update(self, snapshots: Iterable[QueueSnapshot]) -> AlertChanges:
        """Evaluate ``snapshots`` and return the changes from the previous update."""
        result = changes(self._active, evaluate(snapshots, self._thresholds))
        self._active = result.active
        return result


def thresholds_from_settings(settings: Any) -> dict[str, AlertThresholds]:
    """Each configured queue's :class:`AlertThresholds` from ``settings.supervision``.

    ``service_level_below: target`` becomes the queue's own target percent as a fraction.
    """
    out: dict[str, AlertThresholds] = {}
    supervision = settings.supervision
    for name, queue in settings.queues.items():
        own = supervision.alert_queues.get(name, supervision.alert_defaults)
        below = own.service_level_below
        fraction = queue.service_level.percent / 100 if below == "target" else (
            None if below is None else float(below) / 100)
        out[name] = AlertThresholds(fraction, own.longest_wait_above, own.no_agent_logged_in)
    return out
