"""Turning the record layer's frozen dataclasses into JSON-ready values."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from typing import Any


def to_json(value: Any) -> Any:
    """Recursively convert dataclasses, enums, datetimes, tuples and mappings to JSON values.

    Datetimes become ISO 8601 strings with their offset; enums their value.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_json(v) for v in value]
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    return value
