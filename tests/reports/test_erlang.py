"""Erlang C against published table values and a direct computation from the textbook formula."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from callcenter.reports.erlang import InvalidTraffic, agents_needed, erlang_b, erlang_c, offered_load


def textbook_erlang_c(load: int, agents: int) -> float:
    """C(N, A) from the closed form with factorials, exact in rationals (small loads only)."""
    a, n = Fraction(load), agents
    top = a ** n / math.factorial(n) * Fraction(n, n - load)
    bottom = sum(a ** k / math.factorial(k) for k in range(n)) + top
    return float(top / bottom)


def test_erlang_b_matches_the_published_table():
    """B(A=10, N=10) is 0.2146 and B(A=2, N=3) 0.2105 in the standard Erlang B tables."""
    assert erlang_b(10, 10) == pytest.approx(0.2146, abs=5e-5)
    assert erlang_b(2, 3) == pytest.approx(0.2105, abs=5e-5)
    assert erlang_b(5, 0) == 1.0


@pytest.mark.parametrize("load,agents", [(10, 11), (10, 14), (2, 3), (20, 25), (50, 58)])
def test_wait_probability_equals_the_closed_form(load, agents):
    """The iterative computation agrees with the factorial formula to 1e-12."""
    assert erlang_c(load, agents, 180, 20).wait_probability == pytest.approx(textbook_erlang_c(load, agents), abs=1e-12)


def test_worked_example_100_calls_in_30_minutes():
    """100 calls in 30 min at 180 s AHT is 10 Erlangs; 80 % in 20 s needs 14 agents (13 fall just short)."""
    load = offered_load(100, 1800, 180)
    assert load == 10.0
    result = agents_needed(load, 180, 0.80, 20)
    assert result.agents == 14
    c = textbook_erlang_c(10, 14)
    assert result.service_level == pytest.approx(1 - c * math.exp(-(14 - 10) * 20 / 180), abs=1e-12)
    assert result.asa == pytest.approx(c * 180 / 4, abs=1e-9)
    assert result.occupancy == pytest.approx(10 / 14)
    thirteen = erlang_c(10, 13, 180, 20).service_level
    assert thirteen == pytest.approx(1 - textbook_erlang_c(10, 13) * math.exp(-3 * 20 / 180), abs=1e-12)
    assert thirteen < 0.80
    assert erlang_c(10, 11, 180, 20).wait_probability == pytest.approx(0.6821, abs=5e-5)


def test_large_loads_stay_finite_and_meet_the_target():
    """At 5,000 Erlangs the result is finite, meets the target, and one agent fewer does not."""
    result = agents_needed(5000, 300, 0.9, 20)
    assert 5000 < result.agents < 5100 and math.isfinite(result.asa)
    assert result.service_level >= 0.9
    assert erlang_c(5000, result.agents - 1, 300, 20).service_level < 0.9


def test_too_few_agents_means_an_unbounded_queue():
    """With no more agents than Erlangs everyone waits forever: SL 0, ASA infinite."""
    r = erlang_c(10, 10, 180, 20)
    assert (r.wait_probability, r.service_level, r.asa) == (1.0, 0.0, math.inf)


def test_occupancy_cap_adds_agents():
    """Capping occupancy at 85 % asks for at least A / 0.85 agents."""
    assert agents_needed(50, 180, 0.5, 20, max_occupancy=0.85).agents >= math.ceil(50 / 0.85)


def test_zero_load_needs_nobody():
    """No traffic needs no agent."""
    assert agents_needed(0, 180, 0.8, 20).agents == 0


@pytest.mark.parametrize("call,field", [
    (lambda: offered_load(-1, 1800, 180), "contacts"),
    (lambda: offered_load(10, 0, 180), "period"),
    (lambda: offered_load(10, 1800, 0), "aht"),
    (lambda: agents_needed(10, 180, 1.0, 20), "target"),
    (lambda: agents_needed(10, 180, 0.8, -1), "within"),
    (lambda: agents_needed(math.inf, 180, 0.8, 20), "load"),
    (lambda: agents_needed(10, 180, 0.8, 20, max_occupancy=0), "max_occupancy"),
])
def test_bad_parameters_name_the_field(call, field):
    """Out-of-range parameters raise InvalidTraffic naming the parameter."""
    with pytest.raises(InvalidTraffic) as info:
        call()
    assert info.value.field == field


@pytest.mark.parametrize("load, agents, aht, within, field", [
    (math.nan, 3, 180.0, 20.0, "load"),
    (math.inf, 3, 180.0, 20.0, "load"),
    (2.0, 2.5, 180.0, 20.0, "agents"),
    (2.0, math.nan, 180.0, 20.0, "agents"),
    (2.0, math.inf, 180.0, 20.0, "agents"),
    (2.0, "3", 180.0, 20.0, "agents"),
    (2.0, 3, math.nan, 20.0, "aht"),
    (2.0, 3, math.inf, 20.0, "aht"),
    (2.0, 3, 180.0, math.nan, "within"),
])
def test_erlang_c_refuses_nan_infinite_and_fractional_inputs(load, agents, aht, within, field):
    """NaN, infinite and fractional inputs raise InvalidTraffic naming the field (not SL 1.0, not TypeError)."""
    with pytest.raises(InvalidTraffic) as caught:
        erlang_c(load, agents, aht, within)
    assert caught.value.field == field


def test_whole_float_agents_are_the_same_as_an_int():
    """3.0 agents are 3 agents."""
    assert erlang_c(2.0, 3.0, 180.0, 20.0) == erlang_c(2.0, 3, 180.0, 20.0)


def test_staffing_refuses_nan_load_and_target():
    """agents_needed refuses a NaN load, target or occupancy cap with InvalidTraffic."""
    for kwargs in ({"load": math.nan}, {"target": math.nan}, {"max_occupancy": math.nan}):
        args = {"load": 2.0, "aht": 180.0, "target": 0.8, "within": 20.0, **kwargs}
        with pytest.raises(InvalidTraffic):
            agents_needed(**args)
