"""Reader for ``channels.yaml``: telephony (AMI, FastAGI, CTI), email and web forms.

Channels that need an outside server (AMI, IMAP, the SMTP relay) are off unless
``enabled: true``; an enabled one must not keep a placeholder secret (``CHANGE-ME``).
The whole file is optional: without it, FastAGI and the SMTP listener run, nothing else.
"""

from __future__ import annotations

from callcenter.settings.model import (
    AmiSettings, EmailSettings, FormField, FormSettings, ImapSettings, MailboxSettings, SmtpRelaySettings,
    TelephonySettings, WebformSettings,
)
from callcenter.settings.sections import check_id, frozen_map
from callcenter.settings.source import Checker, Node
from callcenter.settings.templates import TemplateReferences

PLACEHOLDER = "CHANGE-ME"
FIELD_TYPES = ("text", "textarea", "email", "phone")
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"
HOST = r"[A-Za-z0-9._:-]+"


def _secret(entries: dict[str, Node], key: str, parent: Node | None, checker: Checker, enabled: bool) -> str:
    """A password or secret; an enabled connection must not keep the placeholder."""
    node = entries.get(key)
    value = checker.string(node, PLACEHOLDER) if node is not None else PLACEHOLDER
    if enabled and value == PLACEHOLDER and (node or parent) is not None:
        checker.error(node or parent, f"set {key!r} (not the {PLACEHOLDER} placeholder) before enabling this")
    return value


def _enabled(e: dict[str, Node], checker: Checker) -> bool:
    return checker.boolean(e["enabled"]) if "enabled" in e else False


def read_telephony(node: Node | None, checker: Checker) -> TelephonySettings:
    """``telephony``: ``ami`` (off by default), ``fastagi.enabled`` (on), ``cti.token`` (off when null)."""
    t = checker.mapping(node, optional=("ami", "fastagi", "cti")) if node is not None else {}
    a = checker.mapping(t["ami"], optional=("enabled", "host", "port", "username", "secret")) if "ami" in t else {}
    enabled = _enabled(a, checker)
    ami = AmiSettings(
        enabled=enabled,
        host=checker.string(a["host"], pattern=HOST, hint="a host name or address") if "host" in a else "127.0.0.1",
        port=checker.integer(a["port"], minimum=1, maximum=65535) if "port" in a else 5038,
        username=checker.string(a["username"]) if "username" in a else "callcenter",
        secret=_secret(a, "secret", t.get("ami"), checker, enabled),
    )
    f = checker.mapping(t["fastagi"], optional=("enabled",)) if "fastagi" in t else {}
    c = checker.mapping(t["cti"], optional=("token",)) if "cti" in t else {}
    token = checker.optional_string(c.get("token"))
    if token is not None and (token == PLACEHOLDER or len(token) < 16):
        checker.error(c["token"], "must be a random token of at least 16 characters (or null to disable)")
    return TelephonySettings(ami, checker.boolean(f["enabled"], True) if "enabled" in f else True, token)


def _imap(node: Node, checker: Checker) -> ImapSettings:
    i = checker.mapping(node, required=("host", "username"), optional=(
        "enabled", "port", "tls", "password", "folder", "poll_interval"))
    enabled = _enabled(i, checker)
    return ImapSettings(
        enabled=enabled,
        host=checker.string(i["host"], pattern=HOST, hint="a host name or address") if "host" in i else "",
        port=checker.integer(i["port"], minimum=1, maximum=65535) if "port" in i else 993,
        tls=checker.boolean(i["tls"], True) if "tls" in i else True,
        username=checker.string(i["username"]) if "username" in i else "",
        password=_secret(i, "password", node, checker, enabled),
        folder=checker.string(i["folder"]) if "folder" in i else "INBOX",
        poll_interval=checker.duration(i["poll_interval"], 60.0, positive=True) if "poll_interval" in i else 60.0,
    )


def read_email(node: Node | None, checker: Checker, refs: TemplateReferences) -> EmailSettings:
    """``email``: ``mailboxes``, ``relay`` (off by default), ``listener.enabled`` (on), ``reply_template``."""
    m = checker.mapping(node, optional=("mailboxes", "relay", "listener", "reply_template")) \
        if node is not None else {}
    mailboxes: dict[str, MailboxSettings] = {}
    addresses: dict[str, str] = {}
    for name, box in checker.entries(m["mailboxes"]) if "mailboxes" in m else ():
        check_id(checker, box)
        b = checker.mapping(box, required=("address",), optional=("auto_ack_template", "imap"))
        address = checker.string(b["address"], pattern=EMAIL, hint="an email address").lower() \
            if "address" in b else ""
        if address in addresses:
            checker.error(b["address"], f"address already used by mailbox {addresses[address]!r}")
        addresses.setdefault(address, name)
        mailboxes[name] = MailboxSettings(
            name, address, refs.template(b.get("auto_ack_template")),
            _imap(b["imap"], checker) if "imap" in b else None)
    r = checker.mapping(m["relay"], optional=(
        "enabled", "host", "port", "starttls", "username", "password", "from")) if "relay" in m else {}
    enabled = _enabled(r, checker)
    relay = SmtpRelaySettings(
        enabled=enabled,
        host=checker.string(r["host"], pattern=HOST, hint="a host name or address") if "host" in r else "127.0.0.1",
        port=checker.integer(r["port"], minimum=1, maximum=65535) if "port" in r else 587,
        starttls=checker.boolean(r["starttls"], True) if "starttls" in r else True,
        username=checker.optional_string(r.get("username")),
        password=checker.optional_string(r.get("password")),
        from_address=checker.string(r["from"], pattern=EMAIL, hint="an email address")
        if "from" in r else "contact@example.com",
    )
    if enabled and relay.password == PLACEHOLDER:
        checker.error(r["password"], f"set 'password' (not the {PLACEHOLDER} placeholder) before enabling this")
    listener = checker.mapping(m["listener"], optional=("enabled",)) if "listener" in m else {}
    return EmailSettings(
        mailboxes=frozen_map(mailboxes),
        relay=relay,
        listener_enabled=checker.boolean(listener["enabled"], True) if "enabled" in listener else True,
        reply_template=refs.template(m.get("reply_template")),
    )


def read_webform(node: Node | None, checker: Checker, refs: TemplateReferences) -> WebformSettings:
    """``webform.forms``: each form's title, fields and confirmation template."""
    w = checker.mapping(node, optional=("forms",)) if node is not None else {}
    forms: dict[str, FormSettings] = {}
    for name, form in checker.entries(w["forms"]) if "forms" in w else ():
        check_id(checker, form)
        f = checker.mapping(form, required=("fields",), optional=("title", "confirmation_template"))
        fields: list[FormField] = []
        for item in checker.sequence(f["fields"]) if "fields" in f else ():
            d = checker.mapping(item, required=("name",), optional=("type", "label", "required", "max_length"))
            field_name = checker.string(d["name"], pattern=r"[a-z][a-z0-9_]*", hint="a field name") \
                if "name" in d else ""
            if field_name and any(x.name == field_name for x in fields):
                checker.error(d["name"], f"field {field_name!r} is defined twice")
            fields.append(FormField(
                name=field_name,
                type=checker.string(d["type"], "text", choices=FIELD_TYPES) if "type" in d else "text",
                label=checker.string(d["label"]) if "label" in d else field_name,
                required=checker.boolean(d["required"]) if "required" in d else False,
                max_length=checker.integer(d["max_length"], 1000, minimum=1, maximum=100_000)
                if "max_length" in d else 1000,
            ))
        if "fields" in f and not fields:
            checker.error(f["fields"], "a form needs at least one field")
        forms[name] = FormSettings(
            name=name,
            title=checker.string(f["title"]) if "title" in f else name,
            fields=tuple(fields),
            confirmation_template=refs.template(f.get("confirmation_template")),
        )
    return WebformSettings(frozen_map(forms))
