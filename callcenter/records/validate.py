"""Checks of caller-supplied values, run before any unit of work touches the database.

Each check returns the accepted (possibly normalized) value or raises
:class:`~callcenter.records.errors.InvalidInput` naming the field, so a bad request changes
nothing stored.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Iterable

from callcenter.records.errors import InvalidInput

DEFAULT_MAX_DOCUMENT_BYTES = 64 * 1024

# BCP 47 shape (language, optional subtags), not a registry check.
_LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
# Channel, direction, state and event kinds are identifiers, never free text.
_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]*$")


def text(field: str, value: Any, max_len: int, *, optional: bool = False, allow_empty: bool = False) -> str | None:
    """A string of at most ``max_len`` characters (None allowed when ``optional``)."""
    if value is None:
        if optional:
            return None
        raise InvalidInput(field, "is required")
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    if not value and not allow_empty:
        raise InvalidInput(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidInput(field, f"must be at most {max_len} characters")
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")
    return value


def name(field: str, value: Any, max_len: int = 32) -> str:
    """A lower-case identifier such as a channel (``voice``), direction or state."""
    value = text(field, value, max_len)
    if not _NAME_RE.match(value):
        raise InvalidInput(field, "must be a lower-case identifier (a-z, 0-9, '_', '.', '-')")
    return value


def choice(field: str, value: Any, allowed: Iterable[str]) -> str:
    """One of ``allowed``."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(field, f"must be one of {', '.join(allowed)}")
    return value


def language(field: str, value: Any) -> str | None:
    """An optional BCP 47-shaped language tag (``fr``, ``en-GB``)."""
    value = text(field, value, 35, optional=True)
    if value is not None and not _LANGUAGE_RE.match(value):
        raise InvalidInput(field, "must be a language tag such as 'en' or 'fr-CA'")
    return value


def document(field: str, value: Any, max_bytes: int, *, optional: bool = False) -> dict[str, Any]:
    """A JSON object (dict with string keys) whose UTF-8 serialization fits in ``max_bytes``.

    Returns a deep copy made through JSON, so later changes by the caller do not leak in.
    """
    return json.loads(_encoded(field, value, max_bytes)) if value is not None or not optional else {}


def document_with_text(field: str, value: Any, max_bytes: int, *, optional: bool = False) -> tuple[dict[str, Any], str]:
    """:func:`document`'s copy and the JSON text it was made from, for a writer that stores that
    text as it is (one encoding instead of two)."""
    if value is None and optional:
        return {}, "{}"
    encoded = _encoded(field, value, max_bytes)
    if all(type(k) is str and type(v) in _SCALARS for k, v in value.items()):
        return dict(value), encoded  # flat: a shallow copy is the JSON copy, without decoding
    return json.loads(encoded), encoded


# Values that come back from a JSON round trip as an equal value of the same type.
_SCALARS = frozenset((str, int, float, bool, type(None)))


def check_document(field: str, value: Any, max_bytes: int, *, optional: bool = False) -> None:
    """Raise what :func:`document` would raise for ``value``, without making the copy."""
    if value is not None or not optional:
        _encoded(field, value, max_bytes)


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
# The C encoder behind it, built once (json builds one per call, most of the cost of a small
# document). Without a markers dict it keeps no state, so threads share it; a circular document
# then ends in RecursionError instead of ValueError.
_C_ENCODE = (json.encoder.c_make_encoder(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",",
                                         False, False, False) if json.encoder.c_make_encoder else None)


def _encode(value: Any) -> str:
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def _encoded(field: str, value: Any, max_bytes: int) -> str:
    if not isinstance(value, dict):
        raise InvalidInput(field, "must be a JSON object")
    try:
        encoded = _encode(value)
    except (TypeError, ValueError, RecursionError) as e:
        raise InvalidInput(field, f"must contain only JSON values ({e})") from None
    size = len(encoded.encode("utf-8"))
    if size > max_bytes:
        raise InvalidInput(field, f"is {size} bytes serialized; the limit is {max_bytes}")
    return encoded


def timestamp(field: str, value: Any, *, optional: bool = False) -> datetime | None:
    """A timezone-aware datetime (naive values are refused: their zone would be a guess)."""
    if value is None and optional:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "must be a timezone-aware datetime")
    return value


def positive_int(field: str, value: Any, *, maximum: int | None = None) -> int:
    """An int >= 1 (and <= ``maximum``); bools are refused."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(field, "must be a positive integer")
    if maximum is not None and value > maximum:
        raise InvalidInput(field, f"must be at most {maximum}")
    return value
