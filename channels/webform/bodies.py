"""Reading a form submission's body: URL-encoded, multipart or JSON, into one shape.

Every parser returns a :class:`RawForm`: the values sent under each name (in order) and the
uploads under each name. Text must be UTF-8. A body that cannot be read raises
:class:`BodyError` with a message code (``bad_request``: malformed; ``unsupported_type``:
another media type); what the values mean is for :mod:`channels.webform.fields`.

JSON bodies are an object of field name to a string, number, boolean, null, a list of those,
or, for a file field, ``{"filename", "content_type", "data"}`` with the bytes in base64 (or a
list of such objects).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from channels.webform.fields import Upload

MAX_FIELDS = 200
_PARAM = re.compile(r';\s*([A-Za-z*]+)\s*=\s*(?:"([^"]*)"|([^;\s]*))')
JSON_TYPES = ("application/json",)
MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"


class BodyError(Exception):
    """The body could not be read; ``code`` is a message code of :mod:`channels.webform.messages`."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class RawForm:
    """What a body said, before validation: ``values[name]`` and ``files[name]`` lists."""

    values: dict[str, list[Any]] = field(default_factory=dict)
    files: dict[str, list[Upload]] = field(default_factory=dict)


def media_type(content_type: str | None) -> str:
    """The lower-cased media type of a ``Content-Type`` header, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """True for a JSON body."""
    return media_type(content_type) in JSON_TYPES


def parse_body(content_type: str | None, body: bytes) -> RawForm:
    """Parse ``body`` according to its ``Content-Type``; raises :class:`BodyError`."""
    kind = media_type(content_type)
    if kind == URLENCODED:
        return parse_urlencoded(body)
    if kind == MULTIPART:
        return parse_multipart(content_type or "", body)
    if kind in JSON_TYPES:
        return parse_json(body)
    raise BodyError("unsupported_type", f"cannot read a {kind or 'untyped'} body")


def _add(raw: RawForm, name: str, value: Any) -> None:
    if sum(len(v) for v in raw.values.values()) + sum(len(v) for v in raw.files.values()) >= MAX_FIELDS:
        raise BodyError("bad_request", f"more than {MAX_FIELDS} values")
    raw.values.setdefault(name, []).append(value)


def parse_urlencoded(body: bytes) -> RawForm:
    """``application/x-www-form-urlencoded`` in UTF-8."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, encoding="utf-8",
                          errors="strict", max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyError("bad_request", f"not a UTF-8 form body: {exc}") from None
    raw = RawForm()
    for name, value in pairs:
        _add(raw, name, value)
    return raw


def _disposition(header: str) -> dict[str, str]:
    """The parameters of a form-data ``Content-Disposition`` as browsers write them.

    The HTML standard has browsers percent-encode ``"``, CR and LF in names and leave
    backslashes alone (a Windows path stays a path), so RFC 2045 quoted-pair unescaping
    would corrupt them; header bytes are UTF-8.
    """
    text = header.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    params = {}
    for key, quoted, bare in _PARAM.findall(text):
        value = quoted if quoted or not bare else bare
        params[key.lower()] = value.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")
    return params


def parse_multipart(content_type: str, body: bytes) -> RawForm:
    """``multipart/form-data``: parts with a ``filename`` are uploads, others UTF-8 values."""
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.compat32).parsebytes(header + body)
    if not message.is_multipart() or message.defects or not isinstance(message.get_payload(), list):
        raise BodyError("bad_request", "malformed multipart body")
    raw = RawForm()
    for part in message.get_payload():
        # raw_items: the header as received (undecoded bytes as surrogates), not a Header object.
        disposition = next((str(v) for k, v in part.raw_items() if k.lower() == "content-disposition"), "")
        params = _disposition(disposition)
        if not disposition.lower().startswith("form-data") or not params.get("name"):
            raise BodyError("bad_request", "a multipart part without a form-data name")
        name = params["name"]
        data = part.get_payload(decode=True) or b""
        if "filename" in params:
            if sum(len(v) for v in raw.files.values()) >= MAX_FIELDS:
                raise BodyError("bad_request", f"more than {MAX_FIELDS} files")
            media = part.get_content_type() if part.get("content-type") else "application/octet-stream"
            raw.files.setdefault(name, []).append(Upload(params["filename"], media, data))
            continue
        try:
            _add(raw, name, data.decode("utf-8"))
        except UnicodeDecodeError:
            raise BodyError("bad_request", f"part {name!r} is not UTF-8") from None
    return raw


def _upload(item: dict) -> Upload:
    if set(item) != {"filename", "content_type", "data"} or not all(isinstance(v, str) for v in item.values()):
        raise BodyError("bad_request", "a file is {filename, content_type, data}, all strings")
    try:
        data = base64.b64decode(item["data"], validate=True)
    except (binascii.Error, ValueError):
        raise BodyError("bad_request", "file data is not base64") from None
    return Upload(item["filename"], item["content_type"], data)


def parse_json(body: bytes) -> RawForm:
    """A JSON object as described in the module docstring."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyError("bad_request", f"not UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BodyError("bad_request", "the body must be a JSON object")
    raw = RawForm()
    for name, value in doc.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                raw.files.setdefault(name, []).append(_upload(item))
            elif isinstance(item, list):
                raise BodyError("bad_request", f"{name!r}: nested lists are not accepted")
            else:
                _add(raw, name, item)
        if isinstance(value, list) and not value:
            raw.values.setdefault(name, [])
    return raw
