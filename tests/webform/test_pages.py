"""The hosted form page, its language, its security headers, and the embed snippet."""

from __future__ import annotations

import re

import pytest

from callcenter.settings.model import FormSettings
from channels.webform.fields import FieldError
from channels.webform.messages import CATALOGUE, negotiate
from channels.webform.pages import FormPages
from tests.webform.conftest import shipped_forms


def test_every_field_has_a_label_and_help_is_described(server):
    """Each control has a <label for>, help text is tied with aria-describedby, required is marked."""
    page = server.request("GET", "/forms/contact").body.decode()
    for field in shipped_forms()["contact"].fields:
        assert f'<label for="field-{field.name}">' in page, field.name
        assert f'id="field-{field.name}"' in page
    assert 'aria-describedby="help-email"' in page and '<p class="help" id="help-email">' in page
    assert page.count('aria-required="true"') == sum(f.required for f in shipped_forms()["contact"].fields)
    assert 'enctype="multipart/form-data"' in page and 'accept="application/pdf,image/png,image/jpeg,text/plain"' in page
    assert '<html lang="en">' in page and "<h1 id=\"form-title\">Contact us</h1>" in page
    assert re.search(r'<div class="hp" aria-hidden="true">.*?name="homepage".*?tabindex="-1"', page, re.S)


def test_form_page_headers(server):
    """The form is not cached, may be framed only by itself and the configured origins, and runs no script."""
    r = server.request("GET", "/forms/contact")
    assert r.headers["cache-control"] == "no-store"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://www.example.com" in csp and "default-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["vary"] == "Accept-Language"


@pytest.mark.parametrize(("query", "accept", "expected"), [
    ("", "", "en"), ("?lang=zh", "", "zh"), ("?lang=zh-CN", "en", "zh"), ("", "zh-CN,zh;q=0.9", "zh"),
    ("", "fr-FR, zh-Hans;q=0.8, en;q=0.5", "zh"), ("", "de", "en"), ("?lang=xx", "zh-TW", "zh"),
    ("", "en;q=bad, zh;q=0.1", "zh"), ("", "zh;q=0, en", "en"),
])
def test_language_negotiation(query, accept, expected):
    """?lang= wins, then Accept-Language by quality, then the first configured language."""
    lang = query.split("=", 1)[1] if query else None
    assert negotiate(lang, accept, ("en", "zh")) == expected


def test_unknown_form_page_is_a_localized_404(server):
    """An unknown form is a 404 page in the asked language."""
    r = server.request("GET", "/forms/nope?lang=zh")
    assert r.status == 404 and "没有这个表单。" in r.body.decode()


def test_head_has_no_body(server):
    """HEAD of the form page answers its headers without a body."""
    r = server.request("HEAD", "/forms/contact")
    assert r.status == 200 and r.body == b""


def test_embed_script_points_an_iframe_at_the_hosted_form(server):
    """embed.js inserts an iframe of /forms/<name>?embed=1 on the script's own origin."""
    r = server.request("GET", "/forms/quote/embed.js")
    script = r.body.decode()
    assert r.status == 200 and r.headers["content-type"].startswith("application/javascript")
    assert 'base.origin + "/forms/quote" + "?embed=1"' in script
    assert 'frame.title = "Ask for a quote";' in script


def test_catalogues_have_the_same_messages():
    """English and Chinese catalogues define the same codes with the same placeholders."""
    assert set(CATALOGUE["en"]) == set(CATALOGUE["zh"])
    for code, text in CATALOGUE["en"].items():
        assert re.findall(r"{\w+}", text) == re.findall(r"{\w+}", CATALOGUE["zh"][code]), code


def test_templates_refuse_undefined_values():
    """The page templates are strict: a missing value is an error, not a blank."""
    import jinja2

    pages = FormPages("en")
    with pytest.raises(jinja2.UndefinedError):
        pages._env.get_template("message.html").render(lang="en", html_lang="en", page_title="x")


def test_form_level_error_shows_in_the_summary_only():
    """An error of the whole form (a stale token) is listed without a field link."""
    form: FormSettings = shipped_forms()["quote"]
    page = FormPages("en").form(form, "en", "/forms/quote", "tok", {}, [FieldError("", "expired")])
    assert "<li>The form has expired. Please submit it again.</li>" in page
    assert 'aria-invalid="true"' not in page


def test_reconfigure_serves_the_new_forms(server):
    """After a reload only the new set of forms is served, with new limits."""
    forms = shipped_forms()
    server.resource.reconfigure({"contact": forms["contact"]}, None)
    assert server.request("GET", "/forms/quote").status == 404
    assert server.request("GET", "/forms/contact").status == 200
