"""Records what crosses between a live Asterisk and the server, byte for byte, with timings.

Run it between the two: Asterisk's dialplan points FastAGI at ``--agi-listen`` (the recorder
forwards each session to the server at ``--agi-server``), and the server's AMI client connects
to ``--ami-listen`` (forwarded to Asterisk at ``--ami-server``). Every chunk is written as one
JSON line in the format of tests/fixtures/asterisk/README.md: ``t`` seconds since the recorder
started (the wall-clock time of ``t = 0`` is written to ``OUT.epoch``), ``conn`` in order of
connection, ``dir`` and ``data`` (latin-1). The recording stops on SIGINT or SIGTERM. Usage::

    python -m tests.telephony.pbx_recorder OUT.jsonl --agi-listen 4573 --agi-server 4574 \\
        --ami-listen 5039 --ami-server 5038
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
import time
from typing import IO


class Recorder:
    """Writes chunks to ``out`` as they pass; connection numbers count from 1."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._start = time.monotonic()
        self.epoch = time.time()     # the wall-clock moment t = 0 stands for
        self._numbers = itertools.count(1)

    def number(self) -> int:
        """The next connection number."""
        return next(self._numbers)

    def write(self, conn: int, from_asterisk: bool, data: bytes) -> None:
        """Record one chunk."""
        record = {"t": round(time.monotonic() - self._start, 4), "conn": conn,
                  "dir": "from_asterisk" if from_asterisk else "to_asterisk", "data": data.decode("latin-1")}
        self._out.write(json.dumps(record) + "\n")
        self._out.flush()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record, ) -> None:
    try:
        while data := await reader.read(65536):
            record(data)
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def _proxy(recorder: Recorder, upstream: tuple[str, int], asterisk_connects: bool):
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        conn = recorder.number()
        try:
            server_r, server_w = await asyncio.open_connection(*upstream)
        except OSError:
            client_w.close()
            return
        # For FastAGI Asterisk is the client; for AMI the server is.
        from_client = asterisk_connects
        await asyncio.gather(
            _pump(client_r, server_w, lambda d: recorder.write(conn, from_client, d)),
            _pump(server_r, client_w, lambda d: recorder.write(conn, not from_client, d)),
        )
    return handle


async def main(argv: list[str] | None = None) -> None:
    """Run the recorder until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--agi-listen", type=int, default=4573)
    parser.add_argument("--agi-server", type=int, default=4574)
    parser.add_argument("--ami-listen", type=int, default=5039)
    parser.add_argument("--ami-server", type=int, default=5038)
    args = parser.parse_args(argv)
    with open(args.out, "w", encoding="utf-8") as out:
        recorder = Recorder(out)
        with open(args.out + ".epoch", "w", encoding="utf-8") as fh:
            fh.write(repr(recorder.epoch))
        agi = await asyncio.start_server(_proxy(recorder, ("127.0.0.1", args.agi_server), True),
                                         "127.0.0.1", args.agi_listen)
        ami = await asyncio.start_server(_proxy(recorder, ("127.0.0.1", args.ami_server), False),
                                         "127.0.0.1", args.ami_listen)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        agi.close()
        ami.close()


if __name__ == "__main__":
    asyncio.run(main())
