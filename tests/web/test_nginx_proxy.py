"""The nginx example of docs/security.md, parsed, and run with Debian's nginx in front of the server."""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from twisted.internet import threads

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"


def _block(language: str, after: str) -> str:
    """The first fenced ``language`` block after the heading ``after`` in docs/security.md."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index(after):]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def test_the_documented_nginx_site_forwards_the_client_and_the_scheme():
    """The example passes X-Forwarded-For ($proxy_add_x_forwarded_for) and X-Forwarded-Proto ($scheme) to
    the server, keeps /push unbuffered, and the documented server.yaml trusts the proxy's address."""
    site = _block("nginx", "## Behind a reverse proxy")
    headers = dict(re.findall(r"proxy_set_header\s+(\S+)\s+(.+?);", site))
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert re.search(r"location /push \{[^}]*proxy_buffering off;", site)
    upstream = re.search(r"upstream callcenter \{\s*server (\S+?):(\d+);", site)
    server_yaml = _block("yaml", "## Behind a reverse proxy")
    trusted = re.search(r"trusted_proxies: \[(.*?)\]", server_yaml).group(1)
    assert upstream.group(1) in [t.strip() for t in trusted.split(",")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nginx(tmp_path, make_app):
    """Debian's nginx running the documented site (TLS with a throwaway certificate) in front of the app."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None or shutil.which("openssl") is None:
        pytest.skip("nginx or openssl is not installed (apt-get install nginx-light)")
    import dataclasses

    app = make_app(adjust=lambda s: dataclasses.replace(s, server=dataclasses.replace(
        s.server, trusted_proxies=("127.0.0.1",))))
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    port = _free_port()
    site = _block("nginx", "## Behind a reverse proxy")
    site = site.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{app.http.address[1]};")
    site = re.sub(r"listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;", site)
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
{site}
}}
""")
    process = subprocess.Popen([binary, "-c", str(conf), "-p", str(tmp_path)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode())
            time.sleep(0.05)
    yield app, port
    process.terminate()
    process.wait(timeout=10)


def _https(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None,
           source: str = "127.0.0.1") -> tuple[int, dict, bytes]:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_through_nginx_the_form_limit_is_per_customer_and_cookies_are_secure(run, nginx):
    """Through the documented nginx site: the login page's cookie is Secure, each customer address has its
    own web-form bucket, and an X-Forwarded-For the customer sends is not believed."""
    app, port = nginx

    def scenario() -> tuple:
        status, headers, _ = _https(port, "GET", "/login")
        form = b"{}"
        json_headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "X-Forwarded-For": "198.51.100.99"}
        first = [_https(port, "POST", "/forms/contact", form, json_headers, "127.0.0.2")[0] for _ in range(6)]
        other = _https(port, "POST", "/forms/contact", form, json_headers, "127.0.0.3")[0]
        return status, headers.get("set-cookie", ""), first, other

    status, cookie, first, other = run(threads.deferToThread(scenario), timeout=60)
    assert status == 200 and "secure" in [a.strip().lower() for a in cookie.split(";")]
    assert first[5] == 429 and 429 not in first[:5]
    assert other != 429
