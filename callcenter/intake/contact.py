"""The contact: what a channel adapter hands to the intake pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Contact:
    """A contact as a channel adapter normalized it.

    ``contact_kind``/``contact`` identify the customer (``phone`` or ``email``, raw text;
    None for an anonymous caller); ``also`` lists further ``(kind, raw)`` points the customer
    gave (a form's phone beside its email), in order of preference after the first.
    ``contact_name`` (a caller-id name, a form's name field) names a customer who has no name
    yet. ``to`` is the address it came to (dialled number, mailbox name, form name).
    ``digits``/``variables`` come from the IVR, ``subject``/``body`` are searched for rule
    keywords, ``attributes`` extend the customer's for the rules; ``queue_hint`` (the
    dialplan's) names the queue when only the default rule matches. ``payload`` is stored on
    the interaction as is. ``virtual_start`` (seconds) is when the contact began, if earlier
    than now (a call that was ringing the IVR).
    """

    channel: str
    direction: str = "inbound"
    contact_kind: str | None = None
    contact: str | None = None
    also: tuple[tuple[str, str], ...] = ()
    contact_name: str | None = None
    to: str | None = None
    subject: str | None = None
    body: str | None = None
    digits: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    language: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    virtual_start: float | None = None
    queue_hint: str | None = None

    def points(self) -> list[tuple[str, str]]:
        """Every ``(kind, raw)`` contact point given, in order of preference, empty ones left out."""
        first = [(self.contact_kind, self.contact)] if self.contact_kind and self.contact else []
        return first + [(k, v) for k, v in self.also if k and v]
