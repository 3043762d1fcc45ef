"""Helpers shared by the benchmarks (codec, RIB, speaker, pcap, ExaBGP):
the cached stream, ``record()`` and ``held()``.

``record()`` puts the same keys in ``extra_info`` as the codec benchmarks do
(``kind``, ``twin``, ``routes``, ``expected_routes``, ``routes_per_s`` from
the fastest round, ``routes_per_s_median``, ``rounds``, ``loadavg_1m``);
``check_targets.py`` recomputes every rate and ratio from the JSON.
"""
from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path

import generate

ROUTES = int(os.environ.get("BGPEVPN_BENCH_ROUTES", "1000000"))
PARAMS = generate.StreamParams(routes=ROUTES)
EVPN = (25, 70)


@dataclass
class Stream:
    data: bytes
    ctx: object
    params: generate.StreamParams
    path: Path
    meta: dict


def load_stream(params: generate.StreamParams = PARAMS) -> Stream:
    path = generate.cached_stream(params, verbose=True)
    return Stream(path.read_bytes(), generate.context_for(params.max_size), params, path,
                  generate.load_meta(path))


def loadavg() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return -1.0


def record(benchmark, kind: str, twin, routes: int, expected: int, **extra) -> None:
    info = benchmark.extra_info
    info.update(kind=kind, twin=twin, routes=routes, expected_routes=expected,
                stream_routes=PARAMS.expected_routes, loadavg_1m=loadavg(), **extra)
    st = benchmark.stats.stats if benchmark.stats else None
    if st is None or not st.min:
        return
    info["routes_per_s"] = round(routes / st.min)
    info["routes_per_s_median"] = round(routes / st.median)
    info["rounds"] = st.rounds


def held(benchmark, target, rounds, setup=None, disable_gc=False):
    """pedantic() keeping each round's result alive until the round is over
    (as a caller would), freeing it outside the timing; ``setup()`` may
    return a tuple of arguments for ``target``.  Returns the last result.
    The previous round's result is dropped in teardown, not when the next
    result replaces it, so no round pays for freeing another's objects."""
    box = []
    last = {}

    def _setup():
        box.clear()
        args = setup() if setup is not None else ()
        gc.collect()
        if disable_gc:
            gc.disable()
        return (args or ()), {}

    def run(*args):
        box.append(target(*args))

    def teardown(*args):
        gc.enable()
        last["r"] = box.pop()
        box.clear()

    benchmark.pedantic(run, setup=_setup, teardown=teardown, rounds=rounds)
    # with --benchmark-disable pytest-benchmark runs the target once and no teardown
    return last["r"] if "r" in last else (box[-1] if box else None)


def update_batches(msgs):
    """(routes, attributes, next hop) of every UPDATE that announces routes
    in MP_REACH_NLRI: what ``Rib.update`` gets, one call per UPDATE."""
    out = []
    for m in msgs:
        if m.type != "UPDATE":
            continue
        mp = m.attributes.mp_reach
        if mp is None or not mp.routes:
            continue
        out.append((mp.routes, m.attributes, mp.next_hop))
    return out


class CpuWall:
    """CPU (process) and wall time of a block."""

    def __enter__(self):
        self.c0, self.w0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu = time.process_time() - self.c0
        self.wall = time.perf_counter() - self.w0
