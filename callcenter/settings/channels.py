"""Reader for ``channels.yaml``: telephony (AMI, FastAGI, CTI), email and web forms.

Channels that need an outside server (AMI, IMAP, the SMTP relay) are off unless
``enabled: true``; an enabled one must not keep a placeholder secret (``CHANGE-ME``).
The whole file is optional: without it, FastAGI and the SMTP listener run, nothing else.
"""

from __future__ import annotations

import re
from typing import Mapping

import yaml

from callcenter.settings.model import (
    DEFAULT_CONTENT_TYPES, FIELD_TYPES, AmiSettings, EmailSettings, FormChoice, FormField, FormRate, FormSettings,
    ImapSettings, MailboxSettings, SmtpRelaySettings, TelephonySettings, WebformSettings,
)
from callcenter.settings.sections import LANGUAGE, check_id, frozen_map
from callcenter.settings.source import Checker, Node
from callcenter.settings.templates import TemplateReferences

PLACEHOLDER = "CHANGE-ME"
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


def read_email(node: Node | None, checker: Checker, refs: TemplateReferences,
               queue_names: frozenset[str] = frozenset()) -> EmailSettings:
    """``email``: ``mailboxes``, ``relay`` (off by default), ``listener.enabled`` (on), ``reply_template``,
    ``unreadable_queue`` (one of ``queue_names``; where mail that cannot be read goes)."""
    m = checker.mapping(node, optional=("mailboxes", "relay", "listener", "reply_template", "closed_reply",
                                        "auto_reply_cap", "max_message_size", "unreadable_queue")) \
        if node is not None else {}
    unreadable_queue = checker.optional_string(m.get("unreadable_queue"))
    if unreadable_queue is not None and unreadable_queue not in queue_names:
        checker.error(m["unreadable_queue"], f"unknown queue {unreadable_queue!r} (not in queues.yaml)")
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
    cap = checker.mapping(m["auto_reply_cap"], optional=("count", "per")) if "auto_reply_cap" in m else {}
    return EmailSettings(
        mailboxes=frozen_map(mailboxes),
        relay=relay,
        listener_enabled=checker.boolean(listener["enabled"], True) if "enabled" in listener else True,
        reply_template=refs.template(m.get("reply_template")),
        closed_reply_policy=checker.string(m["closed_reply"], "reopen", choices=("reopen", "new-linked"))
        if "closed_reply" in m else "reopen",
        auto_reply_cap=checker.integer(cap["count"], 10, minimum=0, maximum=1000) if "count" in cap else 10,
        auto_reply_window=checker.duration(cap["per"], 3 * 3600.0, positive=True) if "per" in cap else 3 * 3600.0,
        max_message_bytes=checker.integer(m["max_message_size"], 25 * 1024 * 1024, minimum=1024,
                                          maximum=1024 ** 3) if "max_message_size" in m else 25 * 1024 * 1024,
        unreadable_queue=unreadable_queue,
    )


FORM_KEYS = ("title", "fields", "confirmation_template", "identify", "routing_attributes", "allowed_origins",
             "min_fill_time", "max_age", "rate_limits", "max_body_bytes")
FIELD_KEYS = ("name", "type", "label", "help", "required", "max_length", "choices", "pattern", "pattern_message",
              "max_bytes", "max_files", "content_types")
ORIGIN = r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?"
RESERVED_FIELDS = ("homepage",)  # the honeypot's name on every form
IDENTIFY_TYPES = {"email": ("email",), "phone": ("phone",), "name": ("text",)}


def _localized(node: Node | None, checker: Checker, fallback: str, default: str) -> Mapping[str, str]:
    """Text per language: a plain string (the fallback language's) or ``{language: text}``."""
    if node is None or node.is_null:
        return frozen_map({fallback: default} if default else {})
    if not isinstance(node.yaml, yaml.MappingNode):
        return frozen_map({fallback: checker.string(node, default)})
    texts: dict[str, str] = {}
    for lang, text in checker.entries(node):
        checker.string(_key_node(text, lang), pattern=LANGUAGE, hint="a language code like en")
        texts[lang] = checker.string(text)
    if fallback not in texts:
        checker.error(node, f"must have a text in {fallback!r} (the first of server.languages)")
    return frozen_map(texts)


def _key_node(node: Node, name: str) -> Node:
    return Node(yaml.ScalarNode("tag:yaml.org,2002:str", name), node.file, node.path, node.line, node.column)


def _rate(node: Node, checker: Checker, default: FormRate) -> FormRate | None:
    if node.is_null:
        return None
    e = checker.mapping(node, required=("burst", "per_second"))
    return FormRate(
        checker.integer(e["burst"], default.burst, minimum=1, maximum=1_000_000) if "burst" in e else default.burst,
        checker.number(e["per_second"], default.per_second, minimum=0.0001, maximum=1_000_000)
        if "per_second" in e else default.per_second)


def _field(item: Node, checker: Checker, fallback: str, taken: list[FormField]) -> FormField:
    d = checker.mapping(item, required=("name",), optional=FIELD_KEYS)
    name = checker.string(d["name"], pattern=r"[a-z][a-z0-9_]*", hint="a field name") if "name" in d else ""
    if name in RESERVED_FIELDS:
        checker.error(d["name"], f"{name!r} is reserved (the honeypot field)")
    if name and any(x.name == name for x in taken):
        checker.error(d["name"], f"field {name!r} is defined twice")
    kind = checker.string(d["type"], "text", choices=FIELD_TYPES) if "type" in d else "text"
    choices: list[FormChoice] = []
    for c in checker.sequence(d["choices"]) if "choices" in d else ():
        if isinstance(c.yaml, yaml.MappingNode):
            e = checker.mapping(c, required=("value",), optional=("label",))
            value = checker.string(e["value"], any_scalar=True) if "value" in e else ""
            label = _localized(e.get("label"), checker, fallback, value)
        else:
            value = checker.string(c, any_scalar=True)
            label = frozen_map({fallback: value})
        if value and any(x.value == value for x in choices):
            checker.error(c, f"choice {value!r} is listed twice")
        choices.append(FormChoice(value, label))
    if (kind == "select") != bool(choices) and ("choices" in d or kind == "select"):
        checker.error(d.get("choices", item), "a select field needs choices; only select fields have them")
    pattern = checker.optional_string(d.get("pattern"))
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            checker.error(d["pattern"], f"not a valid regular expression: {exc}")
            pattern = None
    return FormField(
        name=name, type=kind,
        label=_localized(d.get("label"), checker, fallback, name),
        required=checker.boolean(d["required"]) if "required" in d else False,
        max_length=checker.integer(d["max_length"], 1000, minimum=1, maximum=100_000) if "max_length" in d else 1000,
        help=_localized(d.get("help"), checker, fallback, ""),
        choices=tuple(choices),
        pattern=pattern,
        pattern_message=_localized(d.get("pattern_message"), checker, fallback, ""),
        max_bytes=checker.integer(d["max_bytes"], 1, minimum=1, maximum=100 * 1024 * 1024)
        if "max_bytes" in d else FormField.max_bytes,
        max_files=checker.integer(d["max_files"], 1, minimum=1, maximum=20) if "max_files" in d else 1,
        content_types=checker.string_list(d["content_types"], pattern=r"[a-z]+/[a-z0-9.+-]+",
                                          hint="a media type like application/pdf")
        if "content_types" in d else DEFAULT_CONTENT_TYPES,
    )


def _form(name: str, form: Node, checker: Checker, refs: TemplateReferences) -> FormSettings:
    fallback = refs.fallback_language
    f = checker.mapping(form, required=("fields",), optional=FORM_KEYS)
    fields: list[FormField] = []
    for item in checker.sequence(f["fields"]) if "fields" in f else ():
        fields.append(_field(item, checker, fallback, fields))
    if "fields" in f and not fields:
        checker.error(f["fields"], "a form needs at least one field")
    types = {x.name: x.type for x in fields}
    identify = checker.mapping(f["identify"], optional=tuple(IDENTIFY_TYPES)) if "identify" in f else {}
    who: dict[str, str | None] = {}
    for role, node in identify.items():
        who[role] = checker.string(node)
        if who[role] and types.get(who[role]) not in IDENTIFY_TYPES[role]:
            checker.error(node, f"must name a field of type {' or '.join(IDENTIFY_TYPES[role])}")
    attributes = checker.string_list(f["routing_attributes"]) if "routing_attributes" in f else ()
    for attribute in attributes:
        if attribute not in types or types[attribute] == "file":
            checker.error(f["routing_attributes"], f"{attribute!r} is not a (non-file) field of this form")
    limits = checker.mapping(f["rate_limits"], optional=("per_ip", "global")) if "rate_limits" in f else {}
    base = FormSettings(name, frozen_map({}), (), None)
    attachment_room = sum(x.max_bytes * x.max_files for x in fields if x.type == "file")
    return FormSettings(
        name=name,
        title=_localized(f.get("title"), checker, fallback, name),
        fields=tuple(fields),
        confirmation_template=refs.template(f.get("confirmation_template")),
        identify_email=who.get("email"),
        identify_phone=who.get("phone"),
        identify_name=who.get("name"),
        routing_attributes=attributes,
        allowed_origins=checker.string_list(f["allowed_origins"], pattern=ORIGIN,
                                            hint="an origin like https://www.example.com (no path)")
        if "allowed_origins" in f else (),
        min_fill_time=checker.duration(f["min_fill_time"], base.min_fill_time) if "min_fill_time" in f
        else base.min_fill_time,
        max_age=checker.duration(f["max_age"], base.max_age, positive=True) if "max_age" in f else base.max_age,
        per_ip_rate=_rate(limits["per_ip"], checker, base.per_ip_rate) if "per_ip" in limits else base.per_ip_rate,
        global_rate=_rate(limits["global"], checker, base.global_rate) if "global" in limits
        else base.global_rate,
        max_body_bytes=checker.integer(f["max_body_bytes"], 1, minimum=1024, maximum=512 * 1024 * 1024)
        if "max_body_bytes" in f else base.max_body_bytes + attachment_room,
    )


def read_webform(node: Node | None, checker: Checker, refs: TemplateReferences) -> WebformSettings:
    """``webform.forms``: each form's title, fields, identity, routing, embedding and abuse limits.

    Texts (titles, labels, help) are a string or ``{language: text}`` with the fallback
    language; ``identify`` must name fields of the right type; ``pattern`` must compile.
    """
    w = checker.mapping(node, optional=("forms",)) if node is not None else {}
    forms: dict[str, FormSettings] = {}
    for name, form in checker.entries(w["forms"]) if "forms" in w else ():
        check_id(checker, form)
        forms[name] = _form(name, form, checker, refs)
    return WebformSettings(frozen_map(forms))
