"""Memory of decoded routes, measured in a fresh interpreter (run as a subprocess).

    python benchmarks/memprobe.py --impl py --stream FILE [--max-size 4096] [--tracemalloc]

Prints one JSON object.  RSS figures come from /proc/self/status (VmRSS, and
VmHWM for the peak, reset with /proc/self/clear_refs before decoding); all are
bytes.  Checkpoints:

* ``empty``: the interpreter before anything of ours is imported;
* ``loaded``: bgpevpn imported and the stream read into one ``bytes``;
* ``peak``: the highest RSS while ``decode_messages`` ran;
* ``held``: after decoding, holding the decoded messages (and their routes);
* ``held_without_input``: the same after the input buffer is freed.

With ``--tracemalloc`` the decode runs under tracemalloc instead (slower; RSS
figures are then not meaningful) and the traced Python allocations are given.
"""
from __future__ import annotations

import re
import sys


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        m = re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.MULTILINE)
    return int(m.group(1)) * 1024 if m else 0


EMPTY_RSS = _status("VmRSS")   # before any import of ours

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
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
    ap.add_argument("--impl", choices=("py", "c"), default="py")
    ap.add_argument("--stream", required=True)
    ap.add_argument("--max-size", type=int, default=65535)
    ap.add_argument("--tracemalloc", action="store_true")
    a = ap.parse_args(argv)

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    import bgpevpn
    codec = importlib.import_module("bgpevpn._wire_py" if a.impl == "py" else "bgpevpn._wire_c")
    ctx = bgpevpn.Context(extended_message=a.max_size > 4096)
    data = Path(a.stream).read_bytes()
    gc.collect()
    loaded = _status("VmRSS")
    out = {"impl": a.impl, "bgpevpn": bgpevpn.__file__, "python": sys.version.split()[0],
           "input_bytes": len(data), "empty_rss": EMPTY_RSS, "loaded_rss": loaded}

    if a.tracemalloc:
        import tracemalloc
        tracemalloc.start()
        msgs = codec.decode_messages(data, ctx)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        n = sum(len(m.announced) for m in msgs)
        out.update(routes=n, traced_current=current, traced_peak=peak,
                   traced_per_route=round(current / n, 1),
                   traced_peak_per_route=round(peak / n, 1))
    else:
        peak_reset = _reset_peak()
        msgs = codec.decode_messages(data, ctx)
        peak = _status("VmHWM") if peak_reset else \
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        n = sum(len(m.announced) for m in msgs)
        gc.collect()
        held = _status("VmRSS")
        del data
        gc.collect()
        held_nostream = _status("VmRSS")
        sample = [r for m in msgs[:4] for r in m.announced][:1000]
        out.update(
            routes=n, peak_rss=peak, held_rss=held, held_without_input_rss=held_nostream,
            peak_reset=peak_reset,
            # decode-attributable: above the interpreter that already holds the input
            peak_per_route=round((peak - loaded) / n, 1),
            held_per_route=round((held - loaded) / n, 1),
            # above the empty interpreter (includes imports; the input for peak)
            peak_above_empty_per_route=round((peak - EMPTY_RSS) / n, 1),
            held_above_empty_per_route=round((held_nostream - EMPTY_RSS) / n, 1),
            getsizeof_route=round(sum(map(sys.getsizeof, sample)) / max(1, len(sample)), 1),
            route_gc_tracked=bool(sample) and gc.is_tracked(sample[0]),
        )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
