"""Live alerts: the queues' state checked every few seconds against the configured thresholds.

Raised and cleared alerts go to the supervisors' push topic (the dashboard shows them) and,
when the daily summary has recipients, by email to them. The evaluation itself is the pure
:class:`callcenter.reports.alerts.AlertBoard`; this module only feeds it and carries out what
it says.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Awaitable, Callable

from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger

from callcenter.reports.alerts import AlertBoard, QueueSnapshot, thresholds_from_settings
from callcenter.dispatch.routing_rules import queue_open

log = Logger(namespace="callcenter.reports.alerting")

CHECK_EVERY = 5.0


class AlertMonitor:
    """Checks the switchboard's queues every :data:`CHECK_EVERY` seconds while started.

    ``mail(recipients, subject, text)`` sends an alert email (awaited; failures are logged).
    """

    def __init__(self, board: Any, clock: Any, publish: Callable[[str, str, Any], Any],
                 mail: Callable[[tuple[str, ...], str, str], Awaitable[Any]] | None = None) -> None:
        self._board = board
        self._clock = clock
        self._publish = publish
        self._mail = mail
        self.alerts = AlertBoard(thresholds_from_settings(board.settings))
        self._timer: Any = None
        self.active: tuple = ()

    def start(self) -> None:
        """Begin checking."""
        self._timer = self._clock.call_later(CHECK_EVERY, self._check)

    def stop(self) -> None:
        """Stop checking."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()

    def reconfigure(self, settings: Any) -> None:
        """New thresholds after a reload."""
        self.alerts.set_thresholds(thresholds_from_settings(settings))

    def snapshots(self) -> list[QueueSnapshot]:
        """Every configured queue as the alert rules see it now."""
        board, now = self._board, self._clock.now()
        by_queue = board.waiting_by_queue(now)
        agents = {a.agent: a for a in board.router.agents()}
        at = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        out = []
        for name, q in sorted(board.settings.queues.items()):
            mine = by_queue[name]
            logged = sum(1 for m in q.members if m.agent in agents and agents[m.agent].state != "logged_out")
            sl = board.stats.queue(name).service_level() if board.stats is not None else None
            out.append(QueueSnapshot(name, len(mine), max((w.waited for w in mine), default=0.0), sl, logged,
                                     queue_open(q, at)))
        return out

    def check(self) -> Any:
        """Evaluate now; returns the changes."""
        changes = self.alerts.update(self.snapshots())
        self.active = changes.active
        for alert in changes.raised:
            self._publish("supervisors", "alert_raised", {"queue": alert.queue, "kind": alert.kind,
                                                          "message": alert.message})
        for alert in changes.cleared:
            self._publish("supervisors", "alert_cleared", {"queue": alert.queue, "kind": alert.kind})
        recipients = tuple(getattr(getattr(self._board.settings, "supervision", None), "summary_recipients", ()))
        if changes.raised and recipients and self._mail is not None:
            text = "\n".join(f"[{a.queue}] {a.message}" for a in changes.raised)
            ensureDeferred(self._mail(recipients, f"Contact center alert: {changes.raised[0].message}", text)
                           ).addErrback(lambda f: log.failure("alert email failed", f))
        return changes

    def _check(self) -> None:
        try:
            self.check()
        except Exception:  # noqa: BLE001 - a failed check must not stop the next one
            log.failure("alert check failed")
        self._timer = self._clock.call_later(CHECK_EVERY, self._check)
