"""What the forms say to people: the language of a request and the text of every message.

The configured languages are short codes (``en``, ``zh``); a browser asks with tags such as
``zh-CN`` or ``en-GB;q=0.8``. :func:`negotiate` picks the configured language a request
wants (``?lang=`` first, then ``Accept-Language`` by quality, then the first configured
language). :func:`html_lang` is the tag written into ``<html lang>``: Simplified Chinese is
``zh-CN``. The texts of validation and abuse messages live here, in English and Simplified
Chinese; a language without its own catalogue reads English.
"""

from __future__ import annotations

from typing import Mapping, Sequence

HTML_TAGS = {"zh": "zh-CN"}

# Every message code the channel produces; ``{max}``-style fields come from the error's params.
CATALOGUE: Mapping[str, Mapping[str, str]] = {
    "en": {
        "required": "This field is required.",
        "too_long": "Use at most {max} characters.",
        "invalid_email": "Enter an email address like name@example.com.",
        "invalid_phone": "Enter a phone number with its country code, like +1 212 555 0100.",
        "invalid_choice": "Choose one of the options.",
        "pattern": "The format is not valid.",
        "control_chars": "Remove the control characters.",
        "not_checked": "Tick this box to continue.",
        "invalid_checkbox": "This box is either ticked or not.",
        "multiple_values": "Give a single value.",
        "wrong_type": "This value has the wrong type.",
        "unknown_field": "This form has no such field.",
        "too_many_files": "Attach at most {max} files.",
        "file_too_large": "Each file must be at most {max} bytes.",
        "file_empty": "The file is empty.",
        "file_type": "Attach a file of one of these types: {types}.",
        "not_a_file": "Attach a file here.",
        "token_missing": "The form has expired. Please submit it again.",
        "token_invalid": "The form has expired. Please submit it again.",
        "expired": "The form has expired. Please submit it again.",
        "too_fast": "That was very quick. Please check your answers and submit again.",
        "error_summary": "Please correct the fields marked below.",
        "unavailable": "We cannot take your request right now. Please try again in a few minutes.",
        "rate_limited": "Too many submissions. Please wait a moment and try again.",
        "not_found": "There is no such form.",
        "bad_request": "The request could not be read.",
        "too_large": "The submission is too large.",
        "unsupported_type": "This kind of request body is not accepted.",
        "origin_refused": "This site may not submit this form.",
        "submit": "Send",
        "required_mark": "(required)",
        "thanks_title": "Thank you",
        "thanks_reference": "Your reference is",
        "honeypot_label": "Leave this field empty",
    },
    "zh": {
        "required": "此项为必填项。",
        "too_long": "最多 {max} 个字符。",
        "invalid_email": "请输入有效的电子邮箱，例如 name@example.com。",
        "invalid_phone": "请输入带国家代码的电话号码，例如 +86 10 1234 5678。",
        "invalid_choice": "请从选项中选择一项。",
        "pattern": "格式不正确。",
        "control_chars": "请删除控制字符。",
        "not_checked": "请勾选此项以继续。",
        "invalid_checkbox": "此项只能勾选或不勾选。",
        "multiple_values": "只能填写一个值。",
        "wrong_type": "此值的类型不正确。",
        "unknown_field": "此表单没有该字段。",
        "too_many_files": "最多可附加 {max} 个文件。",
        "file_too_large": "每个文件不能超过 {max} 字节。",
        "file_empty": "文件为空。",
        "file_type": "请附加以下类型的文件：{types}。",
        "not_a_file": "此处请附加文件。",
        "token_missing": "表单已过期，请重新提交。",
        "token_invalid": "表单已过期，请重新提交。",
        "expired": "表单已过期，请重新提交。",
        "too_fast": "提交过快，请检查后再次提交。",
        "error_summary": "请更正下面标出的字段。",
        "unavailable": "暂时无法受理您的请求，请几分钟后再试。",
        "rate_limited": "提交次数过多，请稍后再试。",
        "not_found": "没有这个表单。",
        "bad_request": "无法读取该请求。",
        "too_large": "提交的内容过大。",
        "unsupported_type": "不接受这种请求内容。",
        "origin_refused": "此网站不能提交该表单。",
        "submit": "提交",
        "required_mark": "（必填）",
        "thanks_title": "感谢您的提交",
        "thanks_reference": "您的编号为",
        "honeypot_label": "请勿填写此项",
    },
}


def message(code: str, language: str, params: Mapping[str, object] | None = None) -> str:
    """The text of ``code`` in ``language`` (English when that language has no catalogue).

    Raises ``KeyError`` for a code that is not in the English catalogue: a missing text is
    a defect to catch in tests, not something to paper over at run time.
    """
    table = CATALOGUE.get(language, CATALOGUE["en"])
    text = table.get(code) or CATALOGUE["en"][code]
    return text.format(**params) if params else text


def localized(texts: Mapping[str, str], language: str, fallback: str) -> str:
    """The configured text in ``language``, else in ``fallback``, else any, else ``""``."""
    return texts.get(language) or texts.get(fallback) or next(iter(texts.values()), "")


def html_lang(language: str) -> str:
    """The BCP 47 tag for ``<html lang>`` of a configured language (``zh`` -> ``zh-CN``)."""
    return HTML_TAGS.get(language, language)


def _match(tag: str, available: Sequence[str]) -> str | None:
    """The configured language a tag asks for: exact, then by primary subtag (``zh-Hans`` -> ``zh``)."""
    tag = tag.strip().lower().replace("_", "-")
    if not tag or tag == "*":
        return None
    for lang in available:
        if lang.lower() == tag:
            return lang
    primary = tag.split("-", 1)[0]
    for lang in available:
        if lang.lower().split("-", 1)[0] == primary:
            return lang
    return None


def negotiate(query: str | None, accept_language: str | None, available: Sequence[str]) -> str:
    """The language to answer in; ``available`` is non-empty, its first entry the default.

    A malformed ``Accept-Language`` entry (a bad quality value) is skipped, never an error.
    """
    if query:
        chosen = _match(query, available)
        if chosen:
            return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")[:20]):
        tag, _, rest = item.partition(";")
        quality = 1.0
        if rest.strip().startswith("q="):
            try:
                quality = float(rest.strip()[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, position, tag))
    for _, _, tag in sorted(ranked):
        chosen = _match(tag, available)
        if chosen:
            return chosen
    return available[0]
