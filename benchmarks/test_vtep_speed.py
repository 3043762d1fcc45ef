"""The VTEP agent's speed (issue #7): "10,000 local MACs on one VTEP are
advertised and 10,000 remote MACs installed into the kernel FDB within 5 s
each (the kernel alone takes ~2 s for 100,000 ``bridge fdb add`` here)".

Each round runs ``benchmarks/vtep_bench.py`` inside a network namespace of
its own (``ip netns exec``; created here, deleted afterwards, whatever
happens): bridge ``bv100`` + ``vxlan100`` + a veth port, the agent and a
``bgpevpn.aio.Speaker`` peer on loopback.  The figures are wall-clock
seconds measured inside the namespace (``extra_info["seconds_per_round"]``;
the pytest-benchmark timing of a round also counts the namespace set-up and
the agent's start and stop, and is meaningless under ``run.sh``'s
process-time timer, the work being in a child process).  Root is needed;
skipped otherwise.

    python -m pytest benchmarks/test_vtep_speed.py --benchmark-only -q
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BENCH = os.path.join(HERE, "vtep_bench.py")
MACS = int(os.environ.get("BGPEVPN_VTEP_BENCH_MACS", "10000"))
KERNEL_ENTRIES = int(os.environ.get("BGPEVPN_VTEP_BENCH_KERNEL", "100000"))
ROUNDS = int(os.environ.get("BGPEVPN_VTEP_BENCH_ROUNDS", "3"))
TARGET_S = 5.0          # the limit, each direction (absolute, wall clock)


def _why_not() -> str | None:
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "needs root (ip netns add, bridge and VXLAN devices)"
    for tool in ("ip", "bridge"):
        if shutil.which(tool) is None:
            return f"{tool} (iproute2) not installed"
    try:
        import pyroute2  # noqa: F401
    except ImportError:
        return "pyroute2 not installed (pip install 'bgpevpn[vtep]')"
    name = f"bgpevpn-probe-{uuid.uuid4().hex[:6]}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        return f"ip netns add failed: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


_WHY = _why_not()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=_WHY or "")


def _remove_namespace(ns: str) -> None:
    """Kill what still runs in ``ns`` (ours: we created it) and delete it."""
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    for _ in range(3):
        if subprocess.run(["ip", "netns", "del", ns], capture_output=True).returncode == 0:
            return
        time.sleep(0.5)


def _load() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run_in_namespace(mode: str, count: int) -> dict:
    """One run of vtep_bench.py MODE in a fresh namespace; its JSON (with the
    1-minute load average before the run: the figures are wall clock)."""
    load = _load()
    ns = f"bgpevpn-vtep-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, BENCH, mode,
                            "--count", str(count)],
                           capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
        if r.returncode != 0 or not r.stdout.strip():
            raise AssertionError(f"vtep_bench.py {mode} failed ({r.returncode}):\n"
                                 f"{r.stderr[-3000:]}")
        out = json.loads(r.stdout.strip().splitlines()[-1])
        out["loadavg_1min"] = load
        return out
    finally:
        _remove_namespace(ns)


def _verdict(secs) -> str:
    ok = sum(1 for s in secs if s <= TARGET_S)
    best = "met" if min(secs) <= TARGET_S else "MISSED"
    return (f"target <= {TARGET_S:g} s (best round): {best}; {ok} of {len(secs)} rounds "
            f"within; median {sorted(secs)[len(secs) // 2]:.2f} s")


def _show(capsys, text: str) -> None:
    with capsys.disabled():
        print("\n" + text)


def _rounds(benchmark, scenario: str, n: int) -> list:
    """ROUNDS runs of the scenario, each in namespaces of its own: their results."""
    results = []
    benchmark.pedantic(lambda: results.append(run_in_namespace(scenario, n)),
                       rounds=ROUNDS, iterations=1, warmup_rounds=0)
    return results


def _agent_info(kind: str, results: list) -> tuple:
    """(seconds per round, the extra_info both agent benchmarks record)."""
    secs = [round(r["seconds"], 3) for r in results]
    return secs, dict(
        kind=kind, macs=MACS, seconds_per_round=secs, best_s=min(secs),
        median_s=sorted(secs)[len(secs) // 2], target_s=TARGET_S,
        loadavg_per_round=[r["loadavg_1min"] for r in results],
        wall_clock="seconds_per_round: wall time inside the namespace")


def test_vtep_local_macs_advertised(benchmark, capsys):
    """(a) N static FDB entries on a bridge port (one ``bridge -batch``) ->
    all N type-2 routes received by the BGP peer."""
    results = _rounds(benchmark, "local", MACS)
    for r in results:
        assert r["received"] == MACS, r
    secs, info = _agent_info("vtep_local", results)
    benchmark.extra_info.update(
        info, bridge_batch_s_per_round=[round(r["bridge_batch_s"], 3) for r in results],
        announced=results[-1]["agent_counters"]["announced"],
        updates_received_per_round=[r["updates_received"] for r in results])
    _show(capsys, f"VTEP local: {MACS:,} local MACs advertised (bridge -batch to the peer "
                  f"holding every type-2 route): {', '.join(f'{s:.2f}' for s in secs)} s "
                  f"(the bridge -batch itself: "
                  f"{', '.join('%.2f' % r['bridge_batch_s'] for r in results)} s); "
                  f"{_verdict(secs)}; load average before the rounds "
                  f"{', '.join(str(r['loadavg_1min']) for r in results)}")


def test_vtep_remote_macs_installed(benchmark, capsys):
    """(b) the peer announces N type-2 routes + 1 type 3 -> vxlan100's FDB
    holds all N remote MACs (and the flood entry)."""
    results = _rounds(benchmark, "remote", MACS)
    for r in results:
        assert r["installed"] >= MACS and r["flood_entry"], r
    secs, info = _agent_info("vtep_remote", results)
    benchmark.extra_info.update(
        info, agent_done_s_per_round=[round(r["agent_done_s"], 3) for r in results],
        netlink_requests=results[-1]["netlink_requests"])
    _show(capsys, f"VTEP remote: {MACS:,} remote MACs installed (first UPDATE sent to "
                  f"bridge fdb show holding all): {', '.join(f'{s:.2f}' for s in secs)} s "
                  f"({results[-1]['netlink_requests']:,} netlink requests, sent in batches); "
                  f"{_verdict(secs)}; load average before the rounds "
                  f"{', '.join(str(r['loadavg_1min']) for r in results)}")


def test_vtep_kernel_alone(benchmark, capsys):
    """The comparison: N ``bridge fdb add`` in one ``bridge -batch``, no agent."""
    results = _rounds(benchmark, "kernel", KERNEL_ENTRIES)
    for r in results:
        assert r["vxlan_entries"] == KERNEL_ENTRIES, r
    port = [round(r["bridge_port_master_static_s"], 3) for r in results]
    vx = [round(r["vxlan_self_dst_s"], 3) for r in results]
    benchmark.extra_info.update(
        kind="vtep_kernel_alone", entries=KERNEL_ENTRIES, bridge_port_s_per_round=port,
        vxlan_s_per_round=vx, best_bridge_port_s=min(port), best_vxlan_s=min(vx),
        loadavg_per_round=[r["loadavg_1min"] for r in results],
        wall_clock="wall time of bridge -batch")
    _show(capsys, f"kernel alone: {KERNEL_ENTRIES:,} bridge fdb add in one batch: "
                  f"on the bridge port (master static) {', '.join(f'{s:.2f}' for s in port)} s,"
                  f" on vxlan100 (self dst) {', '.join(f'{s:.2f}' for s in vx)} s")
