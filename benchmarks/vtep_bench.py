"""The VTEP agent's speed, measured inside a network namespace (issue #7).

Run by benchmarks/test_vtep_speed.py as

    ip netns exec NS python benchmarks/vtep_bench.py MODE [--count N]

inside a namespace it created (and deletes afterwards); prints one JSON
object on stdout.  MODE:

- ``local``: 10,000 local MACs.  Bridge ``bv100`` (ageing_time 3000000)
  with ``vxlan100`` (VNI 100, local 203.0.113.9, nolearning) and a veth
  port; the agent (``VtepAgent``, real ``Kernel``) peers with a
  ``bgpevpn.aio.Speaker`` on 127.0.0.2 port 1790 in this process.  Once the
  session is up, N static FDB entries go onto the port in one
  ``bridge -batch``; measured: the time until the peer has received all N
  type-2 routes.
- ``remote``: 10,000 remote MACs.  The same set-up; the peer announces N
  type-2 routes + 1 type-3 (RT 65000:100, encapsulation VXLAN, next hop
  203.0.113.5); measured: the time until ``vxlan100``'s FDB holds them all
  (the agent's queue of kernel operations drained, every netlink request
  acknowledged, then checked with ``bridge fdb show dev vxlan100``).
- ``kernel``: the kernel alone: N ``bridge fdb add`` in one ``bridge -batch``
  (no agent running), on the bridge port (``master static``, what ``local``
  adds) and on ``vxlan100`` (``self dst``, what ``remote`` installs).

The peer and the agent share this process's event loop (one core for both,
the other for the kernel and ``bridge``), as the figures in docs say.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bgpevpn.attributes import (  # noqa: E402
    AsPath,
    ExtCommunities,
    LocalPref,
    Origin,
    PmsiTunnel,
)
from bgpevpn.aio import Speaker  # noqa: E402
from bgpevpn.constants import PmsiTunnelType, TunnelType  # noqa: E402
from bgpevpn.routes import InclusiveMulticastRoute, MacIpRoute  # noqa: E402
from bgpevpn.session import events as ev  # noqa: E402
from bgpevpn.values import ExtCommunity  # noqa: E402
from bgpevpn.vtep import VtepAgent, validate_config  # noqa: E402

ASN = 65000
LOCAL_VTEP = "203.0.113.9"
REMOTE_VTEP = "203.0.113.5"
PEER_IP, PEER_PORT = "127.0.0.2", 1790
AGENT_IP = "127.0.0.1"
VNI = 100
EVPN = (25, 70)


def sh(*args, input=None, check=True):
    return subprocess.run(list(args), input=input, capture_output=True, text=True, check=check)


def setup() -> None:
    """bv100 + vxlan100 + a veth port, in the current namespace."""
    sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    sh("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "addr", "add", f"{LOCAL_VTEP}/32", "dev", "lo")
    sh("ip", "addr", "add", f"{PEER_IP}/8", "dev", "lo")
    sh("ip", "link", "add", "bv100", "type", "bridge", "ageing_time", "3000000")
    sh("ip", "link", "add", "vxlan100", "type", "vxlan", "id", str(VNI), "dstport", "4789",
       "local", LOCAL_VTEP, "nolearning")
    sh("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
    for dev in ("vxlan100", "veth0"):
        sh("ip", "link", "set", dev, "master", "bv100")
    for dev in ("bv100", "vxlan100", "veth0", "veth1"):
        sh("ip", "link", "set", dev, "up")


def mac_of(i: int, prefix: int = 0x02) -> str:
    return "%02x:%02x:%02x:%02x:%02x:%02x" % (prefix, 0xb0, (i >> 24) & 0xFF, (i >> 16) & 0xFF,
                                              (i >> 8) & 0xFF, i & 0xFF)


def batch(lines) -> float:
    """``bridge -batch`` of these commands; its wall time."""
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    try:
        t0 = time.perf_counter()
        r = sh("bridge", "-batch", path, check=False)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"bridge -batch failed: {r.stderr.strip()[:500]}")
        return dt
    finally:
        os.unlink(path)


def count_vxlan_fdb(dst: str) -> int:
    out = sh("bridge", "fdb", "show", "dev", "vxlan100").stdout
    return sum(1 for line in out.splitlines()
               if f"dst {dst}" in line and not line.startswith("00:00:00:00:00:00"))


def agent_config() -> dict:
    return validate_config({
        "bgp": {"asn": ASN, "router_id": LOCAL_VTEP, "source": LOCAL_VTEP, "port": 1791,
                "graceful_restart": False, "connect_retry": 1},
        "peers": [{"address": PEER_IP, "port": PEER_PORT, "mode": "active",
                   "local_address": AGENT_IP}],
        "evpn": {"advertise_all_vni": True, "sync_timeout": 5},
    })


class Peer:
    """The route reflector side: a Speaker listening on 127.0.0.2:1790."""

    def __init__(self):
        self.macs: set = set()
        self.withdrawn = 0
        self.updates = 0
        self.done = asyncio.Event()
        self.target = 0
        self.speaker = Speaker(ASN, "10.255.0.1", listen=(PEER_IP,), port=PEER_PORT)
        self.peer = self.speaker.add_peer(AGENT_IP, peer_as=ASN, mode="passive",
                                          on_event=self._on_event)

    def _on_event(self, peer, event) -> None:
        if isinstance(event, ev.UpdateReceived):
            self.updates += 1
            for r in event.announced:
                if r.route_type == 2 and str(r.mac).startswith("02:b0:"):
                    self.macs.add(str(r.mac))
            self.withdrawn += len(event.withdrawn)
            if self.target and len(self.macs) >= self.target:
                self.done.set()

    async def start(self) -> None:
        await self.speaker.start()


async def start_pair():
    peer = Peer()
    await peer.start()
    agent = VtepAgent(agent_config())
    await agent.start()
    await peer.peer.established(timeout=30)
    await peer.peer.send_end_of_rib()
    t0 = time.perf_counter()
    while not agent.synced and time.perf_counter() - t0 < 10:
        await asyncio.sleep(0.01)
    await agent.settled()
    return peer, agent


async def stop_pair(peer, agent) -> None:
    try:
        await asyncio.wait_for(agent.stop(), 60)
    finally:
        await asyncio.wait_for(peer.speaker.close("benchmark done"), 10)


async def run_local(n: int) -> dict:
    setup()
    peer, agent = await start_pair()
    peer.target = n
    port = "veth0"
    lines = [f"fdb add {mac_of(i)} dev {port} master static" for i in range(n)]
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    batch_s = await loop.run_in_executor(None, batch, lines)
    t_batch = time.perf_counter() - t0
    try:
        await asyncio.wait_for(peer.done.wait(), 120)
    except asyncio.TimeoutError:
        pass
    total = time.perf_counter() - t0
    got = len(peer.macs)
    out = {"mode": "local", "macs": n, "received": got, "seconds": total,
           "updates_received": peer.updates,
           "bridge_batch_s": batch_s, "batch_returned_s": t_batch,
           "agent_counters": dict(agent.counters),
           "netlink_requests": agent.kernel.requests,
           "local_macs_in_state": len(agent.state.local)}
    await stop_pair(peer, agent)
    return out


async def run_remote(n: int) -> dict:
    setup()
    peer, agent = await start_pair()
    rd = f"{REMOTE_VTEP}:1"
    attrs = [Origin(0), AsPath([]), LocalPref(100),
             ExtCommunities([ExtCommunity("target:65000:100"),
                             ExtCommunity.encapsulation(TunnelType.VXLAN)])]
    t3 = InclusiveMulticastRoute.build(rd, REMOTE_VTEP, 0)
    t3_attrs = attrs + [PmsiTunnel((0, PmsiTunnelType.INGRESS_REPLICATION, VNI,
                                    ipaddress.ip_address(REMOTE_VTEP).packed))]
    routes = [MacIpRoute.build(rd, mac_of(i, 0x06), None, (VNI,)) for i in range(n)]
    t0 = time.perf_counter()
    await peer.peer.send_routes([t3], t3_attrs, REMOTE_VTEP)
    await peer.peer.send_routes(routes, attrs, REMOTE_VTEP)
    t_sent = time.perf_counter() - t0
    # the agent's side: every route decided and every kernel request acknowledged
    deadline = t0 + 120
    while time.perf_counter() < deadline:
        if len(agent.state.macs_installed) >= n and agent._ops.empty() \
                and agent._flush_handle is None:
            await agent.settled()
            break
        await asyncio.sleep(0.02)
    t_agent = time.perf_counter() - t0
    # the kernel's side: the dump holds them all (polled until it does)
    installed = 0
    loop = asyncio.get_running_loop()
    while time.perf_counter() < deadline:
        installed = await loop.run_in_executor(None, count_vxlan_fdb, REMOTE_VTEP)
        if installed >= n:
            break
        await asyncio.sleep(0.05)
    total = time.perf_counter() - t0
    flood = REMOTE_VTEP in agent.state.floods_installed.get(VNI, set())
    out = {"mode": "remote", "macs": n, "installed": installed, "flood_entry": flood,
           "seconds": total, "agent_done_s": t_agent, "sent_s": t_sent,
           "agent_counters": dict(agent.counters),
           "netlink_requests": agent.kernel.requests}
    await stop_pair(peer, agent)
    return out


def run_kernel(n: int) -> dict:
    setup()
    port_s = batch([f"fdb add {mac_of(i)} dev veth0 master static" for i in range(n)])
    vx_s = batch([f"fdb add {mac_of(i, 0x06)} dev vxlan100 dst {REMOTE_VTEP} self"
                  for i in range(n)])
    held = count_vxlan_fdb(REMOTE_VTEP)
    return {"mode": "kernel", "entries": n, "bridge_port_master_static_s": port_s,
            "vxlan_self_dst_s": vx_s, "vxlan_entries": held}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("local", "remote", "kernel"))
    ap.add_argument("--count", type=int, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("pyroute2").setLevel(logging.ERROR)
    if args.mode == "kernel":
        out = run_kernel(args.count or 100_000)
    elif args.mode == "local":
        out = asyncio.run(run_local(args.count or 10_000))
    else:
        out = asyncio.run(run_remote(args.count or 10_000))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
