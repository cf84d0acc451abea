"""Reading form definitions from channels.yaml: every new key, and an error at each bad value."""

from __future__ import annotations

import shutil

import pytest

from callcenter.settings import ConfigErrors, load_settings
from tests.config.conftest import MINIMAL, write


@pytest.fixture
def load(tmp_path):
    """Loads the minimal tree plus the given channels.yaml; returns settings or the error texts."""
    def run(channels: str):
        shutil.copytree(MINIMAL, tmp_path / "cfg", dirs_exist_ok=True)
        write(tmp_path / "cfg", {"channels.yaml": channels})
        try:
            return load_settings(tmp_path / "cfg")
        except ConfigErrors as exc:
            return [f"{e.key_path}: {e.message}" for e in exc.errors]
    return run


def test_full_form_definition(load):
    """Localized texts, choices, pattern, identity, routing, origins, timing and limits are read."""
    settings = load("""
        webform:
          forms:
            ask:
              title: {en: Ask, zh: 提问}
              identify: {email: mail, phone: tel, name: who}
              routing_attributes: [kind]
              allowed_origins: [https://shop.example.com, "http://localhost:3000"]
              min_fill_time: 2s
              max_age: 30m
              rate_limits: {per_ip: {burst: 3, per_second: 0.5}, global: null}
              max_body_bytes: 4096
              fields:
                - {name: who, label: {en: Name, zh: 姓名}, help: Your name}
                - {name: mail, type: email}
                - {name: tel, type: phone}
                - name: kind
                  type: select
                  choices: [a, {value: b, label: {en: Bee, zh: 蜜蜂}}]
                - {name: code, pattern: "[A-Z]{3}", pattern_message: {en: Three capitals}}
                - {name: doc, type: file, max_bytes: 1000, max_files: 2, content_types: [image/png]}
                - {name: ok, type: checkbox, required: true}
        """)
    form = settings.webform.forms["ask"]
    assert dict(form.title) == {"en": "Ask", "zh": "提问"}
    assert (form.identify_email, form.identify_phone, form.identify_name) == ("mail", "tel", "who")
    assert form.routing_attributes == ("kind",)
    assert form.allowed_origins == ("https://shop.example.com", "http://localhost:3000")
    assert (form.min_fill_time, form.max_age, form.max_body_bytes) == (2.0, 1800.0, 4096)
    assert (form.per_ip_rate.burst, form.per_ip_rate.per_second, form.global_rate) == (3, 0.5, None)
    fields = {f.name: f for f in form.fields}
    assert dict(fields["who"].help) == {"en": "Your name"}
    assert [(c.value, dict(c.label)) for c in fields["kind"].choices] == [
        ("a", {"en": "a"}), ("b", {"en": "Bee", "zh": "蜜蜂"})]
    assert fields["code"].pattern == "[A-Z]{3}"
    assert (fields["doc"].max_bytes, fields["doc"].max_files, fields["doc"].content_types) == (1000, 2, ("image/png",))


def test_default_body_cap_makes_room_for_attachments(load):
    """Without max_body_bytes, the cap is 64 KiB plus every file field's maximum."""
    settings = load("""
        webform:
          forms:
            f: {fields: [{name: a}, {name: d, type: file, max_bytes: 1000, max_files: 3}]}
        """)
    assert settings.webform.forms["f"].max_body_bytes == 65536 + 3000


def test_every_bad_value_is_reported(load):
    """Each mistake is reported at its key path, all in one pass."""
    errors = load("""
        webform:
          forms:
            f:
              title: {fr: Bonjour}
              identify: {email: name, phone: nope}
              routing_attributes: [upload, missing]
              allowed_origins: [https://x.example.com/path]
              min_fill_time: soon
              rate_limits: {per_ip: {burst: 0, per_second: 1}}
              fields:
                - {name: name}
                - {name: homepage}
                - {name: pick, type: select}
                - {name: plain, choices: [a]}
                - {name: re, pattern: "(unclosed"}
                - {name: upload, type: file, content_types: [pdf]}
                - {name: t, type: colour}
        """)
    joined = "\n".join(errors)
    for expected in (
        "webform.forms.f.title: must have a text in 'en'",
        "webform.forms.f.identify.email: must name a field of type email",
        "webform.forms.f.identify.phone: must name a field of type phone",
        "webform.forms.f.routing_attributes: 'upload' is not a (non-file) field",
        "webform.forms.f.routing_attributes: 'missing' is not a (non-file) field",
        "webform.forms.f.allowed_origins[0]: must be an origin like https://www.example.com",
        "webform.forms.f.min_fill_time: must be a duration",
        "webform.forms.f.rate_limits.per_ip.burst: must be an integer from 1",
        "webform.forms.f.fields[1].name: 'homepage' is reserved",
        "webform.forms.f.fields[2]: a select field needs choices",
        "webform.forms.f.fields[3].choices: a select field needs choices",
        "webform.forms.f.fields[4].pattern: not a valid regular expression",
        "webform.forms.f.fields[5].content_types[0]: must be a media type",
        "webform.forms.f.fields[6].type: must be one of: text, textarea, email, phone, select, checkbox, file",
    ):
        assert expected in joined, expected
