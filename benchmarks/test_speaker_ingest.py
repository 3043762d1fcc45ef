"""Speaker ingest over loopback TCP (pytest-benchmark, pedantic mode, WALL time).

The issue: a ``bgpevpn.aio.Speaker`` receiving 1,000,000 EVPN type-2 routes
over TCP from a sender writing pre-encoded UPDATEs, into events:
>= 1,000,000 routes/s.

Two Speakers in one event loop (one process): the receiver on 127.0.0.2
(passive), the sender on 127.0.0.1 (active, bound to 127.0.0.1), both
iBGP AS 65000, L2VPN/EVPN, extended message, on a free high port (as in
tests/test_speaker.py).  Each round:

* setup (not timed): a new event loop, both speakers started, both
  sessions Established;
* timed: ``await sender_peer.send_raw(stream)`` (the generator's stream:
  2,001 UPDATEs of up to 37 KB, End-of-RIB last) while the receiver does
  ``async for event in peer`` and adds ``len(event.announced)`` of every
  ``UpdateReceived``, until ``EndOfRibReceived``;
* teardown (not timed): both speakers closed (Cease), the loop closed.

This is a throughput over sockets, so rounds are timed with the wall clock
(``time.perf_counter``, overriding run.sh's CPU timer for these tests only),
3 rounds, all reported; ``extra_info`` also has the CPU time of the process
(sender + receiver, one core at most) per round.  The baseline is the same
transfer into a plain ``asyncio.Protocol`` that only frames the messages
(struct, no decoding): the floor of the loopback socket and event loop in
the same conditions; check_targets.py divides by it.
"""
from __future__ import annotations

import asyncio
import random
import socket
import struct
import time

import pytest

from benchutil import PARAMS, record

ROUNDS = 3
A_ADDR, B_ADDR = "127.0.0.1", "127.0.0.2"
TIMEOUT = 120.0


def free_port() -> int:
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


def _wall(benchmark):
    """Time these rounds with the wall clock whatever --benchmark-timer says."""
    benchmark._timer = time.perf_counter


class _Rounds:
    """Per-round figures kept for extra_info."""

    def __init__(self):
        self.wall, self.cpu, self.routes = [], [], []

    def info(self) -> dict:
        return {"wall_s_per_round": [round(x, 4) for x in self.wall],
                "cpu_s_per_round": [round(x, 4) for x in self.cpu],
                "routes_per_s_per_round": [round(n / w) for n, w in zip(self.routes, self.wall)],
                "cpu_routes_per_s_per_round": [round(n / c) for n, c in
                                               zip(self.routes, self.cpu)],
                "timer": "wall (time.perf_counter)"}


# --- baseline: plain asyncio protocol, framing only -----------------------------------

class _Framer(asyncio.Protocol):
    def __init__(self, want: int, done: asyncio.Future):
        self.buf = bytearray()
        self.messages = 0
        self.want = want
        self.done = done

    def data_received(self, data):
        buf = self.buf
        buf += data
        pos, end = 0, len(buf)
        u16 = struct.unpack_from
        while end - pos >= 19:
            length = u16("!H", buf, pos + 16)[0]
            if end - pos < length:
                break
            pos += length
            self.messages += 1
        del buf[:pos]
        if self.messages >= self.want and not self.done.done():
            self.done.set_result(self.messages)


@pytest.mark.benchmark(group="speaker")
def test_speaker_baseline_socket(benchmark, evpn_stream):
    """The stream over loopback TCP into an asyncio.Protocol that frames the
    messages and nothing else (wall time)."""
    _wall(benchmark)
    data = evpn_stream.data
    want = evpn_stream.meta["messages"]
    rounds = _Rounds()

    def setup():
        loop = asyncio.new_event_loop()
        port = free_port()
        st = {"loop": loop}

        async def start():
            st["done"] = loop.create_future()
            st["server"] = await loop.create_server(lambda: _Framer(want, st["done"]),
                                                    B_ADDR, port)
            sock = socket.socket()
            sock.bind((A_ADDR, 0))
            sock.setblocking(False)
            await loop.sock_connect(sock, (B_ADDR, port))
            st["tr"], _ = await loop.create_connection(asyncio.Protocol, sock=sock)
        loop.run_until_complete(start())
        return (st,), {}

    def run(st):
        c0, w0 = time.process_time(), time.perf_counter()

        async def go():
            st["tr"].write(data)
            return await asyncio.wait_for(st["done"], TIMEOUT)
        n = st["loop"].run_until_complete(go())
        rounds.wall.append(time.perf_counter() - w0)
        rounds.cpu.append(time.process_time() - c0)
        rounds.routes.append(PARAMS.expected_routes)
        st["messages"] = n

    def teardown(st):
        loop = st["loop"]
        st["tr"].close()
        st["server"].close()
        loop.run_until_complete(st["server"].wait_closed())
        loop.close()

    box = {}

    def run_keep(st):
        run(st)
        box["messages"] = st["messages"]

    benchmark.pedantic(run_keep, setup=setup, teardown=teardown, rounds=ROUNDS)
    record(benchmark, "speaker_base_socket", None, PARAMS.expected_routes,
           PARAMS.expected_routes, messages=box.get("messages"),
           expected_messages=want, **rounds.info())


# --- the speaker ------------------------------------------------------------------------

@pytest.mark.benchmark(group="speaker")
def test_speaker_ingest(benchmark, evpn_stream):
    """Speaker -> Speaker over loopback: send_raw(stream) on the sender,
    ``async for event in peer`` on the receiver counting announced routes
    until End-of-RIB (wall time; 3 rounds, all in extra_info)."""
    from bgpevpn.aio import Speaker
    from bgpevpn.session import EndOfRibReceived, SessionDown, UpdateReceived
    _wall(benchmark)
    data = evpn_stream.data
    rounds = _Rounds()
    box = {}

    def setup():
        loop = asyncio.new_event_loop()
        port = free_port()
        st = {"loop": loop}

        async def start():
            a = Speaker(65000, "192.0.2.1", listen=[A_ADDR], port=port)
            b = Speaker(65000, "192.0.2.2", listen=[B_ADDR], port=port)
            pa = a.add_peer(B_ADDR, peer_as=65000, mode="active", port=port,
                            local_address=A_ADDR)
            pb = b.add_peer(A_ADDR, peer_as=65000, mode="passive", port=port)
            await asyncio.gather(a.start(), b.start())
            await asyncio.wait_for(asyncio.gather(pa.established(), pb.established()), 20)
            st.update(a=a, b=b, pa=pa, pb=pb)
        loop.run_until_complete(start())
        return (st,), {}

    def run(st):
        c0, w0 = time.process_time(), time.perf_counter()
        pa, pb = st["pa"], st["pb"]

        async def receive():
            n = updates = 0
            async for event in pb:
                if isinstance(event, UpdateReceived):
                    n += len(event.announced)
                    updates += 1
                elif isinstance(event, EndOfRibReceived):
                    return n, updates
                elif isinstance(event, SessionDown):
                    raise RuntimeError(f"session down: {event}")
            raise RuntimeError("events ended before End-of-RIB")

        async def go():
            got, _ = await asyncio.wait_for(asyncio.gather(receive(), pa.send_raw(data)),
                                            TIMEOUT)
            return got
        n, updates = st["loop"].run_until_complete(go())
        rounds.wall.append(time.perf_counter() - w0)
        rounds.cpu.append(time.process_time() - c0)
        rounds.routes.append(n)
        box.update(routes=n, updates=updates)

    def teardown(st):
        loop = st["loop"]
        async def close():
            await asyncio.wait_for(asyncio.gather(st["a"].close(), st["b"].close(),
                                                  return_exceptions=True), 10)
        loop.run_until_complete(close())
        loop.close()

    benchmark.pedantic(run, setup=setup, teardown=teardown, rounds=ROUNDS)
    record(benchmark, "speaker_ingest", "c" if _codec() == "c" else "py",
           box.get("routes", 0), PARAMS.expected_routes, update_events=box.get("updates"),
           **rounds.info())


def _codec() -> str:
    from bgpevpn import wire
    return wire.IMPLEMENTATION
