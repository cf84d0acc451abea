"""The email part of the agent's screen: the thread of an email interaction and its files.

:meth:`MailScreen.screen_content` is what the screen pop shows of an email interaction (every
message newest first, what is new apart from the history it quotes, attachments, the
delivery of what we sent); :meth:`MailScreen.attachment_file` and
:meth:`MailScreen.raw_message` serve an attachment and a message's bytes, only those of the
interaction asked about.
"""

from __future__ import annotations

from typing import Any

from callcenter.records.errors import NotFound
from callcenter.records.mail import MailStore
from callcenter.records.mail_outbox import OutboxItem


class MailScreen:
    """Reads the mail tables (``mail``) for the desktop; ``relay_enabled`` says whether a queued
    message waits for the relay to be enabled."""

    def __init__(self, mail: MailStore, relay_enabled: bool = True) -> None:
        self._mail = mail
        self._relay_enabled = relay_enabled

    async def screen_content(self, interaction: Any) -> dict[str, Any]:
        """The email part of a screen pop: ``{"email": [message, ...]}``, newest first.

        Each message has ``id``, ``direction``, ``from``, ``name``, ``subject``, ``at``,
        ``text`` (what is new) and ``quoted`` (the history it quotes, for folding),
        ``flagged`` and ``reason`` (unreadable: the raw message is offered instead), ``raw_url``,
        ``attachments`` (each with its ``url``) and, for what we send, ``delivery``:
        ``{"state": queued|sent|failed, "detail", "at"}``.
        """
        if interaction.channel != "email":
            return {}
        outbox = {item.message_id: item for item in await self._mail.outbox(interaction.id)}
        base = f"/api/me/work/{interaction.id}"
        thread = []
        for m in reversed(await self._mail.messages(interaction.id)):
            cut = m.details.get("new_text_length")
            cut = len(m.body_text) if not isinstance(cut, int) else max(0, min(cut, len(m.body_text)))
            entry: dict[str, Any] = {
                "id": m.id, "direction": m.direction, "from": m.sender, "name": m.details.get("from_name") or "",
                "subject": m.subject, "text": m.body_text[:cut], "quoted": m.body_text[cut:].strip("\n"),
                "at": m.created_at.isoformat() if m.created_at else None, "flagged": m.unparseable,
                "reason": m.reason, "raw_url": f"{base}/messages/{m.id}/raw",
                "attachments": [{"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
                                 "stored": a.stored, "inline": a.inline,
                                 "url": f"{base}/attachments/{a.id}" if a.stored else None}
                                for a in await self._mail.attachments(m.id)]}
            if m.id in outbox:
                entry["delivery"] = self.delivery(outbox[m.id])
            thread.append(entry)
        return {"email": thread}

    async def attachment_file(self, interaction_id: int, attachment_id: int) -> tuple[Any, bytes]:
        """``(attachment, bytes)`` of an attachment of ``interaction_id``'s mail; NotFound when it is
        not one of them or its bytes were not kept (over the size cap)."""
        attachment, content = await self._mail.attachment_in(attachment_id, interaction_id)
        if content is None:
            raise NotFound("mail attachment content", attachment_id)
        return attachment, content

    async def raw_message(self, interaction_id: int, message_id: int) -> bytes:
        """The bytes of a message of ``interaction_id`` as received or sent; NotFound otherwise."""
        message = await self._mail.get_message(message_id)
        if message.interaction_id != interaction_id:
            raise NotFound("mail message", message_id)
        return await self._mail.raw(message_id)

    def delivery(self, item: OutboxItem) -> dict[str, Any]:
        """What the desktop shows of an outgoing message: ``{"state": queued|sent|failed, "detail", "at"}``."""
        if item.state == "sent":
            return {"state": "sent", "detail": "", "at": item.sent_at.isoformat() if item.sent_at else None}
        if item.state == "failed":
            return {"state": "failed", "detail": item.last_error or "", "at": None}
        detail = "" if self._relay_enabled else "the outgoing relay is off: it is sent once it is enabled"
        if item.attempts and item.last_error:
            detail = f"retrying after {item.attempts} failed attempt(s): {item.last_error}"
        return {"state": "queued", "detail": detail, "at": None}
