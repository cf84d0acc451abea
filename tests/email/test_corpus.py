"""The message corpus: each ``corpus/NAME.eml`` parsed and checked against ``NAME.expected.json``.

An expected file lists only the outcomes it pins down; every key present is compared
exactly (``problems_contain`` is a subset check). The corpus is parsed with a 1024-byte
attachment cap so that the over-cap case stays small.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.email.bounces import parse_bounce
from channels.email.loopguard import is_automatic
from channels.email.parsing import ParseLimits, ParsedMessage, parse_message
from channels.email.quoting import split_quoted
from channels.email.threading import find_reference, thread_keys

CORPUS = Path(__file__).parent / "corpus"
LIMITS = ParseLimits(max_attachment_bytes=1024)
OWN = ("support@support.example",)
NAMES = sorted(p.name[: -len(".eml")] for p in CORPUS.glob("*.eml"))


def load(name: str) -> tuple[ParsedMessage, dict]:
    """Parse corpus message ``name`` and load its expectations."""
    parsed = parse_message((CORPUS / f"{name}.eml").read_bytes(), LIMITS)
    expected = json.loads((CORPUS / f"{name}.expected.json").read_text(encoding="utf-8"))
    return parsed, expected


def outcome(parsed: ParsedMessage, key: str):
    """The observed value for expectation ``key``, in the JSON shape of the expected files."""
    if key == "from":
        return [parsed.from_.name, parsed.from_.address] if parsed.from_ else None
    if key in ("to", "cc"):
        return [[a.name, a.address] for a in getattr(parsed, key)]
    if key == "references":
        return list(parsed.references)
    if key == "date":
        return parsed.date.isoformat() if parsed.date else None
    if key == "html":
        return parsed.html is not None
    if key == "attachments":
        return [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "stored": a.content is not None,
             "inline": a.inline, "content_id": a.content_id}
            for a in parsed.attachments
        ]
    if key == "attachments_count":
        return len(parsed.attachments)
    if key == "problems":
        return list(parsed.problems)
    if key == "automatic":
        return is_automatic(parsed, OWN)
    if key == "bounce":
        bounce = parse_bounce(parsed)
        if bounce is None:
            return None
        return {
            "standard": bounce.standard, "permanent": bounce.permanent,
            "original_message_id": bounce.original_message_id, "reporting_mta": bounce.reporting_mta,
            "recipients": [[r.address, r.action, r.status, r.permanent] for r in bounce.recipients],
        }
    if key == "quoted_marker":
        return split_quoted(parsed.text).marker
    if key == "new_text":
        return split_quoted(parsed.text).new
    if key == "thread_parents":
        return list(thread_keys(parsed).parents)
    if key == "reference":
        return find_reference(parsed.subject)
    return getattr(parsed, key)


def test_corpus_is_complete() -> None:
    """Every .eml has an expected file and vice versa, and the corpus has at least 20 messages."""
    expected = sorted(p.name[: -len(".expected.json")] for p in CORPUS.glob("*.expected.json"))
    assert expected == NAMES
    assert len(NAMES) >= 20


@pytest.mark.parametrize("name", NAMES)
def test_corpus_message(name: str) -> None:
    """The parsed message, its thread keys, loop check, bounce and quote split match the expectations."""
    parsed, expected = load(name)
    assert parsed.raw == (CORPUS / f"{name}.eml").read_bytes()
    mismatches = {}
    for key, want in expected.items():
        if key == "problems_contain":
            missing = [p for p in want if p not in parsed.problems]
            if missing:
                mismatches[key] = (missing, list(parsed.problems))
            continue
        got = outcome(parsed, key)
        if got != want:
            mismatches[key] = (want, got)
    assert not mismatches, mismatches
    if "unparseable" not in expected:
        assert not parsed.unparseable, parsed.reason
