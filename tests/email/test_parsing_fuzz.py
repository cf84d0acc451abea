"""A seeded fuzz of the parser over mutated real messages: nothing raises, nothing is lost."""

from __future__ import annotations

import random
from pathlib import Path

from channels.email.bounces import parse_bounce, report_original_message_id
from channels.email.loopguard import is_automatic
from channels.email.parsing import ParseLimits, parse_message

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "email" / "corpus"
LIMITS = ParseLimits(max_attachment_bytes=4096, max_parts=50)
SPECIALS = [b"\r\n", b"\n", b"\r", b"\x00", b"\xff", b":", b"<", b">", b"--", b"=?utf-8?b?", b"?=", b"\x1b$B",
            b"boundary=", b"Content-Type: multipart/mixed; boundary=x\r\n", b"\r\n\r\n", b"\"", b"(", b")"]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """``data`` with a few random cuts, flips and insertions of bytes that matter to MIME."""
    out = bytearray(data[:20000])
    for _ in range(rng.randint(1, 6)):
        if not out:
            break
        at = rng.randrange(len(out))
        kind = rng.random()
        if kind < 0.3:
            out[at] = rng.randrange(256)
        elif kind < 0.6:
            out[at:at] = rng.choice(SPECIALS)
        elif kind < 0.8:
            del out[at:at + rng.randint(1, 200)]
        else:
            out = out[:at]
    return bytes(out)


def test_mutated_messages_never_raise_and_keep_their_bytes():
    """1,500 seeded mutations of corpus messages: parse, loop guard and bounce checks never raise; raw is kept."""
    rng = random.Random(19)
    sources = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    for _ in range(1500):
        raw = mutate(rng.choice(sources), rng)
        parsed = parse_message(raw, LIMITS, envelope_sender=rng.choice([None, "", "e@x.example", "用户@例子.中国"]))
        assert parsed.raw == raw
        assert parsed.unparseable or parsed.content_hash
        if not parsed.unparseable:
            is_automatic(parsed, ("support@example.com",), rng.choice([None, ""]))
            parse_bounce(parsed)
            report_original_message_id(parsed)
            assert "\x00" not in parsed.subject and "\n" not in parsed.subject
