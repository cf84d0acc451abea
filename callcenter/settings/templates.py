"""Message templates: Jinja2 files under ``config/templates``, compiled when the config loads.

A template file is named ``<name>.<language>.<kind>``: ``kind`` is ``txt`` (plain text) or
``html`` (HTML, autoescaped). Configuration refers to templates by ``<name>`` alone; the
language is chosen when rendering, falling back to the server's first language.
Undefined variables are errors (``StrictUndefined``), never silent blanks. Email templates
start with a ``Subject:`` line; :meth:`TemplateSet.render_email` splits it off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jinja2

from callcenter.settings.source import Checker, Node

_FILE_NAME = re.compile(r"^([a-z0-9][a-z0-9_-]*)\.([a-z]{2,3}(?:-[A-Za-z0-9]+)?)\.(txt|html)$")
KINDS = ("txt", "html")


class TemplateNotFound(LookupError):
    """No template of that name and kind exists in any language."""


@dataclass(frozen=True)
class TemplateSet:
    """Every compiled template, keyed by ``(name, language, kind)``.

    ``fallback_language`` is used when a template is missing in the requested language.
    """

    templates: Mapping[tuple[str, str, str], jinja2.Template] = field(compare=False)
    fallback_language: str
    sources: Mapping[tuple[str, str, str], str]  # the text of each file, to tell what changed

    @property
    def names(self) -> frozenset[str]:
        """Every template name, whatever its languages and kinds."""
        return frozenset(name for name, _, _ in self.templates)

    def has(self, name: str, language: str | None = None) -> bool:
        """True if ``name`` exists (in ``language``, when given) in any kind."""
        return any(n == name and (language is None or lang == language) for n, lang, _ in self.templates)

    def get(self, name: str, language: str, kind: str = "txt") -> jinja2.Template:
        """The template in ``language``, else in the fallback language.

        Raises :class:`TemplateNotFound` if neither exists.
        """
        for lang in (language, self.fallback_language):
            template = self.templates.get((name, lang, kind))
            if template is not None:
                return template
        raise TemplateNotFound(f"no {kind} template {name!r} in {language!r} or {self.fallback_language!r}")

    def render(self, name: str, language: str, context: Mapping[str, Any], kind: str = "txt") -> str:
        """Render the template; raises ``jinja2.UndefinedError`` when the context lacks a variable."""
        return self.get(name, language, kind).render(**context)

    def render_email(self, name: str, language: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """``(subject, body)`` of a text email template whose first line is ``Subject: ...``.

        A template without that line yields an empty subject and the whole text as body.
        """
        text = self.render(name, language, context)
        first, _, rest = text.partition("\n")
        if first.lower().startswith("subject:"):
            return first[len("subject:"):].strip(), rest.lstrip("\n")
        return "", text


class TemplateReferences:
    """Resolves the template names other sections refer to, reporting unknown ones."""

    def __init__(self, checker: Checker, templates: TemplateSet, fallback_language: str) -> None:
        self.checker = checker
        self.templates = templates
        self.fallback_language = fallback_language

    def template(self, node: Node | None) -> str | None:
        """A template name that exists in the fallback language, or None if absent."""
        if node is None or node.is_null:
            return None
        name = self.checker.string(node)
        if name and not self.templates.has(name, self.fallback_language):
            self.checker.error(node, f"unknown template {name!r} (no templates/{name}."
                                     f"{self.fallback_language}.txt or .html)")
        return name or None


def load_templates(directory: Path, fallback_language: str, checker: Checker) -> TemplateSet:
    """Compile every file under ``directory`` (recursively); errors go to ``checker``.

    Badly named files and Jinja2 syntax errors are reported at the file (syntax errors at
    their line). A missing directory is an empty set.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    compiled: dict[tuple[str, str, str], jinja2.Template] = {}
    sources: dict[tuple[str, str, str], str] = {}
    if not directory.is_dir():
        return TemplateSet(compiled, fallback_language, sources)
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        match = _FILE_NAME.match(path.name)
        if match is None or path.parent != directory:
            checker.file_error(str(path), 1, 1,
                               "template files must sit directly in templates/ and be named "
                               "<name>.<language>.txt or <name>.<language>.html")
            continue
        try:
            template = env.get_template(relative)
        except jinja2.TemplateSyntaxError as exc:
            checker.file_error(str(path), exc.lineno or 1, 1, f"template syntax error: {exc.message}")
            continue
        except UnicodeDecodeError as exc:
            checker.file_error(str(path), 1, 1, f"not UTF-8 text ({exc.reason})")
            continue
        key = (match.group(1), match.group(2), match.group(3))
        compiled[key] = template
        sources[key] = path.read_text(encoding="utf-8")
    return TemplateSet(compiled, fallback_language, sources)
