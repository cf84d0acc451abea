"""Health of the server's parts, as ``/health`` reports it.

The database is probed on each request; channels report their own state synchronously
(``disabled``, ``starting``, ``up``, ``down``) through a callable registered at wiring time.
The server is ``recovering`` while it rebuilds the routing core from the record on start
(:mod:`callcenter.dispatch.recovery`), then ``ok`` when the database answers and no enabled channel is
down, ``degraded`` when the database answers but an enabled channel is down, ``down`` when the
database does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

CHANNEL_STATES = ("disabled", "starting", "up", "down")


@dataclass(frozen=True)
class ChannelStatus:
    """One channel's state and a human-readable detail (e.g. the last connection error)."""

    state: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.state not in CHANNEL_STATES:
            raise ValueError(f"unknown channel state {self.state!r}")


class HealthCheck:
    """Collects the database probe and the channels' status callables into one report."""

    def __init__(self, database_ping: Callable[[], Awaitable[bool]]) -> None:
        self._database_ping = database_ping
        self._channels: dict[str, Callable[[], ChannelStatus]] = {}
        self.recovering = False  # set while the routing core is rebuilt from the record

    def add_channel(self, name: str, status: Callable[[], ChannelStatus]) -> None:
        """Report channel ``name`` with the given status callable."""
        self._channels[name] = status

    def channel_states(self) -> dict[str, str]:
        """Each channel's current state word (disabled, starting, up, down)."""
        return {name: status().state for name, status in sorted(self._channels.items())}

    async def report(self) -> tuple[str, dict]:
        """Return (overall status, JSON-ready report)."""
        try:
            db_ok = await self._database_ping()
            db_detail = ""
        except Exception as e:  # noqa: BLE001 - a failing probe is a finding, not an error
            db_ok, db_detail = False, f"{type(e).__name__}: {e}"
        channels = {}
        for name in sorted(self._channels):
            st = self._channels[name]()
            channels[name] = {"state": st.state, "detail": st.detail}
        if not db_ok:
            overall = "down"
        elif self.recovering:
            overall = "recovering"
        elif any(c["state"] == "down" for c in channels.values()):
            overall = "degraded"
        else:
            overall = "ok"
        return overall, {
            "status": overall,
            "database": {"ok": db_ok, "detail": db_detail},
            "channels": channels,
        }
