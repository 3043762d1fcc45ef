"""One exception family for every malformed input.

A ``BGPError`` carries what a speaker needs to react (RFC 4271 §6): the
NOTIFICATION code, subcode and data, plus the RFC 7606 action for UPDATEs.
Both codec twins raise exactly these classes.
"""
from __future__ import annotations

from .constants import (ERROR_ACTION_NAMES, ERROR_CODE_NAMES, ERROR_SUBCODE_NAMES,
                        ErrorAction, ErrorCode)


class BGPError(ValueError):
    """Malformed BGP input.

    ``code``/``subcode``/``data`` are what goes into the NOTIFICATION;
    ``action`` is how severe it is (``ErrorAction``); ``offset`` is where in
    the decoded buffer the problem was found, when known.
    """

    def __init__(self, code: int, subcode: int, reason: str, data: bytes = b"",
                 action: ErrorAction = ErrorAction.SESSION_RESET, offset: int | None = None):
        self.code = int(code)
        self.subcode = int(subcode)
        self.data = bytes(data)
        self.action = ErrorAction(action)
        self.reason = reason
        self.offset = offset
        super().__init__(self._text())

    def _text(self) -> str:
        code = ERROR_CODE_NAMES.get(self.code, str(self.code))
        sub = ERROR_SUBCODE_NAMES.get(self.code, {}).get(self.subcode, str(self.subcode))
        where = f" at offset {self.offset}" if self.offset is not None else ""
        return (f"{self.reason}{where} [NOTIFICATION {self.code}/{self.subcode} {code}/{sub}, "
                f"{ERROR_ACTION_NAMES[self.action]}]")

    @property
    def outcome(self) -> tuple:
        """(code, subcode, action): what the differential tests compare."""
        return (self.code, self.subcode, self.action)

    def to_dict(self) -> dict:
        return {"error": self.reason, "code": self.code, "subcode": self.subcode,
                "code_name": ERROR_CODE_NAMES.get(self.code),
                "subcode_name": ERROR_SUBCODE_NAMES.get(self.code, {}).get(self.subcode),
                "action": ERROR_ACTION_NAMES[self.action], "data": self.data.hex(),
                "offset": self.offset}

    def __reduce__(self):
        return (type(self), (self.code, self.subcode, self.reason, self.data, self.action,
                             self.offset))


class MessageHeaderError(BGPError):
    """RFC 4271 §6.1: always a session reset."""

    def __init__(self, subcode: int, reason: str, data: bytes = b"", offset: int | None = None):
        super().__init__(ErrorCode.MESSAGE_HEADER_ERROR, subcode, reason, data,
                         ErrorAction.SESSION_RESET, offset)

    def __reduce__(self):
        return (type(self), (self.subcode, self.reason, self.data, self.offset))


class OpenMessageError(BGPError):
    """RFC 4271 §6.2."""

    def __init__(self, subcode: int, reason: str, data: bytes = b"", offset: int | None = None):
        super().__init__(ErrorCode.OPEN_MESSAGE_ERROR, subcode, reason, data,
                         ErrorAction.SESSION_RESET, offset)

    def __reduce__(self):
        return (type(self), (self.subcode, self.reason, self.data, self.offset))


class UpdateMessageError(BGPError):
    """RFC 4271 §6.3 with the RFC 7606 action.

    When the rest of the UPDATE could still be parsed (every action below
    session reset), ``update`` holds it, with the offending attributes left
    out and listed in ``update.malformed``, so a speaker can apply the action
    (e.g. treat-as-withdraw: withdraw ``update.announced``).  ``family`` is
    the (AFI, SAFI) an AFI/SAFI-disable error is about (RFC 7606 §5.3), when
    the error came from an MP_REACH_NLRI / MP_UNREACH_NLRI attribute.
    """

    def __init__(self, subcode: int, reason: str, data: bytes = b"",
                 action: ErrorAction = ErrorAction.TREAT_AS_WITHDRAW,
                 offset: int | None = None, update=None, family=None):
        super().__init__(ErrorCode.UPDATE_MESSAGE_ERROR, subcode, reason, data, action, offset)
        self.update = update
        self.family = family

    @property
    def outcome(self) -> tuple:
        return (self.code, self.subcode, self.action, self.family)

    def __reduce__(self):
        return (type(self), (self.subcode, self.reason, self.data, self.action, self.offset,
                             None, self.family))


class RouteRefreshMessageError(BGPError):
    """RFC 7313 §5: invalid ROUTE-REFRESH length."""

    def __init__(self, subcode: int, reason: str, data: bytes = b"", offset: int | None = None):
        super().__init__(ErrorCode.ROUTE_REFRESH_MESSAGE_ERROR, subcode, reason, data,
                         ErrorAction.SESSION_RESET, offset)

    def __reduce__(self):
        return (type(self), (self.subcode, self.reason, self.data, self.offset))


class ValueParseError(ValueError):
    """A value given by a user (``RouteDistinguisher.parse("x")``) does not parse."""
