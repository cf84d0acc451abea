"""Configuration reload: validate first, apply atomically, record every attempt.

:class:`ConfigReloader` is what SIGHUP and the admin API call. It loads the configuration
directory again with the running server's command-line overrides. If anything is wrong the
running configuration stays in force and the errors are returned (and audited). If it is
valid, the routing core is reconfigured in one step (waiting interactions keep their place,
agents keep their state and work; the waiting work of a removed queue moves to its
fallback), the components that read settings get the new object, and the audit trail gets
who reloaded, when, and the changes in words.

Not everything can change under a running server: listeners, connections and the secrets they
were opened with (``server.*``, ``telephony.*`` with the AMI secret and the CTI token,
``email.*`` with the IMAP and relay passwords) are read once at start. A reload never claims
those: every change outside :data:`LIVE_SECTIONS` is listed in ``needs_restart`` (in the
outcome the admin API returns, the log and the audit entry) and keeps its old value until
the server restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from twisted.logger import Logger

from callcenter.settings import ConfigErrors, diff_settings, load_settings

log = Logger(namespace="callcenter.runtime.reload")


# The sections the running server puts in force at a reload (the routing core, forms, alerts,
# figures and the mail flow read them on each use); a change anywhere else needs a restart.
LIVE_SECTIONS = ("skills", "agents", "reason_codes", "dispositions", "tiers", "schedules", "queues", "default_tier",
                 "rules", "policy", "webform.forms", "templates", "supervision")


def needs_restart(change: str) -> bool:
    """True when the :func:`~callcenter.settings.diff_settings` line ``change`` is outside :data:`LIVE_SECTIONS`."""
    section = change.split(":", 1)[0]
    return not any(section == live or section.startswith(live + ".") for live in LIVE_SECTIONS)


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: ``applied`` with the ``changes`` in words (``needs_restart``: those of
    them that take effect only after a restart), or the ``errors`` found."""

    applied: bool
    changes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    needs_restart: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The outcome as the admin API returns it."""
        return {"applied": self.applied, "changes": list(self.changes), "errors": list(self.errors),
                "needs_restart": list(self.needs_restart)}


@dataclass
class ConfigReloader:
    """Reloads ``config_dir`` into the running server.

    ``apply(old, new)`` installs a validated configuration (it must not fail halfway: it
    reconfigures the routing core and swaps settings references); ``audit(action, details,
    actor)`` is awaited to record the attempt. Reloads are serialised. ``in_thread(fn, *args)``
    (optional) runs the reading and checking of the files away from the reactor, so calls and
    requests go on meanwhile (a floor of thousands of agents takes a noticeable fraction of a
    second); without it they are read inline.
    """

    config_dir: Path
    overrides: Mapping[str, object]
    current: Any
    apply: Callable[[Any, Any], None]
    audit: Callable[..., Any]
    in_thread: Callable[..., Awaitable[Any]] | None = None
    _busy: bool = field(default=False, init=False)

    async def reload(self, actor: str) -> ReloadOutcome:
        """Validate and apply the configuration on disk; never leaves a half-applied state."""
        if self._busy:
            return ReloadOutcome(False, errors=("a reload is already running",))
        self._busy = True
        try:
            try:
                if self.in_thread is None:
                    new = load_settings(self.config_dir, self.overrides)
                else:
                    new = await self.in_thread(load_settings, self.config_dir, self.overrides)
            except ConfigErrors as exc:
                errors = tuple(str(e) for e in exc.errors)
                log.warn("configuration reload by {actor} refused: {count} error(s); the running configuration "
                         "stays", actor=actor, count=len(errors), errors=list(errors))
                await self.audit("config.reload_refused", {"errors": list(errors)}, actor)
                return ReloadOutcome(False, errors=errors)
            changes = tuple(diff_settings(self.current, new))
            restart_only = tuple(c for c in changes if needs_restart(c))
            try:
                self.apply(self.current, new)
            except Exception as exc:  # noqa: BLE001 - e.g. a removed agent still holds work
                error = f"not applied, the running configuration stays: {exc}"
                log.warn("configuration reload by {actor} refused: {error}", actor=actor, error=error)
                await self.audit("config.reload_refused", {"errors": [error], "changes": list(changes)}, actor)
                return ReloadOutcome(False, errors=(error,))
            self.current = new
            log.info("configuration reloaded by {actor}: {count} change(s)", actor=actor, count=len(changes),
                     changes=list(changes))
            if restart_only:
                # diff_settings names changed secrets without their values, so this line is safe to log.
                log.warn("{count} change(s) take effect only after a restart: {restart}", count=len(restart_only),
                         restart="; ".join(restart_only))
            await self.audit("config.reload", {"changes": list(changes), "needs_restart": list(restart_only)}, actor)
            return ReloadOutcome(True, changes=changes, needs_restart=restart_only)
        finally:
            self._busy = False
