"""The garbage collector's settings for a long-running server.

Python's defaults suit short scripts: a young-generation pass every 700 net allocations, and
full passes over every object alive. A server holds a large, long-lived heap (the
configuration, the routing core's state, caches) and allocates in bursts per request. Measured
with the web form bench on SQLite (3,000 submissions per body kind), the defaults spent 1.09 s
of 15.2 s CPU collecting, ten full passes of about 56 ms each stalling every request in flight;
with the thresholds below, 0.12 s.
"""

from __future__ import annotations

import gc

#: Young objects are collected every 50,000 net allocations; older generations as Python does.
THRESHOLDS = (50_000, 50, 100)


def settle_after_start_up() -> None:
    """Call once the server is built and serving: what start-up made lives as long as the
    process, so it is collected once and then kept out of every later pass (``gc.freeze``);
    from then on the collector runs at :data:`THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
