"""The sans-IO session FSM (RFC 4271 §8) against its own transition table.

Part 1 sweeps every (State, Input) pair of ``bgpevpn.session.fsm``: a
``Session`` is driven into the state with real encoded messages, the input
is applied through the public API (timers through ``handle_timer`` when the
state arms them), and the result is checked against ``TRANSITIONS``: the new
state is the one the table gives for the action's outcome, every inner
transition is one the table allows, ``Session.state`` is only assigned by
``_fire`` and every change shows up as a ``StateChanged`` event, and what the
session writes frames as valid BGP messages.

Part 2 pins the RFC 4271 §8.2.2 / RFC 6608 / RFC 9003 / §6.1 expectations
(NOTIFICATION codes, subcodes and data) for the interesting pairs.

Part 3 is a Hypothesis state machine that applies random inputs and bytes
in random order with a fake clock and checks invariants after each step.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import event as hypothesis_event
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bgpevpn import (AsPath, Capability, Context, Keepalive, MacIpRoute, Notification, Open,
                     Origin, RouteRefresh, UnknownMessage, wire)
from bgpevpn.errors import BGPError
from bgpevpn.session import (Input, NotificationSent, Session, SessionConfig, SessionDown,
                             SessionError, State, StateChanged, TRANSITIONS)
from bgpevpn.session import events as ev
from bgpevpn.session.fsm import lookup

MARKER = b"\xff" * 16
EXT = Context(extended_message=True)
EVPN = (25, 70)
LOCAL_AS, PEER_AS = 65001, 65002
LOCAL_ID, PEER_ID = "192.0.2.1", "192.0.2.2"


def config(passive: bool = False, **kw) -> SessionConfig:
    kw.setdefault("hold_time", 90)
    kw.setdefault("connect_retry_time", 30.0)
    return SessionConfig(LOCAL_AS, LOCAL_ID, peer_as=PEER_AS, passive=passive, **kw)


def peer_config(**kw) -> SessionConfig:
    kw.setdefault("hold_time", 90)
    return SessionConfig(PEER_AS, PEER_ID, peer_as=LOCAL_AS, **kw)


def header(mtype: int, body: bytes = b"", length: int | None = None,
           marker: bytes = MARKER) -> bytes:
    n = 19 + len(body) if length is None else length
    return marker + struct.pack("!HB", n, mtype) + body


def route(i: int = 0) -> MacIpRoute:
    return MacIpRoute.build("192.0.2.2:100", f"02:00:00:00:{i >> 8 & 0xff:02x}:{i & 0xff:02x}",
                            f"10.0.{i >> 8 & 0xff}.{i & 0xff}", labels=(100,))


ATTRS = [Origin(0), AsPath([(2, (PEER_AS,))])]

# --- the peer's messages, encoded with bgpevpn's encoders ---------------------------
PEER_OPEN = peer_config().open_message().encode(EXT)
PEER_OPEN_WRONG_AS = SessionConfig(65099, PEER_ID).open_message().encode(EXT)
KEEPALIVE = Keepalive().encode()
NOTIFICATION = Notification(6, 2).encode()
UPDATE = wire.pack_updates([route(1), route(2)], ATTRS, "192.0.2.2", EXT)[0]
#: RFC 4271 §6.3: withdrawn routes length 16 overruns the UPDATE -> 3/1, session reset
UPDATE_RESET = header(2, b"\x00\x10\x00\x00")
ROUTE_REFRESH = RouteRefresh(25, 70).encode()
UNKNOWN = UnknownMessage(200, b"\x01\x02").encode()
#: RFC 4271 §6.1: marker not all ones -> 1/1
BAD_MARKER = header(4, marker=b"\xfe" * 16)
#: RFC 4271 §6.2: optional parameters length 5 with none present -> 2/0
OPEN_MALFORMED = header(1, bytes([4]) + struct.pack("!HH", PEER_AS, 90) + bytes([192, 0, 2, 2])
                        + bytes([5]))

MESSAGE_INPUTS = {
    Input.BGP_OPEN: PEER_OPEN,
    Input.BGP_HEADER_ERR: BAD_MARKER,
    Input.BGP_OPEN_MSG_ERR: OPEN_MALFORMED,
    Input.NOTIF_MSG: NOTIFICATION,
    Input.KEEPALIVE_MSG: KEEPALIVE,
    Input.UPDATE_MSG: UPDATE,
    Input.ROUTE_REFRESH_MSG: ROUTE_REFRESH,
    Input.UNKNOWN_MSG: UNKNOWN,
}
TIMER_OF = {Input.CONNECT_RETRY_EXPIRES: "connect_retry", Input.HOLD_EXPIRES: "hold",
            Input.KEEPALIVE_TIMER_EXPIRES: "keepalive", Input.AUTOMATIC_START: "idle_hold"}


class WatchedSession(Session):
    """A Session that checks, as it runs, that ``state`` is only assigned by
    ``_fire`` (or the constructor) and that each ``_fire`` lands on a state
    the table allows for that (state, input)."""

    fired: list

    @property
    def state(self):
        return self.__dict__["_watched_state"]

    @state.setter
    def state(self, value):
        import sys
        caller = sys._getframe(1).f_code.co_name
        assert caller in ("_fire", "__init__"), f"Session.state assigned by {caller}"
        assert isinstance(value, State)
        self.__dict__["_watched_state"] = value

    def _fire(self, inp, now, **kw):
        self.__dict__.setdefault("fired", [])
        before = self.state
        _action, outcomes = lookup(before, inp)
        super()._fire(inp, now, **kw)
        assert self.state in set(outcomes.values()), (before, inp, self.state)
        self.fired.append((before, inp, self.state))


def check_output(data: bytes, ctx: Context = EXT) -> list:
    """Every byte out belongs to a whole, decodable BGP message."""
    frames, end = wire.split_messages(data, 0, 65535)
    assert end == len(data), f"{len(data) - end} octets do not form a whole message"
    return [wire.decode_frame(data, s, e, ctx) for s, e in frames]


def notifications(data: bytes, ctx: Context = EXT) -> list:
    return [m for m in check_output(data, ctx) if m.type == "NOTIFICATION"]


# --- driving a session into each state ---------------------------------------------

class Driven:
    def __init__(self, name, state, passive, steps):
        self.name, self.state, self.passive, self.steps = name, state, passive, steps

    def build(self):
        s = WatchedSession(config(passive=self.passive))
        now = 0.0
        for step in self.steps:
            now = step(s, now)
        assert s.state == self.state, (self.name, s.state)
        s.data_to_send()
        s.events()
        s.fired = []
        return s, now


def _start(s, now):
    s.start(now)
    return now


def _connected(s, now):
    s.connection_made(now)
    return now


def _failed(s, now):
    s.connection_failed(now)
    return now


def _receive(data):
    def step(s, now):
        s.receive_data(data, now)
        return now
    return step


def _later(dt):
    return lambda s, now: now + dt


SETUPS = [
    Driven("idle", State.IDLE, False, []),
    Driven("idle-passive", State.IDLE, True, []),
    # back in Idle after a reset, with the idle hold timer armed (AutomaticStart)
    Driven("idle-after-reset", State.IDLE, False,
           [_start, _connected, _receive(NOTIFICATION), _later(1.0)]),
    Driven("connect", State.CONNECT, False, [_start]),
    Driven("active-passive", State.ACTIVE, True, [_start]),
    Driven("active-after-failure", State.ACTIVE, False, [_start, _failed]),
    Driven("opensent", State.OPEN_SENT, False, [_start, _connected, _later(1.0)]),
    Driven("opensent-passive", State.OPEN_SENT, True, [_start, _connected]),
    Driven("openconfirm", State.OPEN_CONFIRM, False,
           [_start, _connected, _later(1.0), _receive(PEER_OPEN)]),
    Driven("established", State.ESTABLISHED, False,
           [_start, _connected, _later(1.0), _receive(PEER_OPEN), _receive(KEEPALIVE),
            _later(1.0)]),
]


def apply(s: Session, inp: Input, now: float, variant: str) -> float:
    """Apply ``inp`` through the public API; returns the time used."""
    if inp == Input.MANUAL_START:
        s.start(now)
    elif inp == Input.MANUAL_STOP:
        s.stop(now)
    elif inp in TIMER_OF:
        name = TIMER_OF[inp]
        if name in s._timers:
            now = s._timers[name]
            s.handle_timer(now)
        else:
            # this state does not arm that timer: the event cannot happen through
            # the public API, so hand it to the FSM directly (it must not break)
            s._fire(inp, now)
    elif inp == Input.TCP_CONNECTED:
        if s.state == State.IDLE:
            # connection_made() in Idle is ManualStart + TcpConnectionConfirmed
            # (tested on its own below); the bare pair goes to the FSM
            s._fire(inp, now)
        else:
            s.connection_made(now)
    elif inp == Input.TCP_FAILS:
        if s.state in (State.CONNECT, State.ACTIVE, State.IDLE):
            s.connection_failed(now)
        else:
            s.connection_lost(now)
    elif inp == Input.OPEN_COLLISION_DUMP:
        s.collision_detected(now)
    else:
        data = MESSAGE_INPUTS[inp]
        if variant == "error":
            data = {Input.BGP_OPEN: PEER_OPEN_WRONG_AS, Input.UPDATE_MSG: UPDATE_RESET}[inp]
        s.receive_data(data, now)
    return now


def expected_outcome(setup: Driven, inp: Input, variant: str) -> str:
    action, _ = lookup(setup.state, inp)
    if action == "start" and setup.passive:
        return "passive"
    if variant == "error":
        return "error"
    return "ok"


def cases():
    out = []
    for setup in SETUPS:
        for inp in Input:
            out.append(pytest.param(setup, inp, "ok", id=f"{setup.name}-{inp.value}"))
            action, outcomes = lookup(setup.state, inp)
            if "error" in outcomes:
                out.append(pytest.param(setup, inp, "error",
                                        id=f"{setup.name}-{inp.value}-error"))
    return out


def test_sweep_covers_every_state_and_every_table_entry():
    states = {s.state for s in SETUPS}
    assert states == set(State)
    # every entry of the table is a (State, Input) pair with known outcomes
    for (state, inp), (action, outcomes) in TRANSITIONS.items():
        assert isinstance(state, State) and isinstance(inp, Input)
        assert hasattr(Session, "_a_" + action), action
        assert "ok" in outcomes and all(isinstance(v, State) for v in outcomes.values())


@pytest.mark.parametrize("setup,inp,variant", cases())
def test_every_state_input_pair(setup, inp, variant):
    s, now = setup.build()
    before = s.state
    action, outcomes = lookup(before, inp)
    now = apply(s, inp, now + 0.5, variant)

    # 1. the state is the table's for the action's outcome
    want = outcomes[expected_outcome(setup, inp, variant)]
    fired = [(a.value, i.value, b.value) for a, i, b in s.fired]
    assert s.state == want, (f"{before.value} + {inp.value} ({action}, {variant}): "
                             f"table says {want.value}, session is in {s.state.value}; "
                             f"inputs fired: {fired}")

    # 2. state changes only through StateChanged events, chained
    events = s.events()
    changes = [e for e in events if isinstance(e, StateChanged)]
    cur = before.value
    for e in changes:
        assert e.old == cur and e.new != e.old
        cur = e.new
    assert cur == s.state.value
    assert len(changes) == sum(1 for a, _, b in s.fired if a != b)

    # 3. what it writes is whole, valid BGP messages; timers are sane
    check_output(s.data_to_send())
    d = s.next_deadline()
    assert d is None or isinstance(d, float)
    # a session that left OpenSent/OpenConfirm/Established for Idle says so
    if s.state == State.IDLE and before in (State.OPEN_SENT, State.OPEN_CONFIRM,
                                            State.ESTABLISHED):
        assert any(isinstance(e, SessionDown) for e in events)


def test_connection_made_in_idle_is_start_then_tcp_confirmed():
    """An accepted connection for a new session: Idle -> (Connect|Active) -> OpenSent."""
    for passive in (False, True):
        s = WatchedSession(config(passive=passive))
        s.connection_made(0.0)
        assert s.state == State.OPEN_SENT
        assert [(a, i) for a, i, _ in s.fired] == [(State.IDLE, Input.MANUAL_START),
                                                   (State.ACTIVE if passive else State.CONNECT,
                                                    Input.TCP_CONNECTED)]
        (op,) = check_output(s.data_to_send())
        assert op.type == "OPEN" and op.asn == LOCAL_AS


# ============================================================== RFC expectations


def _in(state: State, passive: bool = False):
    setup = next(x for x in SETUPS if x.state == state and x.passive == passive
                 and x.name in ("opensent", "openconfirm", "established"))
    return setup.build()


def _single_notification(s, now):
    events = s.events()
    (n,) = notifications(s.data_to_send())
    assert s.state == State.IDLE
    sent = [e for e in events if isinstance(e, NotificationSent)]
    assert [(e.notification.code, e.notification.subcode) for e in sent] == [(n.code, n.subcode)]
    assert any(isinstance(e, SessionDown) for e in events)
    return n


@pytest.mark.parametrize("data,mtype", [(KEEPALIVE, 4), (UPDATE, 2), (ROUTE_REFRESH, 5)],
                         ids=["keepalive", "update", "route-refresh"])
def test_opensent_unexpected_message_is_fsm_error_5_1(data, mtype):
    """RFC 4271 §8.2.2 OpenSent, RFC 6608 §3: subcode 1, data = the message type."""
    s, now = _in(State.OPEN_SENT)
    s.receive_data(data, now + 1)
    n = _single_notification(s, now)
    assert (n.code, n.subcode, n.data) == (5, 1, bytes([mtype]))


def test_opensent_malformed_update_is_still_fsm_error_with_type():
    """RFC 4271 §8.2.2 OpenSent: UpdateMsgErr (event 28) is an FSM error too;
    RFC 6608 §3: its Data is the 1-octet type of the unexpected message (2)."""
    s, now = _in(State.OPEN_SENT)
    s.receive_data(UPDATE_RESET, now + 1)
    n = _single_notification(s, now)
    assert (n.code, n.subcode, n.data) == (5, 1, b"\x02")


@pytest.mark.parametrize("data,mtype", [(PEER_OPEN, 1), (UPDATE, 2), (ROUTE_REFRESH, 5)],
                         ids=["open", "update", "route-refresh"])
def test_openconfirm_unexpected_message_is_fsm_error_5_2(data, mtype):
    """RFC 4271 §8.2.2 OpenConfirm, RFC 6608 §3."""
    s, now = _in(State.OPEN_CONFIRM)
    s.receive_data(data, now + 1)
    n = _single_notification(s, now)
    assert (n.code, n.subcode, n.data) == (5, 2, bytes([mtype]))


def test_established_open_is_fsm_error_5_3():
    """RFC 4271 §8.2.2 Established (event 19), RFC 6608 §3."""
    s, now = _in(State.ESTABLISHED)
    s.receive_data(PEER_OPEN, now + 1)
    n = _single_notification(s, now)
    assert (n.code, n.subcode, n.data) == (5, 3, b"\x01")


@pytest.mark.parametrize("state", [State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED])
def test_hold_timer_expiry_sends_4_0(state):
    """RFC 4271 §6.5 / §8.2.2: HoldTimer_Expires -> NOTIFICATION Hold Timer Expired, Idle."""
    s, now = _in(state)
    s.handle_timer(s._timers["hold"])
    n = _single_notification(s, now)
    assert (n.code, n.subcode) == (4, 0)


def test_opensent_hold_timer_is_the_large_open_hold_time():
    """RFC 4271 §8.2.2: in OpenSent the hold timer is set to a large value (4 minutes)."""
    s = Session(config(open_hold_time=240.0))
    s.start(10.0)
    s.connection_made(10.0)
    assert s._timers["hold"] == 250.0
    s.handle_timer(249.0)
    assert s.state == State.OPEN_SENT
    s.handle_timer(250.0)
    assert s.state == State.IDLE


@pytest.mark.parametrize("message", ["", "maintenance window: back at 03:00 UTC", "ü" * 10])
@pytest.mark.parametrize("state", [State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED])
def test_manual_stop_sends_cease_with_shutdown_communication(state, message):
    """RFC 4271 §8.2.2 ManualStop -> Cease; RFC 4486 subcode 2 (administrative
    shutdown); RFC 9003 §2: length octet + UTF-8 message when one is given."""
    s, now = _in(state)
    s.stop(now + 1, message)
    n = _single_notification(s, now)
    assert (n.code, n.subcode) == (6, 2)
    if message:
        raw = message.encode()
        assert n.data == bytes([len(raw)]) + raw
        assert n.shutdown_message == message
    else:
        assert n.data == b""
    # a manual stop does not come back by itself
    assert "idle_hold" not in s._timers
    assert s.next_deadline() is None


@pytest.mark.parametrize("state", [State.IDLE, State.CONNECT, State.ACTIVE])
def test_manual_stop_without_connection_sends_nothing(state):
    setup = next(x for x in SETUPS if x.state == state)
    s, now = setup.build()
    s.stop(now, "bye")
    assert s.state == State.IDLE
    assert s.data_to_send() == b""
    assert s.next_deadline() is None


@pytest.mark.parametrize("state", [State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED])
def test_unknown_message_type_is_1_3(state):
    """RFC 4271 §6.1: Bad Message Type, data = the type octet."""
    s, now = _in(state)
    s.receive_data(UNKNOWN, now + 1)
    n = _single_notification(s, now)
    assert (n.code, n.subcode, n.data) == (1, 3, bytes([200]))


@pytest.mark.parametrize("state", [State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED])
def test_bad_marker_is_1_1(state):
    s, now = _in(state)
    s.receive_data(BAD_MARKER, now + 1)
    n = _single_notification(s, now)
    assert (n.code, n.subcode) == (1, 1)


@pytest.mark.parametrize("state", [State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED])
def test_received_notification_goes_idle_without_answer(state):
    """RFC 4271 §6: no NOTIFICATION in answer to a NOTIFICATION."""
    s, now = _in(state)
    s.receive_data(Notification(6, 4).encode(), now + 1)
    assert s.state == State.IDLE
    assert s.data_to_send() == b""
    events = s.events()
    assert [type(e).__name__ for e in events if not isinstance(e, StateChanged)] == [
        "NotificationReceived", "SessionDown"]
    assert events[-1].notification.subcode == 4
    assert events[-1].was_established == (state == State.ESTABLISHED)


def test_collision_dump_drops_unsent_keepalive_and_sends_cease_7():
    """RFC 4271 §6.8: the connection that loses gets Cease / Connection
    Collision Resolution (RFC 4486 subcode 7), and nothing queued before it."""
    s, now = _in(State.OPEN_SENT)
    s.receive_data(PEER_OPEN, now)          # queues a KEEPALIVE
    assert s.bytes_pending() == 19
    s.collision_detected(now)
    (n,) = check_output(s.data_to_send())
    assert (n.type, n.code, n.subcode) == ("NOTIFICATION", 6, 7)
    assert s.state == State.IDLE


def test_send_calls_before_established_raise_session_error():
    s, now = _in(State.OPEN_CONFIRM)
    for call in (lambda: s.send_routes([route()], ATTRS, "192.0.2.1", now),
                 lambda: s.send_withdraw([route()], now),
                 lambda: s.send_update(wire.decode_message(UPDATE, EXT), now),
                 lambda: s.send_raw(UPDATE, now),
                 lambda: s.send_end_of_rib(now),
                 lambda: s.send_route_refresh(25, 70, now),
                 lambda: s.begin_refresh_response(25, 70, now),
                 lambda: s.end_refresh_response(25, 70, now)):
        with pytest.raises(SessionError):
            call()
    assert s.state == State.OPEN_CONFIRM


def test_messages_split_across_reads_are_reassembled():
    s = Session(config())
    s.start(0.0)
    s.connection_made(0.0)
    data = PEER_OPEN + KEEPALIVE + UPDATE
    for i in range(len(data)):
        s.receive_data(data[i:i + 1], 1.0)
    assert s.state == State.ESTABLISHED
    ups = [e for e in s.events() if isinstance(e, ev.UpdateReceived)]
    assert len(ups) == 1 and [bytes(r) for r in ups[0].announced] == [bytes(route(1)),
                                                                       bytes(route(2))]


# ============================================================== Hypothesis state machine

_ROUTES = [route(i) for i in range(8)]
_GOOD_MESSAGES = [PEER_OPEN, PEER_OPEN_WRONG_AS, KEEPALIVE, NOTIFICATION, UPDATE, UPDATE_RESET,
                  ROUTE_REFRESH, UNKNOWN, BAD_MARKER, OPEN_MALFORMED,
                  wire.end_of_rib(25, 70), RouteRefresh(25, 70, 1).encode(),
                  Open.build(PEER_AS, 0, PEER_ID, peer_config().capabilities()).encode(EXT),
                  Open.build(PEER_AS, 3, PEER_ID, [Capability.multiprotocol(1, 1)]).encode(EXT)]

_chunks = st.one_of(
    st.sampled_from(_GOOD_MESSAGES),
    st.binary(max_size=64),
    # a valid header followed by random body bytes
    st.tuples(st.integers(1, 6), st.binary(max_size=40)).map(lambda t: header(t[0], t[1])),
    # a good message cut at a random point, or two glued together
    st.tuples(st.sampled_from(_GOOD_MESSAGES), st.integers(0, 80)).map(lambda t: t[0][:t[1]]),
    st.tuples(st.sampled_from(_GOOD_MESSAGES), st.sampled_from(_GOOD_MESSAGES)).map(
        lambda t: t[0] + t[1]),
)


class SessionMachine(RuleBasedStateMachine):
    """Random inputs, random bytes, a fake clock; invariants after each step."""

    def __init__(self):
        super().__init__()
        self.now = 1000.0
        self.s = WatchedSession(config(hold_time=9, connect_retry_time=5.0,
                                       graceful_restart=None))
        self.last_state = self.s.state

    def _step(self, fn, sending: bool = False):
        """Run one input; only the send calls may raise, and only SessionError,
        and only when the session is not Established."""
        was = self.s.state
        if sending:
            try:
                fn()
            except SessionError:
                assert was != State.ESTABLISHED, "SessionError from an Established session"
        else:
            fn()
        self._collect()

    def _collect(self):
        data = self.s.data_to_send()
        ctx = Context(self.s.tx_context.four_octet_as, self.s.tx_context.add_path, True)
        check_output(data, ctx)
        for e in self.s.events():
            assert isinstance(e, ev.Event)
            if isinstance(e, StateChanged):
                assert e.old == self.last_state.value
                self.last_state = State(e.new)
        assert self.last_state == self.s.state

    @rule()
    def start(self):
        self._step(lambda: self.s.start(self.now))

    @rule(message=st.sampled_from(["", "bye", "x" * 255]), subcode=st.sampled_from([2, 4]))
    def stop(self, message, subcode):
        self._step(lambda: self.s.stop(self.now, message, subcode))

    @rule()
    def connection_made(self):
        self._step(lambda: self.s.connection_made(self.now))

    @rule()
    def connection_lost(self):
        self._step(lambda: self.s.connection_lost(self.now))

    @rule()
    def connection_failed(self):
        self._step(lambda: self.s.connection_failed(self.now))

    @rule()
    def collision(self):
        self._step(lambda: self.s.collision_detected(self.now))

    @rule(data=_chunks)
    def receive(self, data):
        self._step(lambda: self.s.receive_data(data, self.now))

    # the peer's side of a normal session, so that OpenConfirm and
    # Established are visited often
    @rule()
    def peer_open(self):
        self._step(lambda: self.s.receive_data(PEER_OPEN, self.now))

    @rule()
    def peer_keepalive(self):
        self._step(lambda: self.s.receive_data(KEEPALIVE, self.now))

    @rule()
    def peer_connects_and_handshakes(self):
        def go():
            self.s.connection_made(self.now)
            self.s.receive_data(PEER_OPEN + KEEPALIVE, self.now)
        self._step(go)

    @rule()
    def peer_update(self):
        self._step(lambda: self.s.receive_data(UPDATE, self.now))

    @rule(dt=st.floats(0, 400, allow_nan=False))
    def advance(self, dt):
        self.now += dt
        self._step(lambda: self.s.handle_timer(self.now))

    @precondition(lambda self: self.s.next_deadline() is not None)
    @rule()
    def run_next_timer(self):
        self.now = max(self.now, self.s.next_deadline())
        self._step(lambda: self.s.handle_timer(self.now))

    @rule(n=st.integers(1, 8))
    def send_routes(self, n):
        self._step(lambda: self.s.send_routes(_ROUTES[:n], ATTRS, "192.0.2.1", self.now),
                   sending=True)

    @rule(n=st.integers(1, 8))
    def send_withdraw(self, n):
        self._step(lambda: self.s.send_withdraw(_ROUTES[:n], self.now), sending=True)

    @rule()
    def send_end_of_rib(self):
        self._step(lambda: self.s.send_end_of_rib(self.now), sending=True)

    @rule(subtype=st.sampled_from([0, 1, 2]))
    def route_refresh(self, subtype):
        if subtype == 0:
            self._step(lambda: self.s.send_route_refresh(25, 70, self.now), sending=True)
        elif subtype == 1:
            self._step(lambda: self.s.begin_refresh_response(25, 70, self.now), sending=True)
        else:
            self._step(lambda: self.s.end_refresh_response(25, 70, self.now), sending=True)

    @invariant()
    def state_is_a_state(self):
        assert isinstance(self.s.state, State)
        hypothesis_event(f"reached {self.s.state.value}")

    @invariant()
    def deadline_is_none_or_float(self):
        d = self.s.next_deadline()
        assert d is None or isinstance(d, float), repr(d)

    @invariant()
    def no_reader_without_connection(self):
        if self.s.state in (State.IDLE, State.CONNECT, State.ACTIVE):
            assert self.s._reader is None


SessionMachine.TestCase.settings = settings(stateful_step_count=40,
                                            deadline=None)
test_session_state_machine = SessionMachine.TestCase


def test_decode_errors_never_escape_receive_data():
    """A BGPError from the codec is always turned into a NOTIFICATION."""
    for data in _GOOD_MESSAGES:
        s, now = _in(State.ESTABLISHED)
        try:
            s.receive_data(data + data, now)
        except BGPError as exc:  # pragma: no cover - the assertion below explains
            pytest.fail(f"{exc!r} escaped receive_data")
        check_output(s.data_to_send())
