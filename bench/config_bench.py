"""Reading and checking the configuration of a large floor: what a start and a reload cost.

The shipped configuration with ``--agents`` generated agents (each with two skills, two
languages and a phone, as ``bench/voice_bench.py`` makes them) is loaded with
:func:`callcenter.settings.load_settings` several times; printed are the best and median time
of a whole load, and, as the ceiling, the time PyYAML's LibYAML parser alone takes to read the
same files into plain Python values (what any YAML configuration costs, before any checking).
A reload runs this on a worker thread (:class:`callcenter.runtime.reload.ConfigReloader`), so
calls go on meanwhile; a start runs it before the server listens.

Usage: ``.venv/bin/python bench/config_bench.py [--agents N ...] [--rounds N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def timed(fn, rounds: int) -> list[float]:
    """Milliseconds of each of ``rounds`` calls of ``fn`` (after one warm-up call)."""
    fn()
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    """Load configurations of each requested size and print the figures."""
    import yaml

    from callcenter.settings import load_settings
    from voice_bench import make_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    print(f"configuration load, {args.rounds} rounds each; YAML parser: {loader.__name__}")
    for agents in args.agents:
        with tempfile.TemporaryDirectory() as tmp:
            config = make_config(Path(tmp), agents)
            files = sorted(config.glob("*.yaml"))
            whole = timed(lambda: load_settings(config, {"data_dir": tmp}), args.rounds)
            bare = timed(lambda: [yaml.load(f.read_text(encoding="utf-8"), Loader=loader) for f in files], args.rounds)
        print(f"{agents:6d} agents: load_settings best {min(whole):7.1f} ms  median {statistics.median(whole):7.1f} ms"
              f"   ceiling (YAML parse only) best {min(bare):6.1f} ms  ({min(whole) / min(bare):.1f}x)", flush=True)


if __name__ == "__main__":
    main()
