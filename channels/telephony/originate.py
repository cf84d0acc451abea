"""Click-to-dial as an AMI ``Originate``: validation and header building (pure).

The agent's phone is called first (``Channel`` = the agent's endpoint); once it answers, Asterisk
runs the customer leg: either dialplan ``Context``/``Exten``/``Priority`` with the customer's number
as the extension, or an ``Application``/``Data``. ``Async: true`` makes Asterisk answer at once
and report the outcome later in an ``OriginateResponse`` event with the same ActionID.

The customer number comes from a browser, so it is validated (:class:`InvalidDialNumber`): only
digits with an optional leading ``+``. Every other header is checked again by the encoder for
CR/LF/NUL (:class:`~channels.telephony.ami_protocol.AmiHeaderInjection`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from channels.telephony.ami_protocol import check_header

_DIAL_NUMBER = re.compile(r"\+?[0-9]{1,32}")


class InvalidDialNumber(ValueError):
    """The number to dial is not digits with an optional leading ``+``."""


def validate_dial_number(number: str) -> str:
    """Return ``number`` unchanged if it is ``+?[0-9]{1,32}``; raise :class:`InvalidDialNumber`."""
    if not isinstance(number, str) or _DIAL_NUMBER.fullmatch(number) is None:
        raise InvalidDialNumber(f"not a dialable number: {number!r}")
    return number


@dataclass(frozen=True)
class ClickToDial:
    """One click-to-dial request.

    ``agent_endpoint`` is the agent's phone as Asterisk dials it (``PJSIP/1001``,
    ``Local/agent1@agents``); ``customer_number`` is validated on construction. With
    ``application`` set the customer leg runs that application with ``application_data`` instead
    of the dialplan ``context``. ``ring_timeout`` is in seconds (AMI wants milliseconds).
    ``variables`` are set on the new channel (e.g. the interaction id for the call log).
    """

    agent_endpoint: str
    customer_number: str
    context: str = "outbound"
    priority: int = 1
    caller_id: str | None = None
    ring_timeout: float | None = None
    application: str | None = None
    application_data: str = ""
    variables: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        validate_dial_number(self.customer_number)
        if not self.agent_endpoint or "," in self.agent_endpoint:
            raise InvalidDialNumber(f"not a dialable endpoint: {self.agent_endpoint!r}")

    def headers(self) -> list[tuple[str, str]]:
        """The Originate headers, in the order Asterisk's own tools write them.

        Raises :class:`~channels.telephony.ami_protocol.AmiHeaderInjection` for CR/LF/NUL anywhere.
        """
        headers: list[tuple[str, str]] = [("Channel", self.agent_endpoint)]
        if self.application is not None:
            headers += [("Application", self.application), ("Data", self.application_data)]
        else:
            headers += [("Context", self.context), ("Exten", self.customer_number), ("Priority", str(self.priority))]
        headers.append(("Async", "true"))
        if self.caller_id is not None:
            headers.append(("CallerID", self.caller_id))
        if self.ring_timeout is not None:
            headers.append(("Timeout", str(int(self.ring_timeout * 1000))))
        for name, value in self.variables:
            if "=" in name:
                raise InvalidDialNumber(f"invalid channel variable name {name!r}")
            headers.append(("Variable", f"{name}={value}"))
        for name, value in headers:
            check_header(name, value)
        return headers
