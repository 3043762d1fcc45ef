"""RIB benchmarks on the 1,000,000-route EVPN stream (pytest-benchmark, pedantic mode).

The issue (1,000,000 EVPN type-2 routes into ``bgpevpn.rib.Rib``):

* ingest: decode with the C twin (``bgpevpn._wire_c.decode_messages``) and
  ``Rib.update(source, (25, 70), mp.routes, (), attributes, next_hop)`` per
  UPDATE, best path included (``Rib.update`` runs the decision process for
  every route it is given): >= 2,000,000 routes/s;
* withdrawing them all, ``Rib.update(source, (25, 70), withdrawn=routes)``
  per UPDATE: >= 2,000,000 routes/s;
* Loc-RIB memory <= 250 bytes per route (``ribmemprobe.py``, a subprocess);
* reflection to 10 clients with encoding,
  ``UpdateGroups(RouteReflector(...)).build(changes, peers)``: >= 1,000,000
  routes/s per client (each client receives every route once, so routes/s
  per client = routes / time).

Baselines (same run, same routes): a plain ``dict`` insert of fresh ``bytes``
copies of the NLRI (the normaliser the ratio targets divide by: it uses
nothing of bgpevpn), and, for information, the same insert and a pop keyed
by the decoded route objects themselves (their hash is bgpevpn's).

Run by ``benchmarks/run.sh`` (CPU time, ``time.process_time``).
"""
from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

import baseline
from benchutil import EVPN, PARAMS, held, record, update_batches

HERE = Path(__file__).resolve().parent
ROUNDS_BASE = 7
ROUNDS = 5
ROUNDS_SLOW = 3
CLIENTS = 10


@pytest.fixture(scope="module")
def c_twin():
    return pytest.importorskip("bgpevpn._wire_c", reason="the C twin is not built")


@pytest.fixture(scope="module")
def evpn_msgs_c(evpn_stream, c_twin):
    """The stream decoded once by the C twin (freed after this module)."""
    return c_twin.decode_messages(evpn_stream.data, evpn_stream.ctx)


@pytest.fixture(scope="module")
def routes(evpn_msgs_c):
    return [r for m in evpn_msgs_c if m.type == "UPDATE" for r in m.announced]


@pytest.fixture(scope="module")
def batches(evpn_msgs_c):
    return update_batches(evpn_msgs_c)


def _source(name="vtep-feed", addr="198.18.255.1"):
    from bgpevpn.rib import Source
    return Source(name, address=addr, router_id=addr, asn=65000, client=True)


def _load(batches, source, rib=None):
    """A Rib holding every batch from ``source``; returns (rib, changes)."""
    from bgpevpn.rib import Rib
    rib = rib or Rib()
    changes = []
    for routes, attrs, nh in batches:
        changes += rib.update(source, EVPN, routes, (), attrs, nh)
    return rib, changes


# --- baselines ----------------------------------------------------------------------

@pytest.mark.benchmark(group="rib-baseline")
def test_rib_baseline_dict_insert_bytes(benchmark, routes):
    """dict insert of fresh ``bytes`` copies of the 1,001,000 NLRI (hashing
    included): the normaliser of the RIB and reflection targets."""
    d = held(benchmark, baseline.dict_insert, ROUNDS_BASE,
             setup=lambda: ([bytes(r) for r in routes],))
    record(benchmark, "rib_base_insert_bytes", None, len(d), PARAMS.expected_routes,
           baseline_version=baseline.EXTRA_BASELINE_VERSION)


@pytest.mark.benchmark(group="rib-baseline")
def test_rib_baseline_dict_insert_routes(benchmark, routes):
    """The same insert keyed by the decoded route objects (their hash and
    equality are bgpevpn's RIB key): information."""
    d = held(benchmark, baseline.dict_insert, ROUNDS_BASE, setup=lambda: (routes,))
    record(benchmark, "rib_base_insert_routes", None, len(d), PARAMS.expected_routes)


@pytest.mark.benchmark(group="rib-baseline")
def test_rib_baseline_dict_pop_routes(benchmark, routes):
    """dict pop of every route object from a dict holding them: information."""
    n = held(benchmark, baseline.dict_pop, ROUNDS_BASE,
             setup=lambda: ({r: r for r in routes}, routes))
    record(benchmark, "rib_base_pop_routes", None, n, PARAMS.expected_routes)


# --- ingest ---------------------------------------------------------------------------

def _ingest(c, stream, source):
    from bgpevpn.rib import Rib
    msgs = c.decode_messages(stream.data, stream.ctx)
    rib = Rib()
    n = 0
    update = rib.update
    for m in msgs:
        if m.type != "UPDATE":
            continue
        mp = m.attributes.mp_reach
        if mp is None or not mp.routes:
            continue
        n += len(update(source, EVPN, mp.routes, (), m.attributes, mp.next_hop))
    return rib, n


@pytest.mark.benchmark(group="rib")
def test_rib_ingest(benchmark, evpn_stream, c_twin):
    """C decode + Rib.update per UPDATE (best path included), garbage
    collector as the library leaves it (paused inside each Rib.update of
    512 routes or more, running between them)."""
    src = _source()
    rib, n = held(benchmark, lambda: _ingest(c_twin, evpn_stream, src), ROUNDS)
    record(benchmark, "rib_ingest", "c", rib.count(EVPN), PARAMS.expected_routes,
           changes=n, attribute_sets=len(rib.intern))


@pytest.mark.benchmark(group="rib")
def test_rib_ingest_gc_disabled(benchmark, evpn_stream, c_twin):
    """The same with the collector disabled for the whole round: the gap is
    what collections between the Rib.update calls cost (information)."""
    src = _source()
    rib, n = held(benchmark, lambda: _ingest(c_twin, evpn_stream, src), ROUNDS,
                  disable_gc=True)
    record(benchmark, "rib_ingest_gc_off", "c", rib.count(EVPN), PARAMS.expected_routes,
           changes=n)


@pytest.mark.benchmark(group="rib")
def test_rib_update_only(benchmark, batches):
    """Rib.update alone over already decoded UPDATEs (information: the RIB's
    share of the ingest)."""
    src = _source()
    rib, changes = held(benchmark, lambda: _load(batches, src), ROUNDS)
    record(benchmark, "rib_update_only", None, rib.count(EVPN), PARAMS.expected_routes,
           changes=len(changes))


@pytest.mark.benchmark(group="rib")
def test_rib_second_source(benchmark, batches):
    """The same routes again from a second source (a second route
    reflector): every route now has two candidate paths and goes through
    the full decision process (information)."""
    a, b = _source("rr1", "192.0.2.101"), _source("rr2", "192.0.2.102")

    def setup():
        rib, _ = _load(batches, a)
        return (rib,)

    def second(rib):
        n = 0
        for routes, attrs, nh in batches:
            n += len(rib.update(b, EVPN, routes, (), attrs, nh))
        return rib, n

    rib, n = held(benchmark, second, ROUNDS_SLOW, setup=setup)
    paths = sum(len(rib.paths(EVPN, r)) for r in list(rib.best(EVPN))[:1000])
    record(benchmark, "rib_second_source", None, sum(len(r) for r, _, _ in batches),
           PARAMS.expected_routes, changes=n, paths_per_route_sample=paths / 1000)


# --- withdraw -----------------------------------------------------------------------

@pytest.mark.benchmark(group="rib")
def test_rib_withdraw(benchmark, batches):
    """Rib.update(source, (25, 70), (), routes) per UPDATE's routes, on a Rib
    holding them all from that source (loaded outside the timing)."""
    src = _source()

    def setup():
        rib, _ = _load(batches, src)
        return (rib,)

    def withdraw(rib):
        n = 0
        for routes, _, _ in batches:
            n += len(rib.update(src, EVPN, (), routes))
        return rib, n

    rib, n = held(benchmark, withdraw, ROUNDS, setup=setup)
    record(benchmark, "rib_withdraw", None, n, PARAMS.expected_routes,
           left_in_loc_rib=rib.count(EVPN))


# --- reflection ---------------------------------------------------------------------

class FakePeer:
    """What UpdateGroups needs of an established peer: .source, .context."""
    __slots__ = ("name", "source", "context")

    def __init__(self, i: int, ctx):
        from bgpevpn.rib import Source
        addr = f"192.0.2.{i + 1}"
        self.name = f"client{i + 1}"
        self.source = Source(self.name, address=addr, router_id=addr, asn=65000, client=True)
        self.context = ctx

    def __repr__(self):
        return self.name


@pytest.fixture(scope="module")
def rib_changes(batches):
    rib, changes = _load(batches, _source())
    return rib, changes


@pytest.mark.benchmark(group="rib")
def test_rib_reflect_10_clients(benchmark, rib_changes, evpn_stream, c_twin):
    """UpdateGroups(RouteReflector(...)).build(changes, peers) for the
    1,001,000 'added' changes of a Rib load from one client, to 10 other
    clients with the same negotiated context (one encoding per group, the
    same bytes to the 10); a new RouteReflector per round (its outgoing
    attribute cache starts empty)."""
    from bgpevpn.rib.reflect import RouteReflector, UpdateGroups
    _, changes = rib_changes
    peers = [FakePeer(i, evpn_stream.ctx) for i in range(CLIENTS)]

    def build():
        return UpdateGroups(RouteReflector("192.0.2.254")).build(changes, peers)

    out = held(benchmark, build, ROUNDS)
    # check (outside the timing): every client got every route, in the same bytes
    wires = [b"".join(out.get(p, ())) for p in peers]
    same = all(w == wires[0] for w in wires)
    msgs = c_twin.decode_messages(wires[0], evpn_stream.ctx)
    got = sum(len(m.announced) for m in msgs if m.type == "UPDATE")
    a = msgs[0].attributes
    record(benchmark, "rib_reflect", "c", len(changes), PARAMS.expected_routes,
           clients=CLIENTS, routes_first_client=got, identical_for_all_clients=same,
           messages_per_client=len(msgs), bytes_per_client=len(wires[0]),
           reflected_attributes_ok=bool(a.originator_id and a.cluster_list))


# --- memory -------------------------------------------------------------------------

def _probe(path: Path, *extra) -> dict:
    cmd = [sys.executable, str(HERE / "ribmemprobe.py"), "--stream", str(path), *extra]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark(group="memory")
def test_rib_memory(benchmark, evpn_stream, c_twin):
    """Memory of a Rib holding the 1,001,000 routes from one source, above an
    interpreter that already holds the decoded stream (RSS, then tracemalloc
    in a second fresh interpreter).  The time shown is the subprocesses'."""
    res = {}

    def run():
        res["rss"] = _probe(evpn_stream.path)
        res["trace"] = _probe(evpn_stream.path, "--tracemalloc")

    benchmark.pedantic(run, rounds=1)
    rss, trace = res["rss"], res["trace"]
    info = dict(rss)
    info.update({f"traced_{k}": v for k, v in trace.items() if k.startswith("rib_")})
    routes = info.pop("routes")
    record(benchmark, "rib_memory", "c", routes, PARAMS.expected_routes, **info)
    for k in ("routes_per_s", "routes_per_s_median"):
        benchmark.extra_info.pop(k, None)
    gc.collect()
