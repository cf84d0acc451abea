"""Fixtures of the web form tests: the forms channel over loopback HTTP, on a SQLite record.

``forms_server`` builds the real pieces (RecordStore on a migrated SQLite file, FormFlow,
FormsResource mounted at ``/forms`` on the site's RootResource, HttpService on a free
port) around the shipped forms. Time for tokens, rate limits and the record is a
``task.Clock`` (``server.clock``) moved by hand; sockets run on the real reactor.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

import pytest
from twisted.internet import task
from twisted.web.resource import Resource

from callcenter.runtime.clock import Clock
from callcenter.runtime.events import EventBus
from callcenter.intake.webform import FormFlow
from callcenter.records.database import Database
from callcenter.records.model import Interaction
from callcenter.records.store import RecordStore
from callcenter.settings import load_settings
from callcenter.settings.model import FormSettings
from callcenter.web.site import HttpService, RootResource
from channels.webform.resource import FormsResource
from tests.conftest import run_on_reactor
from tests.records.helpers import T0
from tests.support.http import HttpResult, http_request
from tests.support.intake import RecordingIntake

CONFIG = Path(__file__).resolve().parents[2] / "config"
SECRET = b"test-secret-of-the-form-tokens-0123456789"
TOKEN = re.compile(r'name="_token" value="([^"]+)"')


class RecordingConfirmations:
    """A :class:`~callcenter.intake.webform.ConfirmationMail` whose unit of work records each
    confirmation ``(to, subject, body, interaction id)`` in ``queued`` as the contact's write
    runs it (the signatures are pinned to MailFlow's by test_formflow)."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, str, str, int]] = []
        self.woken = 0

    def notice_in_write(self, to: str, subject: str, body: str, kind: str) -> Callable[[Any, Any, Any], bool]:
        """A unit of work that notes the confirmation."""
        def queue(conn: Any, uow: Any, interaction: Interaction) -> bool:
            self.queued.append((to, subject, body, interaction.id))
            return True
        return queue

    def wake_outbox(self) -> None:
        """Count the wake-ups."""
        self.woken += 1


@dataclasses.dataclass
class FormsServer:
    """A running forms channel and what it recorded; see the module docstring."""

    base: str
    clock: task.Clock
    store: RecordStore
    database: Database
    flow: FormFlow
    resource: FormsResource
    data_dir: Path
    intake: RecordingIntake
    confirmations: list[tuple[str, str, str, int]]

    @property
    def routed(self) -> list[tuple[Interaction, Mapping[str, Any]]]:
        """``(interaction, facts the rules matched on)`` of every submission the pipeline admitted."""
        return [(admission.interaction, admission.facts) for _, admission in self.intake.admitted]

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None, json_body: Any = None) -> HttpResult:
        """One HTTP request to ``base + path``."""
        return run_on_reactor(http_request(_reactor(), method, self.base + path, body, headers, json_body))

    def token(self, form: str = "contact", age: float = 5.0) -> str:
        """The token of the hosted form page, ``age`` seconds old (the clock moves on)."""
        page = self.request("GET", f"/forms/{form}")
        assert page.status == 200, page.body
        self.clock.advance(age)
        return TOKEN.search(page.body.decode()).group(1)

    def post_form(self, form: str, fields: Mapping[str, str], token: str | None = None,
                  headers: Mapping[str, str] | None = None) -> HttpResult:
        """A URL-encoded post of ``fields`` plus a fresh (5 s old) token unless one is given."""
        data = {"_token": token if token is not None else self.token(form), **fields}
        return self.request("POST", f"/forms/{form}", urlencode(data).encode(), {
            "content-type": "application/x-www-form-urlencoded", **(headers or {})})

    def post_json(self, form: str, doc: Mapping[str, Any], headers: Mapping[str, str] | None = None,
                  with_token: bool = True) -> HttpResult:
        """A JSON post of ``doc`` plus a fresh token."""
        body = {"_token": self.token(form), **doc} if with_token else dict(doc)
        return self.request("POST", f"/forms/{form}", json_body=body, headers=headers)

    def interactions(self) -> list[Interaction]:
        """Every stored interaction, oldest first."""
        from sqlalchemy import select

        from callcenter.records.schema import interactions

        async def ids():
            return await self.database.read(lambda c: [r[0] for r in c.execute(
                select(interactions.c.id).order_by(interactions.c.id))])
        return [run_on_reactor(self.store.get_interaction(i)) for i in run_on_reactor(ids())]


def _reactor():
    # Imported late: the root conftest installs the asyncio reactor before any test runs.
    from twisted.internet import reactor

    return reactor


def shipped_forms(**changes: Mapping[str, Any]) -> dict[str, FormSettings]:
    """The shipped forms with per-form changes, e.g. ``contact={"min_fill_time": 0.0}``."""
    forms = dict(load_settings(CONFIG).webform.forms)
    for name, change in changes.items():
        forms[name] = dataclasses.replace(forms[name], **change)
    return forms


@pytest.fixture
def sqlite_database(tmp_path, _migrated_templates):
    """A started Database on a fresh copy of the migrated SQLite template."""
    import shutil

    path = tmp_path / f"db-{uuid.uuid4().hex[:8]}.sqlite"
    shutil.copyfile(_migrated_templates("sqlite"), path)
    db = Database(f"sqlite:///{path}", _reactor(), EventBus())
    db.start()
    yield db
    run_on_reactor(db.stop())


@pytest.fixture
def make_server(sqlite_database, tmp_path) -> Callable[..., FormsServer]:
    """Builds and starts a FormsServer; ``forms`` default to the shipped ones."""
    started: list[HttpService] = []
    settings = load_settings(CONFIG)

    def build(forms: Mapping[str, FormSettings] | None = None, store: Any = None) -> FormsServer:
        clock = task.Clock()
        clock.advance(T0.timestamp())
        record = store or RecordStore(sqlite_database, Clock(clock), "US")
        confirmations = RecordingConfirmations()
        intake = RecordingIntake(record, settings, Clock(clock))
        chosen = forms or shipped_forms()
        flow = FormFlow(admit=intake.admit, forms=chosen, templates=settings.templates, data_dir=tmp_path / "var",
                        reactor=_reactor(), confirmation=confirmations, fallback_language="en")
        resource = FormsResource(forms=chosen, sink=flow.submit_form, clock=Clock(clock), secret=SECRET,
                                 languages=settings.server.languages, default_region="US",
                                 templates=settings.templates)
        root = RootResource(Resource())
        root.putChild(b"forms", resource)
        http = HttpService(_reactor(), root, "127.0.0.1", 0)
        http.startService()
        started.append(http)
        host, port = http.address
        return FormsServer(f"http://{host}:{port}", clock, record, sqlite_database, flow, resource,
                           tmp_path / "var", intake, confirmations.queued)

    yield build
    for http in started:
        run_on_reactor(http.stopService())


@pytest.fixture
def server(make_server) -> FormsServer:
    """A FormsServer on the shipped forms."""
    return make_server()


VALID_CONTACT = {"name": "Ada Lovelace", "email": "Ada@Example.com", "phone": "(212) 555-0100",
                 "topic": "billing", "message": "My invoice\r\nis wrong.", "consent": "on"}
