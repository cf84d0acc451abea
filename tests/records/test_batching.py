"""The Coalescer that groups concurrent requests into one run (pure: Deferreds fired by hand)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from twisted.internet.defer import Deferred, ensureDeferred

from callcenter.records.batching import Coalescer
from callcenter.records.model import ContactPoint, jsonable


class Runner:
    """A batch runner whose runs finish when the test fires them."""

    def __init__(self):
        self.runs: list[tuple[list, Deferred]] = []

    async def __call__(self, requests):
        d = Deferred()
        self.runs.append((list(requests), d))
        return await d


def _results(deferreds):
    out = []
    for d in deferreds:
        d.addBoth(out.append)
    return out


def test_requests_arriving_during_a_run_share_the_next_run():
    """The first request runs alone; those queued meanwhile run together, capped by max_batch."""
    runner = Runner()
    c = Coalescer(runner, max_batch=3)
    calls = [ensureDeferred(c.submit(n)) for n in range(5)]
    assert [r for r, _ in runner.runs] == [[0]]
    runner.runs[0][1].callback(["r0"])
    assert [r for r, _ in runner.runs] == [[0], [1, 2, 3]]
    runner.runs[1][1].callback(["r1", ValueError("bad 2"), "r3"])
    runner.runs[2][1].callback(["r4"])
    outcomes = _results(calls)
    assert outcomes[:2] + outcomes[3:] == ["r0", "r1", "r3", "r4"]
    assert outcomes[2].check(ValueError)


def test_a_failing_run_fails_each_of_its_requests():
    """When the runner raises, every request of that run gets the error; later runs go on."""
    runner = Runner()
    c = Coalescer(runner, max_batch=10)
    first = ensureDeferred(c.submit("a"))
    second, third = ensureDeferred(c.submit("b")), ensureDeferred(c.submit("c"))
    runner.runs[0][1].errback(RuntimeError("disk full"))
    runner.runs[1][1].callback(["B", "C"])
    outcomes = _results([first, second, third])
    assert outcomes[0].check(RuntimeError) and outcomes[1:] == ["B", "C"]


def test_drain_waits_for_queued_requests():
    """drain() fires only once nothing is queued or running."""
    runner = Runner()
    c = Coalescer(runner, max_batch=10)
    ensureDeferred(c.submit(1))
    drained = ensureDeferred(c.drain())
    assert not drained.called
    runner.runs[0][1].callback(["one"])
    assert drained.called
    assert ensureDeferred(c.drain()).called


def test_jsonable_turns_records_into_json_data():
    """Dataclasses become dicts, datetimes ISO strings with offset, tuples lists."""
    when = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
    point = ContactPoint(id=1, customer_id=2, kind="phone", value="+33142685300", created_at=when)
    assert jsonable({"points": (point,)}) == {
        "points": [{"id": 1, "customer_id": 2, "kind": "phone", "value": "+33142685300",
                    "created_at": "2026-03-01T09:00:00+00:00"}]
    }


@pytest.mark.parametrize("max_batch", [1, 2])
def test_small_batches_still_answer_everyone(max_batch):
    """With any cap, every request is answered in submission order."""
    runner = Runner()
    c = Coalescer(runner, max_batch=max_batch)
    calls = [ensureDeferred(c.submit(n)) for n in range(4)]
    while any(not d.called for d in calls):
        requests, d = next((r, d) for r, d in runner.runs if not d.called)
        d.callback([f"r{n}" for n in requests])
    assert _results(calls) == ["r0", "r1", "r2", "r3"]


def test_submit_many_shares_one_deferred_with_each_outcome_in_place():
    """A list submitted at once runs whole in one run; its Deferred gets every outcome in order,
    an error in its place; single requests around it keep their own Deferreds."""
    runner = Runner()
    c = Coalescer(runner, max_batch=3)
    first = c.submit("a")
    many = c.submit_many(["b", "c", "d", "e"])  # longer than max_batch: runs alone
    after = c.submit("f")
    runner.runs[0][1].callback(["A"])
    assert [r for r, _ in runner.runs] == [["a"], ["b", "c", "d", "e"]]
    bad = ValueError("bad c")
    runner.runs[1][1].callback(["B", bad, "D", "E"])
    assert [r for r, _ in runner.runs][2] == ["f"]
    runner.runs[2][1].callback(["F"])
    assert _results([first, many, after]) == ["A", ["B", bad, "D", "E"], "F"]
    assert _results([c.submit_many([])]) == [[]]


def test_submit_many_fails_whole_when_its_run_fails():
    """When the run holding a list fails, its one Deferred fails with that error."""
    runner = Runner()
    c = Coalescer(runner, max_batch=10)
    one = c.submit(1)
    many = c.submit_many([2, 3])
    runner.runs[0][1].callback([10])
    runner.runs[1][1].errback(RuntimeError("disk full"))
    outcomes = _results([one, many])
    assert outcomes[0] == 10 and outcomes[1].check(RuntimeError)
