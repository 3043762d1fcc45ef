"""Memory of a Rib holding the stream's routes, in a fresh interpreter (a subprocess).

    python benchmarks/ribmemprobe.py --stream FILE [--tracemalloc]

Prints one JSON object (bytes unless named otherwise).  Steps:

1. import bgpevpn, read the stream into one ``bytes``, decode it with the C
   twin and keep the decoded messages (with their route objects);
   ``gc.collect()``; RSS = ``decoded_rss``: the baseline;
2. ``Rib.update(source, (25, 70), mp.routes, (), attributes, next_hop)`` for
   every UPDATE, from one source, dropping each returned change list (as a
   caller that acts on the changes and forgets them); ``gc.collect()``;
   RSS = ``rib_rss``, and the highest RSS during the load (VmHWM, reset
   with /proc/self/clear_refs after step 1) = ``rib_peak_rss``.

``rib_per_route`` = (rib_rss - decoded_rss) / routes: what the Rib adds on
top of routes that are already decoded and held.  That is the Adj-RIB-In
dict of the source, the Loc-RIB dict, and one ``Path`` per route (shared by
both tables when there is one source), plus the interned attribute sets.
The route objects themselves (the keys) are NOT counted: they belong to the
decoded stream (see memprobe.py: ~107 B/route).  With ``--tracemalloc`` the
load runs under tracemalloc instead and the traced allocations are given
(RSS figures are then meaningless and omitted).
"""
from __future__ import annotations

import re
import sys


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        m = re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.MULTILINE)
    return int(m.group(1)) * 1024 if m else 0


EMPTY_RSS = _status("VmRSS")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stream", required=True)
    ap.add_argument("--tracemalloc", action="store_true")
    a = ap.parse_args(argv)

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    import bgpevpn
    from bgpevpn import _wire_c as c
    from bgpevpn.rib import Path as RibPath
    from bgpevpn.rib import Rib, Source

    ctx = bgpevpn.Context(extended_message=True)
    data = Path(a.stream).read_bytes()
    msgs = c.decode_messages(data, ctx)
    batches = []
    for m in msgs:
        mp = m.attributes.mp_reach if m.type == "UPDATE" else None
        if mp is not None and mp.routes:
            batches.append((mp.routes, m.attributes, mp.next_hop))
    routes = sum(len(b[0]) for b in batches)
    src = Source("vtep-feed", address="198.18.255.1", router_id="198.18.255.1", asn=65000,
                 client=True)
    rib = Rib()
    gc.collect()
    out = {"routes": routes, "empty_rss": EMPTY_RSS}

    def load():
        for r, at, nh in batches:
            rib.update(src, (25, 70), r, (), at, nh)

    if a.tracemalloc:
        import tracemalloc
        tracemalloc.start()
        load()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.update(rib_traced=current, rib_traced_peak=peak,
                   rib_per_route=round(current / routes, 1),
                   rib_peak_per_route=round(peak / routes, 1))
    else:
        decoded = _status("VmRSS")
        peak_reset = _reset_peak()
        load()
        peak = _status("VmHWM") if peak_reset else 0
        gc.collect()
        held = _status("VmRSS")
        loc = rib.loc[(25, 70)]
        adj = rib.adj_in[src][(25, 70)]
        path = next(iter(loc.values()))
        shared = sum(1 for r, p in list(adj.items())[:10000] if loc[r] is p)
        out.update(
            decoded_rss=decoded, rib_rss=held, rib_peak_rss=peak, peak_reset=peak_reset,
            decoded_per_route_above_empty=round((decoded - EMPTY_RSS) / routes, 1),
            rib_per_route=round((held - decoded) / routes, 1),
            rib_peak_per_route=round((peak - decoded) / routes, 1) if peak_reset else None,
            loc_dict_per_route=round(sys.getsizeof(loc) / routes, 1),
            adj_in_dict_per_route=round(sys.getsizeof(adj) / routes, 1),
            path_getsizeof=sys.getsizeof(path),
            path_gc_tracked=gc.is_tracked(path),
            path_shared_by_adj_in_and_loc=shared == min(10000, len(adj)),
            attribute_sets=len(rib.intern),
            loc_routes=len(loc),
        )
        assert type(path) is RibPath
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
