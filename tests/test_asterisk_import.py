"""Importing an Asterisk app_queue queues.conf into this server's configuration."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from callcenter.asterisk_import import import_main
from callcenter.settings import load_settings

SAMPLE = Path(__file__).parent / "config" / "data" / "asterisk" / "queues.conf"


def run_import(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    return import_main(path, out), out.getvalue()


def documents(text: str) -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for doc in yaml.safe_load_all(text):
        if doc:
            merged.update(doc)
    return merged


def test_queues_keep_timers_strategy_and_service_level():
    """timeout, wrapuptime (inherited from a template), strategy and servicelevel are converted."""
    status, text = run_import(SAMPLE)
    assert status == 0
    queues = documents(text)["queues"]
    assert queues["support"]["offer_timeout"] == "20s" and queues["support"]["wrap_up"] == "15s"
    assert queues["billing"]["offer_timeout"] == "25s" and queues["billing"]["wrap_up"] == "30s"
    assert queues["support"]["service_level"] == {"percent": 80, "within": "30s"}
    assert queues["sales"]["selection"] == "longest_idle"      # ringall: no equivalent
    assert queues["billing"]["selection"] == "best_proficiency"  # penalties differ
    assert "customer-queue" not in queues and "general" not in queues


def test_penalties_become_proficiency_by_rank():
    """Penalty 0 is level 5, each higher distinct penalty one level lower; an empty penalty is 0."""
    agents = documents(run_import(SAMPLE)[1])["agents"]
    assert agents["1001"]["skills"] == {"support": 5, "billing": 5}
    assert agents["1005"]["skills"] == {"support": 4, "sales": 5}   # penalty 2 in support, 0 in sales
    assert agents["1009"]["skills"] == {"support": 3}               # penalty 5: third distinct value
    assert agents["1004"]["skills"] == {"billing": 4}
    assert agents["1003"] == {"name": "Carol Diaz", "skills": {"sales": 5}, "phone": "PJSIP/1003"}


def test_unconverted_settings_are_listed_as_notes():
    """Settings without an equivalent are named in comments with their line."""
    text = run_import(SAMPLE)[1]
    assert "# note: queue support: musicclass = default (line 10) not converted" in text
    assert "# note: queue sales: strategy ringall has no equivalent; longest_idle used" in text


def test_output_is_a_valid_configuration(tmp_path: Path):
    """The emitted skills, agents and queues load, with a default routing rule added."""
    sections = documents(run_import(SAMPLE)[1])
    for name in ("skills", "agents", "queues"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({name: sections[name]}))
    (tmp_path / "routing.yaml").write_text("rules:\n  - {id: default, queue: support}\n")
    (tmp_path / "codes.yaml").write_text("reason_codes: {no_answer: Missed offers}\n")
    settings = load_settings(tmp_path)
    assert [m.agent for m in settings.queues["support"].members] == ["1001", "1002", "1005", "1009"]


def test_parse_error_and_missing_file_exit_1(tmp_path: Path):
    """A line that is not `name = value` is reported with its number; a missing file too."""
    bad = tmp_path / "queues.conf"
    bad.write_text("[support]\nstrategy = leastrecent\nthis line is wrong\n")
    status, text = run_import(bad)
    assert (status, text.strip()) == (1, f"{bad}:3: Item must be in name = value pairs")
    status, text = run_import(tmp_path / "absent.conf")
    assert status == 1 and "cannot read" in text
