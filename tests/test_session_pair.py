"""Two sans-IO Sessions talking to each other in memory, on a fake clock.

``Pair`` pumps ``data_to_send()`` of each session into ``receive_data()`` of
the other until both are quiet, and runs timers in deadline order; nothing
here touches a socket or the real clock.  Covered: the OPEN exchange and
negotiation (RFC 4271 §4.2, RFC 5492, RFC 6793, RFC 8654, RFC 7911), timers
(RFC 4271 §4.4/§6.5/§10), the OPEN checks of RFC 4271 §6.2 and RFC 5492 §5,
routes, withdrawals, End-of-RIB (RFC 4724 §2), route refresh (RFC 2918,
RFC 7313), RFC 7606 error handling, graceful restart as the receiving
speaker (RFC 4724 §4.2) and misbehaving peers (RFC 4271 §6.1, §8.2.2).
"""
from __future__ import annotations

import struct

import socket

import pytest

from bgpevpn import (Aggregator, AsPath, Context, ExtCommunities, ExtCommunity, Ipv4Prefix,
                     Keepalive, LocalPref, MacIpRoute, Notification, Open, Origin, RawEvpnRoute,
                     RouteRefresh, Update, wire)
from bgpevpn.routes import AddPathEvpnRoute
from bgpevpn.session import (EndOfRibReceived, FamilyDisabled, GracefulRestartConfig,
                             NotificationReceived, NotificationSent, PeerRestarting,
                             RouteRefreshReceived, Session, SessionConfig, SessionDown,
                             SessionError, SessionEstablished, StaleRoutesFlushed, State,
                             StateChanged, UpdateReceived, collision_keeps_existing)

EVPN, V4, V6 = (25, 70), (1, 1), (2, 1)
EXT = Context(extended_message=True)
MARKER = b"\xff" * 16
NH_A = "192.0.2.1"


def cfg(local_as=65001, router_id="192.0.2.1", peer_as=65002, **kw) -> SessionConfig:
    kw.setdefault("connect_retry_time", 30.0)
    return SessionConfig(local_as, router_id, peer_as=peer_as, **kw)


def cfg_b(local_as=65002, router_id="192.0.2.2", peer_as=65001, **kw) -> SessionConfig:
    return cfg(local_as, router_id, peer_as, **kw)


def mac_route(i: int, rd: str = "192.0.2.1:100") -> MacIpRoute:
    return MacIpRoute.build(rd, f"02:{i >> 24 & 0xff:02x}:{i >> 16 & 0xff:02x}:"
                                f"{i >> 8 & 0xff:02x}:{i & 0xff:02x}:01",
                            f"10.{i >> 16 & 0xff}.{i >> 8 & 0xff}.{i & 0xff}", labels=(10100,))


ATTRS = [Origin(0), AsPath([(2, (65001,))]), LocalPref(100),
         ExtCommunities([ExtCommunity("target:65001:100"), ExtCommunity.encapsulation(8)])]


def header(mtype: int, body: bytes = b"", length: int | None = None,
           marker: bytes = MARKER) -> bytes:
    return marker + struct.pack("!HB", 19 + len(body) if length is None else length, mtype) + body


class Pair:
    """An in-memory connection between two sessions with a fake clock."""

    def __init__(self, a_cfg: SessionConfig, b_cfg: SessionConfig, now: float = 1000.0):
        self.a, self.b = Session(a_cfg), Session(b_cfg)
        self.now = now
        self.ev = {}
        self.sent = {}
        self.linked = False
        self.mute = set()     # sessions whose bytes are lost (a peer that stopped talking)
        for s in (self.a, self.b):
            self._track(s)

    def _track(self, s):
        self.ev.setdefault(id(s), [])
        self.sent.setdefault(id(s), [])

    def replace_b(self, b_cfg: SessionConfig) -> Session:
        """The peer restarted: a brand new Session on its side."""
        self.b = Session(b_cfg)
        self._track(self.b)
        return self.b

    def events(self, s, kind=None, clear=False) -> list:
        out = [e for e in self.ev[id(s)] if kind is None or isinstance(e, kind)]
        if clear:
            self.ev[id(s)].clear()
        return out

    def start(self):
        self.a.start(self.now)
        self.b.start(self.now)
        self.connect()

    def connect(self):
        self.linked = True
        self.a.connection_made(self.now)
        self.b.connection_made(self.now)
        self.pump()

    def drop(self):
        """The TCP connection goes away without a NOTIFICATION."""
        self.pump()
        self.linked = False
        self.a.connection_lost(self.now)
        self.b.connection_lost(self.now)
        self.pump()

    def pump(self, limit: int = 100000):
        for _ in range(limit):
            moved = False
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                data = src.data_to_send()
                self.ev[id(src)].extend(src.events())
                if data:
                    self.sent[id(src)].append((self.now, data, src.tx_context))
                    if self.linked and src not in self.mute:
                        dst.receive_data(data, self.now)
                        moved = True
                self.ev[id(dst)].extend(dst.events())
            if not moved:
                return
        raise AssertionError("the sessions never went quiet")

    def run_until(self, t: float):
        while True:
            due = [d for d in (self.a.next_deadline(), self.b.next_deadline()) if d is not None]
            if not due or min(due) > t:
                break
            self.now = max(self.now, min(due))
            for s in (self.a, self.b):
                d = s.next_deadline()
                if d is not None and d <= self.now:
                    s.handle_timer(self.now)
            self.pump()
        self.now = t
        self.pump()

    def messages_sent(self, s) -> list:
        """(time, message) for every message ``s`` wrote."""
        out = []
        for t, data, ctx in self.sent[id(s)]:
            ctx = Context(ctx.four_octet_as, ctx.add_path, True)
            out += [(t, m) for m in wire.decode_messages(data, ctx)]
        return out

    def established(self) -> bool:
        return self.a.state == self.b.state == State.ESTABLISHED


def established_pair(a_cfg=None, b_cfg=None) -> Pair:
    p = Pair(a_cfg or cfg(), b_cfg or cfg_b())
    p.start()
    assert p.established(), (p.a.state, p.b.state, p.ev)
    return p


def announced(p: Pair, s) -> list:
    return [r for e in p.events(s, UpdateReceived) for r in e.announced]


def withdrawn(p: Pair, s) -> list:
    return [r for e in p.events(s, UpdateReceived) for r in e.withdrawn]


# ============================================================== open and negotiation


def test_open_exchange_reaches_established_on_both_sides():
    p = established_pair()
    for s, peer_as, peer_id in ((p.a, 65002, "192.0.2.2"), (p.b, 65001, "192.0.2.1")):
        (est,) = p.events(s, SessionEstablished)
        assert est.negotiated is s.negotiated
        assert (est.negotiated.peer_as, est.negotiated.peer_id) == (peer_as, peer_id)
        states = [(e.old, e.new) for e in p.events(s, StateChanged)]
        assert states == [("Idle", "Connect"), ("Connect", "OpenSent"),
                          ("OpenSent", "OpenConfirm"), ("OpenConfirm", "Established")]
        assert p.events(s, SessionDown) == []


def test_negotiated_values():
    """hold = min (RFC 4271 §4.2), keepalive = hold/3 (§10), families = the
    intersection (RFC 4760 §8), 4-octet AS both ways (RFC 6793 §4.1), extended
    message (RFC 8654 §3), ADD-PATH per direction (RFC 7911 §4)."""
    a_cfg = cfg(4200000001, peer_as=4200000002, hold_time=90, families=(EVPN, V4),
                add_path=((25, 70, 2), (1, 1, 3)))
    b_cfg = cfg_b(4200000002, peer_as=4200000001, hold_time=30, families=(V6, EVPN, V4),
                  add_path=((25, 70, 1), (1, 1, 1)))
    p = established_pair(a_cfg, b_cfg)
    na, nb = p.a.negotiated, p.b.negotiated
    for n in (na, nb):
        assert n.hold_time == 30
        assert n.keepalive_time == 10.0
        assert n.families == frozenset({EVPN, V4})
        assert n.four_octet_as is True
        assert n.extended_message is True
    assert (na.peer_as, nb.peer_as) == (4200000002, 4200000001)
    # both OPENs carried AS_TRANS in the 2-octet field (RFC 6793 §4.1)
    assert p.a.peer_open.my_as == p.b.peer_open.my_as == 23456
    # a sends path ids for both families, b receives them; nothing the other way
    assert na.add_path_send == frozenset({EVPN, V4}) and na.add_path_receive == frozenset()
    assert nb.add_path_receive == frozenset({EVPN, V4}) and nb.add_path_send == frozenset()
    assert p.a.tx_context.add_path == p.b.rx_context.add_path == frozenset({EVPN, V4})
    assert p.b.tx_context.add_path == p.a.rx_context.add_path == frozenset()


def test_add_path_routes_decode_with_their_path_ids_and_plain_the_other_way():
    a_cfg = cfg(families=(EVPN, V4), add_path=((25, 70, 2), (1, 1, 2)))
    b_cfg = cfg_b(families=(EVPN, V4), add_path=((25, 70, 1), (1, 1, 1)))
    p = established_pair(a_cfg, b_cfg)
    evpn = [AddPathEvpnRoute(pid, mac_route(i)) for i in range(20) for pid in (1, 2)]
    v4 = [Ipv4Prefix.build(f"198.51.100.{i * 4}/30", path_id=pid)
          for i in range(10) for pid in (7, 8)]
    p.a.send_routes(evpn, ATTRS, NH_A, p.now)
    p.a.send_routes(v4, ATTRS, NH_A, p.now)
    p.pump()
    got = announced(p, p.b)
    assert [bytes(r) for r in got] == [bytes(r) for r in evpn + v4]
    assert [r.path_id for r in got] == [r.path_id for r in evpn + v4]
    assert [bytes(r.route) for r in got[:len(evpn)]] == [bytes(r.route) for r in evpn]
    assert [r.prefix for r in got[len(evpn):]] == [r.prefix for r in v4]
    # b -> a carries no path ids
    plain = [mac_route(i, "192.0.2.2:100") for i in range(5)]
    p.b.send_routes(plain, ATTRS, "192.0.2.2", p.now)
    p.pump()
    back = announced(p, p.a)
    assert [bytes(r) for r in back] == [bytes(r) for r in plain]
    assert all(type(r) is MacIpRoute for r in back)


def test_add_path_needs_send_on_one_side_and_receive_on_the_other():
    # both only receive: nobody sends path ids
    p = established_pair(cfg(add_path=((25, 70, 1),)), cfg_b(add_path=((25, 70, 1),)))
    for s in (p.a, p.b):
        assert s.negotiated.add_path_send == s.negotiated.add_path_receive == frozenset()
    # both: both directions
    p = established_pair(cfg(add_path=((25, 70, 3),)), cfg_b(add_path=((25, 70, 3),)))
    for s in (p.a, p.b):
        assert s.negotiated.add_path_send == s.negotiated.add_path_receive == frozenset({EVPN})


def test_extended_message_needs_both_sides():
    p = established_pair(cfg(), cfg_b(extended_message=False))
    assert p.a.negotiated.extended_message is p.b.negotiated.extended_message is False
    assert p.a.tx_context.max_message_length == 4096
    routes = [mac_route(i) for i in range(500)]
    n = p.a.send_routes(routes, ATTRS, NH_A, p.now)
    assert n > 1
    for _, m in p.messages_sent(p.a):
        assert m.length <= 4096
    p.pump()
    assert [bytes(r) for r in announced(p, p.b)] == [bytes(r) for r in routes]


def test_two_octet_as_session():
    """Neither side offers capability 65: AS numbers in AS_PATH are 2 octets."""
    p = established_pair(cfg(four_octet_as=False), cfg_b(four_octet_as=False))
    assert p.a.negotiated.four_octet_as is p.b.negotiated.four_octet_as is False
    p.a.send_routes([mac_route(1)], [Origin(0), AsPath([(2, (65001, 65010))])], NH_A, p.now)
    p.pump()
    (e,) = p.events(p.b, UpdateReceived)
    assert e.attributes.as_path[0].asns == (65001, 65010)


def test_four_octet_as_path_survives_the_trip():
    p = established_pair(cfg(4200000001, peer_as=4200000002),
                         cfg_b(4200000002, peer_as=4200000001))
    p.a.send_routes([mac_route(1)], [Origin(0), AsPath([(2, (4200000001, 65010))])], NH_A,
                    p.now)
    p.pump()
    (e,) = p.events(p.b, UpdateReceived)
    assert e.attributes.as_path[0].asns == (4200000001, 65010)


# ============================================================== timers


def keepalive_times(p: Pair, s) -> list:
    return [t for t, m in p.messages_sent(s) if m.type == "KEEPALIVE"]


@pytest.mark.parametrize("hold", [90, 9, 3])
def test_keepalives_every_third_of_hold_keep_the_session_up_for_an_hour(hold):
    p = established_pair(cfg(hold_time=hold), cfg_b(hold_time=hold))
    t0 = p.now
    p.run_until(t0 + 3600)
    assert p.established()
    for s in (p.a, p.b):
        assert p.events(s, SessionDown) == []
        times = [t for t in keepalive_times(p, s) if t > t0]
        gaps = {round(b - a, 6) for a, b in zip(times, times[1:])}
        assert gaps == {hold / 3}, gaps
        assert len(times) == int(3600 // (hold / 3))


def test_updates_sent_restart_the_keepalive_timer():
    """RFC 4271 §8.2.2 Established: sending an UPDATE restarts the KeepaliveTimer."""
    p = established_pair()
    t0 = p.now
    p.run_until(t0 + 20)
    p.a.send_routes([mac_route(1)], ATTRS, NH_A, p.now)
    p.pump()
    p.run_until(t0 + 45)
    assert [t for t in keepalive_times(p, p.a) if t > t0] == []   # next one due at 50
    p.run_until(t0 + 50)
    assert [t for t in keepalive_times(p, p.a) if t > t0] == [t0 + 50]


def test_hold_timer_expires_when_the_peer_stops_talking():
    p = established_pair(cfg(hold_time=90), cfg_b(hold_time=90))
    t0 = p.now
    p.run_until(t0 + 100)      # a few keepalives each way
    last_heard = max(keepalive_times(p, p.b))
    p.mute.add(p.b)            # b's bytes no longer arrive at a
    p.run_until(last_heard + 89.5)
    assert p.a.state == State.ESTABLISHED
    p.run_until(last_heard + 90.5)
    assert p.a.state == State.IDLE
    (sent,) = p.events(p.a, NotificationSent)
    assert (sent.notification.code, sent.notification.subcode) == (4, 0)
    (down,) = p.events(p.a, SessionDown)
    assert down.was_established and down.notification.code == 4
    # the other side sees the NOTIFICATION 4/0
    (rcvd,) = p.events(p.b, NotificationReceived)
    assert (rcvd.notification.code, rcvd.notification.subcode) == (4, 0)
    assert p.b.state == State.IDLE
    assert p.events(p.b, SessionDown)[0].was_established


@pytest.mark.parametrize("a_hold,b_hold", [(0, 0), (0, 90), (90, 0)])
def test_hold_time_zero_disables_hold_and_keepalive_timers(a_hold, b_hold):
    """RFC 4271 §4.2/§4.4: a negotiated hold time of 0 means no KEEPALIVEs
    and no hold timer."""
    p = established_pair(cfg(hold_time=a_hold), cfg_b(hold_time=b_hold))
    for s in (p.a, p.b):
        assert s.negotiated.hold_time == 0 and s.negotiated.keepalive_time == 0
        assert s.next_deadline() is None
    t0 = p.now
    p.run_until(t0 + 3600)
    assert p.established()
    for s in (p.a, p.b):
        assert [t for t in keepalive_times(p, s) if t > t0] == []
    # routes still flow, and do not arm a keepalive timer
    p.a.send_routes([mac_route(1)], ATTRS, NH_A, p.now)
    p.pump()
    assert p.a.next_deadline() is None and len(announced(p, p.b)) == 1


# ============================================================== OPEN checks (RFC 4271 §6.2)

CAPS = cfg_b().capabilities()


def _open(my_as=65002, hold=90, bgp_id="192.0.2.2", caps=CAPS, version=4):
    return Open(my_as, hold, bgp_id, caps, version=version)


OPEN_CASES = [
    # (id, a config, b config, b's OPEN or None, subcode, data or None)
    ("wrong-peer-as", cfg(), cfg_b(65099), None, 2, (65099).to_bytes(2, "big")),
    ("as-trans-without-capability-65", cfg(peer_as=None),
     cfg_b(23456, four_octet_as=False), None, 2, (23456).to_bytes(2, "big")),
    ("hold-time-1", cfg(), cfg_b(), _open(hold=1), 6, None),
    ("hold-time-2", cfg(), cfg_b(), _open(hold=2), 6, None),
    ("bgp-id-zero", cfg(), cfg_b(), _open(bgp_id="0.0.0.0"), 3, None),
    ("ibgp-same-bgp-id", cfg(peer_as=65001), cfg_b(65001, "192.0.2.1"), None, 3, None),
    ("missing-required-capability", cfg(required_capabilities=(64,)), cfg_b(), None, 7,
     None),
    ("version-3", cfg(), cfg_b(), _open(version=3), 1, b"\x00\x04"),
    # RFC 4271 §6.2: an optional parameter that is not recognized -> 2/4
    ("unsupported-optional-parameter", cfg(), cfg_b(),
     Open(65002, 90, "192.0.2.2", CAPS, parameters=[(2, bytes([c.code, len(c.data)]) + c.data)
                                                    for c in CAPS] + [(7, b"\x01\x02")]),
     4, None),
    ("version-5", cfg(), cfg_b(), _open(version=5), 1, b"\x00\x04"),
]


@pytest.mark.parametrize("a_cfg,b_cfg,b_open,subcode,data",
                         [c[1:] for c in OPEN_CASES], ids=[c[0] for c in OPEN_CASES])
def test_open_checks(a_cfg, b_cfg, b_open, subcode, data):
    p = Pair(a_cfg, b_cfg)
    if b_open is not None:
        p.b.local_open = b_open
    p.start()
    assert p.a.state == State.IDLE and p.b.state == State.IDLE
    sent_by_a = [m for _, m in p.messages_sent(p.a)]
    assert [m.type for m in sent_by_a] == ["OPEN", "NOTIFICATION"]
    n = sent_by_a[-1]
    assert (n.code, n.subcode) == (2, subcode)
    if data is not None:
        assert n.data == data
    (down,) = p.events(p.a, SessionDown)
    assert (down.notification.code, down.notification.subcode, down.notification.data) == (
        n.code, n.subcode, n.data)
    assert not down.was_established
    assert p.events(p.a, SessionEstablished) == []
    if not p.events(p.b, NotificationSent):
        # b accepted a's OPEN, so it is still listening when a's NOTIFICATION comes
        (rcvd,) = p.events(p.b, NotificationReceived)
        assert (rcvd.notification.code, rcvd.notification.subcode) == (2, subcode)


def test_missing_required_capability_data_lists_it():
    """RFC 5492 §5: the Data field of 2/7 lists the missing capabilities."""
    p = Pair(cfg(required_capabilities=(64, 71)), cfg_b())
    p.start()
    n = [m for _, m in p.messages_sent(p.a)][-1]
    assert (n.code, n.subcode) == (2, 7)
    assert n.data == b"\x40\x00\x47\x00"


def test_hold_time_3_is_accepted():
    p = Pair(cfg(), cfg_b())
    p.b.local_open = _open(hold=3)
    p.start()
    assert p.a.state == State.ESTABLISHED and p.a.negotiated.hold_time == 3
    assert p.a.negotiated.keepalive_time == 1.0


def test_peer_as_none_accepts_any_as():
    p = established_pair(cfg(peer_as=None), cfg_b(64999))
    assert p.a.negotiated.peer_as == 64999


def test_collision_rule_keeps_the_connection_of_the_higher_bgp_identifier():
    """RFC 4271 §6.8: keep the connection initiated by the higher BGP Identifier
    (compared as 4-octet unsigned integers)."""
    assert collision_keeps_existing("192.0.2.2", "192.0.2.1", existing_is_outbound=True)
    assert not collision_keeps_existing("192.0.2.2", "192.0.2.1", existing_is_outbound=False)
    assert collision_keeps_existing("192.0.2.1", "192.0.2.2", existing_is_outbound=False)
    assert not collision_keeps_existing("192.0.2.1", "192.0.2.2", existing_is_outbound=True)
    # numeric, not textual: 10.0.0.9 < 10.0.0.10
    assert collision_keeps_existing("10.0.0.10", "10.0.0.9", existing_is_outbound=True)


# ============================================================== routes


def test_routes_arrive_exactly():
    p = established_pair(cfg(families=(EVPN, V4)), cfg_b(families=(EVPN, V4)))
    routes = [mac_route(i) for i in range(3000)]
    n = p.a.send_routes(routes, ATTRS, NH_A, p.now)
    p.pump()
    ups = p.events(p.b, UpdateReceived)
    assert len(ups) == n > 1
    got = [r for e in ups for r in e.announced]
    assert [bytes(r) for r in got] == [bytes(r) for r in routes]
    for e in ups:
        assert e.error is None and e.discarded == () and e.withdrawn == []
        assert e.attributes.route_targets == (ExtCommunity("target:65001:100"),)
        assert e.attributes.local_pref == 100
        assert e.next_hop == bytes([192, 0, 2, 1])
    # IPv4 unicast goes in the classic fields with a NEXT_HOP attribute
    v4 = [Ipv4Prefix.build(f"198.51.{i}.0/24") for i in range(200)]
    p.a.send_routes(v4, ATTRS, NH_A, p.now)
    p.pump()
    ups = p.events(p.b, UpdateReceived)[n:]
    assert [r.prefix for e in ups for r in e.announced] == [r.prefix for r in v4]
    # UpdateReceived.next_hop is the wire form for both kinds of next hop
    assert all(e.next_hop == socket.inet_aton(NH_A) for e in ups)


def test_withdrawals_arrive_exactly():
    p = established_pair(cfg(families=(EVPN, V4)), cfg_b(families=(EVPN, V4)))
    routes = [mac_route(i) for i in range(1000)]
    v4 = [Ipv4Prefix.build(f"198.51.{i}.0/24") for i in range(100)]
    p.a.send_routes(routes, ATTRS, NH_A, p.now)
    p.a.send_routes(v4, ATTRS, NH_A, p.now)
    p.pump()
    p.events(p.b, clear=True)
    p.a.send_withdraw(routes[::3], p.now)
    p.a.send_withdraw(v4[::2], p.now)
    p.pump()
    assert announced(p, p.b) == []
    assert [bytes(r) for r in withdrawn(p, p.b)] == [bytes(r) for r in routes[::3] + v4[::2]]


def test_end_of_rib_per_family():
    p = established_pair(cfg(families=(EVPN, V4, V6)), cfg_b(families=(EVPN, V4, V6)))
    p.a.send_end_of_rib(p.now)
    p.pump()
    assert [e.family for e in p.events(p.b, EndOfRibReceived)] == [V4, V6, EVPN]
    assert p.events(p.b, UpdateReceived) == []
    p.a.send_end_of_rib(p.now, [EVPN])
    p.pump()
    assert [e.family for e in p.events(p.b, EndOfRibReceived)][-1] == EVPN


# ============================================================== route refresh


def test_route_refresh_request_and_enhanced_route_refresh_markers():
    p = established_pair()
    assert p.a.negotiated.enhanced_route_refresh and p.b.negotiated.enhanced_route_refresh
    p.a.send_route_refresh(25, 70, p.now)
    p.pump()
    assert p.events(p.b, RouteRefreshReceived) == [RouteRefreshReceived(EVPN, 0)]
    routes = [mac_route(i, "192.0.2.2:100") for i in range(10)]
    p.b.begin_refresh_response(25, 70, p.now)
    p.b.send_routes(routes, ATTRS, "192.0.2.2", p.now)
    p.b.end_refresh_response(25, 70, p.now)
    p.pump()
    seq = [e for e in p.ev[id(p.a)] if isinstance(e, (RouteRefreshReceived, UpdateReceived))]
    assert seq[0] == RouteRefreshReceived(EVPN, 1)
    assert seq[-1] == RouteRefreshReceived(EVPN, 2)
    assert [bytes(r) for e in seq[1:-1] for r in e.announced] == [bytes(r) for r in routes]
    assert p.established()


def test_no_borr_eorr_without_enhanced_route_refresh():
    p = established_pair(cfg(), cfg_b(enhanced_route_refresh=False))
    assert not p.a.negotiated.enhanced_route_refresh
    assert not p.b.negotiated.enhanced_route_refresh
    p.a.send_route_refresh(25, 70, p.now)
    p.pump()
    assert p.events(p.b, RouteRefreshReceived) == [RouteRefreshReceived(EVPN, 0)]
    p.b.begin_refresh_response(25, 70, p.now)
    p.b.end_refresh_response(25, 70, p.now)
    assert p.b.data_to_send() == b""


def test_route_refresh_for_a_family_not_negotiated_is_ignored():
    """RFC 2918 §4: a ROUTE-REFRESH for an <AFI, SAFI> not advertised at
    session establishment is ignored."""
    p = established_pair()
    p.a.send_raw(RouteRefresh(2, 1).encode(), p.now)
    p.pump()
    assert p.events(p.b, RouteRefreshReceived) == []
    assert p.established()


def test_route_refresh_with_an_unknown_subtype_is_ignored():
    """RFC 7313 §5: a Message Subtype other than 0, 1 or 2 is ignored."""
    p = established_pair()
    p.a.send_raw(RouteRefresh(25, 70, 3).encode(), p.now)
    p.pump()
    assert p.events(p.b, RouteRefreshReceived) == []
    assert p.established()


def test_borr_of_the_wrong_length_is_7_1():
    """RFC 7313 §5: BoRR/EoRR whose body is not 4 octets -> ROUTE-REFRESH
    Message Error / Invalid Message Length."""
    p = established_pair()
    p.a.send_raw(header(5, b"\x00\x19\x01\x46\x00"), p.now)
    p.pump()
    (sent,) = p.events(p.b, NotificationSent)
    assert (sent.notification.code, sent.notification.subcode) == (7, 1)
    assert p.b.state == State.IDLE


def test_route_refresh_needs_the_peers_capability():
    p = established_pair(cfg(), cfg_b(route_refresh=False, enhanced_route_refresh=False))
    assert not p.a.negotiated.route_refresh
    with pytest.raises(SessionError):
        p.a.send_route_refresh(25, 70, p.now)
    assert p.established()


# ============================================================== RFC 7606


def _update_bytes(p: Pair, routes, attrs) -> bytes:
    return b"".join(wire.pack_updates(routes, attrs, NH_A, p.a.tx_context))


def test_malformed_origin_is_treat_as_withdraw():
    """RFC 7606 §7.1: a malformed ORIGIN -> treat-as-withdraw."""
    p = established_pair()
    routes = [mac_route(i) for i in range(5)]
    p.a.send_raw(_update_bytes(p, routes, [Origin(5), AsPath([])]), p.now)
    p.pump()
    (e,) = p.events(p.b, UpdateReceived)
    assert e.announced == []
    assert [bytes(r) for r in e.withdrawn] == [bytes(r) for r in routes]
    assert (e.error.code, e.error.subcode) == (3, 6)
    assert p.established()
    assert p.events(p.b, NotificationSent) == []


def test_aggregator_of_bad_length_is_discarded():
    """RFC 7606 §7.7: AGGREGATOR of the wrong length -> attribute discard."""
    p = established_pair()
    routes = [mac_route(i) for i in range(5)]
    bad = Aggregator((65001, "192.0.2.1"), raw=b"\x00\x00\xfd\xe9\xc0")   # 5 octets
    p.a.send_raw(_update_bytes(p, routes, [Origin(0), AsPath([]), bad]), p.now)
    p.pump()
    (e,) = p.events(p.b, UpdateReceived)
    assert e.discarded == (7,)
    assert [bytes(r) for r in e.announced] == [bytes(r) for r in routes]
    assert e.withdrawn == []
    assert 7 not in e.attributes
    assert p.established()


def test_malformed_evpn_nlri_disables_the_family():
    """RFC 7606 §5.3/§7.11: an MP_REACH_NLRI whose NLRI cannot be parsed ->
    AFI/SAFI disable for (25, 70); later UPDATEs of the family are ignored,
    other families keep working."""
    p = established_pair(cfg(families=(EVPN, V4)), cfg_b(families=(EVPN, V4)))
    good = mac_route(1)
    bad = bytearray(bytes(good))
    bad[24] = 32                                   # MAC length 32 bits: not 48
    bad_route = bytes.__new__(RawEvpnRoute, bytes(bad))
    p.a.send_raw(_update_bytes(p, [bad_route], ATTRS), p.now)
    p.pump()
    (fd,) = p.events(p.b, FamilyDisabled)
    assert fd.family == EVPN
    assert p.events(p.b, UpdateReceived) == []
    assert p.established()
    # later EVPN UPDATEs (and EVPN End-of-RIB) are ignored ...
    p.a.send_routes([mac_route(i) for i in range(3)], ATTRS, NH_A, p.now)
    p.a.send_withdraw([mac_route(0)], p.now)
    p.a.send_end_of_rib(p.now, [EVPN])
    p.pump()
    assert p.events(p.b, UpdateReceived) == []
    assert p.events(p.b, EndOfRibReceived) == []
    # ... IPv4 unicast still flows
    v4 = [Ipv4Prefix.build("198.51.100.0/24")]
    p.a.send_routes(v4, ATTRS, NH_A, p.now)
    p.pump()
    assert [r.prefix for r in announced(p, p.b)] == ["198.51.100.0/24"]


def test_withdrawn_length_overrun_resets_with_3_1():
    p = established_pair()
    p.a.send_raw(header(2, b"\x00\x10\x00\x00"), p.now)
    p.pump()
    assert p.a.state == p.b.state == State.IDLE
    (sent,) = p.events(p.b, NotificationSent)
    assert (sent.notification.code, sent.notification.subcode) == (3, 1)
    assert p.events(p.b, SessionDown)[0].was_established
    (rcvd,) = p.events(p.a, NotificationReceived)
    assert (rcvd.notification.code, rcvd.notification.subcode) == (3, 1)


def test_messages_after_a_treat_as_withdraw_update_in_the_same_read_are_processed():
    """RFC 7606 §2: the session carries on after treat-as-withdraw, so the
    messages that followed the malformed UPDATE in the same read must be
    handled then, not when the next bytes happen to arrive."""
    p = established_pair()
    routes = [mac_route(i) for i in range(3)]
    taw = _update_bytes(p, routes[:1], [Origin(5), AsPath([])])
    good = _update_bytes(p, routes[1:], ATTRS)
    p.a.send_raw(taw + good + wire.end_of_rib(25, 70), p.now)
    p.pump()
    ups = p.events(p.b, UpdateReceived)
    assert len(ups) == 2, ups
    assert ups[0].announced == [] and [bytes(r) for r in ups[0].withdrawn] == [bytes(routes[0])]
    assert [bytes(r) for r in ups[1].announced] == [bytes(r) for r in routes[1:]]
    assert [e.family for e in p.events(p.b, EndOfRibReceived)] == [EVPN]


def test_messages_after_a_discarded_attribute_update_in_the_same_read_are_processed():
    p = established_pair()
    bad = Aggregator((65001, "192.0.2.1"), raw=b"\x00" * 5)
    first = _update_bytes(p, [mac_route(1)], [Origin(0), AsPath([]), bad])
    second = _update_bytes(p, [mac_route(2)], ATTRS)
    p.a.send_raw(first + second, p.now)
    p.pump()
    assert len(p.events(p.b, UpdateReceived)) == 2


# ============================================================== graceful restart (RFC 4724 §4.2)

GR_A = GracefulRestartConfig(restart_time=120)
GR_B = GracefulRestartConfig(restart_time=60)
GR_B_RESTARTING = GracefulRestartConfig(restart_time=60, restarting=True,
                                        preserved=(EVPN, V4))


def gr_pair() -> Pair:
    p = established_pair(cfg(families=(EVPN, V4), graceful_restart=GR_A),
                         cfg_b(families=(EVPN, V4), graceful_restart=GR_B))
    p.b.send_routes([mac_route(i, "192.0.2.2:1") for i in range(10)], ATTRS, "192.0.2.2",
                    p.now)
    p.b.send_end_of_rib(p.now)
    p.pump()
    assert p.a.negotiated.peer_graceful_restart["restart_time"] == 60
    p.drop()
    (pr,) = p.events(p.a, PeerRestarting)
    assert pr == PeerRestarting((V4, EVPN), 60)
    assert p.a.state == State.IDLE
    assert p.events(p.a, SessionDown)[-1].was_established
    assert p.events(p.a, StaleRoutesFlushed) == []
    return p


def test_graceful_restart_end_of_rib_flushes_stale_routes():
    p = gr_pair()
    t_drop = p.now
    p.run_until(t_drop + 20)
    p.replace_b(cfg_b(families=(EVPN, V4), graceful_restart=GR_B_RESTARTING))
    p.b.start(p.now)
    p.connect()
    assert p.established()
    assert p.a.negotiated.peer_graceful_restart["restarting"] is True
    assert p.events(p.a, StaleRoutesFlushed) == []
    p.run_until(p.now + 30)
    assert p.events(p.a, StaleRoutesFlushed) == []     # the restart timer was stopped
    p.b.send_routes([mac_route(1, "192.0.2.2:1")], ATTRS, "192.0.2.2", p.now)
    p.b.send_end_of_rib(p.now, [EVPN])
    p.pump()
    assert p.events(p.a, StaleRoutesFlushed) == [StaleRoutesFlushed(EVPN, "End-of-RIB received")]
    p.b.send_end_of_rib(p.now, [V4])
    p.pump()
    assert p.events(p.a, StaleRoutesFlushed)[-1] == StaleRoutesFlushed(V4, "End-of-RIB received")
    assert p.a.next_deadline() is not None and "gr_stale" not in p.a._timers


def test_graceful_restart_restart_timer_expiry_flushes_stale_routes():
    p = gr_pair()
    t_drop = p.now
    p.run_until(t_drop + 59.9)
    assert p.events(p.a, StaleRoutesFlushed) == []
    p.run_until(t_drop + 60.1)
    flushed = p.events(p.a, StaleRoutesFlushed)
    assert sorted(e.family for e in flushed) == [V4, EVPN]
    assert {e.reason for e in flushed} == {"restart timer expired"}


def test_graceful_restart_peer_back_without_forwarding_state_flushes_at_once():
    """RFC 4724 §4.2: F bit clear (or family missing) in the new OPEN -> remove now."""
    p = gr_pair()
    p.replace_b(cfg_b(families=(EVPN, V4),
                      graceful_restart=GracefulRestartConfig(60, restarting=True,
                                                             preserved=(V4,))))
    p.b.start(p.now)
    p.connect()
    assert p.established()
    flushed = p.events(p.a, StaleRoutesFlushed)
    assert [e.family for e in flushed] == [EVPN]
    p.b.send_end_of_rib(p.now, [V4])
    p.pump()
    assert p.events(p.a, StaleRoutesFlushed)[-1] == StaleRoutesFlushed(V4, "End-of-RIB received")


def test_graceful_restart_stale_timer_flushes_when_no_end_of_rib_comes():
    p = gr_pair()
    p.replace_b(cfg_b(families=(EVPN, V4), graceful_restart=GR_B_RESTARTING))
    p.b.start(p.now)
    p.connect()
    t = p.now
    p.run_until(t + GR_A.stale_time - 1)
    assert p.events(p.a, StaleRoutesFlushed) == []
    p.run_until(t + GR_A.stale_time + 1)
    assert sorted(e.family for e in p.events(p.a, StaleRoutesFlushed)) == [V4, EVPN]


def test_no_graceful_restart_when_not_both_advertised():
    p = established_pair(cfg(graceful_restart=GR_A), cfg_b())
    p.drop()
    assert p.events(p.a, PeerRestarting) == []
    p = established_pair(cfg(), cfg_b(graceful_restart=GR_B))
    p.drop()
    assert p.events(p.a, PeerRestarting) == []


def test_notification_is_not_a_graceful_restart():
    """RFC 4724 §4.2 (and RFC 8538): a NOTIFICATION ends the session; GR is for
    a TCP connection that goes away."""
    p = established_pair(cfg(families=(EVPN, V4), graceful_restart=GR_A),
                         cfg_b(families=(EVPN, V4), graceful_restart=GR_B))
    p.b.stop(p.now, "bye")
    p.pump()
    assert p.events(p.a, PeerRestarting) == []


# ============================================================== bad peers


def raw_peer(a_cfg=None, established=False, b_cfg=None):
    """Our session ``s`` connected to a peer whose bytes we write by hand."""
    s = Session(a_cfg or cfg())
    s.start(0.0)
    s.connection_made(0.0)
    if established:
        s.receive_data((b_cfg or cfg_b()).open_message().encode(EXT)
                       + Keepalive().encode(), 1.0)
        assert s.state == State.ESTABLISHED
    s.data_to_send()
    s.events()
    return s


def _reset_with(s, code, subcode, data=None):
    out = s.data_to_send()
    msgs = wire.decode_messages(out, EXT)
    assert [m.type for m in msgs] == ["NOTIFICATION"], msgs
    n = msgs[0]
    assert (n.code, n.subcode) == (code, subcode), n
    if data is not None:
        assert n.data == data
    assert s.state == State.IDLE
    events = s.events()
    downs = [e for e in events if isinstance(e, SessionDown)]
    assert len(downs) == 1
    assert (downs[0].notification.code, downs[0].notification.subcode,
            downs[0].notification.data) == (n.code, n.subcode, n.data)
    # the session ignores anything else that comes in after the reset
    s.receive_data(header(4) * 3, 5.0)
    assert s.data_to_send() == b"" and s.state == State.IDLE
    return n


@pytest.mark.parametrize("established", [False, True], ids=["opensent", "established"])
def test_garbage_bytes(established):
    s = raw_peer(established=established)
    s.receive_data(bytes(range(7, 7 + 60)), 2.0)
    _reset_with(s, 1, 1)


@pytest.mark.parametrize("established", [False, True], ids=["opensent", "established"])
def test_wrong_marker_is_1_1(established):
    s = raw_peer(established=established)
    s.receive_data(header(4, marker=b"\xff" * 15 + b"\x00"), 2.0)
    _reset_with(s, 1, 1)


@pytest.mark.parametrize("length", [0, 18, 4097, 65535])
def test_oversize_or_undersize_length_after_open_is_1_2(length):
    """RFC 4271 §6.1: Bad Message Length, data = the erroneous length field
    (we did not advertise extended message: 4096 is the limit we receive,
    RFC 8654 §4; the peer's advertisement governs only what we send)."""
    s = raw_peer(established=True, a_cfg=cfg(extended_message=False))
    assert not s.negotiated.extended_message
    s.receive_data(header(2, length=length) + b"\x00" * 40, 2.0)
    _reset_with(s, 1, 2, length.to_bytes(2, "big"))


@pytest.mark.parametrize("mtype,ext,code", [
    (1, True, (1, 2)),    # OPEN is never extended (RFC 8654 §4)
    (2, False, (1, 2)),   # we never advertised extended message: 4096 is the limit
    (2, True, (5, 1)),    # we did: the length is fine, the UPDATE is unexpected
], ids=["open", "update-no-extended-message", "update-extended-message-advertised"])
def test_oversize_message_before_the_open_exchange(mtype, ext, code):
    """RFC 4271 §6.1 Bad Message Length for a message longer than 4096 octets
    unless RFC 8654 allows it: never for OPEN (§4: the capability applies to
    all messages except OPEN and KEEPALIVE), and only once we advertised the
    capability for the others."""
    s = raw_peer(cfg(extended_message=ext))
    assert s.state == State.OPEN_SENT
    s.receive_data(header(mtype, b"\x00" * 5000), 2.0)
    _reset_with(s, *code, (5019).to_bytes(2, "big") if code == (1, 2) else b"\x02")


def test_keepalive_with_a_body_is_1_2():
    s = raw_peer(established=True)
    s.receive_data(header(4, b"\x00"), 2.0)
    _reset_with(s, 1, 2, (20).to_bytes(2, "big"))


def test_update_before_open_is_5_1():
    s = raw_peer()
    upd = wire.pack_updates([mac_route(1)], ATTRS, NH_A, EXT)[0]
    s.receive_data(upd, 2.0)
    _reset_with(s, 5, 1, b"\x02")


def test_truncated_message_then_connection_lost_in_opensent():
    """RFC 4271 §8.2.2 OpenSent + TcpConnectionFails -> Active; no NOTIFICATION
    can be sent; the session that was trying to come up reports it went down."""
    s = raw_peer()
    op = cfg_b().open_message().encode(EXT)
    s.receive_data(op[:30], 2.0)
    assert s.state == State.OPEN_SENT and s.data_to_send() == b""
    s.connection_lost(3.0)
    assert s.state == State.ACTIVE
    assert s.data_to_send() == b""
    assert s._reader is None
    events = s.events()
    assert [e for e in events if isinstance(e, SessionDown)], events


def test_truncated_message_then_connection_lost_in_established():
    s = raw_peer(established=True)
    upd = wire.pack_updates([mac_route(1)], ATTRS, NH_A, s.rx_context)[0]
    s.receive_data(upd[:-10], 2.0)
    assert [e for e in s.events() if isinstance(e, UpdateReceived)] == []
    s.connection_lost(3.0)
    assert s.state == State.IDLE
    assert s.data_to_send() == b""
    (down,) = [e for e in s.events() if isinstance(e, SessionDown)]
    assert down.was_established and down.notification is None


def test_notification_from_the_peer_mid_update_stream():
    s = raw_peer(established=True)
    upd = wire.pack_updates([mac_route(1)], ATTRS, NH_A, s.rx_context)[0]
    s.receive_data(upd + Notification.shutdown("going away").encode() + upd, 2.0)
    assert s.state == State.IDLE
    events = s.events()
    assert len([e for e in events if isinstance(e, UpdateReceived)]) == 1
    (n,) = [e for e in events if isinstance(e, NotificationReceived)]
    assert n.notification.shutdown_message == "going away"
    assert s.data_to_send() == b""


def test_update_object_round_trip_through_send_update():
    p = established_pair()
    upd = wire.decode_message(_update_bytes(p, [mac_route(3)], ATTRS), p.a.tx_context)
    assert isinstance(upd, Update)
    p.a.send_update(upd, p.now)
    p.pump()
    assert [bytes(r) for r in announced(p, p.b)] == [bytes(mac_route(3))]
