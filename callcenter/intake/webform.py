"""The web forms' sink: a valid submission becomes a customer's interaction.

:meth:`FormFlow.submit_form` is the :data:`channels.webform.submission.FormSink` the server
hands to :class:`channels.webform.resource.FormsResource`. For each submission it

1. writes the attachments content-addressed under ``<data_dir>/attachments/<sha256>`` (a
   file that is already there is the same bytes and is kept as it is);
2. identifies the customer from the form's email and phone fields: the owner of the email,
   else of the phone, else a new provisional customer; the other contact point is attached
   to that customer when nobody owns it yet (when someone else does, both ids are noted in
   the payload for a person to merge); an empty display name takes the form's name field;
3. logs the ``webform`` interaction (state ``new``) in one transaction, with the fields,
   their labels, the attachments (name, type, size, sha256), the language, the client
   address and the customer's reference in its payload;
4. after the commit, calls ``on_new_interaction(interaction, routing_input)`` (the
   switchboard routes it; ``routing_input`` is the mapping :mod:`callcenter.routing_rules`
   matches) and ``send_confirmation(to, subject, body, interaction)`` with the form's
   confirmation template rendered in the customer's language (``StrictUndefined``).

Errors: a contact the record refuses raises :class:`SubmissionRejected` naming the field;
a failed write raises what the store raised (the channel answers 503). In both cases no
interaction exists and the attachment files this submission added are removed again. A
customer identified or created in step 2 stays: it is a true fact about a contact point the
customer gave, not part of the submission. Failures after the commit (routing, the
confirmation) are logged and do not undo the stored submission.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from callcenter.records.errors import Conflict, InvalidContact, InvalidInput
from callcenter.records.model import Customer, Interaction
from callcenter.settings.model import FormSettings
from channels.webform.fields import FieldError
from channels.webform.messages import localized
from channels.webform.submission import FormReceipt, FormSubmission, SubmissionRejected, random_reference

log = Logger(namespace="callcenter.formflow")

SUBJECT_LIMIT = 998

OnNewInteraction = Callable[[Interaction, Mapping[str, Any]], "Awaitable[None] | None"]
SendConfirmation = Callable[[str, str, str, Interaction], Awaitable[None]]


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


def routing_input(form: FormSettings, fields: Mapping[str, Any], language: str | None, customer: Customer,
                  subject: str | None, attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the routing rules match a submission of ``form`` on (see :mod:`callcenter.routing_rules`).

    ``body`` is the text of its textarea fields; ``attributes`` (default: the form's routing
    attributes found in ``fields``) extend the customer's.
    """
    if attributes is None:
        attributes = {name: fields[name] for name in form.routing_attributes if name in fields}
    body = "\n\n".join(str(v) for k, v in fields.items() if any(f.name == k and f.type == "textarea" for f in form.fields))
    return {"channel": "webform", "to": form.name, "language": language, "tier": customer.tier,
            "attributes": {**customer.attributes, **attributes}, "subject": subject, "body": body}


class FormFlow:
    """Stores form submissions on the customer record (see the module docstring).

    ``store`` is a :class:`~callcenter.records.store.RecordStore`; ``forms`` the validated
    forms; ``templates`` the :class:`~callcenter.settings.templates.TemplateSet`;
    ``fallback_language`` the first configured language; ``reactor`` provides the thread
    pool for file writes; ``new_reference`` makes customers' references.
    """

    def __init__(self, *, store: Any, forms: Mapping[str, FormSettings], templates: Any, data_dir: Path,
                 reactor: Any, on_new_interaction: OnNewInteraction, send_confirmation: SendConfirmation,
                 fallback_language: str = "en", new_reference: Callable[[], str] = random_reference) -> None:
        self._store = store
        self._forms = dict(forms)
        self._templates = templates
        self._attachments = Path(data_dir) / "attachments"
        self._reactor = reactor
        self._on_new = on_new_interaction
        self._send = send_confirmation
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
            customer, identity = await self._identify(submission)
            reference = self._new_reference()
            title = localized(form.title, self._fallback, self._fallback)
            payload = {"form": form.name, "reference": reference, "fields": dict(submission.fields),
                       "labels": dict(submission.labels), "attachments": files, "language": submission.language,
                       "client_ip": submission.client_ip, **({"identity": identity} if identity else {})}
            try:
                interaction = await self._store.create_interaction(
                    customer.id, "webform", "inbound", state="new", payload=payload,
                    subject=(f"{title}: {submission.name}" if submission.name else title)[:SUBJECT_LIMIT])
            except InvalidInput as bad:  # the payload is over the record's document cap
                raise SubmissionRejected([FieldError("", "too_large")]) from bad
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        await self._after_commit(form, submission, customer, interaction, reference)
        return FormReceipt(reference, interaction.id)

    async def _identify(self, s: FormSubmission) -> tuple[Customer, dict[str, Any]]:
        fields = {"email": self._forms[s.form].identify_email, "phone": self._forms[s.form].identify_phone}
        wanted = [(kind, value) for kind, value in (("email", s.email), ("phone", s.phone)) if value]
        try:
            owners = {}
            for kind, value in wanted:
                finder = self._store.find_customer_by_email if kind == "email" else self._store.find_customer_by_phone
                owners[kind] = await finder(value)
            customer = owners.get("email") or owners.get("phone")
            if customer is None and wanted:
                customer = await self._store.find_or_create_customer(*wanted[0])
            elif customer is None:
                customer = await self._store.create_customer(display_name=s.name or "Anonymous")
                customer = await self._store.update_customer(customer.id, provisional=True)
            identity: dict[str, Any] = {}
            for kind, value in wanted:
                owner = owners.get(kind)
                if owner is not None and owner.id != customer.id:
                    identity[f"{kind}_owner"] = owner.id
                elif owner is None and not any(p.kind == kind and p.value == value for p in customer.contact_points):
                    try:
                        customer = await self._store.add_contact_point(customer.id, kind, value)
                    except Conflict:  # taken by someone else since we looked: leave it to them
                        identity[f"{kind}_taken"] = True
            if s.name and not customer.display_name:
                customer = await self._store.update_customer(customer.id, display_name=s.name[:200])
        except InvalidContact as bad:
            kind = "email" if "email" in bad.field else "phone"
            raise SubmissionRejected([FieldError(fields[kind] or kind, f"invalid_{kind}")]) from None
        return customer, identity

    async def _after_commit(self, form: FormSettings, s: FormSubmission, customer: Customer,
                            interaction: Interaction, reference: str) -> None:
        try:
            outcome = self._on_new(interaction, routing_input(form, s.fields, s.language, customer, interaction.subject,
                                                              s.attributes))
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.failure("form {form}: interaction {id} stored but not handed to routing",
                        form=form.name, id=interaction.id)
        if not (form.confirmation_template and s.email):
            return
        context = {"form_title": localized(form.title, s.language, self._fallback), "reference": reference,
                   "customer_name": s.name or "", "fields": dict(s.fields), "language": s.language}
        try:
            subject, text = self._templates.render_email(form.confirmation_template, s.language, context)
            await self._send(s.email, subject, text, interaction)
        except Exception:
            log.failure("form {form}: confirmation for interaction {id} not sent", form=form.name, id=interaction.id)
