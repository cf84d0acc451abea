"""Reading YAML with places: every key and value keeps its file, line, column and key path.

Files are composed with PyYAML (``yaml.compose``) rather than loaded, because only the
node tree still knows where each key and value was written, and because ``yaml.safe_load``
silently keeps the last of two equal mapping keys. :class:`Checker` collects errors instead
of raising them, so one pass reports every problem; each reader returns the caller's
``default`` after recording an error, which keeps validation going (the result is thrown
away anyway once any error was recorded).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml

from callcenter.settings.errors import ConfigError

T = TypeVar("T")

# LibYAML's parser when PyYAML was built with it (the same nodes and marks, about ten times
# faster: a configuration of 2,000 agents is read in a fraction of a second, not a second).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BROKEN = object()
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


@dataclass(frozen=True)
class Node:
    """A YAML node with the place errors about it are reported at.

    ``line``/``column`` are 1-based. For a mapping value they are those of its key (the
    line a reader scans for), for a list item those of the item itself.
    """

    yaml: yaml.Node
    file: str
    path: str
    line: int
    column: int

    def child(self, key: str | int, node: yaml.Node, at: yaml.Node | None = None) -> "Node":
        """The node ``node`` below this one under ``key`` (an int key is a list index)."""
        if isinstance(key, int):
            path = f"{self.path}[{key}]"
        else:
            path = f"{self.path}.{key}" if self.path else key
        mark = (at or node).start_mark
        return Node(node, self.file, path, mark.line + 1, mark.column + 1)

    def keys(self) -> tuple[str, ...]:
        """The scalar keys of a mapping node (none for anything else), without any checking."""
        if not isinstance(self.yaml, yaml.MappingNode):
            return ()
        return tuple(str(k.value) for k, _ in self.yaml.value if isinstance(k, yaml.ScalarNode))

    def get(self, key: str) -> "Node | None":
        """The first value under ``key`` of a mapping node, or None, without any checking."""
        if isinstance(self.yaml, yaml.MappingNode):
            for k, v in self.yaml.value:
                if isinstance(k, yaml.ScalarNode) and k.value == key:
                    return self.child(key, v, at=k)
        return None

    @property
    def is_null(self) -> bool:
        """True for an explicit ``null``/``~`` or an empty value."""
        return isinstance(self.yaml, yaml.ScalarNode) and self.yaml.tag == _NULL


def duration_seconds(text: str) -> float | None:
    """Seconds in a duration such as ``30s``, ``5m``, ``1h30m`` or ``2d``; None if malformed."""
    match = _DURATION.match(text.strip()) if text.strip() else None
    if match is None:
        return None
    days, hours, minutes, seconds = match.groups()
    return (int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60
            + float(seconds or 0))


class Checker:
    """Reads located YAML into Python values and collects every :class:`ConfigError`."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self._constructor = yaml.SafeLoader("")

    # -- errors ---------------------------------------------------------------------------
    def error(self, node: Node, message: str) -> None:
        """Record ``message`` at ``node``'s place and key path."""
        self.errors.append(ConfigError(node.file, node.line, node.column, node.path, message))

    def error_at(self, node: Node, line: int, column: int, message: str) -> None:
        """Record ``message`` under ``node``'s key path at an exact place inside its value."""
        self.errors.append(ConfigError(node.file, line, column, node.path, message))

    def file_error(self, file: str, line: int, column: int, message: str) -> None:
        """Record a problem of a whole file (broken YAML, missing file)."""
        self.errors.append(ConfigError(file, line, column, "", message))

    # -- files ----------------------------------------------------------------------------
    def load(self, path: Path, required: bool) -> Node | None:
        """The root node of the YAML file ``path``; None (with an error if ``required``) if absent.

        Broken YAML is reported at the place PyYAML points to; duplicate keys anywhere in
        the file are reported at the second occurrence.
        """
        file = str(path)
        if not path.is_file():
            if required:
                self.file_error(file, 1, 1, "file is missing")
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            self.file_error(file, 1, 1, f"not UTF-8 text ({exc.reason})")
            return None
        try:
            root = yaml.compose(text, Loader=_LOADER)
        except yaml.YAMLError:
            root = self._compose_broken(file, text)
            if root is _BROKEN:
                return None
        if root is None:
            root = yaml.MappingNode("tag:yaml.org,2002:map", [], start_mark=_start_mark())
        node = Node(root, file, "", root.start_mark.line + 1, root.start_mark.column + 1)
        self._check_duplicates(node, set())
        return node

    def _compose_broken(self, file: str, text: str) -> Any:
        """Parse ``text``, which LibYAML refused, with PyYAML's own parser: its messages say more
        (which character, which alias). Records the error and returns :data:`_BROKEN`."""
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.reader.ReaderError as exc:   # a control character: YAML allows none
            line = text.count("\n", 0, exc.position) + 1
            column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
            self.file_error(file, line, column, f"invalid YAML: the character U+{exc.character:04X} is not allowed "
                                                "(no control character is, but tab and line breaks)")
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = " ".join(p for p in (exc.context, exc.problem) if p)
            self.file_error(file, where[0], where[1], f"invalid YAML: {problem}")
        except yaml.YAMLError as exc:
            self.file_error(file, 1, 1, f"invalid YAML: {exc}")
        return _BROKEN

    def _check_duplicates(self, node: Node, seen: set[int]) -> None:
        # Aliases make the node graph a DAG; visit each node once.
        if id(node.yaml) in seen:
            return
        seen.add(id(node.yaml))
        if isinstance(node.yaml, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.yaml.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else repr(key)
                child = node.child(name, value, at=key)
                if name in first:
                    self.error(child, f"duplicate key (first defined on line {first[name]})")
                else:
                    first[name] = key.start_mark.line + 1
                self._check_duplicates(child, seen)
        elif isinstance(node.yaml, yaml.SequenceNode):
            for index, item in enumerate(node.yaml.value):
                self._check_duplicates(node.child(index, item), seen)

    # -- structure ------------------------------------------------------------------------
    def mapping(self, node: Node, *, required: Iterable[str] = (), optional: Iterable[str] = (),
                what: str = "key") -> dict[str, Node]:
        """The entries of a mapping with a fixed set of keys.

        Unknown keys are reported at the key, missing required keys at the mapping's place.
        A non-mapping (or null) yields an error and ``{}``.
        """
        entries = self.entries(node)
        required = tuple(required)
        allowed = set(required) | set(optional)
        result: dict[str, Node] = {}
        for name, child in entries:
            if name not in allowed:
                self.error(child, f"unknown {what}; expected one of: {', '.join(sorted(allowed))}")
            elif name not in result:
                result[name] = child
        if isinstance(node.yaml, yaml.MappingNode):
            for name in required:
                if name not in result:
                    self.error(node, f"missing required key {name!r}")
        return result

    def entries(self, node: Node, *, allow_null: bool = False) -> list[tuple[str, Node]]:
        """Every ``(key, value)`` of a mapping whose keys are free names (ids); first wins."""
        if allow_null and node.is_null:
            return []
        if not isinstance(node.yaml, yaml.MappingNode):
            self.error(node, "must be a mapping")
            return []
        out: list[tuple[str, Node]] = []
        seen: set[str] = set()
        for key, value in node.yaml.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _NULL:
                self.error(node.child(repr(key.value), value, at=key), "keys must be plain names")
                continue
            name = str(key.value)
            if name not in seen:  # duplicates were reported when the file was read
                seen.add(name)
                out.append((name, node.child(name, value, at=key)))
        return out

    def sequence(self, node: Node, *, allow_scalar: bool = False) -> list[Node]:
        """The items of a list; with ``allow_scalar`` a single scalar counts as a one-item list."""
        if isinstance(node.yaml, yaml.SequenceNode):
            return [node.child(i, item) for i, item in enumerate(node.yaml.value)]
        if allow_scalar and isinstance(node.yaml, yaml.ScalarNode) and not node.is_null:
            return [node]
        self.error(node, "must be a list")
        return []

    # -- scalars --------------------------------------------------------------------------
    def _scalar(self, node: Node) -> Any:
        return self._constructor.construct_object(node.yaml, deep=True)

    def string(self, node: Node, default: str = "", *, choices: Iterable[str] | None = None,
               pattern: str | None = None, hint: str = "", any_scalar: bool = False) -> str:
        """A non-empty string; ``any_scalar`` also takes unquoted numbers as written (``0800``)."""
        y = node.yaml
        ok_tags = (_STR, _INT, _FLOAT) if any_scalar else (_STR,)
        if not isinstance(y, yaml.ScalarNode) or y.tag not in ok_tags or not str(y.value).strip():
            self.error(node, "must be a non-empty string" + (f" {hint}" if hint else ""))
            return default
        text = str(y.value)
        if choices is not None:
            options = tuple(choices)
            if text not in options:
                self.error(node, f"must be one of: {', '.join(options)}")
                return default
        if pattern is not None and not re.fullmatch(pattern, text):
            self.error(node, f"must be {hint or 'of the form ' + pattern}")
            return default
        return text

    def optional_string(self, node: Node | None, default: str | None = None, **kwargs: Any) -> str | None:
        """Like :meth:`string`, but absent or null gives ``default``."""
        if node is None or node.is_null:
            return default
        return self.string(node, "", **kwargs)

    def integer(self, node: Node, default: int = 0, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
        """An integer within ``[minimum, maximum]``."""
        if not isinstance(node.yaml, yaml.ScalarNode) or node.yaml.tag != _INT:
            self.error(node, "must be an integer")
            return default
        value = int(self._scalar(node))
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            low = "" if minimum is None else f"from {minimum}"
            high = "" if maximum is None else f"to {maximum}"
            self.error(node, f"must be an integer {low} {high}".replace("  ", " ").strip())
            return default
        return value

    def number(self, node: Node, default: float = 0.0, *, minimum: float, maximum: float) -> float:
        """An integer or decimal number within ``[minimum, maximum]``."""
        if not isinstance(node.yaml, yaml.ScalarNode) or node.yaml.tag not in (_INT, _FLOAT):
            self.error(node, "must be a number")
            return default
        value = float(self._scalar(node))
        if not minimum <= value <= maximum:
            self.error(node, f"must be a number from {minimum:g} to {maximum:g}")
            return default
        return value

    def boolean(self, node: Node, default: bool = False) -> bool:
        """``true`` or ``false``."""
        if not isinstance(node.yaml, yaml.ScalarNode) or node.yaml.tag != _BOOL:
            self.error(node, "must be true or false")
            return default
        return bool(self._scalar(node))

    def duration(self, node: Node, default: float = 0.0, *, positive: bool = False) -> float:
        """Seconds of a duration written like ``30s``, ``5m``, ``1h30m``; ``positive`` rejects 0."""
        y = node.yaml
        seconds = None
        if isinstance(y, yaml.ScalarNode) and y.tag == _STR:
            seconds = duration_seconds(str(y.value))
        if seconds is None:
            self.error(node, "must be a duration like 30s")
            return default
        if positive and seconds <= 0:
            self.error(node, "must be a duration longer than 0s")
            return default
        return seconds

    def date(self, node: Node) -> dt.date | None:
        """A calendar date written ``YYYY-MM-DD``."""
        y = node.yaml
        if isinstance(y, yaml.ScalarNode) and y.tag == "tag:yaml.org,2002:timestamp":
            try:
                value = self._scalar(node)
            except ValueError:  # PyYAML resolves 2026-13-01 as a timestamp, then fails
                value = None
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                return value
        self.error(node, "must be a date like 2026-12-25")
        return None

    def string_list(self, node: Node, *, any_scalar: bool = False, **kwargs: Any) -> tuple[str, ...]:
        """A list of strings (one string alone counts as a list of one), duplicates reported."""
        out: list[str] = []
        for item in self.sequence(node, allow_scalar=True):
            text = self.string(item, any_scalar=any_scalar, **kwargs)
            if not text:
                continue
            if text in out:
                self.error(item, f"{text!r} is listed twice")
            else:
                out.append(text)
        return tuple(out)


def _start_mark() -> yaml.Mark:
    return yaml.Mark("", 0, 0, 0, None, None)
