"""What the forms channel hands on: a valid submission, and the receipt it gets back.

The channel never stores anything itself. A :data:`FormSink` (in the server,
:class:`callcenter.intake.webform.FormFlow`) takes each :class:`FormSubmission` that passed every
check and returns a :class:`FormReceipt`. A sink that cannot store the submission raises;
:class:`SubmissionRejected` means the submission was refused for its content (the client
gets 422 with the field errors), anything else that storage is unavailable (the client gets
503 and may retry), and in both cases the sink guarantees nothing of it was kept.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

from channels.webform.fields import FieldError

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: easy to read over the phone
REFERENCE_LENGTH = 8


def random_reference() -> str:
    """An unguessable customer reference like ``K7QM2XDA`` (40 bits)."""
    # 256 is a multiple of the alphabet's 32 letters, so each byte picks a letter without bias.
    return "".join(REFERENCE_ALPHABET[b % len(REFERENCE_ALPHABET)] for b in secrets.token_bytes(REFERENCE_LENGTH))


@dataclass(frozen=True)
class Attachment:
    """An uploaded file: its field, safe file name, media type and bytes."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class FormSubmission:
    """A submission that passed validation and every abuse check.

    ``fields`` are the normalized values by field name (strings; booleans for checkboxes);
    ``email``/``phone``/``name`` the values of the form's identifying fields (None when the
    form has none or it was left empty); ``attributes`` the values of its routing
    attributes; ``language`` the configured language the customer used (``en``, ``zh``);
    ``client_ip`` the peer address the request came from.
    """

    form: str
    fields: Mapping[str, Any]
    email: str | None
    phone: str | None
    name: str | None
    attributes: Mapping[str, Any]
    attachments: tuple[Attachment, ...]
    client_ip: str
    language: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FormReceipt:
    """What the customer is told: the ``reference`` of the request, and the interaction
    logged for it."""

    reference: str
    interaction_id: int


class SubmissionRejected(Exception):
    """The sink refused the submission's content; ``errors`` name the fields."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = tuple(errors)


FormSink = Callable[[FormSubmission], Awaitable[FormReceipt]]
