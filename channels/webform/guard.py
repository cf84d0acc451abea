"""Abuse limits of the forms that keep state: submission rate limits, and CORS origins.

Each form has its own per-IP and global token buckets (:mod:`callcenter.auth.ratelimit`),
either of which may be off. A submission is admitted only if both buckets have a token, and
only then is a token taken from each, so a client refused by one limit does not drain the
other. Time is passed in.

Cross-origin use: a browser on another site may post to a form, read its answers and fetch
its token only from an origin the form lists in ``allowed_origins``; the same origin as the
form itself (the hosted page, the embedded frame) is always allowed. A request without an
``Origin`` header (a plain form post from an old browser, a script) is not a cross-origin
browser request and is let through to the other checks.
"""

from __future__ import annotations

from typing import Mapping

from callcenter.auth.ratelimit import Rate, RateLimiter
from callcenter.settings.model import FormRate, FormSettings

PREFLIGHT_MAX_AGE = "600"


def _limiter(rate: FormRate | None) -> RateLimiter | None:
    return RateLimiter(Rate(rate.burst, rate.per_second)) if rate is not None else None


class SubmissionLimits:
    """The rate limiters of every form, built from their settings."""

    def __init__(self, forms: Mapping[str, FormSettings]) -> None:
        self._limits = {name: (_limiter(f.per_ip_rate), _limiter(f.global_rate)) for name, f in forms.items()}

    def admit(self, form: str, client_ip: str, now: float) -> float:
        """0.0 if ``client_ip`` may submit ``form`` now (a token is taken from each bucket);
        else the seconds to wait before trying again. Raises ``KeyError`` for an unknown form."""
        per_ip, overall = self._limits[form]
        wait = max(per_ip.retry_after(client_ip, now) if per_ip else 0.0,
                   overall.retry_after("global", now) if overall else 0.0)
        if wait > 0:
            return wait
        if per_ip is not None:
            per_ip.allow(client_ip, now)
        if overall is not None:
            overall.allow("global", now)
        return 0.0


def same_origin(origin: str, host: str | None) -> bool:
    """True when ``origin`` (``scheme://host[:port]``) names the host the request was sent to."""
    return host is not None and origin.split("://", 1)[-1].lower() == host.lower()


def origin_allowed(form: FormSettings, origin: str | None, host: str | None) -> bool:
    """Whether a request carrying ``Origin: origin`` to ``host`` may use ``form`` (see above)."""
    if origin is None:
        return True
    return same_origin(origin, host) or origin in form.allowed_origins


def cors_headers(form: FormSettings, origin: str | None, preflight: bool = False) -> dict[str, str]:
    """The CORS response headers for an allowed cross-origin ``origin``; none for others."""
    if origin is None or origin not in form.allowed_origins:
        return {"Vary": "Origin"}
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if preflight:
        headers.update({
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Accept, Accept-Language",
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        })
    return headers
