"""Turning the record layer's frozen dataclasses into JSON-ready values."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from typing import Any


_PLAIN = (str, int, float, bool, type(None))
_FIELDS: dict[type, tuple[str, ...]] = {}


def to_json(value: Any) -> Any:
    """Recursively convert dataclasses, enums, datetimes, tuples and mappings to JSON values.

    Datetimes become ISO 8601 strings with their offset; enums their value.
    """
    # Plain values first: they are most of what is converted (every push and screen pop).
    if isinstance(value, _PLAIN) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return [to_json(v) for v in value]
    kind = type(value)
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: to_json(getattr(value, name)) for name in names}
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_json(v) for v in value]
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    return value
