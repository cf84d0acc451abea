"""Who reads an agent's notes: the agent who wrote them, supervisors and admins.

An agent's notes are the ``notes`` an interaction was wrapped up with (written by the agent who
handled it, ``interaction.agent``) and the ``note`` events added while working it (written by
the event's ``actor``). Another agent reading the same customer or interaction sees the work
itself, not those notes: :func:`interaction_for` blanks ``notes`` and :func:`events_for` drops
``note`` events and blanks ``notes`` in other events' details. A caller with no principal (the
API built without authentication, in tests and tools) sees everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

READERS_OF_ALL = ("supervisor", "admin")


@dataclass(frozen=True)
class AgentViewer:
    """The agent a screen pop is for (a pushed pop has a topic, not a request principal)."""

    agent: str
    role: str = "agent"


def reads_notes_of(viewer: Any, author: str | None) -> bool:
    """True when ``viewer`` (a principal with ``role`` and ``agent``, or None) may read notes by ``author``."""
    if viewer is None or getattr(viewer, "role", None) in READERS_OF_ALL:
        return True
    return author is not None and getattr(viewer, "agent", None) == author


def interaction_for(viewer: Any, item: dict) -> dict:
    """A JSON interaction as ``viewer`` may see it (``notes`` None unless allowed)."""
    if item.get("notes") is None or reads_notes_of(viewer, item.get("agent")):
        return item
    return {**item, "notes": None}


def events_for(viewer: Any, events: list[dict]) -> list[dict]:
    """JSON interaction events as ``viewer`` may see them: others' ``note`` events left out."""
    shown = []
    for event in events:
        if reads_notes_of(viewer, event.get("actor")):
            shown.append(event)
        elif event.get("kind") != "note":
            details = event.get("details")
            if isinstance(details, dict) and details.get("notes") is not None:
                event = {**event, "details": {**details, "notes": None}}
            shown.append(event)
    return shown


def pop_for(viewer: Any, pop: dict) -> dict:
    """A screen pop (``timeline`` a list of JSON interactions) as ``viewer`` may see it."""
    if not isinstance(pop, dict) or not isinstance(pop.get("timeline"), list):
        return pop
    return {**pop, "timeline": [interaction_for(viewer, i) for i in pop["timeline"]]}


def agent_snapshot_for(viewer: Any, snapshot: dict) -> dict:
    """An agent's desktop snapshot (pops under ``offers``, ``work``, ``wrap_up``) as ``viewer`` may see it."""
    return {**snapshot, **{key: [pop_for(viewer, p) for p in snapshot[key]]
                           for key in ("offers", "work", "wrap_up") if isinstance(snapshot.get(key), list)}}


def pushed_for(topic: str, data: Any) -> Any:
    """What is pushed on ``topic``: a pop pushed to ``agent:<login>`` is filtered for that agent."""
    if topic.startswith("agent:") and isinstance(data, dict):
        return pop_for(AgentViewer(topic.partition(":")[2]), data)
    return data


def timeline_for(viewer: Any, page: dict) -> dict:
    """A JSON timeline page (``items``) as ``viewer`` may see it."""
    return {**page, "items": [interaction_for(viewer, i) for i in page.get("items", [])]}
