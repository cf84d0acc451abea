"""Parsing and matching of agent requirements."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from routing.requirements import ANY, RequirementSyntaxError, parse_requirement, skill_names, skill_terms


def test_skill_level_and_language():
    """`billing >= 4 and language == zh` needs both; zh matches an agent listing zh-CN."""
    r = parse_requirement("billing >= 4 and language == zh")
    assert r.matches({"billing": 4}, ["en", "zh-CN"])
    assert not r.matches({"billing": 3}, ["zh"])
    assert not r.matches({"billing": 5}, ["en"])
    assert r.text == "billing >= 4 and language == zh"


def test_every_comparison_operator():
    """Each operator compares the agent's level with the given one."""
    cases = {">=": (True, True, False), ">": (True, False, False), "<=": (False, True, True),
             "<": (False, False, True), "==": (False, True, False), "!=": (True, False, True)}
    for op, expected in cases.items():
        r = parse_requirement(f"sales {op} 3")
        assert tuple(r.matches({"sales": level}, []) for level in (4, 3, 2)) == expected, op


def test_bare_skill_not_or_parentheses_and_in():
    """A bare skill means any level; not, or, parentheses and `language in (...)` combine."""
    r = parse_requirement("not (billing or sales > 2) or language in (fr, de)")
    assert r.matches({"sales": 2}, [])
    assert not r.matches({"billing": 1}, ["en"])
    assert r.matches({"billing": 1}, ["de"])
    assert parse_requirement("language != zh").matches({}, ["en"])


def test_empty_and_any_always_hold():
    """An empty requirement and `any` hold for every agent and name no skill."""
    assert parse_requirement("") is ANY and parse_requirement(" ANY ") is ANY
    assert ANY.matches({}, []) and list(skill_terms(ANY)) == []


def test_skill_terms_list_levels():
    """skill_terms names each skill with the level compared (None for a bare skill)."""
    r = parse_requirement("billing >= 4 or (technical and billing < 2)")
    assert list(skill_terms(r)) == [("billing", 4), ("technical", None), ("billing", 2)]
    assert skill_names(r) == ("billing", "technical")


@pytest.mark.parametrize("text,column,fragment", [
    ("billing >=", 11, "expected a level"),
    ("billing >= 4 and", 17, "expected a skill"),
    ("language = zh", 10, "unexpected character '='"),
    ("(billing", 9, "expected ')'"),
    ("billing sales", 9, "expected 'and', 'or' or the end"),
    ("sales >= high", 10, "expected a level"),
    ("language in zh", 13, "expected '(' after 'in'"),
    ("and billing", 1, "expected a skill"),
])
def test_syntax_errors_point_at_the_column(text, column, fragment):
    """Each syntax error names what was expected and the 1-based column where it went wrong."""
    with pytest.raises(RequirementSyntaxError) as info:
        parse_requirement(text)
    assert info.value.column == column
    assert fragment in info.value.message


@given(st.text(alphabet="ab >=<!()01234 andortlgue,zh", max_size=30))
def test_parser_never_fails_other_than_with_a_located_syntax_error(text):
    """Any text parses or raises RequirementSyntaxError with a column inside (or just after) it."""
    try:
        parse_requirement(text)
    except RequirementSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
