"""The asyncio Speaker/Peer over real TCP on loopback (127.0.0.1 <-> 127.0.0.2).

Each test is a plain function running ``asyncio.run`` with every wait bounded
by a timeout.  Two speakers listen on the same random high port on their own
loopback address and bind their outgoing connections to it
(``local_address``), so each recognises the other by source address.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time

import pytest

from bgpevpn import AsPath, ExtCommunities, ExtCommunity, LocalPref, MacIpRoute, Origin, wire
from bgpevpn.aio import TCP_MD5SIG, Peer, Speaker, md5sig_option
from bgpevpn.session import (EndOfRibReceived, NotificationReceived, NotificationSent,
                             SessionDown, SessionEstablished, State, UpdateReceived)
from bgpevpn.session import session as session_module

A_ADDR, B_ADDR = "127.0.0.1", "127.0.0.2"
A_ID, B_ID = "192.0.2.1", "192.0.2.2"
A_AS, B_AS = 65001, 65002
ATTRS = [Origin(0), AsPath([(2, (B_AS,))]), LocalPref(100),
         ExtCommunities([ExtCommunity("target:65002:100"), ExtCommunity.encapsulation(8)])]
TEST_TIMEOUT = 30.0


def free_port() -> int:
    """A high port free on both loopback addresses."""
    for _ in range(100):
        port = random.randint(20000, 60999)
        socks = []
        try:
            for addr in (A_ADDR, B_ADDR):
                s = socket.socket()
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port")


def run(coro, timeout: float = TEST_TIMEOUT):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def mac_route(i: int) -> MacIpRoute:
    return MacIpRoute.build("192.0.2.2:100", f"02:00:{i >> 24 & 0xff:02x}:{i >> 16 & 0xff:02x}:"
                                             f"{i >> 8 & 0xff:02x}:{i & 0xff:02x}",
                            f"10.{i >> 16 & 0xff}.{i >> 8 & 0xff}.{i & 0xff}", labels=(10100,))


@pytest.fixture
def emitted(monkeypatch):
    """Every event of every Session (primary or collision candidate), with the
    session object, in order."""
    log = []
    orig = session_module.Session._emit

    def spy(self, event):
        log.append((self, event))
        orig(self, event)
    monkeypatch.setattr(session_module.Session, "_emit", spy)
    return log


@contextlib.asynccontextmanager
async def two_speakers(mode_a="both", mode_b="both", *, a_id=A_ID, b_id=B_ID, port=None,
                       a_peer=None, b_peer=None, retry=2.0, start=True):
    """Speaker A (127.0.0.1) with a peer for B, speaker B (127.0.0.2) with a peer for A."""
    port = port or free_port()
    a = Speaker(A_AS, a_id, listen=[A_ADDR], port=port, connect_retry_time=retry)
    b = Speaker(B_AS, b_id, listen=[B_ADDR], port=port, connect_retry_time=retry)
    pa = a.add_peer(B_ADDR, peer_as=B_AS, mode=mode_a, port=port, local_address=A_ADDR,
                    **(a_peer or {}))
    pb = b.add_peer(A_ADDR, peer_as=A_AS, mode=mode_b, port=port, local_address=B_ADDR,
                    **(b_peer or {}))
    try:
        if start:
            await asyncio.gather(a.start(), b.start())
        yield a, b, pa, pb
    finally:
        await asyncio.wait_for(asyncio.gather(a.close(), b.close(), return_exceptions=True),
                               10)


async def both_established(pa: Peer, pb: Peer, timeout: float = 8.0):
    await asyncio.wait_for(asyncio.gather(pa.established(), pb.established()), timeout)
    assert pa.state == pb.state == State.ESTABLISHED


async def next_event(peer: Peer, kind, timeout: float = 5.0):
    async def find():
        async for e in peer:
            if isinstance(e, kind):
                return e
        raise AssertionError(f"{peer.address}: events ended before a {kind.__name__}")
    return await asyncio.wait_for(find(), timeout)


async def read_updates(peer: Peer, want_announced=0, want_withdrawn=0, timeout=20.0):
    """Read events until that many routes were announced / withdrawn."""
    ann, wd = [], []

    async def loop():
        async for e in peer:
            if isinstance(e, UpdateReceived):
                ann.extend(e.announced)
                wd.extend(e.withdrawn)
            elif isinstance(e, SessionDown):
                raise AssertionError(f"session went down: {e}")
            if len(ann) >= want_announced and len(wd) >= want_withdrawn:
                return
    await asyncio.wait_for(loop(), timeout)
    return ann, wd


def _conn_ports(peer: Peer):
    (c,) = peer._conns
    return c.transport.get_extra_info("sockname"), c.transport.get_extra_info("peername")


# ============================================================== establishing


MODES = [("both", "both"), ("active", "passive"), ("passive", "active"), ("both", "passive"),
         ("passive", "both"), ("active", "both"), ("both", "active")]


@pytest.mark.parametrize("mode_a,mode_b", MODES, ids=[f"{a}-{b}" for a, b in MODES])
def test_modes_reach_established(mode_a, mode_b):
    async def main():
        async with two_speakers(mode_a, mode_b) as (a, b, pa, pb):
            await both_established(pa, pb)
            assert pa.negotiated.peer_as == B_AS and pb.negotiated.peer_as == A_AS
            # one TCP connection, the same one seen from both ends
            a_local, a_remote = _conn_ports(pa)
            b_local, b_remote = _conn_ports(pb)
            assert a_local == b_remote and b_local == a_remote
            assert a_local[0] == A_ADDR and b_local[0] == B_ADDR
            # the connection goes the only way the modes allow
            (ca,), (cb,) = pa._conns, pb._conns
            if mode_a == "passive" or mode_b == "active":
                assert not ca.outbound and cb.outbound
            if mode_b == "passive" or mode_a == "active":
                assert ca.outbound and not cb.outbound
    run(main())


@pytest.mark.parametrize("mode_a,mode_b", [("active", "both"), ("both", "active")])
def test_one_sided_modes_do_not_reset_the_only_possible_connection(emitted, mode_a, mode_b):
    """When one side only connects (mode active, it refuses inbound), only one
    TCP connection can become a session: there is no collision to resolve
    (RFC 4271 §6.8 compares connections that are in OpenConfirm), so the first
    session must come up without a Cease 6/7 or a SessionDown on either side."""
    async def main(a_id, b_id):
        async with two_speakers(mode_a, mode_b, a_id=a_id, b_id=b_id) as (a, b, pa, pb):
            await both_established(pa, pb)
            await asyncio.sleep(0.2)
        ceases = [e for _, e in emitted if isinstance(e, (NotificationSent, NotificationReceived))
                  and e.notification.code == 6 and e.notification.subcode == 7]
        downs_before_up = []
        for s in {id(x): x for x, _ in emitted}.values():
            evs = [e for x, e in emitted if x is s]
            for e in evs:
                if isinstance(e, SessionEstablished):
                    break
                if isinstance(e, SessionDown):
                    downs_before_up.append(e)
        assert ceases == [] and downs_before_up == [], (ceases, downs_before_up)
    for a_id, b_id in ((A_ID, B_ID), (B_ID, A_ID)):
        run(main(a_id, b_id))
        emitted.clear()


@pytest.mark.parametrize("a_id,b_id", [(A_ID, B_ID), (B_ID, A_ID)],
                         ids=["b-has-higher-id", "a-has-higher-id"])
def test_simultaneous_open_collision_keeps_one_connection(emitted, a_id, b_id):
    """Both sides connect at once (mode both): RFC 4271 §6.8 keeps the
    connection initiated by the speaker with the higher BGP Identifier and
    closes the other with Cease / Connection Collision Resolution (6/7)."""
    async def once():
        emitted.clear()
        async with two_speakers("both", "both", a_id=a_id, b_id=b_id) as (a, b, pa, pb):
            await both_established(pa, pb)
            await asyncio.sleep(0.3)     # let the losing connection close
            assert len(pa._conns) == 1 and len(pb._conns) == 1
            a_local, a_remote = _conn_ports(pa)
            b_local, b_remote = _conn_ports(pb)
            assert a_local == b_remote and b_local == a_remote
            (ca,), (cb,) = pa._conns, pb._conns
            a_higher = a_id > b_id
            assert ca.outbound == a_higher and cb.outbound == (not a_higher)
            survivors = {id(pa.session), id(pb.session)}
            sent67 = [s for s, e in emitted if isinstance(e, NotificationSent)
                      and (e.notification.code, e.notification.subcode) == (6, 7)]
            for s in sent67:
                assert id(s) not in survivors, "Cease 6/7 sent on the surviving connection"
                assert s.state == State.IDLE
            assert pa.state == pb.state == State.ESTABLISHED
            return len(sent67)

    collisions = 0
    for _ in range(5):
        collisions += bool(run(once()))
        if collisions:
            break
    assert collisions, "no connection collision happened in 5 simultaneous starts"


def test_speaker_port_is_the_default_for_its_peers():
    """``Speaker(port=...)`` is the port it listens on and the one its peers
    are reached on, unless add_peer gives another."""
    async def main():
        port = free_port()
        a = Speaker(A_AS, A_ID, listen=[A_ADDR], port=port, connect_retry_time=2.0)
        b = Speaker(B_AS, B_ID, listen=[B_ADDR], port=port, connect_retry_time=2.0)
        pa = a.add_peer(B_ADDR, peer_as=B_AS, mode="active", local_address=A_ADDR)
        pb = b.add_peer(A_ADDR, peer_as=A_AS, mode="passive", local_address=B_ADDR)
        try:
            assert pa.port == port
            await asyncio.gather(a.start(), b.start())
            await both_established(pa, pb, timeout=5)
        finally:
            await asyncio.gather(a.close(), b.close(), return_exceptions=True)
    run(main())


# ============================================================== routes


def test_ten_thousand_type2_routes_arrive_exactly_and_withdrawals_too():
    async def main():
        async with two_speakers("both", "passive") as (a, b, pa, pb):
            await both_established(pa, pb)
            routes = [mac_route(i) for i in range(10000)]
            n = await pb.send_routes(routes, ATTRS, B_ID)
            assert n >= 1
            got, _ = await read_updates(pa, want_announced=len(routes))
            assert [bytes(r) for r in got] == [bytes(r) for r in routes]
            assert pa.pending_events() == 0
            gone = routes[::7]
            await pb.send_withdraw(gone)
            _, wd = await read_updates(pa, want_withdrawn=len(gone))
            assert [bytes(r) for r in wd] == [bytes(r) for r in gone]
            # and the other way round
            back = [mac_route(100000 + i) for i in range(50)]
            await pa.send_routes(back, ATTRS, A_ID)
            got_b, _ = await read_updates(pb, want_announced=len(back))
            assert [bytes(r) for r in got_b] == [bytes(r) for r in back]
    run(main())


def test_end_of_rib_and_speaker_wide_send():
    async def main():
        async with two_speakers("both", "both") as (a, b, pa, pb):
            await both_established(pa, pb)
            await b.send_routes([mac_route(1)], ATTRS, B_ID)   # every established peer
            got, _ = await read_updates(pa, want_announced=1)
            assert [bytes(r) for r in got] == [bytes(mac_route(1))]
            await pb.send_end_of_rib()
            e = await next_event(pa, EndOfRibReceived)
            assert e.family == (25, 70)
    run(main())


# ============================================================== timers on the real clock


def test_keepalives_hold_the_session_and_silence_expires_the_hold_timer():
    """hold time 3: KEEPALIVEs every second keep the session past 3 s; when B
    stops sending them, A's hold timer expires and A sends NOTIFICATION 4/0."""
    async def main():
        port = free_port()
        a = Speaker(A_AS, A_ID, listen=[A_ADDR], port=port, connect_retry_time=30.0,
                    hold_time=3)
        b = Speaker(B_AS, B_ID, listen=[B_ADDR], port=port, connect_retry_time=30.0,
                    hold_time=3)
        pa = a.add_peer(B_ADDR, peer_as=B_AS, mode="active", local_address=A_ADDR)
        pb = b.add_peer(A_ADDR, peer_as=A_AS, mode="passive", local_address=B_ADDR)
        try:
            await asyncio.gather(a.start(), b.start())
            await both_established(pa, pb)
            assert pa.negotiated.hold_time == 3 and pa.negotiated.keepalive_time == 1.0
            await asyncio.sleep(3.5)
            assert pa.state == pb.state == State.ESTABLISHED
            # B goes quiet: its keepalive action no longer writes anything
            pb.session._a_send_keepalive = lambda now, **kw: None
            t0 = asyncio.get_running_loop().time()
            sent = await next_event(pa, NotificationSent, timeout=5)
            waited = asyncio.get_running_loop().time() - t0
            assert (sent.notification.code, sent.notification.subcode) == (4, 0)
            assert 1.5 <= waited <= 3.5, waited
            rcvd = await next_event(pb, NotificationReceived, timeout=5)
            assert (rcvd.notification.code, rcvd.notification.subcode) == (4, 0)
        finally:
            await asyncio.gather(a.close(), b.close(), return_exceptions=True)
    run(main())


# ============================================================== shutdown


def test_close_sends_cease_with_the_shutdown_message():
    """RFC 9003: Cease / Administrative Shutdown carrying the message."""
    async def main():
        async with two_speakers("both", "both") as (a, b, pa, pb):
            await both_established(pa, pb)
            await asyncio.wait_for(a.close("maintenance"), 5)
            e = await next_event(pb, NotificationReceived)
            n = e.notification
            assert (n.code, n.subcode) == (6, 2)
            assert n.shutdown_message == "maintenance"
            down = await next_event(pb, SessionDown)
            assert down.was_established and down.notification.shutdown_message == "maintenance"
            assert pb.state != State.ESTABLISHED
    run(main())


def test_peer_stop_then_iteration_ends():
    async def main():
        async with two_speakers("both", "both") as (a, b, pa, pb):
            await both_established(pa, pb)
            await asyncio.wait_for(pa.stop("bye"), 5)
            seen = []

            async def drain():
                async for e in pa:
                    seen.append(e)
            await asyncio.wait_for(drain(), 5)     # StopAsyncIteration once closed
            assert any(isinstance(e, NotificationSent) and e.notification.shutdown_message
                       == "bye" for e in seen)
            e = await next_event(pb, NotificationReceived)
            assert e.notification.shutdown_message == "bye"
    run(main())


# ============================================================== dynamic neighbours


def test_dynamic_neighbour_from_listen_range():
    async def main():
        port = free_port()
        a = Speaker(A_AS, A_ID, listen=[A_ADDR], port=port, connect_retry_time=2.0)
        a.add_listen_range("127.0.0.0/8", peer_as=B_AS)
        new_peers = []
        a.on_new_peer(new_peers.append)
        b = Speaker(B_AS, B_ID, listen=[], port=port, connect_retry_time=2.0)
        pb = b.add_peer(A_ADDR, peer_as=A_AS, mode="active", port=port, local_address=B_ADDR)
        try:
            assert a.peers == {}
            await a.start()
            await b.start()
            await asyncio.wait_for(pb.established(), 5)
            assert len(new_peers) == 1
            pa = new_peers[0]
            assert a.peers == {B_ADDR: pa}
            assert pa.dynamic and pa.mode == "passive" and pa.address == B_ADDR
            await asyncio.wait_for(pa.established(), 5)
            assert pa.negotiated.peer_as == B_AS
            routes = [mac_route(i) for i in range(100)]
            await pb.send_routes(routes, ATTRS, B_ID)
            got, _ = await read_updates(pa, want_announced=100)
            assert [bytes(r) for r in got] == [bytes(r) for r in routes]
            # the neighbour goes away: the dynamic peer is forgotten
            await asyncio.wait_for(b.close("bye"), 5)
            for _ in range(100):
                if B_ADDR not in a.peers:
                    break
                await asyncio.sleep(0.05)
            assert B_ADDR not in a.peers
        finally:
            await asyncio.gather(a.close(), b.close(), return_exceptions=True)
    run(main())


def test_dynamic_neighbour_wrong_as_is_refused():
    async def main():
        port = free_port()
        a = Speaker(A_AS, A_ID, listen=[A_ADDR], port=port, connect_retry_time=2.0)
        a.add_listen_range("127.0.0.0/8", peer_as=64999)
        b = Speaker(B_AS, B_ID, port=port, connect_retry_time=2.0)
        pb = b.add_peer(A_ADDR, peer_as=A_AS, mode="active", port=port, local_address=B_ADDR)
        try:
            await a.start()
            await b.start()
            e = await next_event(pb, NotificationReceived)
            assert (e.notification.code, e.notification.subcode) == (2, 2)
        finally:
            await asyncio.gather(a.close(), b.close(), return_exceptions=True)
    run(main())


def test_connection_from_outside_the_listen_ranges_is_refused():
    async def main():
        port = free_port()
        a = Speaker(A_AS, A_ID, listen=[A_ADDR], port=port, connect_retry_time=2.0)
        a.add_listen_range("10.0.0.0/8", peer_as=B_AS)
        b = Speaker(B_AS, B_ID, port=port, connect_retry_time=1.0)
        pb = b.add_peer(A_ADDR, peer_as=A_AS, mode="active", port=port, local_address=B_ADDR)
        try:
            await a.start()
            await b.start()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(pb.established(), 1.5)
            assert a.peers == {}
        finally:
            await asyncio.gather(a.close(), b.close(), return_exceptions=True)
    run(main())


# ============================================================== backpressure


def test_backpressure_bounds_buffered_events_and_loses_nothing():
    """A consumer that does not read: the receiving Peer stops reading the
    socket at ``high_water`` events, so what it buffers stays bounded while
    the sender goes on sending 200,000 routes; reading then gets every one."""
    total, batch = 200_000, 10

    async def main():
        async with two_speakers("both", "passive") as (a, b, pa, pb):
            await both_established(pa, pb)
            routes = [mac_route(i) for i in range(total)]
            sent = 0
            peak = 0
            paused_seen = False

            async def sender():
                nonlocal sent
                for i in range(0, total, batch):
                    await pb.send_routes(routes[i:i + batch], ATTRS, B_ID)
                    sent = i + batch

            async def watch(stop):
                nonlocal peak, paused_seen
                while not stop.is_set():
                    peak = max(peak, pa.pending_events())
                    paused_seen = paused_seen or pa._paused
                    await asyncio.sleep(0.005)

            stop = asyncio.Event()
            watcher = asyncio.ensure_future(watch(stop))
            send_task = asyncio.ensure_future(sender())
            # wait until the sender is blocked or done, with nobody reading
            last, still = -1, 0
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                if sent == last or send_task.done():
                    still += 1
                    if still >= 5:
                        break
                else:
                    still = 0
                last = sent
            # one socket read (asyncio reads up to 256 KiB) can carry many
            # UPDATEs past the mark before the pause takes effect: allow one
            # read's worth of the smallest UPDATE sent
            smallest = min(len(m) for m in wire.pack_updates(
                routes[:batch], ATTRS, B_ID, pb.session.tx_context))
            bound = Peer.high_water + -(-256 * 1024 // smallest) + 1
            assert pa.pending_events() <= bound
            assert peak <= bound, (peak, bound)
            assert paused_seen, "the receiving peer never paused reading"
            assert pa.state == State.ESTABLISHED
            # now read everything
            got, _ = await read_updates(pa, want_announced=total, timeout=60)
            await asyncio.wait_for(send_task, 10)
            stop.set()
            await watcher
            assert len(got) == total
            assert [bytes(r) for r in got] == [bytes(r) for r in routes]
            assert not pa._paused
    run(main(), timeout=120)


# ============================================================== TCP MD5 (RFC 2385)


def _md5_supported() -> str | None:
    s = socket.socket()
    try:
        s.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig_option(B_ADDR, "probe"))
        return None
    except OSError as exc:
        return f"TCP_MD5SIG is not available on this kernel: {exc!r}"
    finally:
        s.close()


@pytest.mark.parametrize("mode_a,mode_b", [("active", "passive"), ("both", "both")])
def test_tcp_md5_same_key_establishes(mode_a, mode_b):
    reason = _md5_supported()
    if reason:
        pytest.skip(reason)

    async def main():
        async with two_speakers(mode_a, mode_b, a_peer={"md5": "s3cr3t"},
                                b_peer={"md5": "s3cr3t"}) as (a, b, pa, pb):
            await both_established(pa, pb)
            sock = pa._conns[0].transport.get_extra_info("socket")
            assert sock is not None
    run(main())


def test_tcp_md5_different_keys_do_not_establish():
    reason = _md5_supported()
    if reason:
        pytest.skip(reason)

    async def main():
        async with two_speakers("active", "passive", retry=1.0, a_peer={"md5": "one"},
                                b_peer={"md5": "two"}) as (a, b, pa, pb):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(pa.established(), pb.established()), 3)
            assert pa.state != State.ESTABLISHED and pb.state != State.ESTABLISHED
    run(main())


def test_tcp_md5_key_on_one_side_only_does_not_establish():
    reason = _md5_supported()
    if reason:
        pytest.skip(reason)

    async def main():
        async with two_speakers("active", "passive", retry=1.0,
                                a_peer={"md5": "one"}) as (a, b, pa, pb):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(pb.established(), 3)
    run(main())


def test_md5sig_option_layout():
    """struct tcp_md5sig: sockaddr_storage (128), flags, prefixlen, keylen, ifindex, key (80)."""
    opt = md5sig_option("127.0.0.2", b"key")
    assert len(opt) == 128 + 8 + 80
    assert opt[4:8] == socket.inet_aton("127.0.0.2")
    assert int.from_bytes(opt[130:132], "little") == 3
    assert opt[136:139] == b"key"
    with pytest.raises(ValueError):
        md5sig_option("127.0.0.2", b"x" * 81)


def test_connect_failure_does_not_escape():
    """Nobody listens on the peer's address: the peer keeps retrying quietly."""
    async def main():
        port = free_port()
        a = Speaker(A_AS, A_ID, port=port, connect_retry_time=0.3)
        pa = a.add_peer(B_ADDR, peer_as=B_AS, mode="active", port=port, local_address=A_ADDR)
        try:
            await a.start()
            await asyncio.sleep(1.0)
            assert pa.state in (State.CONNECT, State.ACTIVE, State.IDLE)
        finally:
            await asyncio.wait_for(a.close(), 5)
    run(main())
