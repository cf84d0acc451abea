"""``callcenter check-config``: validate a configuration directory and print the verdict."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from callcenter.settings.errors import ConfigErrors
from callcenter.settings.loader import load_settings
from callcenter.settings.model import Settings


def summary(settings: Settings) -> str:
    """One line counting what the configuration defines."""
    return (f"{len(settings.skills)} skills, {len(settings.agents)} agents, {len(settings.queues)} queues, "
            f"{len(settings.rules)} rules, {len(settings.schedules)} schedules, "
            f"{len(settings.templates.templates)} templates")


def check_config_main(config_dir: Path, out: TextIO) -> int:
    """Print every error of ``config_dir`` one per line and a count; 1 if any, else 0 and a summary."""
    try:
        settings = load_settings(Path(config_dir))
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=out)
        print(f"{len(exc.errors)} error(s) in {config_dir}", file=out)
        return 1
    print(f"configuration OK: {config_dir}: {summary(settings)}", file=out)
    return 0
