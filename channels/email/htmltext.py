"""HTML mail to readable plain text, with the standard library's ``html.parser``.

:func:`html_to_text` keeps what a reader needs from an HTML-only email: paragraphs and
headings as blocks separated by a blank line, ``<br>`` as a line break, list items as
``- item`` (numbered for ``<ol>``), table rows as lines with cells separated by tabs,
links as ``text <url>`` (just the text when it already is the URL), images as their
``alt`` text, ``<blockquote>`` lines prefixed with ``> `` so quoting folds them. Scripts,
styles, ``<head>`` and comments are dropped; character references are decoded; runs of
white space collapse as a browser would, except inside ``<pre>``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset(
    "p div h1 h2 h3 h4 h5 h6 table tr ul ol dl dt dd pre address section article header footer "
    "nav aside form fieldset center hr blockquote figure figcaption main".split()
)
_PARAGRAPHS = frozenset("p h1 h2 h3 h4 h5 h6 table ul ol pre blockquote hr".split())
_DROPPED = frozenset(("script", "style", "head", "title", "template", "noscript"))
_VOID = frozenset("br hr img meta link input area base col embed source track wbr".split())
_SPACES = re.compile(r"[ \t\r\n\f\u200b\xa0]+")


class _TextCollector(HTMLParser):
    """Collects lines from parser events; ``text()`` returns the result."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[str] = []
        self._line = ""
        self._blank_wanted = False
        self._dropped = 0
        self._pre = 0
        self._quote = 0
        self._lists: list[list[int | None]] = []
        self._links: list[tuple[str | None, int]] = []
        self._cell_started = False

    # --- line assembly -----------------------------------------------------
    def _prefix(self) -> str:
        return "> " * self._quote

    def _break(self, blank: bool = False) -> None:
        if self._line.strip():
            self._lines.append(self._prefix() + self._line.rstrip())
        self._line = ""
        if blank:
            self._blank_wanted = True

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self._blank_wanted and self._lines and self._lines[-1].strip("> "):
            self._lines.append("")
        self._blank_wanted = False
        self._line += text

    # --- parser events -----------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            self._dropped += 1
            return
        if self._dropped:
            return
        a = dict(attrs)
        if tag == "br":
            if self._line.strip():
                self._break()
            else:
                self._lines.append(self._prefix().rstrip())
            return
        if tag in _BLOCKS:
            self._break(blank=tag in _PARAGRAPHS)
        if tag == "blockquote":
            self._quote += 1
        elif tag == "pre":
            self._pre += 1
        elif tag in ("ul", "ol"):
            self._lists.append([1 if tag == "ol" else None])
        elif tag == "li":
            self._break()
            counter = self._lists[-1] if self._lists else [None]
            indent = "  " * max(len(self._lists) - 1, 0)
            if counter[0] is None:
                self._emit(f"{indent}- ")
            else:
                self._emit(f"{indent}{counter[0]}. ")
                counter[0] += 1
        elif tag == "a":
            self._links.append((a.get("href"), len(self._line)))
        elif tag == "img":
            alt = (a.get("alt") or "").strip()
            if alt:
                self._emit(alt)
        elif tag == "tr":
            self._cell_started = False
        elif tag in ("td", "th"):
            if self._cell_started:
                self._emit("\t")
            self._cell_started = True
        elif tag == "hr":
            self._emit("----")
            self._break(blank=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self._dropped = max(self._dropped - 1, 0)
            return
        if self._dropped:
            return
        if tag == "a" and self._links:
            href, start = self._links.pop()
            label = self._line[start:].strip()
            if href and not href.lower().startswith(("javascript:", "#")):
                target = href[7:] if href.lower().startswith("mailto:") else href
                if label != target and label != href:
                    self._emit(f" <{href}>" if label else f"<{href}>")
            return
        if tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        if tag == "blockquote":
            self._break(blank=True)
            self._quote = max(self._quote - 1, 0)
            return
        if tag == "pre":
            self._pre = max(self._pre - 1, 0)
        if tag in _BLOCKS or tag == "li":
            self._break(blank=tag in _PARAGRAPHS)

    def handle_data(self, data: str) -> None:
        if self._dropped:
            return
        if self._pre:
            lines = data.replace("\xa0", " ").split("\n")
            for i, part in enumerate(lines):
                if i:
                    self._lines.append(self._prefix() + self._line.rstrip())
                    self._line = ""
                self._emit(part)
            return
        text = _SPACES.sub(" ", data)
        if not self._line.strip() or self._line.endswith((" ", "\t")):
            text = text.lstrip()
        self._emit(text)

    def text(self) -> str:
        """The collected text: lines joined, no leading/trailing blank lines."""
        self._break()
        lines = [ln.rstrip() for ln in self._lines]
        out: list[str] = []
        for ln in lines:
            if not ln.strip("> ") and out and not out[-1].strip("> "):
                continue  # collapse runs of blank lines
            out.append(ln)
        while out and not out[0].strip("> "):
            out.pop(0)
        while out and not out[-1].strip("> "):
            out.pop()
        return "\n".join(out)


def html_to_text(html: str) -> str:
    """Readable plain text for the HTML document or fragment ``html`` (see the module docstring).

    Never raises on malformed markup: unclosed tags are closed at the end of input.
    """
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return collector.text()
