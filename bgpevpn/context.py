"""The negotiated session context a decoder needs (and nothing else).

RFC 6793 (4-octet AS), RFC 7911 (ADD-PATH) and RFC 8654 (extended message)
change how bytes are read; the codec never guesses them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .constants import (MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, CapabilityCode)


@dataclass(frozen=True)
class Context:
    """How the messages being decoded (or encoded) are laid out.

    ``four_octet_as``: AS numbers in AS_PATH/AGGREGATOR are 4 octets (RFC 6793 §4.1).
    ``add_path``: families ``(afi, safi)`` whose NLRI carry a path identifier
    in this direction (RFC 7911 §3).
    ``extended_message``: messages may be up to 65535 octets (RFC 8654 §3).
    """
    four_octet_as: bool = True
    add_path: frozenset = field(default_factory=frozenset)
    extended_message: bool = False

    def __post_init__(self):
        object.__setattr__(self, "add_path",
                           frozenset((int(a), int(s)) for a, s in self.add_path))

    @property
    def max_message_length(self) -> int:
        return MAX_EXTENDED_MESSAGE_LEN if self.extended_message else MAX_MESSAGE_LEN

    @classmethod
    def negotiated(cls, sender_open, receiver_open=None) -> "Context":
        """The context of the messages sent by the speaker of ``sender_open``.

        With both OPENs this is the negotiated result: a capability counts when
        both sides advertised it, and ADD-PATH counts per family when the
        sender can send and the receiver can receive (RFC 7911 §4).  With only
        the sender's OPEN (a one-sided capture) the sender's own
        advertisement is taken as agreed.
        """
        def caps(op):
            return {c.code for c in op.capabilities} if op is not None else None

        s_caps, r_caps = caps(sender_open), caps(receiver_open)

        def both(code):
            return code in s_caps and (r_caps is None or code in r_caps)

        sends = _add_path_modes(sender_open)
        recvs = _add_path_modes(receiver_open) if receiver_open is not None else None
        add_path = set()
        for fam, mode in sends.items():
            if not mode & 2:
                continue
            if recvs is None or recvs.get(fam, 0) & 1:
                add_path.add(fam)
        return cls(four_octet_as=both(CapabilityCode.FOUR_OCTET_AS),
                   add_path=frozenset(add_path),
                   extended_message=both(CapabilityCode.EXTENDED_MESSAGE))


def _add_path_modes(open_msg) -> dict:
    modes: dict = {}
    for cap in open_msg.capabilities:
        if cap.code == CapabilityCode.ADD_PATH and getattr(cap, "families", None):
            for afi, safi, mode in cap.families:
                modes[(afi, safi)] = mode
    return modes


DEFAULT_CONTEXT = Context()
