"""Loader for the Asterisk transcripts recorded from a real PBX (JSON lines, one chunk a line).

The fixtures live in ``tests/fixtures/asterisk`` (see its README: how and from which Asterisk
they were recorded); the environment variable ``CALLCENTER_FIXTURES`` points elsewhere (at
an ``asterisk`` directory of the same layout).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def fixtures_dir() -> Path:
    """The directory holding the ``*.jsonl`` transcripts."""
    override = os.environ.get("CALLCENTER_FIXTURES")
    return Path(override) if override else REPO / "tests" / "fixtures" / "asterisk"


@dataclass(frozen=True)
class Chunk:
    """One recorded ``recv()``/``send()``: time, connection number, direction and exact bytes."""

    t: float
    conn: int
    from_asterisk: bool
    data: bytes


def load(name: str) -> list[Chunk]:
    """Every chunk of ``<name>.jsonl``, in recorded order."""
    chunks = []
    with open(fixtures_dir() / f"{name}.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            chunks.append(Chunk(rec["t"], rec["conn"], rec["dir"] == "from_asterisk", rec["data"].encode("latin-1")))
    return chunks


def chunks(name: str, conn: int, from_asterisk: bool) -> list[bytes]:
    """The chunks of one connection in one direction."""
    return [c.data for c in load(name) if c.conn == conn and c.from_asterisk == from_asterisk]


def sent_to_asterisk(name: str, conn: int) -> bytes:
    """Everything the recorded client/server wrote on ``conn``, concatenated."""
    return b"".join(chunks(name, conn, False))


def agi_connections(name: str) -> list[int]:
    """The FastAGI connection numbers of a scenario, in order of first appearance."""
    seen: list[int] = []
    for c in load(name):
        if c.conn != 1 and c.conn not in seen and c.data.startswith(b"agi_"):
            seen.append(c.conn)
    return seen
