"""asyncio speaker: the only module that imports asyncio.

It moves bytes between sockets and sans-IO ``Session`` objects and runs their
timers; everything BGP is decided by the session.  ``Speaker`` manages
peers (active, passive or both), dynamic neighbours from listen ranges with
a peer-group template (like FRR's ``bgp listen range ... peer-group``),
connection collisions (RFC 4271 §6.8), TCP MD5 (RFC 2385, Linux) and
source-address binding.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from collections import deque
from dataclasses import replace

from .session import Session, SessionConfig, SessionError, collision_keeps_existing
from .session import events as ev
from .session.fsm import State

log = logging.getLogger("bgpevpn.speaker")

#: Linux <netinet/tcp.h> TCP_MD5SIG and its key size (RFC 2385 keys)
TCP_MD5SIG = 14
TCP_MD5SIG_MAXKEYLEN = 80


def md5sig_option(address: str, key: str | bytes, prefixlen: int | None = None) -> bytes:
    """The ``struct tcp_md5sig`` Linux wants for TCP_MD5SIG: the peer address
    in a sockaddr_storage, flags, prefix length, key length, ifindex, key."""
    k = key.encode() if isinstance(key, str) else bytes(key)
    if len(k) > TCP_MD5SIG_MAXKEYLEN:
        raise ValueError("TCP MD5 keys are at most 80 octets")
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        sa = struct.pack("=H", socket.AF_INET) + b"\x00\x00" + ip.packed
    else:
        sa = struct.pack("=H", socket.AF_INET6) + b"\x00\x00" + b"\x00" * 4 + ip.packed
    sa = sa.ljust(128, b"\x00")
    flags = 0
    plen = 0
    if prefixlen is not None:
        flags, plen = 1, prefixlen   # TCP_MD5SIG_FLAG_PREFIX (with TCP_MD5SIG_EXT)
    return sa + struct.pack("=BBHI", flags, plen, len(k), 0) + k.ljust(TCP_MD5SIG_MAXKEYLEN,
                                                                      b"\x00")


def set_md5(sock: socket.socket, address: str, key) -> None:
    """RFC 2385 TCP MD5 signature for traffic with ``address`` (Linux only)."""
    if not hasattr(socket, "IPPROTO_TCP") or not hasattr(socket, "SOL_TCP"):
        raise OSError("TCP MD5 signatures need Linux")
    sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig_option(address, key))


class _Connection(asyncio.Protocol):
    """One TCP connection bound to one Session."""

    def __init__(self, peer: "Peer", session: Session, outbound: bool):
        self.peer = peer
        self.session = session
        self.outbound = outbound
        self.transport = None
        self.closed = asyncio.get_running_loop().create_future()
        self._write_ok = asyncio.Event()
        self._write_ok.set()

    def connection_made(self, transport):
        self.transport = transport
        self.peer._attach(self)

    def data_received(self, data):
        self.peer._input(self, lambda now: self.session.receive_data(data, now))

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self._write_ok.set()
        if not self.closed.done():
            self.closed.set_result(exc)
        self.peer._detached(self, exc)

    def pause_writing(self):
        self._write_ok.clear()

    def resume_writing(self):
        self._write_ok.set()

    async def drain(self):
        await self._write_ok.wait()


class Peer:
    """A neighbour: its session(s), connections, events and timers.

    Iterate ``async for event in peer`` (or give ``on_event``) to receive
    ``bgpevpn.session.events``; ``await peer.established()`` waits for the
    session; ``await peer.send_routes(...)`` announces.
    """

    #: events buffered before reading from the peer pauses (backpressure)
    high_water = 4096
    low_water = 1024

    def __init__(self, speaker: "Speaker", address: str, config: SessionConfig, *,
                 port: int = 179, mode: str = "both", md5=None, local_address=None,
                 on_event=None, dynamic: bool = False):
        if mode not in ("active", "passive", "both"):
            raise ValueError("mode is active, passive or both")
        self.speaker = speaker
        self.address = str(ipaddress.ip_address(address))
        self.port = port
        self.mode = mode
        self.md5 = md5
        self.local_address = local_address
        self.on_event = on_event
        self.dynamic = dynamic
        self.config = replace(config, passive=(mode == "passive"))
        self.session = Session(self.config)
        self.log = logging.getLogger(f"bgpevpn.peer.{self.address}")
        self._conns: list = []          # live connections (at most 2, during a collision)
        self._events: deque = deque()
        self._event_ready = asyncio.Event()
        self._paused = False
        self._timer = None
        self._connecting = None
        self._closing = False
        self._established = asyncio.Event()
        # output of our session held back while a collision is undecided
        # (the peer's OPEN came on a connection RFC 4271 §6.8 may drop)
        self._held = None

    # public ---------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.session.state

    @property
    def negotiated(self):
        return self.session.negotiated

    async def established(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._established.wait(), timeout)

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self._events:
            if self._closing and not self._conns:
                raise StopAsyncIteration
            self._event_ready.clear()
            await self._event_ready.wait()
        event = self._events.popleft()
        if self._paused and len(self._events) <= self.low_water:
            self._resume_reading()
        return event

    def pending_events(self) -> int:
        return len(self._events)

    async def send_routes(self, routes, attributes, next_hop) -> int:
        return await self._send(lambda s, now: s.send_routes(routes, attributes, next_hop, now))

    async def send_withdraw(self, routes) -> int:
        return await self._send(lambda s, now: s.send_withdraw(routes, now))

    async def send_update(self, update) -> None:
        await self._send(lambda s, now: s.send_update(update, now))

    async def send_raw(self, data: bytes) -> None:
        await self._send(lambda s, now: s.send_raw(data, now))

    async def send_end_of_rib(self, families=None) -> None:
        await self._send(lambda s, now: s.send_end_of_rib(now, families))

    async def send_route_refresh(self, afi: int, safi: int) -> None:
        await self._send(lambda s, now: s.send_route_refresh(afi, safi, now))

    async def drain(self) -> None:
        for conn in list(self._conns):
            await conn.drain()

    async def stop(self, message: str = "") -> None:
        """Cease NOTIFICATION (RFC 9003 message if given), then close and wait."""
        self._closing = True
        self._input(None, lambda now: self.session.stop(now, message))
        await self._close_connections()

    async def abort(self) -> None:
        """Close the connections without a NOTIFICATION (what a restarting
        speaker looks like to its peers, RFC 4724 §4)."""
        self._closing = True
        for c in list(self._conns):
            if c.transport is not None:
                c.transport.abort()
        await self._close_connections()

    # machinery ------------------------------------------------------------
    async def _send(self, fn):
        conn = self._primary_conn()
        if conn is None:
            raise SessionError(f"peer {self.address} is not connected")
        result = None

        def call(now):
            nonlocal result
            result = fn(self.session, now)
        self._input(conn, call)
        await conn.drain()
        return result

    def _primary_conn(self):
        for c in self._conns:
            if c.session is self.session:
                return c
        return None

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _start(self) -> None:
        if self.mode in ("active", "both"):
            self.session.start(self._now())
        self._after(None)

    def _attach(self, conn: _Connection) -> None:
        now = self._now()
        if conn.session is self.session and self._primary_conn() is not None:
            # our session already has a connection (an outbound attempt that
            # completed after an inbound one, or vice versa): a collision candidate
            conn.session = Session(self.config)
        if conn.session is not self.session:
            # an inbound connection while our own is in progress (RFC 4271 §6.8)
            self._conns.append(conn)
            conn.session.connection_made(now)
            self._after(conn)
            return
        self._conns.append(conn)
        self.log.info("connection %s %s", "to" if conn.outbound else "from", self.address)
        self.session.connection_made(now)
        self._after(conn)

    def _detached(self, conn: _Connection, exc) -> None:
        if conn not in self._conns:
            return
        self._conns.remove(conn)
        if conn.session is self.session:
            self._held = None
            self._input(None, lambda now: self.session.connection_lost(now))
        elif self._held is not None and not self._candidates():
            self._release_held()   # the connection that would have won is gone
        self._event_ready.set()
        self._maybe_forget()

    def _maybe_forget(self) -> None:
        """A dynamic neighbour is forgotten once its session is down, unless
        its routes are kept for a graceful restart: its reconnection must find
        this session (and its stale state, RFC 4724 §4.2) again."""
        if self.dynamic and not self._conns and self.session.state == State.IDLE \
                and not self.session._gr_stale:
            self.speaker._forget(self)

    def _input(self, conn, fn) -> None:
        """Run one session input, then carry out what it asks for."""
        session = conn.session if conn is not None else self.session
        try:
            fn(self._now())
        except SessionError:
            raise
        except Exception:   # a bug must not kill the event loop; reset the session
            self.log.exception("internal error; closing the connection")
            if conn is not None and conn.transport is not None:
                conn.transport.abort()
            return
        self._after(conn if conn is not None else self._primary_conn(), session)

    def _after(self, conn, session=None) -> None:
        session = session or (conn.session if conn is not None else self.session)
        # events first: a collision decided on an OPEN must drop this
        # connection before its KEEPALIVE leaves (RFC 4271 §6.8)
        for event in session.events():
            self._handle_event(conn, session, event)
        data = session.data_to_send()
        if session is self.session and self._held is not None:
            if session.state == State.IDLE:
                self._held = None      # the held KEEPALIVE is moot; the NOTIFICATION goes
            else:
                self._held += data
                data = b""
        if data and conn is not None and conn.transport is not None \
                and not conn.transport.is_closing():
            conn.transport.write(data)
        if session.state == State.IDLE and conn is not None and conn.transport is not None:
            conn.transport.close()   # flushes a NOTIFICATION first
        if session is self.session:
            if session.state == State.IDLE:
                self._promote_candidate()
                self._maybe_forget()
            self._schedule()
            if self.session.connect_wanted and self._connecting is None and not self._closing \
                    and self._primary_conn() is None:
                self._connecting = asyncio.ensure_future(self._connect())

    def _promote_candidate(self) -> None:
        """Our session ended while a second connection is alive: it takes over."""
        for c in self._conns:
            if c.session is not self.session and c.session.state != State.IDLE:
                self.session = c.session
                if self.mode in ("active", "both"):
                    c.session._auto_restart = True
                self._after(c, c.session)
                return

    def _handle_event(self, conn, session, event) -> None:
        if session is not self.session:
            # a colliding connection: only its OPEN matters until it wins
            if isinstance(event, ev.OpenReceived):
                self._resolve_collision(conn, session)
            return
        if isinstance(event, ev.OpenReceived):
            other = self._candidates()
            if other:
                cand = other[0]
                existing = self._primary_conn()
                keep_existing = collision_keeps_existing(
                    self.config.router_id, event.open.bgp_id,
                    existing.outbound if existing is not None else True)
                if cand.session.peer_open is not None:
                    # RFC 4271 §6.8: the other connection is in OpenConfirm: decide
                    self._resolve_collision(cand, cand.session, remote_id=event.open.bgp_id)
                    if session is not self.session:
                        return   # this connection lost; the candidate carries on
                elif keep_existing:
                    pass   # §6.8 looks at OpenConfirm connections only: decided when its OPEN comes
                else:
                    # the other connection should win but its OPEN has not come:
                    # it may never (the peer may refuse it), so hold this one's
                    # KEEPALIVE instead of dropping it until that is known
                    self._held = bytearray()
        if isinstance(event, ev.StateChanged):
            self.log.info("%s -> %s (%s)", event.old, event.new, event.cause)
        elif isinstance(event, ev.SessionEstablished):
            self._established.set()
        elif isinstance(event, ev.SessionDown):
            self._established.clear()
            self.log.warning("session down: %s", event.reason)
        elif isinstance(event, ev.NotificationReceived):
            self.log.warning("NOTIFICATION received: %r", event.notification)
        self._deliver(event)

    def _deliver(self, event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(self, event)
            except Exception:
                self.log.exception("on_event callback failed")
            return
        self._events.append(event)
        self._event_ready.set()
        if not self._paused and len(self._events) >= self.high_water:
            self._pause_reading()

    def _pause_reading(self) -> None:
        self._paused = True
        for c in self._conns:
            if c.transport is not None:
                c.transport.pause_reading()

    def _resume_reading(self) -> None:
        self._paused = False
        for c in self._conns:
            if c.transport is not None and not c.transport.is_closing():
                c.transport.resume_reading()

    def _candidates(self) -> list:
        return [c for c in self._conns if c.session is not self.session
                and c.session.state != State.IDLE]

    def _release_held(self) -> None:
        held, self._held = self._held, None
        conn = self._primary_conn()
        if held and conn is not None and conn.transport is not None \
                and not conn.transport.is_closing():
            conn.transport.write(bytes(held))

    def _resolve_collision(self, new_conn, new_session, remote_id=None) -> None:
        """RFC 4271 §6.8 between our primary session and a second connection,
        once one of them has the peer's OPEN (its BGP identifier)."""
        now = self._now()
        primary = self.session
        if remote_id is None:
            remote_id = new_session.peer_open.bgp_id
        if primary.state in (State.IDLE, State.CONNECT, State.ACTIVE):
            # our own connection is gone: the second one simply takes over
            self._held = None
            self.session = new_session
            if self.mode in ("active", "both"):
                new_session._auto_restart = True
            self._after(new_conn, new_session)
            return
        if primary.state == State.ESTABLISHED:
            new_session.collision_detected(now)
            self._after(new_conn, new_session)
            return
        existing = self._primary_conn()
        keep_existing = collision_keeps_existing(
            self.config.router_id, remote_id,
            existing.outbound if existing is not None else True)
        if keep_existing:
            new_session.collision_detected(now)
            self._after(new_conn, new_session)
            if self._held is not None:
                self._release_held()
            return
        self.log.info("connection collision: keeping the %s connection",
                      "outbound" if new_conn.outbound else "inbound")
        self._held = None
        self.session = new_session
        if self.mode in ("active", "both"):
            new_session._auto_restart = True
        primary.collision_detected(now)
        self._after(existing, primary)
        self._after(new_conn, new_session)

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.session.next_deadline()
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._input(self._primary_conn(), lambda now: self.session.handle_timer(now))

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            ip = ipaddress.ip_address(self.address)
            family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                if self.md5:
                    set_md5(sock, self.address, self.md5)
                if self.local_address:
                    sock.bind((self.local_address, 0))
                await asyncio.wait_for(loop.sock_connect(sock, (self.address, self.port)),
                                       self.config.connect_retry_time)
            except BaseException:
                sock.close()
                raise
            if self._closing or (self.session.state == State.ESTABLISHED):
                sock.close()
                return
            # if an inbound connection got there first, this one becomes a
            # collision candidate and RFC 4271 §6.8 decides (see _attach)
            await loop.create_connection(lambda: _Connection(self, self.session, True),
                                         sock=sock)
        except (OSError, asyncio.TimeoutError) as e:
            self.log.info("connect to %s:%s failed: %s", self.address, self.port, e)
            if self.session.state in (State.CONNECT, State.ACTIVE):
                self._input(None, lambda now: self.session.connection_failed(now))
        finally:
            self._connecting = None

    def _accept(self, transport_factory_session=None):
        """Protocol for an inbound connection from this peer."""
        if self.mode == "active":
            return None
        primary = self.session
        if primary.state in (State.IDLE, State.CONNECT, State.ACTIVE):
            if primary.state == State.IDLE and self.mode == "both":
                # the peer came back while we paused (idle hold): start now, and
                # report the transition like any other
                primary.automatic_start(self._now())
                for event in primary.events():
                    self._handle_event(None, primary, event)
            return _Connection(self, primary, False)
        if primary.state == State.ESTABLISHED or any(
                c.session is not primary for c in self._conns):
            return None
        return _Connection(self, Session(self.config), False)

    async def _close_connections(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._connecting is not None:
            self._connecting.cancel()
        waits = []
        for c in list(self._conns):
            if c.transport is not None:
                c.transport.close()
                waits.append(c.closed)
        if waits:
            await asyncio.wait(waits, timeout=5)
        self._event_ready.set()


class _Refuse(asyncio.Protocol):
    def connection_made(self, transport):
        transport.close()


class Speaker:
    """A BGP speaker: local AS, router id and defaults for its peers.

    ``add_peer(address, peer_as=..., mode=...)`` configures a neighbour;
    ``add_listen_range("203.0.113.0/24", peer_as=65000)`` accepts dynamic
    neighbours from a prefix with those settings (the peer-group template);
    ``await start()`` listens (when ``listen`` addresses are given) and
    starts the active peers; ``await close(message)`` stops every peer with
    a Cease NOTIFICATION and waits for them to flush.
    """

    def __init__(self, local_as: int, router_id: str, *, families=((25, 70),),
                 listen=(), port: int = 179, **session_defaults):
        self.local_as = local_as
        self.router_id = router_id
        self.families = tuple(families)
        self.listen = tuple(listen)
        self.port = port
        self.defaults = session_defaults
        self.peers: dict = {}
        self.listen_ranges: list = []
        self._servers: list = []
        self._md5_keys: dict = {}
        self._on_peer = None
        self._started = False

    def _config(self, **overrides) -> SessionConfig:
        kw = dict(self.defaults)
        kw.update(overrides)
        kw.setdefault("families", self.families)
        return SessionConfig(self.local_as, self.router_id, **kw)

    def add_peer(self, address: str, *, peer_as=None, mode: str = "both", port=None,
                 md5=None, local_address=None, on_event=None, **session) -> Peer:
        """A neighbour; ``port`` defaults to the speaker's port."""
        peer = Peer(self, address, self._config(peer_as=peer_as, **session),
                    port=self.port if port is None else port,
                    mode=mode, md5=md5, local_address=local_address, on_event=on_event)
        self.peers[peer.address] = peer
        if md5:
            self._md5_keys[peer.address] = md5
            for server in self._servers:
                for sock in server.sockets:
                    set_md5(sock, peer.address, md5)
        if self._started:
            peer._start()
        return peer

    def add_listen_range(self, prefix: str, *, peer_as=None, md5=None, on_event=None,
                         **session) -> None:
        """Dynamic neighbours (passive) from ``prefix``, FRR's ``bgp listen range``."""
        self.listen_ranges.append((ipaddress.ip_network(prefix), dict(
            peer_as=peer_as, md5=md5, on_event=on_event, **session)))

    def on_new_peer(self, callback) -> None:
        """``callback(peer)`` when a dynamic neighbour connects."""
        self._on_peer = callback

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for addr in self.listen:
            ip = ipaddress.ip_address(addr)
            sock = socket.socket(socket.AF_INET if ip.version == 4 else socket.AF_INET6,
                                 socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((addr, self.port))
            for peer_addr, key in self._md5_keys.items():
                if ipaddress.ip_address(peer_addr).version == ip.version:
                    set_md5(sock, peer_addr, key)
            sock.listen(128)
            sock.setblocking(False)
            server = await loop.create_server(self._protocol_for_inbound, sock=sock)
            self._servers.append(server)
        self._started = True
        for peer in list(self.peers.values()):
            peer._start()

    def _protocol_for_inbound(self):
        return _Inbound(self)

    def _accept(self, address: str):
        addr = str(ipaddress.ip_address(address.split("%")[0]))
        peer = self.peers.get(addr)
        if peer is None:
            ip = ipaddress.ip_address(addr)
            for net, tmpl in self.listen_ranges:
                if ip.version == net.version and ip in net:
                    t = dict(tmpl)
                    peer = Peer(self, addr, self._config(
                        peer_as=t.pop("peer_as"), **{k: v for k, v in t.items()
                                                     if k not in ("md5", "on_event")}),
                        mode="passive", md5=t.get("md5"), on_event=t.get("on_event"),
                        dynamic=True)
                    self.peers[addr] = peer
                    log.info("dynamic neighbour %s from listen range %s", addr, net)
                    if self._on_peer is not None:
                        self._on_peer(peer)
                    break
        if peer is None:
            log.warning("refused connection from unconfigured %s", addr)
            return None
        return peer._accept()

    def _forget(self, peer: Peer) -> None:
        if self.peers.get(peer.address) is peer:
            del self.peers[peer.address]
            peer._event_ready.set()

    def established_peers(self) -> list:
        return [p for p in self.peers.values() if p.state == State.ESTABLISHED]

    async def send_routes(self, routes, attributes, next_hop, peers=None) -> None:
        """Announce to ``peers`` (default: every established peer)."""
        for p in (peers if peers is not None else self.established_peers()):
            await p.send_routes(routes, attributes, next_hop)

    async def send_withdraw(self, routes, peers=None) -> None:
        for p in (peers if peers is not None else self.established_peers()):
            await p.send_withdraw(routes)

    async def close(self, message: str = "", notify: bool = True) -> None:
        """Stop every peer: a Cease NOTIFICATION each, or with ``notify=False``
        just close the connections, as a crash would (graceful-restart helpers,
        RFC 4724, then keep our routes until we are back)."""
        for server in self._servers:
            server.close()
        await asyncio.gather(*((p.stop(message) if notify else p.abort())
                               for p in list(self.peers.values())),
                             return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.close()


class _Inbound(asyncio.Protocol):
    """Accepts a connection, then hands it to the peer's protocol."""

    def __init__(self, speaker: Speaker):
        self.speaker = speaker
        self.inner = None

    def connection_made(self, transport):
        host = transport.get_extra_info("peername")[0]
        self.inner = self.speaker._accept(host)
        if self.inner is None:
            transport.close()
            return
        self.inner.connection_made(transport)

    def data_received(self, data):
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self):
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self):
        if self.inner is not None:
            self.inner.resume_writing()


__all__ = ["Speaker", "Peer", "set_md5", "md5sig_option", "TCP_MD5SIG"]
