"""The one seam between the inbound email services and the application: the mail sink.

The SMTP listener and the IMAP poller hand every received message, as raw bytes, to a
sink with this signature and nothing else::

    async def accept_mail(raw: bytes, envelope: MailEnvelope) -> MailReceipt

The sink's contract: when it returns, the message is durably stored (the listener then
answers ``250``, the poller marks the message on the server). Storing the same message
again returns a receipt with ``duplicate`` set and stores nothing twice. It raises
:class:`MailRejected` for a message it will never accept (the listener answers ``550``,
the poller leaves the message alone and flags it), and anything else for a transient
failure (the listener answers ``451``, the poller retries on its next round).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable


@dataclass(frozen=True)
class MailEnvelope:
    """How a message arrived.

    ``mailbox``: the name of the configured mailbox it came to. ``mail_from``: the SMTP
    envelope sender (``""`` for the null sender ``<>`` of bounces; None when unknown, as
    for IMAP). ``recipients``: the envelope recipients that are ours (empty for IMAP).
    ``source``: ``smtp`` or ``imap``; ``peer``: the client address (SMTP) or the IMAP
    ``host/folder/uidvalidity/uid`` the message sits at. ``received_at``: epoch seconds.
    """

    mailbox: str
    source: str
    received_at: float
    mail_from: str | None = None
    recipients: tuple[str, ...] = ()
    peer: str | None = None


@dataclass(frozen=True)
class MailReceipt:
    """What the sink did with a message.

    ``message_ref``: the stored message's id. ``interaction_id``: the interaction it joined
    or started (None when it was kept for a person, e.g. unparseable). ``duplicate``: it
    was already stored. ``flagged``: kept raw and flagged (unparseable).
    """

    message_ref: int
    interaction_id: int | None
    duplicate: bool = False
    flagged: bool = False


class MailRejected(Exception):
    """The sink refuses this message for good (``reason`` says why); retrying will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


MailSink = Callable[[bytes, MailEnvelope], Awaitable[MailReceipt]]
