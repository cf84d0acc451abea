"""The forms' pages: the hosted form, the thank-you page, message pages and the embed script.

Templates live in ``callcenter/web/templates/forms``; the environment autoescapes HTML and
uses ``StrictUndefined``, so a template naming a value the code does not pass fails loudly
(in the tests) instead of rendering a blank. Texts come in the request's language.

The form page is accessible without script: every control has a ``<label>``; help text and
the error message of a field are tied to it with ``aria-describedby``, an invalid field
has ``aria-invalid``, and an error summary (``role="alert"``) links to each bad field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
from markupsafe import Markup

from callcenter.settings.model import FormField, FormSettings
from channels.webform.fields import FieldError
from channels.webform.messages import html_lang, localized, message

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "callcenter" / "web" / "templates" / "forms"
INPUT_TYPES = {"email": "email", "phone": "tel"}
AUTOCOMPLETE = {"email": "email", "phone": "tel"}
EMBED_HEIGHT = 720


class FormPages:
    """Renders the pages of the forms; ``fallback`` is the first configured language."""

    def __init__(self, fallback: str, template_dir: Path = TEMPLATE_DIR) -> None:
        self.fallback = fallback
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(template_dir)),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
            undefined=jinja2.StrictUndefined,
        )

    def _text(self, texts: Mapping[str, str], lang: str) -> str:
        return localized(texts, lang, self.fallback)

    def _common(self, lang: str, page_title: str) -> dict[str, Any]:
        return {"lang": lang, "html_lang": html_lang(lang), "page_title": page_title}

    def error_text(self, form: FormSettings, error: FieldError, lang: str) -> str:
        """The message of one error; a field's own ``pattern_message`` wins for ``pattern``."""
        spec = next((f for f in form.fields if f.name == error.field), None)
        if error.code == "pattern" and spec is not None and spec.pattern_message:
            return self._text(spec.pattern_message, lang)
        return message(error.code, lang, error.params)

    def form(self, form: FormSettings, lang: str, action: str, token: str,
             values: Mapping[str, Sequence[Any]] | None = None, errors: Sequence[FieldError] = ()) -> str:
        """The hosted form; after a refused submission, ``values`` are shown again (never
        files) with ``errors`` next to their fields and in the summary."""
        values = values or {}
        by_field: dict[str, str] = {}
        summary_items = []
        labels = {f.name: self._text(f.label, lang) for f in form.fields}
        for error in errors:
            text = self.error_text(form, error, lang)
            if error.field in labels:
                by_field.setdefault(error.field, text)
            summary_items.append({"field": error.field if error.field in labels else "",
                                  "label": labels.get(error.field, error.field), "message": text})
        fields = [self._field(f, lang, values.get(f.name, ()), by_field.get(f.name)) for f in form.fields]
        title = self._text(form.title, lang)
        return self._env.get_template("form.html").render(
            **self._common(lang, title), title=title, action=action, token=token, fields=fields,
            enctype="multipart/form-data" if any(f.type == "file" for f in form.fields)
            else "application/x-www-form-urlencoded",
            summary=message("error_summary", lang) if errors else "", summary_items=summary_items,
            submit=message("submit", lang), required_mark=message("required_mark", lang),
            honeypot_label=message("honeypot_label", lang))

    def _field(self, spec: FormField, lang: str, raw: Sequence[Any], error: str | None) -> dict[str, Any]:
        first = raw[0] if raw else None
        value = "" if first is None or isinstance(first, bool) or spec.type == "file" else str(first)
        help_text = self._text(spec.help, lang) if spec.help else ""
        described = " ".join(x for x in (f"help-{spec.name}" if help_text else "",
                                         f"error-{spec.name}" if error else "") if x)
        return {
            "name": spec.name, "type": spec.type, "label": self._text(spec.label, lang), "help": help_text,
            "required": spec.required, "error": error or "", "described_by": described,
            "value": value, "max_length": spec.max_length,
            "checked": first is True or (isinstance(first, str) and first.lower() in ("on", "true", "1", "yes")),
            "choices": [{"value": c.value, "label": self._text(c.label, lang), "selected": c.value == value}
                        for c in spec.choices],
            "input_type": INPUT_TYPES.get(spec.type, "text"),
            "autocomplete": AUTOCOMPLETE.get(spec.type, "on"),
            "accept": ",".join(spec.content_types), "max_files": spec.max_files,
        }

    def thanks(self, form: FormSettings, lang: str, reference: str, confirmation: str | None) -> str:
        """The thank-you page: the form's confirmation (HTML already rendered and escaped by
        its own autoescaping template, or None) and the reference."""
        return self._env.get_template("thanks.html").render(
            **self._common(lang, message("thanks_title", lang)), reference=reference,
            confirmation=Markup(confirmation) if confirmation else "",
            thanks_title=message("thanks_title", lang), thanks_reference=message("thanks_reference", lang))

    def notice(self, lang: str, code: str, title_code: str | None = None) -> str:
        """A page saying one message (not found, unavailable, too many requests...)."""
        return self._env.get_template("message.html").render(
            **self._common(lang, message(title_code or code, lang)), text=message(code, lang))

    def embed_script(self, form: FormSettings, path: str) -> str:
        """The script that embeds ``form`` (hosted at ``path``) in another site's page."""
        return self._env.get_template("embed.js").render(
            form=form.name, path=path, title=self._text(form.title, self.fallback), height=EMBED_HEIGHT)
