"""What a ``Session`` reports: frozen dataclasses named as past facts."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class StateChanged(Event):
    """RFC 4271 §8.2.2: the FSM moved from ``old`` to ``new`` on ``cause``."""
    old: str
    new: str
    cause: str


@dataclass(frozen=True)
class OpenReceived(Event):
    """The peer's OPEN passed the §6.2 checks (emitted before KEEPALIVE is
    sent, so an embedder can resolve a connection collision, §6.8)."""
    open: object


@dataclass(frozen=True)
class SessionEstablished(Event):
    """The session reached Established; ``negotiated`` says what was agreed."""
    peer_open: object
    negotiated: object


@dataclass(frozen=True)
class UpdateReceived(Event):
    """An UPDATE, with the RFC 7606 outcome already applied: under
    treat-as-withdraw, ``announced`` is empty and the routes it carried are
    in ``withdrawn``; ``error`` is the UpdateMessageError that was handled
    (None for a clean UPDATE); ``discarded`` lists the attribute codes left
    out; ``next_hop`` is in wire form (the MP_REACH next hop octets, else the
    4 octets of NEXT_HOP)."""
    update: object
    announced: list
    withdrawn: list
    attributes: object
    error: Optional[object] = None
    discarded: tuple = ()
    next_hop: object = None


@dataclass(frozen=True)
class EndOfRibReceived(Event):
    """RFC 4724 §2: the peer finished its initial table for ``family``."""
    family: tuple


@dataclass(frozen=True)
class RouteRefreshReceived(Event):
    """RFC 2918 / RFC 7313: the peer asks for (subtype 0) or brackets
    (1 BoRR, 2 EoRR) a re-advertisement of ``family``."""
    family: tuple
    subtype: int


@dataclass(frozen=True)
class FamilyDisabled(Event):
    """RFC 7606 §2 AFI/SAFI disable: UPDATEs of ``family`` are ignored from now on."""
    family: tuple
    error: object


@dataclass(frozen=True)
class NotificationReceived(Event):
    notification: object


@dataclass(frozen=True)
class NotificationSent(Event):
    notification: object


@dataclass(frozen=True)
class SessionDown(Event):
    """The session left OpenSent, OpenConfirm or Established for Idle or
    Active. ``notification`` is the one sent or received, when there was one;
    ``graceful_restart`` is True when the peer's routes are to be kept stale
    (a ``PeerRestarting`` came just before): do not drop them."""
    reason: str
    notification: Optional[object] = None
    was_established: bool = False
    graceful_restart: bool = False


@dataclass(frozen=True)
class PeerRestarting(Event):
    """RFC 4724 §4.2: the peer went down while graceful restart was agreed;
    its routes of ``families`` are to be kept, marked stale, for ``restart_time``."""
    families: tuple
    restart_time: int


@dataclass(frozen=True)
class StaleRoutesFlushed(Event):
    """RFC 4724 §4.2: the routes of ``family`` still stale are to be removed
    (End-of-RIB received after the restart, or a timer expired, or the
    peer came back without preserving the family)."""
    family: tuple
    reason: str


@dataclass(frozen=True)
class Negotiated:
    """What the two OPENs agreed (RFC 4271 §4.2, RFC 5492 and each capability's RFC)."""
    hold_time: int
    keepalive_time: float
    families: frozenset
    four_octet_as: bool
    extended_message: bool
    route_refresh: bool
    enhanced_route_refresh: bool
    add_path_receive: frozenset
    add_path_send: frozenset
    peer_as: int
    peer_id: str
    peer_graceful_restart: Optional[dict] = None
    capabilities: tuple = field(default=())
