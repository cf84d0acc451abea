"""Configuration reload: validate first, apply atomically, record every attempt.

:class:`ConfigReloader` is what SIGHUP and the admin API call. It loads the configuration
directory again with the running server's command-line overrides. If anything is wrong the
running configuration stays in force and the errors are returned (and audited). If it is
valid, the routing core is reconfigured in one step (waiting interactions keep their place,
agents keep their state and work; the waiting work of a removed queue moves to its
fallback), the components that read settings get the new object, and the audit trail gets
who reloaded, when, and the changes in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from twisted.logger import Logger

from callcenter.settings import ConfigErrors, diff_settings, load_settings

log = Logger(namespace="callcenter.reload")


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: ``applied`` with the ``changes`` in words, or the ``errors`` found."""

    applied: bool
    changes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The outcome as the admin API returns it."""
        return {"applied": self.applied, "changes": list(self.changes), "errors": list(self.errors)}


@dataclass
class ConfigReloader:
    """Reloads ``config_dir`` into the running server.

    ``apply(old, new)`` installs a validated configuration (it must not fail halfway: it
    reconfigures the routing core and swaps settings references); ``audit(action, details,
    actor)`` is awaited to record the attempt. Reloads are serialised.
    """

    config_dir: Path
    overrides: Mapping[str, object]
    current: Any
    apply: Callable[[Any, Any], None]
    audit: Callable[..., Any]
    _busy: bool = field(default=False, init=False)

    async def reload(self, actor: str) -> ReloadOutcome:
        """Validate and apply the configuration on disk; never leaves a half-applied state."""
        if self._busy:
            return ReloadOutcome(False, errors=("a reload is already running",))
        self._busy = True
        try:
            try:
                new = load_settings(self.config_dir, self.overrides)
            except ConfigErrors as exc:
                errors = tuple(str(e) for e in exc.errors)
                log.warn("configuration reload by {actor} refused: {count} error(s); the running configuration "
                         "stays", actor=actor, count=len(errors), errors=list(errors))
                await self.audit("config.reload_refused", {"errors": list(errors)}, actor)
                return ReloadOutcome(False, errors=errors)
            changes = tuple(diff_settings(self.current, new))
            restart_only = [c for c in changes if c.startswith("server.")]
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
            await self.audit("config.reload", {"changes": list(changes), "needs_restart": restart_only}, actor)
            return ReloadOutcome(True, changes=changes)
        finally:
            self._busy = False
