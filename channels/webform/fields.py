"""Validation of a submitted form against its definition: every field type, one pass.

:func:`validate_form` takes what the body parser read (values and uploads by field name)
and returns either the normalized values and attachments, or every error found, never a
mix: a submission with one bad field is refused whole. Normalization:

- text-like values are Unicode NFC, stripped; ``textarea`` line ends become ``\\n``; control
  characters other than a textarea's newlines and tabs are refused;
- ``email`` is stripped, lower-cased and IDNA-encoded, ``phone`` becomes E.164 (read in the
  configured default region), both exactly as the customer record stores them;
- ``select`` must be one of the choices, ``checkbox`` becomes ``True``/``False``;
- ``file`` uploads are capped in number and size, their type must be allowed and, for the
  types this module knows (PDF, PNG, JPEG, GIF, plain text), their bytes must match it.

``max_length`` counts characters of the normalized value; ``pattern`` must match all of it.
Empty optional fields are left out of the result.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from callcenter.records.errors import InvalidContact
from callcenter.records.normalize import normalize_contact
from callcenter.settings.model import FormField, FormSettings

TRUE_WORDS = ("on", "true", "1", "yes")
FALSE_WORDS = ("", "off", "false", "0", "no")
MAX_FILENAME = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


@dataclass(frozen=True)
class Upload:
    """One uploaded file as the client sent it: its name, declared media type and bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class FieldError:
    """A problem with field ``field`` (``""`` for the form as a whole): a message ``code``
    of :mod:`channels.webform.messages` and the values its text needs."""

    field: str
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CleanForm:
    """A valid submission: normalized ``values`` by field name and ``attachments`` as
    ``(field name, upload)`` pairs with safe file names, in form order."""

    values: dict[str, Any]
    attachments: tuple[tuple[str, Upload], ...]


class _Invalid(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def validate_form(form: FormSettings, values: Mapping[str, Sequence[Any]], files: Mapping[str, Sequence[Upload]],
                  default_region: str, ignore: Sequence[str] = ()) -> CleanForm | list[FieldError]:
    """Check and normalize one submission; a :class:`CleanForm`, or every :class:`FieldError`.

    ``values`` maps a field name to the values sent under it (strings from a form post;
    strings, booleans, numbers or None from JSON); ``files`` maps it to the uploads.
    Names in ``ignore`` (the token, the honeypot) are the caller's; any other name the form
    does not define is an ``unknown_field`` error.
    """
    errors: list[FieldError] = []
    clean: dict[str, Any] = {}
    attachments: list[tuple[str, Upload]] = []
    known = {f.name for f in form.fields}
    for name in sorted((set(values) | set(files)) - known - set(ignore)):
        errors.append(FieldError(name, "unknown_field"))
    for spec in form.fields:
        try:
            if spec.type == "file":
                if values.get(spec.name):
                    raise _Invalid("not_a_file")
                for upload in _files(spec, files.get(spec.name, ())):
                    attachments.append((spec.name, upload))
                continue
            if files.get(spec.name):
                raise _Invalid("wrong_type")
            value = _value(spec, values.get(spec.name, ()), default_region)
        except _Invalid as problem:
            errors.append(FieldError(spec.name, problem.code, problem.params))
            continue
        if value is not None:
            clean[spec.name] = value
    if errors:
        return errors
    return CleanForm(clean, tuple(attachments))


def _single(raw: Sequence[Any]) -> Any:
    if len(raw) > 1:
        raise _Invalid("multiple_values")
    return raw[0] if raw else None


def _value(spec: FormField, raw: Sequence[Any], region: str) -> Any:
    item = _single(raw)
    if spec.type == "checkbox":
        return _checkbox(spec, item)
    if item is None:
        item = ""
    if isinstance(item, bool) or not isinstance(item, (str, int, float)):
        raise _Invalid("wrong_type")
    text = unicodedata.normalize("NFC", str(item))
    if spec.type == "textarea":
        text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        bad = _CONTROL.search(text)
    else:
        text = text.strip()
        bad = _CONTROL_LINE.search(text)
    if not text:
        if spec.required:
            raise _Invalid("required")
        return None
    if bad:
        raise _Invalid("control_chars")
    if len(text) > spec.max_length:
        raise _Invalid("too_long", max=spec.max_length)
    try:
        if spec.type in ("email", "phone"):  # remembered: customers write again from the same address
            text = normalize_contact(spec.type, text, region, spec.name)
    except InvalidContact:
        raise _Invalid(f"invalid_{spec.type}") from None
    if spec.type == "select" and text not in {c.value for c in spec.choices}:
        raise _Invalid("invalid_choice")
    if spec.pattern is not None and spec.type != "select" and not re.fullmatch(spec.pattern, text):
        raise _Invalid("pattern")
    return text


def _checkbox(spec: FormField, item: Any) -> bool:
    if isinstance(item, bool):
        checked = item
    elif item is None:
        checked = False
    elif isinstance(item, str) and item.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        checked = item.strip().lower() in TRUE_WORDS
    else:
        raise _Invalid("invalid_checkbox")
    if spec.required and not checked:
        raise _Invalid("not_checked")
    return checked


def _files(spec: FormField, uploads: Sequence[Upload]) -> list[Upload]:
    # A browser sends an empty part without a name when no file was chosen.
    chosen = [u for u in uploads if u.filename or u.data]
    if not chosen:
        if spec.required:
            raise _Invalid("required")
        return []
    if len(chosen) > spec.max_files:
        raise _Invalid("too_many_files", max=spec.max_files)
    out = []
    for upload in chosen:
        if not upload.data:
            raise _Invalid("file_empty")
        if len(upload.data) > spec.max_bytes:
            raise _Invalid("file_too_large", max=spec.max_bytes)
        media = upload.content_type.split(";", 1)[0].strip().lower()
        if media not in spec.content_types or not content_matches(media, upload.data):
            raise _Invalid("file_type", types=", ".join(spec.content_types))
        out.append(Upload(safe_filename(upload.filename), media, upload.data))
    return out


def content_matches(media_type: str, data: bytes) -> bool:
    """False when ``data`` plainly is not of ``media_type``: wrong magic bytes for PDF, PNG,
    JPEG and GIF, or not UTF-8 without NUL for ``text/plain``; True for other types."""
    if media_type in _MAGIC:
        return data.startswith(_MAGIC[media_type])
    if media_type == "text/plain":
        try:
            return "\x00" not in data.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def safe_filename(name: str) -> str:
    """The last path component of ``name`` without control characters, at most 200
    characters; ``attachment`` when nothing is left."""
    base = re.split(r"[\\/]", name)[-1]
    base = _CONTROL_LINE.sub("", unicodedata.normalize("NFC", base)).strip().lstrip(".")
    return base[-MAX_FILENAME:] or "attachment"
