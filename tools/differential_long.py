#!/usr/bin/env python3
"""Long differential run of the codec twins, outside pytest.

Runs the checks of ``tests/test_differential.py`` (same generators, same
comparisons: C twin against Python twin on the same bytes) for N examples
(default 1,000,000) in batches spread over worker processes, printing
progress, and ends with one line:

    differential: N examples, D disagreements, C crashes

(D and C count failing checks; the distinct bugs are listed above that line.)
A failure does not stop the run: it is logged under its signature (kind,
function, where the outcomes first differ), the smallest input of each
signature is minimised (structure-aware deletions that keep every length
field consistent) and written to ``tests/corpus/found-*.bin`` (stream
functions) or printed (slice decoders, pack_updates).

    python tools/differential_long.py                  # 1,000,000 examples
    python tools/differential_long.py -n 50000 -j 2 --time-limit 600
    python tools/differential_long.py --write-seeds    # (re)write tests/corpus/seed-*.bin

Exit status: 0 when no failure was found, 1 otherwise, 2 when the C twin is
missing.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import queue
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TESTS = os.path.join(REPO, "tests")
sys.path.insert(0, TESTS)
if not os.environ.get("PYTHONPATH"):
    # this checkout's bgpevpn (and its in-place C twin), not an installed copy;
    # set PYTHONPATH to test another copy (tools/asan.sh does)
    sys.path.insert(1, REPO)

D = None  # tests/test_differential.py, imported in main() and in each worker


def _import_d():
    global D
    if D is None:
        import test_differential as mod
        mod.RAISE = False
        D = mod
    return D


# ============================================================ one batch (in a worker)

def _categories():
    """category -> ("random", generator(draws) -> example, check(example)) or
    ("hypothesis", strategy, check(example)).  The generators are those of
    tests/test_differential.py; the ones that need tests/strategies.py run
    under Hypothesis, the others over random.Random (much cheaper)."""
    d = _import_d()
    seeds_pcap = d.pcap_messages()
    seeds_corpus = d.corpus_messages() or seeds_pcap

    def stream(example, seed):
        data, ctx = example
        d.check_stream(data, ctx, seed)

    return {
        "raw": ("random", d.gen_raw_input, stream),
        "fuzzy_update": ("random", d.gen_update_stream, stream),
        "pcap_mutation": ("random", lambda g: d.gen_mutated_stream(g, seeds_pcap), stream),
        "corpus_mutation": ("random", lambda g: d.gen_mutated_stream(g, seeds_corpus), stream),
        "slices": ("random", d.gen_slice_input, lambda ex, seed: d.check_slice(*ex)),
        "strategy_messages": ("hypothesis", d.strategy_message_input(), stream),
        "pack_updates": ("hypothesis", d.pack_input(), lambda ex, seed: d.check_pack(*ex)),
    }


_CATEGORIES = None


def run_batch(task):
    """Run ``n`` examples of one category; returns what the parent merges."""
    global _CATEGORIES
    import random
    category, n, seed = task
    d = _import_d()
    if _CATEGORIES is None:
        _CATEGORIES = _categories()
    how, gen, check = _CATEGORIES[category]
    d.FAILURE_LOG.clear()
    counter = [0]
    t0 = time.monotonic()
    error = None
    try:
        if how == "random":
            rng = random.Random(seed)
            g = d.RandomDraws(rng)
            for _ in range(n):
                example = gen(g)
                counter[0] += 1
                check(example, rng.randrange(1 << 16))
        else:
            from hypothesis import HealthCheck, given, settings
            from hypothesis import seed as hseed
            from hypothesis import strategies as st

            @hseed(seed)
            @settings(max_examples=n, database=None, deadline=None, derandomize=False,
                      suppress_health_check=list(HealthCheck), print_blob=False)
            @given(gen, st.integers(0, 2 ** 16))
            def run(example, s):
                counter[0] += 1
                check(example, s)
            run()
    except Exception as e:  # noqa: BLE001 -- a crash of the harness itself is reported
        import traceback
        error = "".join(traceback.format_exception(e))[-3000:]
    log = {sig: dict(v) for sig, v in d.FAILURE_LOG.items()}
    return category, counter[0], time.monotonic() - t0, log, error


# ============================================================ minimising

def _still_fails(d, entry, data, seed):
    """Does ``data`` still fail with the same signature in the same function?"""
    sig = d.signature(entry["kind"], entry["function"], entry["where"])
    d.FAILURE_LOG.clear()
    try:
        d.STREAM_CHECKS[entry["function"]](data, entry["ctx"], seed)
    except Exception:  # noqa: BLE001
        return False
    hit = sig in d.FAILURE_LOG
    d.FAILURE_LOG.clear()
    return hit


def minimise(entry, budget_s=60.0):
    """Delta-debug a failing stream: delete chunks (fixing enclosing lengths
    where it can, else raw), then zero octets, keeping the failure's signature."""
    d = _import_d()
    data = bytes(entry["data"])
    seed = _seed_of(entry)
    if not _still_fails(d, entry, data, seed):
        return data
    deadline = time.monotonic() + budget_s
    k = max(1, len(data) // 2)
    while k >= 1 and time.monotonic() < deadline:
        progress = False
        pos = 0
        while pos < len(data) and time.monotonic() < deadline:
            for cand in (d.delete_keeping_lengths(data, pos, k, entry["ctx"]),
                         data[:pos] + data[pos + k:]):
                if cand != data and len(cand) < len(data) and _still_fails(d, entry, cand, seed):
                    data = cand
                    progress = True
                    break
            else:
                pos += k
        if not progress:
            k //= 2
    for i in range(len(data)):
        if time.monotonic() > deadline:
            break
        if data[i] and i not in range(16, 18):
            cand = data[:i] + b"\x00" + data[i + 1:]
            if _still_fails(d, entry, cand, seed):
                data = cand
    return data


def _seed_of(entry):
    """The chunking seed a stream check used (only MessageReader and
    split_messages depend on it; 0 reproduces the others)."""
    return entry.get("seed", 0)


# ============================================================ seeds for the corpus

def write_seeds(directory):
    """The interesting seeds of the regression corpus (tests/corpus/seed-*.bin)."""
    import bgpevpn
    from bgpevpn import (AsPath, Capability, Context, EthernetAutoDiscoveryRoute,
                         EthernetSegmentRoute, ExtCommunities, ExtCommunity,
                         InclusiveMulticastRoute, IpPrefixRoute, Keepalive, LocalPref,
                         MacIpRoute, Notification, Open, Origin, PmsiTunnel, RawEvpnRoute,
                         RouteRefresh, SelectiveMulticastRoute, MembershipReportSynchRoute,
                         LeaveSynchRoute, AddPathEvpnRoute)
    from bgpevpn import _wire_py as P
    d = _import_d()
    os.makedirs(directory, exist_ok=True)
    seeds = {}

    # real FRR (Edgecore) EVPN type-2/type-3 UPDATEs, as captured
    frr = d.pcap_streams().get("frr-edgecore-evpn-rt2-rt3-7msgs.pcapng")
    if frr:
        seeds["seed-frr-edgecore-evpn-rt2-rt3.bin"] = b"".join(frr)

    rd = "10.0.0.1:100"
    esi = "00:11:22:33:44:55:66:77:88:99"
    base = [Origin(0), AsPath([(2, (65001,))])]
    rt_vx = ExtCommunities([ExtCommunity.route_target(65001, 100), ExtCommunity.encapsulation(8)])

    def packed(routes, attrs, nh="10.0.0.1", ctx=None, withdraw=False):
        return b"".join(P.pack_updates(routes, attrs, nh, ctx or Context(), withdraw))

    # FRR-like type 2: MAC only, MAC+IPv4, MAC+IPv6, symmetric IRB (L2 + L3 VNI, router MAC)
    t2 = [MacIpRoute.build(rd, "00:00:5e:00:53:01", None, (100,)),
          MacIpRoute.build(rd, "00:00:5e:00:53:02", "192.0.2.2", (100,)),
          MacIpRoute.build(rd, "00:00:5e:00:53:03", "2001:db8::3", (100,))]
    irb = ExtCommunities([ExtCommunity.route_target(65001, 100),
                          ExtCommunity.route_target(65001, 5000),
                          ExtCommunity.encapsulation(8),
                          ExtCommunity.router_mac("02:00:00:00:00:01")])
    t2_irb = [MacIpRoute.build(rd, "00:00:5e:00:53:04", "192.0.2.4", (100, 5000))]
    seeds["seed-frr-like-evpn-type2.bin"] = (packed(t2, base + [rt_vx])
                                            + packed(t2_irb, base + [irb]))
    # FRR-like type 3 with a PMSI tunnel (ingress replication, VNI as the label)
    t3 = [InclusiveMulticastRoute.build(rd, "10.0.0.1"),
          InclusiveMulticastRoute.build(rd, "2001:db8::1", 100)]
    pmsi = PmsiTunnel((0, 6, 100, bytes([10, 0, 0, 1])))
    seeds["seed-frr-like-evpn-type3.bin"] = packed(t3[:1], base + [rt_vx, pmsi]) + \
        packed(t3[1:], base + [rt_vx, pmsi], "2001:db8::1")

    # every EVPN route type
    def raw_route(rtype, body, cls):
        return cls(bytes([rtype, len(body)]) + body)

    rd_b = bytes(bgpevpn.RouteDistinguisher(rd))
    esi_b = bytes(bgpevpn.Esi(esi))
    v4 = b"\x20" + bytes([192, 0, 2, 7])
    by_type = {
        1: [EthernetAutoDiscoveryRoute.build(rd, esi, 0xFFFFFFFF, 0),
            EthernetAutoDiscoveryRoute.build(rd, esi, 0, 100)],
        2: t2 + t2_irb,
        3: t3,
        4: [EthernetSegmentRoute.build(rd, esi, "10.0.0.1"),
            EthernetSegmentRoute.build(rd, esi, "2001:db8::1")],
        5: [IpPrefixRoute.build(rd, "198.51.100.0/24", 5000),
            IpPrefixRoute.build(rd, "2001:db8:1::/48", 5000, "2001:db8::1", esi)],
        6: [raw_route(6, rd_b + bytes(4) + v4 + v4 + v4 + b"\x00", SelectiveMulticastRoute),
            raw_route(6, rd_b + bytes(4) + b"\x00" + v4 + v4 + b"\x0e",
                      SelectiveMulticastRoute)],
        7: [raw_route(7, rd_b + esi_b + bytes(4) + b"\x00" + v4 + v4 + b"\x02",
                      MembershipReportSynchRoute)],
        8: [raw_route(8, rd_b + esi_b + bytes(4) + b"\x00" + v4 + v4 + bytes(4) + b"\x0a\x02",
                      LeaveSynchRoute)],
        9: [raw_route(9, rd_b + bytes(10), RawEvpnRoute)],
        10: [raw_route(10, rd_b + bytes(6), RawEvpnRoute)],
        11: [raw_route(11, bytes(12), RawEvpnRoute)],
        42: [raw_route(42, b"\x01\x02\x03", RawEvpnRoute)],
    }
    for t, routes in by_type.items():
        seeds[f"seed-evpn-type{t}.bin"] = packed(routes, base + [rt_vx]) + \
            packed(routes, [], withdraw=True)
    every = [r for routes in by_type.values() for r in routes]
    seeds["seed-evpn-all-types.bin"] = packed(every, base + [rt_vx, LocalPref(100)]) + \
        packed(every, [], withdraw=True)

    # ADD-PATH EVPN (decode with Context(add_path={(25, 70)}))
    ap_ctx = Context(add_path={(25, 70)})
    ap_routes = [AddPathEvpnRoute(i + 1, r) for i, r in enumerate(every)]
    seeds["seed-evpn-addpath.bin"] = packed(ap_routes, base + [rt_vx], ctx=ap_ctx) + \
        packed(ap_routes[:3], [], ctx=ap_ctx, withdraw=True)

    # a whole session: OPEN, KEEPALIVE, UPDATEs, End-of-RIB, ROUTE-REFRESH, NOTIFICATION
    op = Open.build(4200000001, 90, "10.0.0.1", [
        Capability.multiprotocol(25, 70), Capability.multiprotocol(1, 1),
        Capability.route_refresh(), Capability.enhanced_route_refresh(),
        Capability.add_path([(25, 70, 3)]), Capability.extended_message(),
        Capability.graceful_restart(120, [(25, 70, 0x80)]), Capability.fqdn("leaf1", "")])
    ctx = Context()
    seeds["seed-session.bin"] = (
        P.encode_message(op, ctx) + P.encode_message(Keepalive(), ctx)
        + packed(t2, base + [rt_vx]) + packed(t3[:1], base + [rt_vx, pmsi])
        + P.end_of_rib(25, 70) + P.end_of_rib(1, 1)
        + P.encode_message(RouteRefresh(25, 70, 1), ctx)
        + P.encode_message(RouteRefresh(25, 70, 2), ctx)
        + P.encode_message(Notification.shutdown("maintenance"), ctx))

    written = []
    for name, data in seeds.items():
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(data)
        written.append((name, len(data)))
    return written


# ============================================================ main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--examples", type=int, default=1_000_000)
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch", type=int, default=2000, help="examples per Hypothesis run")
    ap.add_argument("--seed", type=int, default=None, help="base seed (default: time)")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="stop starting batches after this many seconds")
    ap.add_argument("--no-save", action="store_true", help="do not write tests/corpus/")
    ap.add_argument("--minimise-seconds", type=float, default=30.0)
    ap.add_argument("--weight", action="append", default=[], metavar="CATEGORY=N",
                    help="override a category's share (default: the pytest weights, "
                         "tests/test_differential.py WEIGHTS)")
    ap.add_argument("--write-seeds", action="store_true",
                    help="write tests/corpus/seed-*.bin and exit")
    args = ap.parse_args(argv)

    d = _import_d()
    if d.C is None:
        built = d.built_c_twins()
        print(f"differential: the C twin does not import ({d.C_IMPORT_ERROR!r}); "
              f"built files: {built or 'none'}", file=sys.stderr)
        return 2
    if args.write_seeds:
        for name, n in write_seeds(d.CORPUS_DIR):
            print(f"wrote {name} ({n} octets)")
        return 0

    base_seed = args.seed if args.seed is not None else int(time.time())
    weights = dict(d.WEIGHTS)
    for item in args.weight:
        name, _, value = item.partition("=")
        if name not in weights:
            ap.error(f"--weight: unknown category {name!r} (one of {', '.join(weights)})")
        weights[name] = float(value)
    weights = {c: w for c, w in weights.items() if w > 0}
    cats = sorted(weights)
    print(f"differential: {args.examples} examples, {args.jobs} jobs, batches of {args.batch}, "
          f"base seed {base_seed}, package {d.PACKAGE_DIR}, weights {weights}", flush=True)

    def tasks():
        # weighted round robin over the categories, until the examples are handed out
        handed = {c: 0 for c in cats}
        total = 0
        i = 0
        while total < args.examples:
            c = min(cats, key=lambda c: (handed[c] / weights[c], c))
            n = min(args.batch, args.examples - total)
            handed[c] += n
            total += n
            yield (c, n, base_seed * 100003 + i)
            i += 1

    t0 = time.monotonic()
    done = 0
    per_cat = {c: 0 for c in cats}
    log: dict = {}
    errors = []
    stopped_early = False
    ctx_mp = multiprocessing.get_context("fork")
    finished: queue.Queue = queue.Queue()
    with ctx_mp.Pool(args.jobs, initializer=_import_d) as pool:
        pending = tasks()
        in_flight = 0

        def submit():
            nonlocal stopped_early, in_flight
            if args.time_limit is not None and time.monotonic() - t0 > args.time_limit:
                stopped_early = True
                return False
            try:
                task = next(pending)
            except StopIteration:
                return False
            pool.apply_async(run_batch, (task,), callback=finished.put,
                             error_callback=lambda e, t=task: finished.put(
                                 (t[0], 0, 0.0, {}, f"{type(e).__name__}: {e}")))
            in_flight += 1
            return True

        # keep every worker busy: a slow batch never holds up the others
        for _ in range(args.jobs + 1):
            if not submit():
                break
        while in_flight:
            category, count, elapsed, blog, error = finished.get()
            in_flight -= 1
            done += count
            per_cat[category] += count
            if error:
                errors.append((category, error))
                print(f"  harness error in {category}: {error.splitlines()[-1]}", flush=True)
            for sig, entry in blog.items():
                old = log.get(sig)
                if old is None:
                    print(f"  NEW {sig[0]} in {sig[1]} at {sig[2]} "
                          f"({len(entry['data']) if isinstance(entry['data'], bytes) else '-'}"
                          f" octets)", flush=True)
                    log[sig] = entry
                else:
                    count_sum = old["count"] + entry["count"]
                    if entry["size"] < old["size"]:
                        log[sig] = entry
                    log[sig]["count"] = count_sum
            el = time.monotonic() - t0
            rate = done / el if el else 0.0
            eta = (args.examples - done) / rate if rate else float("inf")
            nfail = sum(e["count"] for e in log.values())
            print(f"  {done}/{args.examples} examples  {el:7.0f}s  {rate:6.0f}/s  "
                  f"eta {eta:6.0f}s  failures {nfail} ({len(log)} distinct)  "
                  f"[{category} {count} in {elapsed:.1f}s]", flush=True)
            submit()
    elapsed = time.monotonic() - t0

    disagreements = sum(e["count"] for s, e in log.items() if s[0] == "disagreement")
    crashes = sum(e["count"] for s, e in log.items() if s[0] == "crash")
    print(f"\nper category: {per_cat}; {elapsed:.0f} s"
          + (" (time limit reached)" if stopped_early else ""))
    for sig, entry in sorted(log.items(), key=repr):
        data = entry["data"]
        args_text = entry["args"] if len(str(entry["args"])) < 300 else ""
        print(f"\n== {entry['kind']} in {entry['function']}{args_text}  x{entry['count']}\n"
              f"   where: {entry['where']}\n   context: {entry['ctx']!r}")
        if isinstance(data, bytes) and entry["function"] in d.STREAM_CHECKS:
            small = minimise(entry, args.minimise_seconds)
            print(f"   input ({len(small)} octets, minimised from {len(data)}): {small.hex()}")
            if not args.no_save:
                digest = hashlib.sha1(small).hexdigest()[:12]
                path = os.path.join(d.CORPUS_DIR,
                                    f"found-{entry['kind']}-{entry['function']}-{digest}.bin")
                with open(path, "wb") as f:
                    f.write(small)
                print(f"   saved {os.path.relpath(path, REPO)}")
        elif isinstance(data, bytes):
            print(f"   input ({len(data)} octets): {data.hex()}  slice {entry.get('slice')}")
            if not args.no_save and entry.get("slice"):
                digest = hashlib.sha1(data).hexdigest()[:12]
                where = "-".join(map(str, entry["slice"]))
                path = os.path.join(d.CORPUS_DIR, f"found-{entry['kind']}-{entry['function']}-"
                                                  f"{digest}@{where}.bin")
                with open(path, "wb") as f:
                    f.write(data)
                print(f"   saved {os.path.relpath(path, REPO)}")
        else:
            print(f"   input: {str(data)[:2000]}")
        print(f"   py: {entry['py'][:600]}\n   c:  {entry['c'][:600]}")
    for category, error in errors:
        print(f"\nharness error in {category}:\n{error}")
    print(f"differential: {done} examples, {disagreements} disagreements, {crashes} crashes"
          + (f" ({len(log)} distinct; {elapsed:.0f} s)" if log else f" ({elapsed:.0f} s)"),
          flush=True)
    return 0 if not log and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
