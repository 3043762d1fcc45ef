"""A sans-IO BGP session (RFC 4271 §8) in the style of h11/h2/aioquic.

``Session`` holds no socket, clock or thread.  Feed it what happened
(``start``, ``connection_made``, ``receive_data``, ``handle_timer``,
``connection_lost``, ``stop``) with the current time, then collect what it
wants done: ``data_to_send()``, ``next_event()``, ``next_deadline()``.
"""
from __future__ import annotations

import ipaddress
from collections import deque

from .. import wire
from ..constants import (AS_TRANS, CapabilityCode, ErrorAction, ErrorCode, MessageType)
from ..context import Context
from ..errors import BGPError, OpenMessageError
from ..messages import Notification, Open, RouteRefresh, Update
from . import events as ev
from .config import SessionConfig
from .fsm import Input, State, lookup

_KEEPALIVE_BYTES = b"\xff" * 16 + b"\x00\x13\x04"


class SessionError(RuntimeError):
    """A call the session cannot honour in its state (e.g. sending routes
    before Established)."""


def collision_keeps_existing(local_id: str, remote_id: str, existing_is_outbound: bool) -> bool:
    """RFC 4271 §6.8: of two connections to the same peer, keep the one
    initiated by the speaker with the higher BGP identifier.  Returns True
    when the existing connection (outbound from us if
    ``existing_is_outbound``) is the one to keep."""
    local_wins = int(ipaddress.IPv4Address(local_id)) > int(ipaddress.IPv4Address(remote_id))
    return existing_is_outbound == local_wins


class Session:
    """One BGP peer's FSM, timers and codec context."""

    def __init__(self, config: SessionConfig):
        self.config = config
        self.state = State.IDLE
        self._out = bytearray()
        self._events: deque = deque()
        self._timers: dict = {}
        self._reader = None
        self.local_open: Open = config.open_message()
        self.peer_open = None
        self.negotiated = None
        self.rx_context = Context()
        self.tx_context = Context()
        self.disabled_families: set = set()
        self._gr_stale: set = set()          # families kept stale for a restarting peer
        self._auto_restart = False
        self.last_error = None

    # ----------------------------------------------------------------- inputs
    def start(self, now: float) -> None:
        """ManualStart (RFC 4271 §8.1.2 event 1)."""
        self._auto_restart = True
        self._fire(Input.MANUAL_START, now)

    def automatic_start(self, now: float) -> None:
        """AutomaticStart (RFC 4271 §8.1.2 event 3): e.g. an embedder that
        accepts the peer's connection while the session pauses in Idle."""
        self._auto_restart = True
        self._fire(Input.AUTOMATIC_START, now)

    def stop(self, now: float, message: str = "", subcode: int = 2) -> None:
        """ManualStop: a Cease NOTIFICATION (administrative shutdown, with an
        RFC 9003 shutdown communication when ``message`` is given) and Idle."""
        self._auto_restart = False
        self._fire(Input.MANUAL_STOP, now, message=message, subcode=subcode)

    def connection_made(self, now: float) -> None:
        """The TCP connection is up (either direction): sends our OPEN."""
        if self.state == State.IDLE:
            # an accepted connection for a session the embedder just created
            self._fire(Input.MANUAL_START, now)
        self._fire(Input.TCP_CONNECTED, now)

    def connection_failed(self, now: float) -> None:
        """An outgoing connection attempt failed."""
        self._fire(Input.TCP_FAILS, now)

    def connection_lost(self, now: float) -> None:
        """The TCP connection closed or reset."""
        self._fire(Input.TCP_FAILS, now)

    def collision_detected(self, now: float) -> None:
        """The embedder resolved a §6.8 collision against this connection:
        Cease / connection collision resolution (subcode 7), then Idle."""
        self._auto_restart = False
        self._fire(Input.OPEN_COLLISION_DUMP, now)

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes read from the connection."""
        if self._reader is None:
            return  # no connection: nothing to read (RFC 4271 §8.2.2, Idle ignores)
        reader = self._reader
        it = reader.feed(data)
        while self._reader is reader:
            try:
                msg = next(it)
            except StopIteration:
                return
            except BGPError as err:
                self._message_error(err, now)
                # RFC 7606: the session may go on (treat-as-withdraw, ...); the
                # malformed message was consumed, so carry on with the next one
                it = reader.feed(b"")
                continue
            self._dispatch(msg, now)

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now`` (call at ``next_deadline()``)."""
        for name, when in sorted(self._timers.items(), key=lambda kv: kv[1]):
            if self._timers.get(name) != when or when > now:
                continue
            del self._timers[name]
            if name == "connect_retry":
                self._fire(Input.CONNECT_RETRY_EXPIRES, now)
            elif name == "hold":
                self._fire(Input.HOLD_EXPIRES, now)
            elif name == "keepalive":
                self._fire(Input.KEEPALIVE_TIMER_EXPIRES, now)
            elif name == "idle_hold":
                if self.state == State.IDLE and self._auto_restart:
                    self._fire(Input.AUTOMATIC_START, now)
            elif name == "gr_restart":
                # RFC 4724 §4.2: the peer did not come back in time
                self._flush_stale(tuple(self._gr_stale), "restart timer expired")
            elif name == "gr_stale":
                self._flush_stale(tuple(self._gr_stale), "stale timer expired")

    # ----------------------------------------------------------------- output
    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def bytes_pending(self) -> int:
        return len(self._out)

    def next_event(self):
        return self._events.popleft() if self._events else None

    def events(self) -> list:
        out = list(self._events)
        self._events.clear()
        return out

    def next_deadline(self):
        return min(self._timers.values()) if self._timers else None

    @property
    def connect_wanted(self) -> bool:
        """In Connect, the embedder should open a TCP connection to the peer."""
        return self.state == State.CONNECT

    # ----------------------------------------------------------------- sending
    def _require_established(self):
        if self.state != State.ESTABLISHED:
            raise SessionError(f"cannot send routes in state {self.state.value}")

    def send_update(self, update: Update, now: float) -> None:
        self._require_established()
        self._send(update.encode(self.tx_context), now)

    def send_routes(self, routes, attributes, next_hop, now: float) -> int:
        """Announce ``routes`` (one family) with one attribute set, packed into
        as few UPDATEs as fit; returns the number of messages."""
        self._require_established()
        msgs = wire.pack_updates(routes, attributes, next_hop, self.tx_context)
        self._send(b"".join(msgs), now)
        return len(msgs)

    def send_withdraw(self, routes, now: float) -> int:
        self._require_established()
        msgs = wire.pack_updates(routes, (), None, self.tx_context, withdraw=True)
        self._send(b"".join(msgs), now)
        return len(msgs)

    def send_raw(self, data: bytes, now: float) -> None:
        """Pre-encoded UPDATEs (e.g. from ``pack_updates``)."""
        self._require_established()
        self._send(bytes(data), now)

    def send_end_of_rib(self, now: float, families=None) -> None:
        """RFC 4724 §2: after the initial table, one marker per family."""
        self._require_established()
        for afi, safi in families or sorted(self.negotiated.families):
            self._send(wire.end_of_rib(afi, safi), now)

    def send_route_refresh(self, afi: int, safi: int, now: float, subtype: int = 0) -> None:
        """RFC 2918: ask the peer to re-advertise a family."""
        self._require_established()
        if not self.negotiated.route_refresh:
            raise SessionError("the peer did not advertise route refresh")
        self._send(RouteRefresh(afi, safi, subtype).encode(self.tx_context), now)

    def begin_refresh_response(self, afi: int, safi: int, now: float) -> None:
        """RFC 7313 §4: before re-advertising a family on request, BoRR
        (nothing when enhanced route refresh was not negotiated)."""
        self._require_established()
        if self.negotiated.enhanced_route_refresh:
            self._send(RouteRefresh(afi, safi, 1).encode(self.tx_context), now)

    def end_refresh_response(self, afi: int, safi: int, now: float) -> None:
        """RFC 7313 §4: after re-advertising, EoRR."""
        self._require_established()
        if self.negotiated.enhanced_route_refresh:
            self._send(RouteRefresh(afi, safi, 2).encode(self.tx_context), now)

    # ------------------------------------------------------------- machinery
    def _send(self, data: bytes, now: float) -> None:
        self._out += data
        if self.negotiated is not None and self.negotiated.keepalive_time:
            # RFC 4271 §4.4: a message sent restarts the keepalive interval
            self._timers["keepalive"] = now + self.negotiated.keepalive_time

    def _emit(self, event) -> None:
        self._events.append(event)

    def _fire(self, inp: Input, now: float, **kw) -> None:
        action, outcomes = lookup(self.state, inp)
        outcome = getattr(self, "_a_" + action)(now, **kw) or "ok"
        new = outcomes[outcome]
        if new != self.state:
            old = self.state
            self.state = new
            self._emit(ev.StateChanged(old.value, new.value, inp.value))
            self._entered(old, new, now)

    def _entered(self, old: State, new: State, now: float) -> None:
        if new in (State.ACTIVE, State.CONNECT) and old in (State.OPEN_SENT, State.OPEN_CONFIRM,
                                                            State.ESTABLISHED):
            self._emit(ev.SessionDown(self._down_reason, self._down_notification, False))
        if new == State.IDLE:
            was_established = old == State.ESTABLISHED
            self._timers.pop("hold", None)
            self._timers.pop("keepalive", None)
            self._timers.pop("connect_retry", None)
            self._reader = None
            if self._auto_restart:
                # RFC 4271 §8.1.1 IdleHoldTimer: come back by itself after a pause
                self._timers["idle_hold"] = now + max(self.config.connect_retry_time / 6, 1.0)
            if old in (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED):
                self._emit(ev.SessionDown(self._down_reason, self._down_notification,
                                          was_established,
                                          was_established and bool(self._gr_stale)))
            self.negotiated = None if not was_established else self.negotiated
        elif new == State.ESTABLISHED:
            self._emit(ev.SessionEstablished(self.peer_open, self.negotiated))

    _down_reason = ""
    _down_notification = None

    def _notify(self, now: float, notification: Notification, reason: str) -> None:
        self._out += notification.encode(Context(extended_message=True))
        self._down_reason = reason
        self._down_notification = notification
        self._emit(ev.NotificationSent(notification))

    # actions (named in fsm.TRANSITIONS) --------------------------------------
    def _a_ignore(self, now, **kw):
        return None

    def _a_start(self, now, **kw):
        self._timers.pop("idle_hold", None)
        self._timers["connect_retry"] = now + self.config.connect_retry_time
        return "passive" if self.config.passive else "ok"

    def _a_manual_stop_idle(self, now, **kw):
        self._timers.clear()
        return None

    def _a_manual_stop(self, now, message="", subcode=2, **kw):
        if self.state in (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED):
            self._notify(now, Notification.shutdown(message, subcode) if message
                         else Notification(ErrorCode.CEASE, subcode), "administrative stop")
        self._timers.clear()
        return None

    def _a_retry_connect(self, now, **kw):
        self._timers["connect_retry"] = now + self.config.connect_retry_time
        return None

    def _a_connect_failed(self, now, **kw):
        self._timers["connect_retry"] = now + self.config.connect_retry_time
        return None

    def _a_send_open(self, now, **kw):
        self._timers.pop("connect_retry", None)
        # RFC 8654 §4: having advertised the capability, we accept extended
        # messages (the codec keeps OPEN and KEEPALIVE at their sizes)
        self._reader = wire.MessageReader(Context(extended_message=self.config.extended_message))
        self.peer_open = None
        self.negotiated = None
        self._out.clear()
        self._out += self.local_open.encode(Context(extended_message=True))
        self._timers["hold"] = now + self.config.open_hold_time
        return None

    def _a_hold_expired(self, now, **kw):
        self._notify(now, Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0), "hold timer expired")
        return None

    def _a_connection_failed(self, now, **kw):
        self._down_reason = "connection lost"
        self._down_notification = None
        if self.state == State.ESTABLISHED:
            self._start_graceful_restart(now)
        if self.state == State.OPEN_SENT:
            self._timers["connect_retry"] = now + self.config.connect_retry_time
            self._timers.pop("hold", None)
            self._reader = None
        return None

    def _a_message_error(self, now, error=None, **kw):
        self._notify(now, Notification.from_error(error), f"sent {error.code}/{error.subcode}: "
                     f"{error.reason}")
        return None

    def _a_collision_dump(self, now, **kw):
        self._out.clear()   # a KEEPALIVE not yet sent must not reach the peer
        self._notify(now, Notification(ErrorCode.CEASE, 7), "connection collision resolution")
        return None

    def _a_receive_notification(self, now, message=None, **kw):
        self._down_reason = (f"received {message.code}/{message.subcode} "
                             f"{message.code_name}/{message.subcode_name}")
        self._down_notification = message
        self._emit(ev.NotificationReceived(message))
        return None

    def _a_fsm_error(self, now, message=None, mtype=None, **kw):
        """RFC 6608 §3: subcode by state, data = the message type received."""
        sub = {State.OPEN_SENT: 1, State.OPEN_CONFIRM: 2, State.ESTABLISHED: 3}.get(self.state, 0)
        if mtype is None and message is not None:
            mtype = message.type_code
        what = MessageType(mtype).name if mtype in (1, 2, 3, 4, 5) else "message"
        self._notify(now, Notification(ErrorCode.FSM_ERROR, sub,
                                       bytes([mtype]) if mtype is not None and sub else b""),
                     f"unexpected {what} in {self.state.value}")
        return None

    def _a_bad_message_type(self, now, message=None, **kw):
        self._notify(now, Notification(ErrorCode.MESSAGE_HEADER_ERROR, 3,
                                       bytes([message.type_code])),
                     f"unknown message type {message.type_code}")
        return None

    def _a_send_keepalive(self, now, **kw):
        self._send(_KEEPALIVE_BYTES, now)
        return None

    def _a_receive_keepalive(self, now, **kw):
        self._restart_hold(now)
        return None

    def _a_receive_open(self, now, message=None, **kw):
        try:
            negotiated = self._check_open(message)
        except OpenMessageError as err:
            self._notify(now, Notification.from_error(err),
                         f"refused the peer's OPEN: {err.reason}")
            return "error"
        self.peer_open = message
        self.negotiated = negotiated
        # RFC 8654 §4: we receive up to 65535 octets when we advertised the
        # capability, and send them only when the peer advertised it
        peer_ext = CapabilityCode.EXTENDED_MESSAGE in {c.code for c in message.capabilities}
        self.rx_context = Context(negotiated.four_octet_as, negotiated.add_path_receive,
                                  self.config.extended_message)
        self.tx_context = Context(negotiated.four_octet_as, negotiated.add_path_send, peer_ext)
        self._reader.context = self.rx_context
        self._emit(ev.OpenReceived(message))
        self._send(_KEEPALIVE_BYTES, now)
        if negotiated.hold_time:
            self._timers["hold"] = now + negotiated.hold_time
            self._timers["keepalive"] = now + negotiated.keepalive_time
        else:
            self._timers.pop("hold", None)
            self._timers.pop("keepalive", None)
        return None

    def _a_establish(self, now, **kw):
        self._restart_hold(now)
        self._resume_graceful_restart(now)
        return None

    def _a_receive_route_refresh(self, now, message=None, **kw):
        self._restart_hold(now)
        fam = (message.afi, message.safi)
        # RFC 2918 §4: a family not negotiated is ignored; RFC 7313 §5:
        # subtypes other than 0-2 are ignored
        if fam in self.negotiated.families and message.subtype in (0, 1, 2):
            self._emit(ev.RouteRefreshReceived(fam, message.subtype))
        return None

    def _a_receive_update(self, now, message=None, error=None, **kw):
        self._restart_hold(now)
        if error is not None and error.action == ErrorAction.SESSION_RESET:
            self._notify(now, Notification.from_error(error),
                         f"malformed UPDATE: {error.reason}")
            return "error"
        update = message if error is None else error.update
        if error is not None and error.action == ErrorAction.AFI_SAFI_DISABLE:
            fam = self._error_family(update)
            if fam is None:
                self._notify(now, Notification.from_error(error),
                             f"malformed UPDATE: {error.reason}")
                return "error"
            self.disabled_families.add(fam)
            self._emit(ev.FamilyDisabled(fam, error))
            return None
        attrs = update.attributes
        mp = attrs.mp_reach
        un = attrs.mp_unreach
        if (mp is not None and (mp.afi, mp.safi) in self.disabled_families) or \
                (un is not None and (un.afi, un.safi) in self.disabled_families):
            return None
        eor = update.end_of_rib
        if eor is not None:
            self._emit(ev.EndOfRibReceived(eor))
            if eor in self._gr_stale:
                self._flush_stale((eor,), "End-of-RIB received")
            return None
        announced, withdrawn = update.announced, update.withdrawn
        discarded = ()
        if error is not None:
            discarded = tuple(code for code, _ in update.malformed)
            if error.action == ErrorAction.TREAT_AS_WITHDRAW:
                # RFC 7606 §2: the routes are withdrawn, the attributes ignored
                withdrawn = withdrawn + announced
                announced = []
        nh = None   # the next hop in wire form (MP_REACH octets, or NEXT_HOP's 4 octets)
        if mp is not None:
            nh = bytes(mp.next_hop)
        elif attrs.next_hop is not None:
            nh = ipaddress.IPv4Address(attrs.next_hop).packed
        self._emit(ev.UpdateReceived(update, announced, withdrawn, attrs, error, discarded, nh))
        return None

    def _error_family(self, update):
        """The family an AFI/SAFI-disable error names (RFC 7606 §5.3)."""
        if update is None:
            return None
        for _code, err in update.malformed:
            if err.action == ErrorAction.AFI_SAFI_DISABLE and getattr(err, "family", None):
                return err.family
        return None

    # message dispatch -----------------------------------------------------
    def _dispatch(self, msg, now: float) -> None:
        t = msg.type_code
        if t == MessageType.UPDATE:
            self._fire(Input.UPDATE_MSG, now, message=msg)
        elif t == MessageType.KEEPALIVE:
            self._fire(Input.KEEPALIVE_MSG, now, message=msg)
        elif t == MessageType.OPEN:
            self._fire(Input.BGP_OPEN, now, message=msg)
        elif t == MessageType.NOTIFICATION:
            self._fire(Input.NOTIF_MSG, now, message=msg)
        elif t == MessageType.ROUTE_REFRESH:
            self._fire(Input.ROUTE_REFRESH_MSG, now, message=msg)
        else:
            self._fire(Input.UNKNOWN_MSG, now, message=msg)

    def _message_error(self, err: BGPError, now: float) -> None:
        self.last_error = err
        if err.code == ErrorCode.UPDATE_MESSAGE_ERROR:
            self._fire(Input.UPDATE_MSG, now, message=getattr(err, "update", None), error=err,
                       mtype=MessageType.UPDATE)
        elif err.code == ErrorCode.OPEN_MESSAGE_ERROR:
            self._fire(Input.BGP_OPEN_MSG_ERR, now, error=err, mtype=MessageType.OPEN)
        else:
            self._fire(Input.BGP_HEADER_ERR, now, error=err)

    def _restart_hold(self, now: float) -> None:
        if self.negotiated is not None and self.negotiated.hold_time:
            self._timers["hold"] = now + self.negotiated.hold_time

    # OPEN checks and negotiation (RFC 4271 §6.2, RFC 5492, RFC 6793) -------
    def _check_open(self, op: Open):
        cfg = self.config
        if op.version != 4:
            raise OpenMessageError(1, f"version {op.version}", b"\x00\x04")
        for ptype, pdata in op.parameters:
            if ptype != 2:   # RFC 4271 §6.2 / RFC 5492: only capabilities are known
                raise OpenMessageError(4, f"unsupported optional parameter {ptype}")
        four = op.capability(CapabilityCode.FOUR_OCTET_AS)
        peer_as = op.asn
        if four is None and op.my_as == AS_TRANS:
            raise OpenMessageError(2, "AS_TRANS without the four-octet-as capability",
                                   op.my_as.to_bytes(2, "big"))
        if cfg.peer_as is not None and peer_as != cfg.peer_as:
            raise OpenMessageError(2, f"peer AS {peer_as}, expected {cfg.peer_as}",
                                   op.my_as.to_bytes(2, "big"))
        if op.hold_time in (1, 2):
            raise OpenMessageError(6, f"hold time {op.hold_time}",
                                   op.hold_time.to_bytes(2, "big"))
        if op.bgp_id == "0.0.0.0" or (op.bgp_id == cfg.router_id and peer_as == cfg.local_as):
            raise OpenMessageError(3, f"BGP identifier {op.bgp_id}",
                                   ipaddress.IPv4Address(op.bgp_id).packed)
        codes = {c.code for c in op.capabilities}
        missing = [c for c in cfg.required_capabilities if c not in codes]
        if missing:
            raise OpenMessageError(7, f"required capabilities {missing} not offered",
                                   b"".join(bytes([c, 0]) for c in missing))
        ours = self.local_open
        hold = min(cfg.hold_time, op.hold_time)
        peer_fams = set(op.families) or {(1, 1)}   # RFC 4760 §8: none means IPv4 unicast
        our_fams = set(ours.families) or {(1, 1)}
        our_ap = {(a, s): m for c in ours.capabilities if c.code == CapabilityCode.ADD_PATH
                  for a, s, m in c.families}
        peer_ap = {(a, s): m for c in op.capabilities if c.code == CapabilityCode.ADD_PATH
                   for a, s, m in c.families}
        rx = frozenset(f for f, m in our_ap.items() if m & 1 and peer_ap.get(f, 0) & 2)
        tx = frozenset(f for f, m in our_ap.items() if m & 2 and peer_ap.get(f, 0) & 1)
        gr = op.capability(CapabilityCode.GRACEFUL_RESTART)
        gr_info = None
        if gr is not None and gr.fields().get("malformed") is None:
            f = gr.fields()
            gr_info = {"restart_time": f["restart_time"], "restarting": bool(f["restart_flags"] & 8),
                       "families": {(a, s): bool(fl & 0x80) for a, s, fl in gr.families}}
        return ev.Negotiated(
            hold_time=hold, keepalive_time=hold / 3 if hold else 0,
            families=frozenset(peer_fams & our_fams),
            four_octet_as=cfg.four_octet_as and four is not None,
            extended_message=cfg.extended_message and CapabilityCode.EXTENDED_MESSAGE in codes,
            route_refresh=bool(codes & {CapabilityCode.ROUTE_REFRESH,
                                        CapabilityCode.ROUTE_REFRESH_CISCO}),
            enhanced_route_refresh=cfg.enhanced_route_refresh
            and CapabilityCode.ENHANCED_ROUTE_REFRESH in codes,
            add_path_receive=rx, add_path_send=tx, peer_as=peer_as, peer_id=op.bgp_id,
            peer_graceful_restart=gr_info, capabilities=tuple(op.capabilities))

    # graceful restart, receiving speaker (RFC 4724 §4.2) ---------------------
    def _start_graceful_restart(self, now: float) -> None:
        neg = self.negotiated
        if neg is None or neg.peer_graceful_restart is None or self.config.graceful_restart is None:
            return
        fams = tuple(sorted(f for f in neg.families if f in neg.peer_graceful_restart["families"]))
        if not fams:
            return
        self._gr_stale = set(fams)
        restart = neg.peer_graceful_restart["restart_time"]
        self._emit(ev.PeerRestarting(fams, restart))
        self._timers["gr_restart"] = now + restart

    def _resume_graceful_restart(self, now: float) -> None:
        if not self._gr_stale:
            return
        self._timers.pop("gr_restart", None)
        gr = self.negotiated.peer_graceful_restart
        kept = gr["families"] if gr is not None else {}
        # families the peer no longer preserves (F bit clear) go at once
        gone = tuple(f for f in self._gr_stale if not kept.get(f, False))
        if gone:
            self._flush_stale(gone, "peer did not preserve forwarding state")
        if self._gr_stale:
            self._timers["gr_stale"] = now + self.config.graceful_restart.stale_time

    def _flush_stale(self, families, reason: str) -> None:
        for fam in sorted(families):
            if fam in self._gr_stale:
                self._gr_stale.discard(fam)
                self._emit(ev.StaleRoutesFlushed(fam, reason))
        if not self._gr_stale:
            self._timers.pop("gr_stale", None)
            self._timers.pop("gr_restart", None)
