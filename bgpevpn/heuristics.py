"""Guessing a decode context when the OPENs are not available.

The codec never guesses (DESIGN.md); a capture reader that did not see the
OPEN may, here, and says so.  The heuristic: try the contexts real speakers
use, most common first, and keep the first one under which the message
decodes cleanly.  It is right whenever only one context fits the bytes,
which is nearly always for AS_PATH (2- vs 4-octet AS numbers) and
ADD-PATH (a 4-octet path id shifts every prefix).
"""
from __future__ import annotations

from .constants import MAX_MESSAGE_LEN
from .context import Context
from .errors import BGPError
from . import wire

_ADD_PATH_UNICAST = frozenset({(1, 1), (2, 1)})

#: Tried in this order; the first is the default of Context().
CANDIDATES = (
    Context(four_octet_as=True),
    Context(four_octet_as=False),
    Context(four_octet_as=True, add_path=_ADD_PATH_UNICAST),
    Context(four_octet_as=False, add_path=_ADD_PATH_UNICAST),
    Context(four_octet_as=True, add_path=frozenset({(25, 70)})),
)


def guess_context(message: bytes) -> tuple:
    """(context, guessed): the context under which ``message`` (one whole
    message) decodes without error; ``guessed`` is False when the message
    does not depend on it (not an UPDATE) .  When nothing fits, the default
    context is returned and decoding it will raise the error to report."""
    ext = len(message) > MAX_MESSAGE_LEN
    if len(message) < 19 or message[18] != 2:
        return Context(extended_message=ext), False
    for cand in CANDIDATES:
        ctx = Context(cand.four_octet_as, cand.add_path, ext) if ext else cand
        try:
            wire.decode_message(message, ctx)
        except BGPError:
            continue
        return ctx, True
    return Context(extended_message=ext), True
