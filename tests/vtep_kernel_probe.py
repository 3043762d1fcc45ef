"""Run inside a fresh network namespace by tests/test_vtep_kernel.py:
exercises bgpevpn.vtep.kernel.Kernel against the real kernel and prints
what it saw as JSON (one object on stdout)."""
import asyncio
import json
import subprocess
import sys

from bgpevpn.vtep.kernel import FdbEntry, Kernel


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


async def main():
    sh("ip link set lo up; ip addr add 203.0.113.9/32 dev lo;"
       "ip link add bv100 type bridge ageing_time 3000000;"
       "ip link add vxlan100 type vxlan id 100 dstport 4789 local 203.0.113.9 nolearning;"
       "ip link set vxlan100 master bv100; ip link set vxlan100 up; ip link set bv100 up;"
       "ip link add hp100 type veth peer name hq; ip link set hp100 master bv100;"
       "ip link set hp100 up; ip link set hq up")
    k = Kernel()
    await k.open()
    out = {}
    links = {l.name: l for l in await k.links()}
    vx, br, port = links["vxlan100"], links["bv100"], links["hp100"]
    out["vxlan"] = [vx.kind, vx.vni, vx.local, vx.master == br.index, vx.up]
    events = []

    async def watch():
        async for e in k.events():
            events.append(e)
    w = asyncio.ensure_future(watch())
    await asyncio.sleep(0.1)
    reqs = [k.remote_mac(vx.index, f"02:aa:00:00:00:{i:02x}", "203.0.113.1") for i in range(50)]
    reqs += [k.flood(vx.index, "203.0.113.1"), k.flood(vx.index, "203.0.113.2"),
             k.neighbour(br.index, "192.0.2.11", "02:aa:00:00:00:01"),
             k.steer(vx.index, "02:aa:00:00:00:02")]
    out["failed_adds"] = await k.submit(reqs)
    # a failure in the middle of a batch is reported, the rest done
    bad = [k.remote_mac(vx.index, "02:bb:00:00:00:01", "203.0.113.1"),
           k.remote_mac(999999, "02:bb:00:00:00:02", "203.0.113.1"),
           k.remote_mac(vx.index, "02:bb:00:00:00:03", "203.0.113.1")]
    out["failed_bad"] = await k.submit(bad)
    fdb = await k.fdb()
    out["remote"] = sorted(e.mac for e in fdb if e.ifindex == vx.index and e.dst
                           and e.mac != "00:00:00:00:00:00" and e.extern_learn)
    out["flood"] = sorted(e.dst for e in fdb if e.ifindex == vx.index
                          and e.mac == "00:00:00:00:00:00")
    out["steered"] = [e.mac for e in fdb if e.ifindex == vx.index and e.master
                      and e.extern_learn]
    neigh = [n for n in await k.neighbours() if n.ifindex == br.index]
    out["neigh"] = [[n.ip, n.mac, n.extern_learn] for n in neigh]
    sh("bridge fdb add 02:cc:00:00:00:01 dev hp100 master static")
    await asyncio.sleep(0.3)
    dels = [k.remote_mac_delete(vx.index, f"02:aa:00:00:00:{i:02x}") for i in range(50)]
    dels += [k.flood_delete(vx.index, "203.0.113.1"), k.neighbour_delete(br.index, "192.0.2.11"),
             k.bridge_entry_delete(vx.index, "02:aa:00:00:00:02"),
             k.remote_mac_delete(vx.index, "02:dd:00:00:00:99")]      # missing: not a failure
    out["failed_dels"] = await k.submit(dels)
    fdb = await k.fdb()
    out["after"] = sorted((e.mac, e.dst) for e in fdb if e.ifindex == vx.index and e.dst)
    out["suppress"] = await k.set_neigh_suppress(vx.index, True)
    await asyncio.sleep(0.3)
    w.cancel()
    local = [e for e in events if isinstance(e, FdbEntry) and e.mac == "02:cc:00:00:00:01"]
    out["local_event"] = [[e.ifindex == port.index, e.master == br.index, e.static]
                          for e in local]
    out["event_kinds"] = sorted({type(e).__name__ for e in events})
    await k.close()
    json.dump(out, sys.stdout)


asyncio.run(main())
