"""Codec speed on a 1,000,000-route EVPN stream (pytest-benchmark, pedantic mode).

    python -m pytest benchmarks/ --benchmark-only --benchmark-json=benchmarks/results/latest.json
    python benchmarks/check_targets.py benchmarks/results/latest.json

or just ``benchmarks/run.sh``.  The stream comes from ``generate.py`` (cached
between runs, see ``generate.cached_stream``).  Every figure lands in
``extra_info``: ``routes`` (counted from the result, not assumed),
``expected_routes``, ``routes_per_s`` (from the fastest round) and
``routes_per_s_median``, and ``ratio_to_bare_loop`` (routes/s divided by the
bare loop's routes/s measured in the same session).

The tests contain no asserts on speed or correctness: ``check_targets.py``
reads the JSON and decides (route counts, byte-identical re-encoding, ratio
targets).  The C twin's tests are skipped until ``bgpevpn._wire_c`` exists.

Environment: ``BGPEVPN_BENCH_ROUTES`` (default 1000000) for a smaller stream.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import baseline
import generate
from benchutil import Stream, held, load_stream, record

HERE = Path(__file__).resolve().parent
ROUTES = int(os.environ.get("BGPEVPN_BENCH_ROUTES", "1000000"))
PARAMS = generate.StreamParams(routes=ROUTES)
PARAMS_4K = generate.StreamParams(routes=ROUTES, max_size=generate.NON_EXTENDED)
CHUNK = 64 * 1024

#: rounds per benchmark: enough for a stable minimum on a shared 2-core VM while
#: the whole session stays well under 5 minutes with both twins.
ROUNDS_FAST = 20     # sub-second loops
ROUNDS = 7           # ~0.1-1.5 s per round

_RATES: dict = {}    # kind -> routes/s (fastest round) in this session


@pytest.fixture(scope="session")
def stream() -> Stream:
    return load_stream(PARAMS)


@pytest.fixture(scope="session")
def stream_4k() -> Stream:
    return load_stream(PARAMS_4K)


@pytest.fixture(scope="session")
def groups():
    """The route objects and attribute sets of ``stream``, built once."""
    return list(generate.iter_groups(PARAMS))


@pytest.fixture(scope="session")
def chunks(stream):
    d = stream.data
    return [d[i:i + CHUNK] for i in range(0, len(d), CHUNK)]


@pytest.fixture(params=["py", "c"])
def twin(request):
    if request.param == "py":
        return importlib.import_module("bgpevpn._wire_py")
    return pytest.importorskip("bgpevpn._wire_c", reason="the C twin is not built")


def _record(benchmark, kind: str, twin: str | None, routes: int, expected: int, **extra):
    record(benchmark, kind, twin, routes, expected, **extra)
    st = benchmark.stats.stats if benchmark.stats else None
    if st is None or not st.min:
        return
    info = benchmark.extra_info
    rate = routes / st.min
    if twin is not None or kind in ("bare_loop", "frame_only"):
        _RATES[(kind, twin)] = rate
    base = _RATES.get(("bare_loop", None))
    if base and kind != "bare_loop":
        info["ratio_to_bare_loop"] = round(rate / base, 4)


def _count_announced(msgs) -> int:
    return sum(len(m.announced) for m in msgs if m.type == "UPDATE")


# --- baselines (run first: the ratios divide by the bare loop) ------------------------

@pytest.mark.benchmark(group="baseline")
def test_baseline_frame_only(benchmark, stream):
    """struct loop that only frames the messages."""
    n = benchmark.pedantic(baseline.frame_only, args=(stream.data,), rounds=ROUNDS_FAST)
    _record(benchmark, "frame_only", None, stream.meta["routes"], PARAMS.expected_routes,
            messages=n, expected_messages=stream.meta["messages"])


@pytest.mark.benchmark(group="baseline")
def test_baseline_bare_loop(benchmark, stream):
    """struct loop over messages, attributes and NLRI; keeps nothing."""
    n = benchmark.pedantic(baseline.bare_loop, args=(stream.data,), rounds=ROUNDS_FAST)
    _record(benchmark, "bare_loop", None, n, PARAMS.expected_routes,
            baseline_version=baseline.BASELINE_VERSION)


# --- decoding -----------------------------------------------------------------------

@pytest.mark.benchmark(group="decode")
def test_decode_messages(benchmark, stream, twin):
    """decode_messages(stream) into Update objects holding one object per route."""
    msgs = held(benchmark, lambda: twin.decode_messages(stream.data, stream.ctx), ROUNDS)
    _record(benchmark, "decode", twin.IMPLEMENTATION, _count_announced(msgs),
            PARAMS.expected_routes, messages=len(msgs))


@pytest.mark.benchmark(group="decode")
def test_decode_messages_gc_disabled(benchmark, stream, twin):
    """The same with the cyclic GC disabled during each round: the gap to
    test_decode_messages is what garbage collection costs during a decode
    (informational, not a target; the routes are not tracked, their lists
    and Update objects are)."""
    msgs = held(benchmark, lambda: twin.decode_messages(stream.data, stream.ctx), ROUNDS,
                disable_gc=True)
    _record(benchmark, "decode_gc_off", twin.IMPLEMENTATION, _count_announced(msgs),
            PARAMS.expected_routes, messages=len(msgs))


@pytest.mark.benchmark(group="decode")
def test_decode_non_extended(benchmark, stream_4k, twin):
    """The same routes as a non-extended peer receives them (4096-octet UPDATEs,
    ~5.5x more messages): shows the per-message cost (informational)."""
    msgs = held(benchmark, lambda: twin.decode_messages(stream_4k.data, stream_4k.ctx), ROUNDS)
    _record(benchmark, "decode_4096", twin.IMPLEMENTATION, _count_announced(msgs),
            PARAMS_4K.expected_routes, messages=len(msgs))


@pytest.mark.benchmark(group="decode")
def test_message_reader_64k(benchmark, chunks, stream, twin):
    """MessageReader fed the stream in 64 KiB chunks (as from a socket)."""
    def read():
        reader = twin.MessageReader(stream.ctx)
        out = []
        for c in chunks:
            out.extend(reader.feed(c))
        return out

    msgs = held(benchmark, read, ROUNDS)
    _record(benchmark, "reader_64k", twin.IMPLEMENTATION, _count_announced(msgs),
            PARAMS.expected_routes, messages=len(msgs), chunk=CHUNK)


@pytest.mark.benchmark(group="decode")
def test_decode_columns(benchmark, stream, twin):
    """decode_columns(stream): one row per route in typed columns, no route
    objects (the C twin's >= 50M routes/s target; skipped where the twin has
    no decode_columns)."""
    if not hasattr(twin, "decode_columns"):
        pytest.skip("this twin has no decode_columns")
    cols = held(benchmark, lambda: twin.decode_columns(stream.data, stream.ctx), ROUNDS)
    _record(benchmark, "decode_columns", twin.IMPLEMENTATION, len(cols), PARAMS.expected_routes,
            attribute_sets=len(cols.attribute_sets))


# --- encoding -----------------------------------------------------------------------

@pytest.mark.benchmark(group="encode")
def test_pack_updates(benchmark, groups, stream, twin):
    """pack_updates over the same routes, one call per attribute set (type 3
    then type 2s per (VTEP, VNI)); the output must equal the stream."""
    ctx = stream.ctx

    def encode():
        out = []
        for g in groups:
            out += generate.pack_group(g, ctx, twin.pack_updates)
        return out

    msgs = held(benchmark, encode, ROUNDS)
    eor = generate.bgpevpn.end_of_rib(25, 70) if PARAMS.end_of_rib else b""
    wire = b"".join(msgs) + eor
    _record(benchmark, "encode", twin.IMPLEMENTATION,
            sum(len(g.type2) + 1 for g in groups), PARAMS.expected_routes,
            messages=len(msgs), identical_to_stream=wire == stream.data)


# --- memory -------------------------------------------------------------------------

def _probe(impl: str, path: Path, *extra) -> dict:
    cmd = [sys.executable, str(HERE / "memprobe.py"), "--impl", impl, "--stream", str(path),
           *extra]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark(group="memory")
def test_memory_decoded_routes(benchmark, stream, twin):
    """RSS of holding the decoded stream, in a fresh interpreter; then the
    traced Python allocations (tracemalloc) in a second one.  The time shown
    is the two subprocesses', not a figure of merit."""
    impl = twin.IMPLEMENTATION
    res = {}

    def run():
        res["rss"] = _probe(impl, stream.path)
        res["trace"] = _probe(impl, stream.path, "--tracemalloc")

    benchmark.pedantic(run, rounds=1)
    rss, trace = res["rss"], res["trace"]
    info = {k: rss[k] for k in ("peak_per_route", "held_per_route", "peak_above_empty_per_route",
                                "held_above_empty_per_route", "getsizeof_route",
                                "route_gc_tracked", "empty_rss", "loaded_rss", "peak_rss",
                                "held_rss", "held_without_input_rss", "input_bytes")}
    info.update(traced_per_route=trace["traced_per_route"],
                traced_peak_per_route=trace["traced_peak_per_route"])
    _record(benchmark, "memory", impl, rss["routes"], PARAMS.expected_routes, **info)
    benchmark.extra_info.pop("routes_per_s", None)
    benchmark.extra_info.pop("routes_per_s_median", None)
    benchmark.extra_info.pop("ratio_to_bare_loop", None)
