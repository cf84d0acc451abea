"""AMI parsing throughput on the recorded Asterisk bytes.

Feeds every AMI chunk Asterisk sent in the recorded scenarios (tests/fixtures/asterisk, or
CALLCENTER_FIXTURES), chunked exactly as recorded and repeated, through the frame parser, and
then through the parser plus the typed-event translation. Prints messages per second for each.

    .venv/bin/python bench/ami_bench.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from channels.telephony.ami_protocol import AmiFrameParser  # noqa: E402
from channels.telephony.ami_translate import translate_event  # noqa: E402

SCENARIOS = (
    "inbound-answered",
    "inbound-noanswer-then-answered",
    "inbound-busy-then-answered",
    "inbound-abandoned",
    "click-to-dial",
    "device-state",
    "originate-failure",
)


def recorded_chunks() -> list[bytes]:
    """Every AMI chunk (connection 1) Asterisk sent in the scenarios, in order."""
    base = Path(os.environ.get("CALLCENTER_FIXTURES") or Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "asterisk")
    out: list[bytes] = []
    for name in SCENARIOS:
        for line in (base / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if rec["conn"] == 1 and rec["dir"] == "from_asterisk":
                out.append(rec["data"].encode("latin-1"))
    return out


def run(chunks: list[bytes], repeat: int, translate: bool) -> tuple[int, int, float]:
    """Parse ``chunks`` ``repeat`` times; returns (messages, typed events, seconds)."""
    parser = AmiFrameParser(expect_banner=False)
    messages = typed = 0
    start = time.perf_counter()
    for _ in range(repeat):
        for chunk in chunks:
            for message in parser.feed(chunk):
                messages += 1
                if translate and translate_event(message, 0.0) is not None:
                    typed += 1
    return messages, typed, time.perf_counter() - start


def main() -> None:
    """Print the figures."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--repeat", type=int, default=200)
    opts = args.parse_args()
    chunks = recorded_chunks()
    size = sum(len(c) for c in chunks)
    print(f"input: {len(chunks)} recorded chunks, {size} bytes, repeated {opts.repeat} times")
    for translate in (False, True):
        messages, typed, seconds = run(chunks, opts.repeat, translate)
        label = "parse + translate" if translate else "parse only"
        extra = f", {typed} typed events" if translate else ""
        print(f"{label:18s}: {messages} AMI messages in {seconds:.3f} s = {messages / seconds:,.0f} messages/s "
              f"({size * opts.repeat / seconds / 1e6:.1f} MB/s{extra})")


if __name__ == "__main__":
    main()
