"""Fixtures for configuration tests: a small valid tree copied to a scratch directory."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from callcenter.settings import ConfigErrors, Settings, load_settings

MINIMAL = Path(__file__).parent / "data" / "minimal"


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of ``data/minimal`` at ``./cfg`` (the working directory is ``tmp_path``)."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(MINIMAL, tmp_path / "cfg")
    return Path("cfg")


def write(config_dir: Path, files: dict[str, str | None]) -> None:
    """Replace (or with None, delete) files of the tree; text is dedented."""
    for name, text in files.items():
        path = config_dir / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def errors_of(config_dir: Path) -> Callable[[dict[str, str | None]], list[str]]:
    """Write the given files into the tree, load it, and return the rendered errors."""

    def run(files: dict[str, str | None]) -> list[str]:
        write(config_dir, files)
        try:
            load_settings(config_dir)
        except ConfigErrors as exc:
            return [str(e) for e in exc.errors]
        return []

    return run


@pytest.fixture
def settings_of(config_dir: Path) -> Callable[[dict[str, str | None]], Settings]:
    """Write the given files into the tree and return the loaded settings."""

    def run(files: dict[str, str | None]) -> Settings:
        write(config_dir, files)
        return load_settings(config_dir)

    return run
