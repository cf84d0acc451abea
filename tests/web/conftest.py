"""The running application for the end-to-end tests of this directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import pytest

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def make_app(run, tmp_path) -> Callable[..., Any]:
    """``make_app(url=None, config=SHIPPED_CONFIG, always_open=True, **server_overrides)``: the
    application built on ``config`` (free ports, data under ``tmp_path``) and started; stopped
    after the test. ``url`` None means a fresh migrated SQLite file; ``always_open`` drops the
    queues' business hours so a test does not depend on the hour it runs at. ``adjust(settings)``
    may return changed settings before the build; ``reactor`` replaces the global reactor
    (e.g. a :class:`tests.support.steppedtime.SteppedTimeReactor`)."""
    from twisted.internet import reactor as global_reactor

    from callcenter.app import build_application
    from callcenter.records.migrate import upgrade
    from callcenter.settings import load_settings

    started: list[Any] = []

    def make(url: str | None = None, config: Path = SHIPPED_CONFIG, always_open: bool = True,
             adjust: Callable[[Any], Any] | None = None, reactor: Any = None, **server_overrides: Any) -> Any:
        if url is None:
            url = f"sqlite:///{tmp_path / f'cc-{len(started)}.sqlite3'}"
            upgrade(url)
        overrides = {"http_port": 0, "fastagi_port": 0, "smtp_port": 0, "data_dir": tmp_path, **server_overrides}
        settings = load_settings(config, overrides)
        if always_open:
            settings = dataclasses.replace(settings, queues={n: dataclasses.replace(q, schedule=None)
                                                             for n, q in settings.queues.items()})
        if adjust is not None:
            settings = adjust(settings)
        app = build_application(settings, reactor or global_reactor, url, overrides)
        app.service.startService()
        started.append(app)
        run(app.service.ready)  # the routing core rebuilt from the record, every listener up
        return app

    yield make
    for app in reversed(started):
        if app.service.running:
            run(app.service.stopService())
