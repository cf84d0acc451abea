"""Schemathesis against the whole OpenAPI document and a real server: no input gets a 500.

A real ``callcenter serve`` runs in its own process (SQLite in a temporary data directory,
free loopback ports, a CTI token) with an admin and an agent token. Every operation gets a
bounded, derandomized set of generated requests, valid ones and ones that break the schema:
nothing may answer 500 (a 5xx is allowed only where the operation documents it, like 503 when
the PBX link is down), an input that breaks the schema must get a 4xx, and the server's log
must hold no critical traceback afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode

from callcenter.web.api import openapi_document

ROOT = Path(__file__).resolve().parents[2]
CTI_TOKEN = "fuzz-cti-token-0b7e52c9"
# Examples per operation; with about 30 operations this keeps the run near half a minute.
EXAMPLES = int(os.environ.get("CALLCENTER_FUZZ_EXAMPLES", "15"))
AGENT_PATHS = ("/api/me", "/api/dial")



@dataclass
class LiveServer:
    """A ``callcenter serve`` process: its base URL, tokens and log file."""

    base: str
    admin_token: str
    agent_token: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(config: Path, data: Path, *argv: str, stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-m", "callcenter.cli", *argv, "--config", str(config), "--data-dir",
                           str(data)], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> LiveServer:
    """The server process with an admin token and agent alice's token; stopped after the module."""
    tmp = tmp_path_factory.mktemp("fuzz")
    config, data = tmp / "config", tmp / "var"
    shutil.copytree(ROOT / "config", config)
    channels = (config / "channels.yaml").read_text(encoding="utf-8")
    (config / "channels.yaml").write_text(channels.replace("    token: null", f"    token: {CTI_TOKEN}", 1),
                                          encoding="utf-8")
    _cli(config, data, "migrate")
    _cli(config, data, "user", "add", "root", "--role", "admin", "--password-stdin", stdin="fuzzing passphrase\n")
    _cli(config, data, "user", "sync")
    admin = _cli(config, data, "user", "token", "root", "--name", "fuzz").splitlines()[-1].strip()
    agent = _cli(config, data, "user", "token", "alice", "--name", "fuzz").splitlines()[-1].strip()
    port = _free_port()
    log = tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "callcenter.cli", "serve", "--config", str(config), "--data-dir", str(data),
             "--http-port", str(port), "--fastagi-port", str(_free_port()), "--smtp-port", str(_free_port()),
             "--log-format", "json"], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process)
        yield LiveServer(base, admin, agent, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(base: str, process: subprocess.Popen) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become healthy")


@pytest.fixture(scope="module")
def api_schema(live_server):
    """The shipped OpenAPI document, pointed at the live server, valid and invalid data alike."""
    loaded = schemathesis.openapi.from_dict(openapi_document())
    loaded.config.update(base_url=live_server.base)
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                    max_examples=EXAMPLES, deterministic=True, database="none",
                                    with_security_parameters=False, allow_extra_parameters=True)
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate, Phase.shrink],
          suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case, live_server):
    """A generated request never gets a 500 (other 5xx only where documented); one that breaks the schema gets a 4xx."""
    agent = case.path.startswith(AGENT_PATHS)
    headers = {"Authorization": f"Bearer {live_server.agent_token if agent else live_server.admin_token}"}
    if case.path.startswith("/api/cti"):
        headers.pop("Authorization")
        if _mode(case) is GenerationMode.POSITIVE:
            headers["X-CTI-Token"] = CTI_TOKEN
            if case.path_parameters is not None and "token" in case.path_parameters:
                case.path_parameters["token"] = CTI_TOKEN
    response = case.call(headers=headers, timeout=20)
    documented = set(case.operation.definition.raw.get("responses", {}))
    code = response.status_code
    assert code != 500 and (code < 500 or str(code) in documented), \
        f"{case.method} {case.formatted_path} -> {code}: {response.text[:300]}"
    if _breaks_the_schema(case):
        assert 400 <= code < 500, (f"{case.method} {case.formatted_path} broke the schema "
                                   f"({case.meta.phase.data.description}; query {case.query!r}, body {case.body!r:.200}) "
                                   f"yet got {code}")


def _mode(case) -> GenerationMode:
    return case.meta.generation.mode


def _breaks_the_schema(case) -> bool:
    """A fuzzing-phase case with a mutated component (the coverage phase's negative labels are looser).

    An extra query parameter alone does not count: the API ignores query parameters it does not
    read, as HTTP APIs commonly do."""
    meta = case.meta
    if meta.phase.name.value != "fuzzing" or meta.generation.mode is not GenerationMode.NEGATIVE:
        return False
    mutations = getattr(meta.phase.data, "mutations", ()) or ()
    extra_query_only = bool(mutations) and all(
        m.parameter_location.value == "query" and "additionalProperties" in m.keywords for m in mutations)
    return not extra_query_only and any(info.mode is GenerationMode.NEGATIVE for info in meta.components.values())


def test_the_server_logged_no_critical_error(live_server):
    """After the fuzzing (run first, in file order), the server's log holds no critical line or traceback,
    and none of the secrets the requests carried (the CTI token in paths, the API tokens)."""
    text = live_server.log.read_text(encoding="utf-8", errors="replace")
    assert "/api/cti/<redacted>" in text
    for secret in (CTI_TOKEN, live_server.admin_token, live_server.agent_token):
        assert secret not in text
    bad = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            bad += [line] if "Traceback" in line else []
            continue
        if str(event.get("level", event.get("log_level", ""))).lower() in ("critical", "error"):
            bad.append(line[:500])
    assert bad == []
