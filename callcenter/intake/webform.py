"""Web form submissions: a valid submission becomes a customer's interaction.

:meth:`FormFlow.submit_form` is the :data:`channels.webform.submission.FormSink` the server
hands to :class:`channels.webform.resource.FormsResource`. For each submission it

1. writes the attachments content-addressed under ``<data_dir>/attachments/<sha256>`` (a
   file that is already there is the same bytes and is kept as it is);
2. hands the contact to the intake pipeline (``admit``, :meth:`IntakePipeline.admit
   <callcenter.intake.pipeline.IntakePipeline.admit>`), which identifies the customer from the
   form's email and phone fields (the owner of the email, else of the phone, else a new
   provisional customer named after the form's name field; the other contact point is
   attached when nobody owns it yet, and noted in the payload for a person to merge when
   someone else does), matches the routing rules on the form's fields, routes it, and stores
   customer, interaction and log in one write with the other contacts of the moment. The
   payload holds the fields, their labels, the attachments (name, type, size, sha256), the
   language, the client address and the customer's reference;
   The form's confirmation to the customer's email (its template rendered in the customer's
   language, ``StrictUndefined``) is queued in the outbox by that same write
   (``confirmation.notice_in_write``, :meth:`MailFlow.notice_in_write
   <callcenter.intake.email.MailFlow.notice_in_write>`), counting against the address's
   automatic-reply cap;
3. once that write committed, and only then, answers, and wakes the outbox sender.

Errors: a contact the record refuses raises :class:`SubmissionRejected` naming the field;
a failed write raises what the store raised (the channel answers 503). In both cases no
interaction exists and the attachment files this submission added are removed again.
A confirmation template that fails to render is logged and the submission is stored without it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Protocol

from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from callcenter.intake.contact import Contact
from callcenter.records.errors import InvalidContact, InvalidInput
from callcenter.records.model import Customer, Interaction
from callcenter.settings.model import FormSettings
from channels.webform.fields import FieldError
from channels.webform.messages import localized
from channels.webform.submission import FormReceipt, FormSubmission, SubmissionRejected, random_reference

log = Logger(namespace="callcenter.intake.webform")


SUBJECT_LIMIT = 998

Admit = Callable[..., Awaitable[Any]]
Extra = Callable[[Any, Any, Interaction], Any]


class ConfirmationMail(Protocol):
    """Where forms' confirmations go (:class:`~callcenter.intake.email.MailFlow` in the server)."""

    def notice_in_write(self, to: str, subject: str, body: str, kind: str) -> Extra:
        """A unit of work queueing the message in the contact's own write; True if queued."""

    def wake_outbox(self) -> None:
        """Ask the outbox sender to send now."""


def store_blob(directory: Path, data: bytes) -> tuple[str, bool]:
    """Write ``data`` as ``directory/<sha256>`` atomically; ``(sha256, True if newly written)``.

    Blocking: run it on a thread. Raises ``OSError`` when the disk refuses.
    """
    digest = hashlib.sha256(data).hexdigest()
    target = directory / digest
    if target.exists():
        return digest, False
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return digest, True


def form_facts(form: FormSettings, fields: Mapping[str, Any],
               attributes: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """``(body, attributes)`` of a submission for the routing rules: the text of its textarea
    fields, and ``attributes`` (default: the form's routing attributes found in ``fields``)."""
    if attributes is None:
        attributes = {name: fields[name] for name in form.routing_attributes if name in fields}
    textareas = {f.name for f in form.fields if f.type == "textarea"}
    return "\n\n".join(str(v) for k, v in fields.items() if k in textareas), dict(attributes)


def routing_input(form: FormSettings, fields: Mapping[str, Any], language: str | None, customer: Customer,
                  subject: str | None, attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the routing rules match a submission of ``form`` on (see :mod:`callcenter.dispatch.routing_rules`);
    the form's ``attributes`` (see :func:`form_facts`) extend the customer's."""
    body, attributes = form_facts(form, fields, attributes)
    return {"channel": "webform", "to": form.name, "language": language, "tier": customer.tier,
            "attributes": {**customer.attributes, **attributes}, "subject": subject, "body": body}


class FormFlow:
    """Stores form submissions on the customer record (see the module docstring).

    ``admit`` is the intake pipeline's :meth:`~callcenter.intake.pipeline.IntakePipeline.admit`;
    ``forms`` the validated forms; ``templates`` the
    :class:`~callcenter.settings.templates.TemplateSet`; ``fallback_language`` the first
    configured language; ``reactor`` provides the thread pool for file writes;
    ``confirmation`` queues the confirmations (None: none is sent);
    ``new_reference`` makes customers' references.
    """

    def __init__(self, *, admit: Admit, forms: Mapping[str, FormSettings], templates: Any, data_dir: Path,
                 reactor: Any, confirmation: ConfirmationMail | None, fallback_language: str = "en",
                 new_reference: Callable[[], str] = random_reference) -> None:
        self._admit = admit
        self._forms = dict(forms)
        self._templates = templates
        self._attachments = Path(data_dir) / "attachments"
        self._reactor = reactor
        self._confirmation = confirmation
        self._fallback = fallback_language
        self._new_reference = new_reference

    def reconfigure(self, forms: Mapping[str, FormSettings], templates: Any) -> None:
        """Use new form settings and templates from the next submission on."""
        self._forms, self._templates = dict(forms), templates

    async def submit_form(self, submission: FormSubmission) -> FormReceipt:
        """Store ``submission``; its receipt, or an error as described in the module docstring."""
        form = self._forms[submission.form]
        written: list[Path] = []
        try:
            files = []
            for item in submission.attachments:
                digest, new = await deferToThreadPool(self._reactor, self._reactor.getThreadPool(),
                                                      store_blob, self._attachments, item.data)
                if new:
                    written.append(self._attachments / digest)
                files.append({"field": item.field, "name": item.filename, "type": item.content_type,
                              "size": len(item.data), "sha256": digest})
            reference = self._new_reference()
            confirmation = self._confirmation_unit(form, submission, reference)
            admission = await self._store(form, submission, files, reference, confirmation)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        if confirmation is not None and admission.admitted is not None and admission.admitted.extra:
            self._confirmation.wake_outbox()
        return FormReceipt(reference, admission.interaction_id)

    async def _store(self, form: FormSettings, s: FormSubmission, files: list[dict[str, Any]],
                     reference: str, confirmation: Extra | None) -> Any:
        title = localized(form.title, self._fallback, self._fallback)
        points = [(kind, value) for kind, value in (("email", s.email), ("phone", s.phone)) if value]
        body, attributes = form_facts(form, s.fields, s.attributes)
        contact = Contact(
            channel="webform", contact_kind=points[0][0] if points else None, contact=points[0][1] if points else None,
            also=tuple(points[1:]), contact_name=(s.name or "")[:200] or None, to=form.name,
            subject=(f"{title}: {s.name}" if s.name else title)[:SUBJECT_LIMIT], body=body,
            attributes=attributes, language=s.language,
            payload={"form": form.name, "reference": reference, "fields": dict(s.fields), "labels": dict(s.labels),
                     "attachments": files, "language": s.language, "client_ip": s.client_ip})
        try:
            return await self._admit(contact, strict=True, extra=confirmation)
        except InvalidContact as bad:
            kind = "email" if "email" in bad.field else "phone"
            name = form.identify_email if kind == "email" else form.identify_phone
            raise SubmissionRejected([FieldError(name or kind, f"invalid_{kind}")]) from None
        except InvalidInput as bad:  # the payload is over the record's document cap
            raise SubmissionRejected([FieldError("", "too_large")]) from bad

    def _confirmation_unit(self, form: FormSettings, s: FormSubmission, reference: str) -> Extra | None:
        if not (form.confirmation_template and s.email and self._confirmation is not None):
            return None
        context = {"form_title": localized(form.title, s.language, self._fallback), "reference": reference,
                   "customer_name": s.name or "", "fields": dict(s.fields), "language": s.language}
        try:
            subject, text = self._templates.render_email(form.confirmation_template, s.language, context)
        except Exception:
            log.failure("form {form}: confirmation for {reference} not rendered; stored without it",
                        form=form.name, reference=reference)
            return None
        return self._confirmation.notice_in_write(s.email, subject, text, "form_confirmation")
