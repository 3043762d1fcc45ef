"""Acceptance tests of ``bgpevpn rr`` in the reference EVPN/VXLAN fabric.

One fabric per module (conftest.py, topology.py): 3 FRR 8.4 VTEPs with VNIs
100 and 200, a host per VTEP and VNI, ``bgpevpn rr`` (rr1) as the route
reflector and FRR ``bgpd -Z`` (rr2) as the second one when a test asks
for it.  Every test first brings the reflectors into the state it needs, so
each can also run alone (``-k``); in file order they share the fabric.

1. ``bgpevpn rr`` alone: same-VNI hosts ping across VTEPs, other VNIs stay
   apart, the VXLAN FDBs hold the remote MACs (extern_learn) and the flood
   entries of the other VTEPs, ``rr status``/``rr routes`` agree.
2. ``bgpevpn rr`` and FRR both reflecting: the same, and every VTEP has
   every remote route from both.
3. MAC mobility: a host moves to another VTEP keeping its MAC; the route
   with sequence 1 wins everywhere; a removed host leaves no FDB entry.
4. ``bgpevpn rr`` killed: the fabric keeps working through FRR; restarted,
   it resynchronises.

Then a VTEP's bgpd crashing (both reflectors withdraw its routes) and a
VTEP's graceful restart: the stale routes it did not announce again are
flushed at its End-of-RIB (RFC 4724 §4.2), also for dynamic neighbours.
"""
from __future__ import annotations

import signal
import time

import pytest

from .topology import (
    ASN,
    FLOOD_MAC,
    RR1_IP,
    RR2_IP,
    host_ip,
    host_mac,
    probe_ip,
    run,
    vtep_ip,
    wait_for,
)

pytestmark = pytest.mark.fabric

CONVERGE = 30      # seconds for BGP + zebra + kernel to settle after a change


# -- the state a test needs -----------------------------------------------------------

def reflectors(fabric, *, rr2: bool) -> None:
    """rr1 (bgpevpn rr) running, rr2 (FRR) running or not; the VTEPs'
    sessions in that state and each VTEP's table complete."""
    if fabric.rr1 is None or not fabric.rr1.alive():
        fabric.start_rr1()
    if rr2:
        fabric.start_rr2()
    else:
        fabric.stop_rr2()
    wanted = {RR1_IP: True, RR2_IP: rr2}

    def sessions():
        return all((fabric.vtep_peers(i).get(rr) == "Established") == up
                   for i in fabric.vteps for rr, up in wanted.items())
    wait_for(sessions, CONVERGE, f"VTEP sessions: {wanted}")
    learn_all_macs(fabric)
    wait_tables(fabric, {rr for rr, up in wanted.items() if up})


def learn_all_macs(fabric) -> None:
    """Every host sends a frame (so its VTEP learns and advertises its MAC):
    a ping to its neighbour on the next VTEP, retried until it answers."""
    for vni in fabric.vnis:
        for i in fabric.vteps:
            j = fabric.vteps[(fabric.vteps.index(i) + 1) % len(fabric.vteps)]
            wait_for(lambda i=i, j=j, vni=vni: fabric.ping(fabric.host_ns(i, vni), host_ip(j, vni)),
                     CONVERGE,
                     f"h{i}v{vni} -> h{j}v{vni} ping")


def wait_tables(fabric, peers: set) -> None:
    """Every VTEP has every remote route from each of ``peers`` (and no
    remote route from anybody else)."""
    def complete(i):
        paths = fabric.evpn_paths(fabric.vtep_ns(i))
        remote = {k: set(v) - {"(unspec)"} for k, v in paths.items()}
        remote = {k: v for k, v in remote.items() if v}
        want = fabric.expected_remote_routes(i)
        return set(remote) == want and all(v == peers for v in remote.values())
    for i in fabric.vteps:
        wait_for(lambda i=i: complete(i), CONVERGE, f"vtep{i}'s EVPN table from {sorted(peers)}")


# -- checks shared by tests 1, 2 and 4 ---------------------------------------------------

def check_same_vni_pings(fabric) -> None:
    for vni in fabric.vnis:
        for i in fabric.vteps:
            for j in fabric.vteps:
                if i != j:
                    assert wait_for(lambda i=i, j=j, vni=vni: fabric.ping(
                                    fabric.host_ns(i, vni), host_ip(j, vni)),
                                    10, f"h{i}v{vni} -> h{j}v{vni}")


def check_vnis_apart(fabric) -> None:
    """VNI 200 hosts also hold 192.0.2.11<i> (VNI 100's subnet): only a leak
    between the VNIs at layer 2 would let these pings through."""
    assert not fabric.ping(fabric.host_ns(1, 100), probe_ip(2), count=2)
    assert not fabric.ping(fabric.host_ns(3, 200), host_ip(1, 100), count=2)
    assert not fabric.ping(fabric.host_ns(2, 100), host_ip(3, 200), count=1)


def fdb_problems(fabric, i: int) -> list:
    """What is wrong with VTEP i's VXLAN FDBs (empty when right)."""
    problems = []
    for vni in fabric.vnis:
        entries = fabric.fdb(i, f"vxlan{vni}")
        remote = {(e["mac"], e.get("dst")): e for e in entries if e.get("dst")}
        for j in fabric.vteps:
            if j == i:
                continue
            mac = host_mac(j, vni)
            e = remote.get((mac, vtep_ip(j)))
            if e is None:
                problems.append(f"vxlan{vni}: no {mac} dst {vtep_ip(j)}")
            elif "extern_learn" not in e.get("flags", []):
                problems.append(f"vxlan{vni}: {mac} dst {vtep_ip(j)} is not extern_learn: {e}")
            if (FLOOD_MAC, vtep_ip(j)) not in remote:
                problems.append(f"vxlan{vni}: no flood entry {FLOOD_MAC} dst {vtep_ip(j)}")
        floods = {dst for mac, dst in remote if mac == FLOOD_MAC}
        if floods != {vtep_ip(j) for j in fabric.vteps if j != i}:
            problems.append(f"vxlan{vni}: flood list {sorted(floods)}")
        for other in fabric.vnis:
            if other == vni:
                continue
            leaked = [e for e in entries if e["mac"] in {host_mac(j, other) for j in fabric.vteps}]
            if leaked:
                problems.append(f"vxlan{vni}: MACs of VNI {other}: {leaked}")
    return problems


def check_fdbs(fabric) -> None:
    for i in fabric.vteps:
        wait_for(lambda i=i: not fdb_problems(fabric, i), CONVERGE, f"vtep{i}'s FDB")


def check_rr1_status(fabric) -> dict:
    def ok():
        st = fabric.rr1_status()
        peers = {p["address"]: p for p in st["peers"]}
        return (set(peers) == {vtep_ip(i) for i in fabric.vteps}
                and all(p["state"] == "Established" and p["client"]
                        and p["peer_as"] == ASN and p["routes_received"] == 2 * len(fabric.vnis)
                        for p in peers.values())
                and st["loc_rib"] == {"25/70": 2 * len(fabric.vnis) * len(fabric.vteps)}
                and st)
    st = wait_for(ok, CONVERGE, "bgpevpn rr status: 3 established clients, 4 routes each")
    assert st["asn"] == ASN and st["router_id"] == RR1_IP and st["cluster_id"] == RR1_IP
    return st


def rr1_route_keys(fabric) -> dict:
    """bgpevpn rr's Loc-RIB as {(type, rd, mac or originator): route}."""
    out = {}
    for r in fabric.rr1_routes():
        if r["route_type"] == 2:
            out[(2, r["rd"], r["mac"])] = r
        elif r["route_type"] == 3:
            out[(3, r["rd"], r["originator_ip"])] = r
        else:
            out[(r["route_type"], r["rd"], None)] = r
    return out


def check_rr1_routes(fabric) -> None:
    routes = fabric.rr1_routes()
    seen2, seen3 = set(), set()
    for r in routes:
        assert r["afi"] == "l2vpn" and r["safi"] == "evpn", r
        vtep = r["next_hop"]
        assert r["source"] == vtep, r
        assert r["rd"].startswith(vtep + ":"), r
        ecs = r["attributes"]["extended_communities"]
        assert "encapsulation:vxlan" in ecs, r
        vni = int(next(c for c in ecs if c.startswith("target:")).rsplit(":", 1)[1])
        if r["route_type"] == 2:
            assert r["ip"] is None and r["labels"] == [vni] and r["ethernet_tag"] == 0, r
            assert r["esi"] == "00:00:00:00:00:00:00:00:00:00", r
            seen2.add((r["mac"], vtep, vni))
        elif r["route_type"] == 3:
            pmsi = r["attributes"]["pmsi_tunnel"]
            assert r["originator_ip"] == vtep and pmsi["endpoint"] == vtep, r
            assert pmsi["type_name"] == "ingress-replication" and pmsi["label"] == vni, r
            seen3.add((vtep, vni))
        else:
            pytest.fail(f"unexpected route {r}")
    assert seen2 == {(host_mac(i, v), vtep_ip(i), v) for i in fabric.vteps for v in fabric.vnis}
    assert seen3 == {(vtep_ip(i), v) for i in fabric.vteps for v in fabric.vnis}
    assert len(routes) == len(seen2) + len(seen3)


def check_rr2(fabric) -> None:
    def ok():
        peers = fabric.rr2_peers()
        return (set(peers) == {vtep_ip(i) for i in fabric.vteps}
                and all(p.get("state") == "Established"
                        and p.get("pfxRcd") == 2 * len(fabric.vnis) for p in peers.values()))
    wait_for(ok, CONVERGE, "FRR reflector: 3 established clients, 4 routes each")


# -- the tests ----------------------------------------------------------------------------

def test_bgpevpn_rr_alone(fabric):
    reflectors(fabric, rr2=False)
    check_same_vni_pings(fabric)
    check_vnis_apart(fabric)
    check_fdbs(fabric)
    check_rr1_status(fabric)
    check_rr1_routes(fabric)


def test_bgpevpn_rr_with_frr_reflector(fabric):
    reflectors(fabric, rr2=True)      # every remote route from both reflectors
    check_same_vni_pings(fabric)
    check_vnis_apart(fabric)
    check_fdbs(fabric)
    check_rr1_status(fabric)
    check_rr1_routes(fabric)
    check_rr2(fabric)


MOVERS = {True: ("02:fb:00:64:00:99", "192.0.2.99"),     # (MAC, IP) per parameter
          False: ("02:fb:00:64:00:98", "192.0.2.98")}


def mac_state(fabric, i: int, mac: str) -> dict:
    return fabric.vtysh_json(fabric.vtep_ns(i), f"show evpn mac vni 100 mac {mac} json") \
        .get(mac, {})


def mac_fdb_entries(fabric, i: int, mac: str) -> list:
    """Every FDB entry of ``mac`` on VTEP i: the bridge's and those of its
    ports, vxlan100's own ("self", with dst) included."""
    return [e for e in fabric.bridge_fdb(i, "bv100") if e["mac"] == mac]


@pytest.mark.parametrize("with_frr", [True, False], ids=["bgpevpn-rr+frr", "bgpevpn-rr-alone"])
def test_mac_mobility(fabric, with_frr):
    """A host moves from vtep1 to vtep2 keeping its MAC: vtep2 learns it while
    vtep1's route (sequence 0) is still there, so it advertises sequence 1
    (RFC 7432 §15), which wins on every VTEP and both reflectors.

    The move is make-before-break, like a VM's live migration: the host
    gets a second veth into vtep2's bridge with the same MAC, its address
    moves there (ARP off on the old one) and it pings; only then is the old
    veth unplugged from vtep1.  (Unplugging first makes vtep1 withdraw at
    once; whether vtep2 then learns with sequence 1 or 0 is a race between
    that withdrawal and the host's first frame.)"""
    reflectors(fabric, rr2=with_frr)
    rrs = {RR1_IP, RR2_IP} if with_frr else {RR1_IP}
    v1, v2 = fabric.vtep_ns(1), fabric.vtep_ns(2)
    hns = fabric.add_ns(f"{fabric.tag}-mv{'f' if with_frr else 'a'}")
    try:
        move_and_remove(fabric, with_frr, rrs, v1, v2, hns, *MOVERS[with_frr])
    finally:   # whatever happened: no mover left for the next test
        if hns in fabric.namespaces:
            fabric.namespaces.remove(hns)
            run(["ip", "netns", "del", hns], check=False)
        for ns in (v1, v2):
            run(["ip", "-n", ns, "link", "del", "hm"], check=False)


def move_and_remove(fabric, with_frr, rrs, v1, v2, hns, mac, ip):
    fabric.ip(v1, "link", "add", "hm", "type", "veth", "peer", "name", "eth0", "netns", hns)
    fabric.ip(v1, "link", "set", "hm", "master", "bv100")
    fabric.ip(v1, "link", "set", "hm", "up")
    fabric.ip(hns, "link", "set", "eth0", "address", mac)
    fabric.ip(hns, "addr", "add", f"{ip}/24", "dev", "eth0")
    fabric.ip(hns, "link", "set", "eth0", "up")
    wait_for(lambda: fabric.ping(hns, host_ip(3, 100)), CONVERGE, "mover at vtep1 -> h3v100")

    def at(vtep: int, seq: int):
        want_ip = vtep_ip(vtep)
        states = {i: mac_state(fabric, i, mac) for i in fabric.vteps}
        for i, s in states.items():
            if i == vtep:
                if s.get("type") != "local" or s.get("localSequence") != seq:
                    return False
            elif (s.get("type") != "remote" or s.get("remoteVtep") != want_ip
                  or s.get("remoteSequence") != seq):
                return False
        for i in fabric.vteps:
            entries = mac_fdb_entries(fabric, i, mac)
            if i == vtep:
                # the bridge forwards to the local port.  (FRR 8.4's zebra leaves
                # the vxlan100 "self" entry of the MAC's remote past behind on
                # the VTEP it moved to; the bridge entry decides, so it is
                # harmless and not checked here.)
                if [e.get("ifname") for e in entries if not e.get("dst")] != ["hm"]:
                    return False
            else:
                remote = [e for e in entries if e.get("ifname") == "vxlan100" and e.get("dst")]
                if [e["dst"] for e in remote] != [want_ip] \
                        or "extern_learn" not in remote[0].get("flags", []):
                    return False
        return states
    wait_for(lambda: at(1, 0), CONVERGE, "mover's MAC local on vtep1, sequence 0, everywhere")

    # the move: a veth into vtep2's bridge, same MAC; the address follows
    fabric.ip(v2, "link", "add", "hm", "type", "veth", "peer", "name", "eth1", "netns", hns)
    fabric.ip(v2, "link", "set", "hm", "master", "bv100")
    fabric.ip(v2, "link", "set", "hm", "up")
    fabric.ip(hns, "link", "set", "eth1", "address", mac)
    fabric.ip(hns, "link", "set", "eth0", "arp", "off")
    fabric.ip(hns, "addr", "del", f"{ip}/24", "dev", "eth0")
    fabric.ip(hns, "addr", "add", f"{ip}/24", "dev", "eth1")
    fabric.ip(hns, "link", "set", "eth1", "up")
    wait_for(lambda: fabric.ping(hns, host_ip(3, 100)), CONVERGE, "mover at vtep2 -> h3v100")
    wait_for(lambda: at(2, 1), CONVERGE, "mover's MAC local on vtep2, sequence 1, everywhere")

    # unplug the old veth: nothing changes (vtep1 already gave the MAC up)
    fabric.ip(v1, "link", "del", "hm")
    time.sleep(1)
    states = wait_for(lambda: at(2, 1), CONVERGE, "sequence 1 still wins after the unplug")
    assert all(s.get("isDuplicate") is False for s in states.values()), states

    key = (f"[2]:[0]:[48]:[{mac}]", f"{ASN}:100")

    def one_route_seq1():
        # the reflectors and the VTEPs' BGP tables: one route, vtep2's, MM:1,
        # from every running reflector
        ok = []
        routes = [r for k, r in rr1_route_keys(fabric).items() if k[0] == 2 and k[2] == mac]
        ok.append(len(routes) == 1 and routes[0]["next_hop"] == vtep_ip(2)
                  and routes[0]["rd"].startswith(vtep_ip(2) + ":")
                  and "mac-mobility:1" in routes[0]["attributes"]["extended_communities"])
        tables = {fabric.vtep_ns(1): rrs, fabric.vtep_ns(3): rrs, fabric.vtep_ns(2): {"(unspec)"}}
        if with_frr:
            tables[fabric.rr2_ns] = {vtep_ip(2)}
        for ns, sources in tables.items():
            paths = fabric.evpn_paths(ns).get(key, {})
            ok.append(set(paths) == sources and all(p["rd"].startswith(vtep_ip(2) + ":")
                                                    and "MM:1" in p["ext"]
                                                    for p in paths.values()))
        return all(ok)
    wait_for(one_route_seq1, CONVERGE, "one type-2 route for the MAC, vtep2's, with MM:1")
    for i in (1, 3):
        assert wait_for(lambda i=i: fabric.ping(hns, host_ip(i, 100)), 10, f"mover -> h{i}v100")

    # the host goes away: its MAC leaves every FDB, every table
    fabric.namespaces.remove(hns)
    fabric.ip(hns, "link", "del", "eth1")   # vtep2's hm goes with it
    run(["ip", "netns", "del", hns])

    def frr_leftover(i, e) -> bool:
        """FRR 8.4's zebra, on vtep2, never removes the vxlan100 entry of the
        MAC's remote past (dst vtep1) when the MAC becomes local, not even
        once the MAC is gone (the same with FRR as the only reflector)."""
        return (i == 2 and e.get("ifname") == "vxlan100" and e.get("dst") == vtep_ip(1)
                and "self" in e.get("flags", []))

    def gone():
        for i in fabric.vteps:
            if mac_state(fabric, i, mac):
                return False
            if [e for e in mac_fdb_entries(fabric, i, mac) if not frr_leftover(i, e)]:
                return False
        if any(k[2] == mac for k in rr1_route_keys(fabric)):
            return False
        return not (with_frr and fabric.evpn_paths(fabric.rr2_ns).get(key))
    wait_for(gone, CONVERGE, "the removed host's MAC gone from every FDB and table")


def test_rr_failover_and_resync(fabric):
    reflectors(fabric, rr2=True)
    before = rr1_route_keys(fabric)
    fabric.rr1.stop(signal.SIGKILL)
    wait_for(lambda: all(fabric.vtep_peers(i).get(RR1_IP) != "Established"
                         for i in fabric.vteps), 15, "VTEPs to see bgpevpn rr gone")
    # the fabric keeps working through the FRR reflector
    check_same_vni_pings(fabric)
    check_vnis_apart(fabric)
    check_fdbs(fabric)
    check_rr2(fabric)

    fabric.start_rr1()
    wait_for(lambda: all(fabric.vtep_peers(i).get(RR1_IP) == "Established"
                         for i in fabric.vteps), CONVERGE, "VTEPs back with bgpevpn rr")
    check_rr1_status(fabric)
    check_rr1_routes(fabric)
    assert set(rr1_route_keys(fabric)) == set(before)
    wait_tables(fabric, {RR1_IP, RR2_IP})
    for i in fabric.vteps:
        stale = [(k, p) for k, v in fabric.evpn_paths(fabric.vtep_ns(i)).items()
                 for p in v.values() if p.get("stale")]
        assert not stale, f"vtep{i} still has stale paths: {stale}"
    check_same_vni_pings(fabric)
    check_fdbs(fabric)


# -- a VTEP's bgpd going away --------------------------------------------------------------

EXTRA_MAC = "02:fb:00:64:00:77"   # a static FDB entry on vtep3: a type-2 route without a host


def rr1_has(fabric, pred) -> bool:
    return any(pred(k, r) for k, r in rr1_route_keys(fabric).items())


def rr2_has(fabric, pred) -> bool:
    return any(pred(k, p) for k, v in fabric.evpn_paths(fabric.rr2_ns).items()
               for p in v.values())


def test_vtep_crash_withdraws_its_routes(fabric):
    """vtep3's bgpd crashes (SIGKILL, no NOTIFICATION).  Its GR capability
    (FRR's default, helper only) lists no AFI/SAFI, so RFC 4724 §4.2 keeps
    nothing: both reflectors must withdraw its routes at once.  (Until
    8896d15 bgpevpn rr kept them for good.  FRR sends no Cease on SIGTERM
    either, so the same held for every ordinary FRR restart.)"""
    reflectors(fabric, rr2=True)

    def from3(k, r):
        return k[1].startswith(vtep_ip(3) + ":")
    assert rr1_has(fabric, from3)
    fabric.stop_vtep_bgpd(3, signal.SIGKILL)
    try:
        wait_for(lambda: not rr2_has(fabric, lambda k, p: p["rd"].startswith(vtep_ip(3) + ":")),
                 15, "the FRR reflector to withdraw vtep3's routes")
        wait_for(lambda: not rr1_has(fabric, from3), 10,
                 "bgpevpn rr to withdraw vtep3's routes")
        for i in (1, 2):     # and the other VTEPs forget vtep3
            wait_for(lambda i=i: not [e for vni in fabric.vnis
                                      for e in fabric.fdb(i, f"vxlan{vni}")
                                      if e.get("dst") == vtep_ip(3)], 10,
                     f"vtep{i}'s FDB without vtep3")
    finally:
        fabric.start_vtep_bgpd(3)
        reflectors(fabric, rr2=True)


# -- graceful restart of a dynamic neighbour -----------------------------------------------

def test_vtep_graceful_restart_flushes_at_end_of_rib(fabric):
    """vtep3 runs as a graceful-restart speaker (``bgp graceful-restart``:
    l2vpn evpn in its capability) and restarts; a MAC it had announced is
    gone meanwhile.  RFC 4724 §4.2: stale routes not re-announced are removed
    at the End-of-RIB.  FRR, as the other reflector, does."""
    reflectors(fabric, rr2=True)
    v3 = fabric.vtep_ns(3)

    def mac(k, r):
        return k[0] == 2 and k[2] == EXTRA_MAC

    def mac2(k, p):
        return p.get("mac") == EXTRA_MAC
    try:
        fabric.stop_vtep_bgpd(3)                      # (FRR sends no Cease on SIGTERM)
        fabric.start_vtep_bgpd(3, graceful_restart=True)
        run(["bridge", "-n", v3, "fdb", "add", EXTRA_MAC, "dev", "hp100", "master", "static"])
        wait_for(lambda: rr1_has(fabric, mac) and rr2_has(fabric, mac2), CONVERGE,
                 "vtep3's extra MAC at both reflectors")
        # the MAC goes while bgpd is frozen (zebra tells it, the withdrawal never
        # leaves), then bgpd dies and restarts: at the reflectors the MAC's route
        # is stale and must go at vtep3's End-of-RIB.  (Deleting it while bgpd is
        # down instead is racy: zebra may keep the MAC and announce it again.)
        fabric.signal_vtep_bgpd(3, signal.SIGSTOP)
        run(["bridge", "-n", v3, "fdb", "del", EXTRA_MAC, "dev", "hp100", "master"])
        wait_for(lambda: not fabric.vtysh_json(v3, f"show evpn mac vni 100 mac {EXTRA_MAC} json",
                                               daemon="zebra"), 10, "zebra to forget the MAC")
        fabric.signal_vtep_bgpd(3, signal.SIGKILL)
        fabric.start_vtep_bgpd(3, graceful_restart=True)
        wait_for(lambda: all(fabric.vtep_peers(3).get(rr) == "Established"
                             for rr in (RR1_IP, RR2_IP)), CONVERGE, "vtep3 back")
        wait_for(lambda: not rr2_has(fabric, mac2), CONVERGE,
                 "the FRR reflector to flush the stale MAC at End-of-RIB")
        wait_for(lambda: not rr1_has(fabric, mac), 10,
                 "bgpevpn rr to flush the stale MAC at End-of-RIB")
    finally:
        run(["bridge", "-n", v3, "fdb", "del", EXTRA_MAC, "dev", "hp100", "master"], check=False)
        fabric.stop_vtep_bgpd(3)
        fabric.start_vtep_bgpd(3)
        fabric.rr1.stop()     # a fresh bgpevpn rr: no leftovers of the bugs above
        reflectors(fabric, rr2=True)
