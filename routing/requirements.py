"""Requirements on agents, as IT writes them in routing rules: parsed once, matched often.

Grammar (keywords are case-insensitive; skill names are identifiers)::

    requirement := "" | "any" | or
    or          := and ("or" and)*
    and         := unary ("and" unary)*
    unary       := "not" unary | "(" or ")" | term
    term        := SKILL [op LEVEL]                 # a bare skill: has it at any level
                 | "language" ("==" | "!=") LANG
                 | "language" "in" "(" LANG ("," LANG)* ")"
    op          := ">=" | ">" | "<=" | "<" | "==" | "!="

``billing >= 4 and language == zh`` holds for an agent with billing 4 or 5 who speaks
Chinese; ``zh`` also matches an agent listing ``zh-CN``. :func:`parse_requirement` raises
:class:`RequirementSyntaxError` with a 1-based column for anything else.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping, Sequence

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)|(?P<op>>=|<=|==|!=|>|<)|(?P<punct>[(),]))")
_OPS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}
_KEYWORDS = {"and", "or", "not", "in", "any"}


class RequirementSyntaxError(ValueError):
    """The requirement text cannot be parsed; ``column`` (1-based) points at the problem."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


class Requirement:
    """A parsed requirement. ``matches(skills, languages)`` is the whole contract."""

    text: str = ""

    def matches(self, skills: Mapping[str, int], languages: Sequence[str]) -> bool:
        """True if an agent with these skill levels and languages meets the requirement."""
        raise NotImplementedError

    def terms(self) -> Iterator["Requirement"]:
        """Every leaf term, depth first."""
        yield self


@dataclass(frozen=True, eq=False)
class _Anything(Requirement):
    text: str = ""

    def matches(self, skills: Mapping[str, int], languages: Sequence[str]) -> bool:
        return True

    def terms(self) -> Iterator[Requirement]:
        return iter(())


@dataclass(frozen=True, eq=False)
class SkillTerm(Requirement):
    """``skill op level``, or a bare skill (``level`` None: any level)."""

    skill: str
    op: str | None
    level: int | None
    text: str = ""

    def matches(self, skills: Mapping[str, int], languages: Sequence[str]) -> bool:
        have = skills.get(self.skill)
        if have is None:
            return False
        return True if self.op is None else _OPS[self.op](have, self.level)


@dataclass(frozen=True, eq=False)
class LanguageTerm(Requirement):
    """``language == x``, ``language != x`` or ``language in (x, y)``."""

    languages: frozenset[str]
    negated: bool
    text: str = ""

    def matches(self, skills: Mapping[str, int], languages: Sequence[str]) -> bool:
        spoken = {lang.lower() for lang in languages} | {lang.split("-")[0].lower() for lang in languages}
        found = bool(self.languages & spoken)
        return not found if self.negated else found


@dataclass(frozen=True, eq=False)
class _Not(Requirement):
    inner: Requirement
    text: str = ""

    def matches(self, skills: Mapping[str, int], languages: Sequence[str]) -> bool:
        return not self.inner.matches(skills, languages)

    def terms(self) -> Iterator[Requirement]:
        return self.inner.terms()


@dataclass(frozen=True, eq=False)
class _Both(Requirement):
    parts: tuple[Requirement, ...]
    any_of: bool
    text: str = ""

    def matches(self, skills: Mapping[str, int], languages: Sequence[str]) -> bool:
        if self.any_of:
            return any(p.matches(skills, languages) for p in self.parts)
        return all(p.matches(skills, languages) for p in self.parts)

    def terms(self) -> Iterator[Requirement]:
        for part in self.parts:
            yield from part.terms()


ANY = _Anything("")


def skill_terms(requirement: Requirement | None) -> Iterable[tuple[str, int | None]]:
    """The skills a requirement names, each with the level it compares against (None: bare)."""
    if requirement is None:
        return []
    return [(t.skill, t.level) for t in requirement.terms() if isinstance(t, SkillTerm)]


def skill_names(requirement: Requirement | None) -> tuple[str, ...]:
    """The distinct skill names a requirement mentions, in order."""
    seen: dict[str, None] = {}
    for skill, _ in skill_terms(requirement):
        seen.setdefault(skill, None)
    return tuple(seen)


@dataclass
class _Token:
    kind: str
    value: str
    column: int


def _tokens(text: str) -> list[_Token]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            column = pos + 1 + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise RequirementSyntaxError(f"unexpected character {text[column - 1]!r}", column)
        kind = m.lastgroup or ""
        value = m.group(kind)
        out.append(_Token(kind, value, m.start(kind) + 1))
        pos = m.end()
    out.append(_Token("end", "", len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def keyword(self, word: str) -> bool:
        if self.tok.kind == "name" and self.tok.value.lower() == word:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: str | None, what: str) -> _Token:
        tok = self.tok
        if tok.kind != kind or (value is not None and tok.value != value):
            raise RequirementSyntaxError(f"expected {what}, found {_describe(tok)}", tok.column)
        self.i += 1
        return tok

    def parse(self) -> Requirement:
        start = self.tok.column
        node = self.or_()
        if self.tok.kind != "end":
            raise RequirementSyntaxError(f"expected 'and', 'or' or the end, found {_describe(self.tok)}", self.tok.column)
        return _with_text(node, self.text[start - 1:].strip())

    def or_(self) -> Requirement:
        start = self.tok.column
        parts = [self.and_()]
        while self.keyword("or"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else _Both(tuple(parts), True, self._span(start))

    def and_(self) -> Requirement:
        start = self.tok.column
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else _Both(tuple(parts), False, self._span(start))

    def unary(self) -> Requirement:
        start = self.tok.column
        if self.keyword("not"):
            return _Not(self.unary(), self._span(start))
        if self.tok.kind == "punct" and self.tok.value == "(":
            self.i += 1
            inner = self.or_()
            self.expect("punct", ")", "')'")
            return _with_text(inner, self._span(start))
        return self.term()

    def term(self) -> Requirement:
        tok = self.tok
        start = tok.column
        if tok.kind != "name" or tok.value.lower() in _KEYWORDS:
            raise RequirementSyntaxError(f"expected a skill or 'language', found {_describe(tok)}", tok.column)
        self.i += 1
        if tok.value.lower() == "language":
            return self.language(start)
        if self.tok.kind != "op":
            return SkillTerm(tok.value, None, None, tok.value)
        op = self.tok.value
        self.i += 1
        level = self.expect("num", None, f"a level after {op!r}")
        return SkillTerm(tok.value, op, int(level.value), self._span(start))

    def language(self, start: int) -> Requirement:
        if self.keyword("in"):
            self.expect("punct", "(", "'(' after 'in'")
            langs = [self._language_name()]
            while self.tok.kind == "punct" and self.tok.value == ",":
                self.i += 1
                langs.append(self._language_name())
            self.expect("punct", ")", "')'")
            return LanguageTerm(frozenset(langs), False, self._span(start))
        tok = self.tok
        if tok.kind != "op" or tok.value not in ("==", "!="):
            raise RequirementSyntaxError(f"expected '==', '!=' or 'in' after 'language', found {_describe(tok)}",
                                         tok.column)
        self.i += 1
        return LanguageTerm(frozenset([self._language_name()]), tok.value == "!=", self._span(start))

    def _language_name(self) -> str:
        tok = self.tok
        if tok.kind != "name" or tok.value.lower() in _KEYWORDS:
            raise RequirementSyntaxError(f"expected a language code, found {_describe(tok)}", tok.column)
        self.i += 1
        return tok.value.lower()

    def _span(self, start: int) -> str:
        end = self.tokens[self.i - 1]
        return self.text[start - 1:end.column - 1 + len(end.value)]


def _with_text(node: Requirement, text: str) -> Requirement:
    object.__setattr__(node, "text", text)
    return node


def _describe(tok: _Token) -> str:
    return "the end" if tok.kind == "end" else repr(tok.value)


def parse_requirement(text: str) -> Requirement:
    """Parse ``text`` (see the module grammar); empty or ``any`` is the requirement that always holds.

    Raises :class:`RequirementSyntaxError` with the 1-based column of the problem.
    """
    if not isinstance(text, str):
        raise RequirementSyntaxError("a requirement must be text", 1)
    if text.strip() == "" or text.strip().lower() == "any":
        return ANY
    return _Parser(text).parse()
