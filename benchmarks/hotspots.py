"""Where the time goes: component timings, cProfile tops and timed prototypes
of the suggested changes, for the RIB, reflection, pcap and speaker benchmarks.

    python benchmarks/hotspots.py [rib|withdraw|reflect|pcap|speaker|all] [--profile]

Not run by run.sh (it is a tool for reading the figures, not a benchmark);
every figure is CPU time (``time.process_time``), best of ``--repeat`` runs,
for the 1,001,000 routes of generate.py's stream (``BGPEVPN_BENCH_ROUTES``).

The "prototype" rows run code written here, not in bgpevpn/: each one is the
smallest change that shows what a suggestion in docs/performance.md is worth,
with the same results as the library (checked where it says so).  They are
measurements of ideas, not drop-in patches.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import pstats
import sys
import time
from collections import Counter
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))

import benchutil  # noqa: E402
from benchutil import EVPN, update_batches  # noqa: E402

REPEAT = 3


def best(fn, repeat=None, setup=None, gc_off=False):
    """Best CPU time of ``fn(*setup())`` over ``repeat`` runs (result of the last)."""
    times, res = [], None
    for _ in range(repeat or REPEAT):
        args = setup() if setup else ()
        gc.collect()
        if gc_off:
            gc.disable()
        t = time.process_time()
        res = fn(*args)
        times.append(time.process_time() - t)
        gc.enable()
        del args
    return min(times), res


def row(name, seconds, n):
    print(f"| {name} | {seconds * 1e3:,.0f} | {n / seconds:,.0f} | {seconds / n * 1e9:,.0f} |")


def header(title):
    print(f"\n### {title}\n")
    print("| step | ms | routes/s | ns/route |\n|---|---:|---:|---:|")


def profile(fn, *args, top=14):
    pr = cProfile.Profile()
    pr.enable()
    fn(*args)
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(top)
    print("```\n" + "\n".join(s.getvalue().splitlines()[4:]) + "\n```")


def _source(name="vtep-feed", addr="198.18.255.1"):
    from bgpevpn.rib import Source
    return Source(name, address=addr, router_id=addr, asn=65000, client=True)


def _load(batches, src, rib_class=None):
    from bgpevpn.rib import Rib
    rib = (rib_class or Rib)()
    changes = []
    for r, a, nh in batches:
        changes += rib.update(src, EVPN, r, (), a, nh)
    return rib, changes


def _py_rib():
    """A Rib on the Python twin of the per-route loops (bgpevpn.rib._update_py)."""
    from bgpevpn.rib import Rib
    from bgpevpn.rib import _update_py

    class PyRib(Rib):
        _loops = _update_py
    return PyRib


# --- RIB ingest -------------------------------------------------------------------------

def rib(stream, msgs, routes, batches, do_profile):
    from bgpevpn import _wire_c as c
    from bgpevpn.rib import BestPathChanged, Path as RibPath, rib as rib_module
    from bgpevpn.rib import _update_py
    n = len(routes)
    src = _source()
    PyRib = _py_rib()
    header("RIB ingest, by component (C decode + Rib.update, 1 source; "
           f"loops: {rib_module.update_loops.IMPLEMENTATION} twin)")
    t, _ = best(lambda: c.decode_messages(stream.data, stream.ctx))
    row("C decode_messages (GC on)", t, n)
    t, _ = best(lambda: _load(batches, src))
    row("Rib.update per UPDATE (GC on, as the library runs; changes kept)", t, n)
    t, _ = best(lambda: _load(batches, src), gc_off=True)
    row("Rib.update per UPDATE (GC off for the whole load)", t, n)
    t, _ = best(lambda: _load(batches, src, PyRib))
    row("Rib.update per UPDATE, Python twin of the loops (GC on)", t, n)
    t, _ = best(lambda: _load(batches, src, PyRib), gc_off=True)
    row("Rib.update per UPDATE, Python twin of the loops (GC off)", t, n)

    def freeze_after_each():
        from bgpevpn.rib import Rib
        rib = Rib()
        for r, a, nh in batches:
            rib.update(src, EVPN, r, (), a, nh)
            gc.freeze()
        gc.unfreeze()
        return rib
    t, _ = best(freeze_after_each)
    row("prototype: gc.freeze() after each bulk Rib.update (GC on)", t, n)

    def big_threshold():
        old = gc.get_threshold()
        gc.set_threshold(100_000, 50, 100)
        try:
            return _load(batches, src)
        finally:
            gc.set_threshold(*old)
    t, _ = best(big_threshold)
    row("prototype: gc.set_threshold(100000, 50, 100) during the load", t, n)

    # collections during a load with GC on
    stats = Counter()
    spent = Counter()
    t0 = {}

    def cb(phase, info):
        if phase == "start":
            t0["t"] = time.process_time()
        else:
            stats[info["generation"]] += 1
            spent[info["generation"]] += time.process_time() - t0["t"]
    gc.collect()
    gc.callbacks.append(cb)
    try:
        _load(batches, src)
    finally:
        gc.callbacks.remove(cb)
    print("\ncollections during one load (GC on): "
          + ", ".join(f"gen{g}: {stats[g]} ({spent[g] * 1e3:.0f} ms)" for g in sorted(stats)))

    header("RIB ingest: per-route pieces (GC off; 1,001,000 of each)")
    attrs = batches[0][1]
    t, _ = best(lambda: [hash(r) for r in routes], gc_off=True)
    row("hash(route) (C hash, cached; called through the class __hash__)", t, n)
    keys = [bytes(r) for r in routes]
    [hash(k) for k in keys]
    t, _ = best(lambda: [hash(k) for k in keys], gc_off=True)
    row("hash(bytes) with its hash cached (what a plain bytes key costs)", t, n)
    t, _ = best(lambda: {r: r for r in routes}, gc_off=True)
    row("dict insert keyed by route", t, n)
    t, _ = best(lambda: {k: k for k in keys}, gc_off=True)
    row("dict insert keyed by bytes (hash cached)", t, n)
    _tuple_new = tuple.__new__
    t, _ = best(lambda: [RibPath(r, attrs, src, b"x") for r in routes], gc_off=True)
    row(f"Path(route, attrs, source, next_hop) ({rib_module.update_loops.IMPLEMENTATION} twin's, "
        "called from Python)", t, n)
    t, _ = best(lambda: [_tuple_new(_update_py.Path, (r, attrs, src, b"x")) for r in routes],
                gc_off=True)
    row("Python twin's Path (NamedTuple) via tuple.__new__ (as its loop)", t, n)
    t, _ = best(lambda: [BestPathChanged(EVPN, r, "withdrawn", r, None) for r in routes],
                gc_off=True)
    row("BestPathChanged(...) called from Python (as _add, _remove)", t, n)
    t, _ = best(lambda: [_tuple_new(_update_py.BestPathChanged, (EVPN, r, "added", None, r))
                         for r in routes], gc_off=True)
    row("Python twin's BestPathChanged via tuple.__new__ (as its loop)", t, n)

    def shared_value():
        """Loc-RIB/Adj-RIB-In with one shared value per UPDATE instead of a
        Path per route, C-level inserts (new keys only: the common case of a
        first load; a real version checks for existing keys)."""
        loc, adj = {}, {}
        for r, a, nh in batches:
            p = RibPath(None, a, src, nh)
            new = dict.fromkeys(r, p)
            adj.update(new)
            loc.update(new)
        return loc
    t, loc = best(shared_value, gc_off=True)
    row("prototype: one shared (attrs, source, next hop) value per UPDATE, dict.update", t, n)
    if do_profile:
        print("\ncProfile, Rib.update over the decoded stream (GC on):")
        profile(_load, batches, src)


# --- withdraw ----------------------------------------------------------------------------

def withdraw(stream, msgs, routes, batches, do_profile):
    n = len(routes)
    src = _source()
    header("RIB withdraw of every route (Rib.update(..., withdrawn=routes) per UPDATE)")

    def setup():
        rib, _ = _load(batches, src)
        return (rib,)

    def lib(rib):
        k = 0
        for r, _, _ in batches:
            k += len(rib.update(src, EVPN, (), r))
        return k
    t, k = best(lib, setup=setup)
    row("Rib.update(withdrawn=...) (GC on)", t, n)
    t, k = best(lib, setup=setup, gc_off=True)
    row("Rib.update(withdrawn=...) (GC off)", t, n)

    PyRib = _py_rib()

    def py_setup():
        rib, _ = _load(batches, src, PyRib)
        return (rib,)
    t, k2 = best(lib, setup=py_setup)
    row(f"Rib.update(withdrawn=...), Python twin of the loops (GC on; {k2:,} changes, "
        f"C twin {k:,})", t, n)
    if do_profile:
        rib, = setup()
        print("\ncProfile, withdraw (GC on):")
        profile(lib, rib)


# --- reflection ----------------------------------------------------------------------------

class FakePeer:
    __slots__ = ("name", "source", "context")

    def __init__(self, i, ctx):
        from bgpevpn.rib import Source
        addr = f"192.0.2.{i + 1}"
        self.name = f"client{i + 1}"
        self.source = Source(self.name, address=addr, router_id=addr, asn=65000, client=True)
        self.context = ctx


def build_grouped(ug, changes, peers):
    """UpdateGroups.build with the target peers computed once per source and
    the group key per (path attrs, next hop, source, family) instead of per
    change (announcements only, as in this benchmark; same output)."""
    from bgpevpn import wire
    from bgpevpn.rib.reflect import _nh_text
    refl = ug.reflector
    if getattr(refl, "export_policy", None) is not None:
        # targets then depend on the path; a real version would key the cache on
        # (source, attributes) when the policy reads only the attributes (RT)
        raise NotImplementedError("prototype: no export policy")
    targets_of: dict = {}
    groups: dict = {}
    for ch in changes:
        new = ch.new
        if new is None or ch.old is not None:
            raise NotImplementedError("prototype: announcements only")
        src = new.source
        key = (id(new.attrs), new.next_hop, src, ch.family)
        g = groups.get(key)
        if g is None:
            tg = targets_of.get(src)
            if tg is None:
                tg = targets_of[src] = refl.targets(new, peers)
            g = groups[key] = (refl.outgoing(new), new.next_hop, tg, ch.family, [])
        g[4].append(new.route)
    out: dict = {}
    encoded: dict = {}
    for out_attrs, nh, targets, fam, routes in groups.values():
        if not targets:
            continue
        nh_arg = _nh_text(nh) if fam == (1, 1) else nh
        for p in targets:
            ck = (id(out_attrs), nh, fam, p.context, id(routes))
            msgs = encoded.get(ck)
            if msgs is None:
                msgs = encoded[ck] = wire.pack_updates(routes, out_attrs, nh_arg, p.context)
            out.setdefault(p, []).extend(msgs)
    return out


def reflect(stream, msgs, routes, batches, do_profile):
    from bgpevpn.rib.reflect import RouteReflector, UpdateGroups
    n = len(routes)
    _, changes = _load(batches, _source())
    peers = [FakePeer(i, stream.ctx) for i in range(10)]
    header("Reflection to 10 clients (UpdateGroups.build), routes/s per client")
    t, out = best(lambda: UpdateGroups(RouteReflector("192.0.2.254")).build(changes, peers))
    row("UpdateGroups.build (library)", t, n)
    t, out2 = best(lambda: build_grouped(UpdateGroups(RouteReflector("192.0.2.254")),
                                         changes, peers))
    same = all(b"".join(out[p]) == b"".join(out2[p]) for p in peers)
    row(f"prototype: targets per source, group key per (attrs, nh, source) (same bytes: {same})",
        t, n)
    from bgpevpn import wire
    from bgpevpn.rib.reflect import RouteReflector as RR
    refl = RR("192.0.2.254")
    groups = {}
    for ch in changes:
        groups.setdefault((id(ch.new.attrs), ch.new.next_hop), (ch.new, []))[1].append(
            ch.new.route)
    t, _ = best(lambda: [wire.pack_updates(rs, refl.outgoing(p), p.next_hop, stream.ctx)
                         for p, rs in groups.values()])
    row("of which: pack_updates once per group (C twin)", t, n)
    if do_profile:
        print("\ncProfile, UpdateGroups.build:")
        profile(lambda: UpdateGroups(RouteReflector("192.0.2.254")).build(changes, peers))


# --- pcap ----------------------------------------------------------------------------------

class _NoWalk:
    """A record walk that takes no record (bgpevpn.pcap: every packet the general path)."""

    def __init__(self, ports, max_run=0):
        pass

    def walk(self, buf, pos, frame, last_time, fmt, expect, seen_ports):
        return pos, frame, last_time, None, None, [], [], []


def count_by_class(dec, msg):
    """Decoder._count_routes with one Counter(map(type, routes)) per list and
    the summary key computed once per route class (same counts)."""
    from bgpevpn.constants import family_name
    keys = dec.__dict__.setdefault("_class_keys", {})
    for kind, rs in (("announced", msg.announced), ("withdrawn", msg.withdrawn)):
        if not rs:
            continue
        for cls, k in Counter(map(type, rs)).items():
            key = keys.get(cls)
            if key is None:
                rt = getattr(cls, "route_type", None)
                if not isinstance(rt, int) or not isinstance(getattr(cls, "afi", None), int):
                    raise NotImplementedError(cls)  # a real version falls back per route
                fam = family_name(cls.afi, cls.safi)
                key = keys[cls] = f"{fam} type {rt}" if cls.afi == 25 else fam
            c = dec.routes.setdefault(key, {"announced": 0, "withdrawn": 0})
            c[kind] += k


def pcap(stream, msgs, routes, batches, do_profile):
    import baseline
    import pcapwriter
    from bgpevpn import _wire_c as c
    from bgpevpn import cli
    from bgpevpn.pcap import BgpCaptureReader, read_packets
    n = len(routes)
    path = pcapwriter.cached_pcap(benchutil.PARAMS)
    raw = path.read_bytes()
    header(f"pcap decode ({path.stat().st_size:,} octets), by component")

    def run_cli(argv):
        with contextlib.redirect_stdout(io.StringIO()):
            return cli.main(argv)
    t, _ = best(lambda: run_cli(["decode", "--summary", str(path)]))
    row("bgpevpn decode --summary (cli.main, C twin)", t, n)
    t, _ = best(lambda: baseline.pcap_walk(raw))
    row("baseline: pcap_walk (records, headers, payload join)", t, n)
    t, _ = best(lambda: sum(1 for _ in read_packets(raw)))
    row("pcap.read_packets (records only, a Packet each)", t, n)
    from bgpevpn import pcap as pcapmod
    packets = list(read_packets(raw))
    t, segs = best(lambda: [pcapmod._tcp_segment(p.linktype, p.data) for p in packets])
    row(f"pcap._tcp_segment for each of the {len(packets):,} packets (the general path)", t, n)
    walkers = [("C", pcapmod._CWalker)] if pcapmod._CWalker else []
    walkers.append(("Python", pcapmod._PyWalker))

    def walk_only(cls):
        """The record walk over the whole capture, as reassemble_tcp drives it (runs
        handed to nothing; the few other packets through next_packet)."""
        cap = pcapmod._Capture(raw, None)
        cap.start()
        walker, expect, runs = cls((179,)), {}, 0
        flow = next(s for s in segs if s is not None and s.payload)
        expect[flow.key] = flow.seq
        while True:
            pos = cap.pos
            cap.pos, cap.frame, cap.last_time, key, data, *_ = walker.walk(
                cap.buf, pos, cap.frame, cap.last_time, cap.fmt, expect, set())
            if key is not None:
                runs += 1
                expect[key] = (expect[key] + len(data)) & 0xFFFFFFFF
            if cap.pos == pos and cap.next_packet() is None:
                return runs
    for name, cls in walkers:
        t, runs = best(lambda cls=cls: walk_only(cls))
        row(f"record walk, {name} twin ({runs} runs of <= 1 MiB; headers, payload join)", t, n)
    for name, cls in walkers:
        pcapmod._Walker = cls
        t, msgs_ = best(lambda: list(BgpCaptureReader(raw)))  # with pcapmod._Walker = cls
        row(f"BgpCaptureReader, {name} walk (records, IP/TCP, reassembly, framing)", t, n)
    pcapmod._Walker = _NoWalk
    t, _ = best(lambda: list(BgpCaptureReader(raw)))
    row("BgpCaptureReader without the walk (every packet the general path)", t, n)
    pcapmod._Walker = walkers[0][1]
    t, _ = best(lambda: [c.decode_message(m.data, stream.ctx) for m in msgs_])
    row("C decode_message per captured message (results kept)", t, n)
    from bgpevpn import capture
    from bgpevpn.bmp import DEFAULT_PORTS
    t, items = best(lambda: list(capture.read_pcap(raw, (179,), ())))
    row("capture.read_pcap, BGP pass only (reader + FlowContexts decode)", t, n)
    t, _ = best(lambda: list(capture.read_bmp(raw, DEFAULT_PORTS)))
    row(f"capture.read_bmp: the second pass for BMP on {tuple(DEFAULT_PORTS)} (finds nothing)",
        t, n)

    def decoder_loop(count=None):
        dec = cli.Decoder(None, quiet=True)
        if count is not None:
            dec._count_routes = lambda msg: count(dec, msg)
        for it in items:
            dec.item(it)
        return dec
    t, d1 = best(decoder_loop)
    row("cli.Decoder.item over the decoded items (summary counting)", t, n)
    t, d2 = best(lambda: decoder_loop(count_by_class))
    row(f"prototype: _count_routes by route class (same counts: {d1.routes == d2.routes})", t, n)
    if do_profile:
        print("\ncProfile, bgpevpn decode --summary:")
        profile(run_cli, ["decode", "--summary", str(path)], top=22)


# --- speaker ----------------------------------------------------------------------------------

def speaker(stream, msgs, routes, batches, do_profile):
    """The receive path without sockets: a Session in Established fed the
    stream in 256 KiB chunks (what the selector transport reads at most)."""
    from bgpevpn import wire
    from bgpevpn.session import Session, SessionConfig, UpdateReceived
    n = len(routes)
    chunk = 256 * 1024
    parts = [stream.data[i:i + chunk] for i in range(0, len(stream.data), chunk)]

    def established():
        cfg_a = SessionConfig(local_as=65000, router_id="192.0.2.1", peer_as=65000)
        cfg_b = SessionConfig(local_as=65000, router_id="192.0.2.2", peer_as=65000)
        a, b = Session(cfg_a), Session(cfg_b)
        for s in (a, b):
            s.start(0.0)
            s.connection_made(0.0)
        for _ in range(3):
            b.receive_data(a.data_to_send(), 0.0)
            a.receive_data(b.data_to_send(), 0.0)
        b.events()
        return (b,)

    def feed(b):
        k = 0
        for p in parts:
            b.receive_data(p, 1.0)
            for e in b.events():
                if type(e) is UpdateReceived:
                    k += len(e.announced)
        return k
    header("Speaker receive path without sockets (Session.receive_data, 256 KiB chunks)")
    t, k = best(feed, setup=established)
    row(f"Session.receive_data + events ({k:,} routes)", t, n)
    def frames(r):
        k = 0
        for p in parts:
            for m in r.feed(p):
                k += 1
        return k
    t, _ = best(frames, setup=lambda: (wire.MessageReader(stream.ctx),))
    row("of which: MessageReader.feed (C twin), messages dropped", t, n)
    if do_profile:
        b, = established()
        print("\ncProfile, Session.receive_data:")
        profile(feed, b)


def main(argv=None) -> int:
    global REPEAT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", default="all",
                    choices=("rib", "withdraw", "reflect", "pcap", "speaker", "all"))
    ap.add_argument("--profile", action="store_true", help="also print cProfile tops")
    ap.add_argument("--repeat", type=int, default=REPEAT)
    a = ap.parse_args(argv)
    REPEAT = a.repeat
    from bgpevpn import _wire_c as c
    stream = benchutil.load_stream()
    msgs = c.decode_messages(stream.data, stream.ctx)
    routes = [r for m in msgs if m.type == "UPDATE" for r in m.announced]
    batches = update_batches(msgs)
    print(f"{len(routes):,} routes; load average {benchutil.loadavg()}")
    for name in ("rib", "withdraw", "reflect", "pcap", "speaker"):
        if a.what in (name, "all"):
            globals()[name](stream, msgs, routes, batches, a.profile)
    print(f"\nload average {benchutil.loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
