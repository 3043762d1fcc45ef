"""Acceptance of ``bgpevpn vtep`` in the reference EVPN/VXLAN fabric (issue #7).

The fabric of topology.py, with vtep3 running ``bgpevpn vtep`` instead of
FRR (no zebra, no bgpd); vtep1 and vtep2 run FRR 8.4 with
``advertise-all-vni``; both reflectors run (``bgpevpn rr`` and FRR
``bgpd -Z``).

1. Every host pings every other host of its VNI on all three VTEPs and no
   host of another VNI; the FRR VTEPs show our MACs as remote (``show evpn
   mac vni N json``) and our flood entry; our VXLAN FDBs hold theirs; our
   routes look like FRR's at the reflector.
2. A host moves from an FRR VTEP to ours (sequence 1 everywhere) and back
   (sequence 2), then is removed: it disappears everywhere.
3. Stopping the agent (SIGTERM) withdraws its routes and removes what it
   installed; restarting it with ``--keep-state`` keeps traffic flowing for
   unchanged hosts (graceful restart at the reflectors, kernel entries
   kept) and removes the entry of a MAC withdrawn while it was down.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from .conftest import running_fabric
from .test_fabric import (
    check_rr1_routes,
    check_same_vni_pings,
    check_vnis_apart,
    fdb_problems,
    learn_all_macs,
)
from .topology import (
    ASN,
    FLOOD_MAC,
    RR1_IP,
    RR2_IP,
    host_ip,
    host_mac,
    run,
    vtep_ip,
    wait_for,
)

pytestmark = pytest.mark.fabric

AGENT = 3
FRR_VTEPS = (1, 2)
CONVERGE = 30
EXTRA_MAC = "02:fb:00:64:00:66"      # a static MAC on vtep1, withdrawn while the agent is down


def _start(fab) -> None:
    fab.build_network()
    fab.start_rr1()
    fab.start_vteps()
    fab.start_rr2()      # (FRR's summary shows "peers" only once there are some)


@pytest.fixture(scope="module")
def fabric(tmp_path_factory):
    with running_fabric(tmp_path_factory, "vtepfabric", _start, agent_vteps=(AGENT,)) as fab:
        yield fab


# -- state -------------------------------------------------------------------------------

def agent_vni(fabric, vni: int) -> dict:
    return next(v for v in fabric.agent_status(AGENT)["vnis"] if v["vni"] == vni)


def agent_macs(fabric, vni: int) -> dict:
    return {m["mac"]: m for m in agent_vni(fabric, vni)["macs"]}


def frr_mac(fabric, i: int, vni: int, mac: str) -> dict:
    return fabric.vtysh_json(fabric.vtep_ns(i), f"show evpn mac vni {vni} mac {mac} json") \
        .get(mac, {})


def agent_ready(fabric) -> bool:
    """Both sessions up and every remote MAC and flood entry in the agent's table."""
    st = fabric.agent_status(AGENT)
    if {p["address"]: p["state"] for p in st["peers"]} != {RR1_IP: "Established",
                                                             RR2_IP: "Established"}:
        return False
    for v in st["vnis"]:
        macs = {m["mac"]: m for m in v["macs"]}
        for j in FRR_VTEPS:
            m = macs.get(host_mac(j, v["vni"]))
            if m is None or m["type"] != "remote" or m["vtep"] != vtep_ip(j) \
                    or not m["installed"]:
                return False
        if v["flood"] != [vtep_ip(j) for j in FRR_VTEPS]:
            return False
        mine = macs.get(host_mac(AGENT, v["vni"]))
        if mine is None or mine["type"] != "local":
            return False
    return st["synchronised"]


def frr_sees_agent(fabric) -> bool:
    """The FRR VTEPs hold the agent's MACs as remote and its flood entry."""
    for i in FRR_VTEPS:
        for vni in fabric.vnis:
            m = frr_mac(fabric, i, vni, host_mac(AGENT, vni))
            if m.get("type") != "remote" or m.get("remoteVtep") != vtep_ip(AGENT):
                return False
            if not any(e["mac"] == FLOOD_MAC and e.get("dst") == vtep_ip(AGENT)
                       for e in fabric.fdb(i, f"vxlan{vni}")):
                return False
    return True


def converge(fabric) -> None:
    if not fabric.rr2_running():
        fabric.start_rr2()
    if AGENT not in fabric.agents or not fabric.agents[AGENT].alive():
        fabric.start_agent(AGENT)
    wait_for(lambda: all(fabric.vtep_peers(i).get(rr) == "Established"
                         for i in FRR_VTEPS for rr in (RR1_IP, RR2_IP)), CONVERGE,
             "FRR VTEP sessions to both reflectors")
    learn_all_macs(fabric)
    wait_for(lambda: agent_ready(fabric), CONVERGE, "the agent's table complete")
    wait_for(lambda: frr_sees_agent(fabric), CONVERGE, "the FRR VTEPs to see the agent")


# -- 1. the agent joins the fabric ----------------------------------------------------------

def test_agent_vtep_in_the_fabric(fabric):
    converge(fabric)
    check_same_vni_pings(fabric)
    check_vnis_apart(fabric)
    for i in fabric.vteps:        # FRR's FDBs and ours: remote MACs and flood lists
        wait_for(lambda i=i: not fdb_problems(fabric, i), CONVERGE, f"vtep{i}'s FDB")
    # FRR shows our MACs as remote, with our VTEP address and sequence 0
    for i in FRR_VTEPS:
        for vni in fabric.vnis:
            m = frr_mac(fabric, i, vni, host_mac(AGENT, vni))
            assert m["type"] == "remote" and m["remoteVtep"] == vtep_ip(AGENT), m
            assert m.get("remoteSequence", 0) == 0, m
    # our routes look like FRR's at the reflector (RD router-id:index, RT AS:VNI,
    # label = VNI, encapsulation VXLAN, PMSI ingress replication)
    check_rr1_routes(fabric)
    st = fabric.agent_status(AGENT)
    for v in st["vnis"]:
        assert v["rd"].startswith(vtep_ip(AGENT) + ":"), v
        assert v["export_rts"] == [f"target:{ASN}:{v['vni']}"], v
        local = [m for m in v["macs"] if m["type"] == "local"]
        assert [m["mac"] for m in local] == [host_mac(AGENT, v["vni"])], v
        assert local[0]["port"] == f"hp{v['vni']}" and local[0]["seq"] == 0, v
        remote = {m["mac"]: m for m in v["macs"] if m["type"] == "remote"}
        assert {m: r["vtep"] for m, r in remote.items()} == \
            {host_mac(j, v["vni"]): vtep_ip(j) for j in FRR_VTEPS}, v
        assert all(r["vni_from"] == "label" for r in remote.values()), v
    # the status CLI in FRR-like text, too
    config, sock, _, _ = fabric.agent_paths(AGENT)
    out = subprocess.run([sys.executable, "-m", "bgpevpn", "vtep", "status", "--socket", sock,
                          "--vni", "100"], capture_output=True, text=True, timeout=20,
                         env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(
                             os.path.dirname(os.path.abspath(__file__))))))
    assert out.returncode == 0, out.stderr
    assert host_mac(1, 100) in out.stdout and "Established" in out.stdout
    assert host_mac(1, 200) not in out.stdout


# -- 2. MAC mobility between FRR and the agent ----------------------------------------------

MOVER = ("02:fb:00:64:00:97", "192.0.2.97")


def plug(fabric, vtep: int, hns: str, ifname: str) -> None:
    """A veth from VTEP ``vtep``'s bv100 to the mover's namespace."""
    ns = fabric.vtep_ns(vtep)
    fabric.ip(ns, "link", "add", "hm", "type", "veth", "peer", "name", ifname, "netns", hns)
    fabric.ip(ns, "link", "set", "hm", "master", "bv100")
    fabric.ip(ns, "link", "set", "hm", "up")
    fabric.ip(hns, "link", "set", ifname, "address", MOVER[0])


def move_address(fabric, hns: str, old: str | None, new: str) -> None:
    if old is not None:
        fabric.ip(hns, "link", "set", old, "arp", "off")
        fabric.ip(hns, "addr", "del", f"{MOVER[1]}/24", "dev", old)
    fabric.ip(hns, "link", "set", new, "arp", "on")
    fabric.ip(hns, "addr", "add", f"{MOVER[1]}/24", "dev", new)
    fabric.ip(hns, "link", "set", new, "up")


def mover_at(fabric, vtep: int, seq: int):
    """The mover's MAC local on ``vtep`` with sequence ``seq``, remote with it everywhere else."""
    mac, want = MOVER[0], vtep_ip(vtep)
    for i in FRR_VTEPS:
        m = frr_mac(fabric, i, 100, mac)
        if i == vtep:
            if m.get("type") != "local" or m.get("localSequence") != seq:
                return False
        elif (m.get("type") != "remote" or m.get("remoteVtep") != want
              or m.get("remoteSequence") != seq):
            return False
        if i != vtep:
            remote = [e for e in fabric.bridge_fdb(i, "bv100")
                      if e["mac"] == mac and e.get("ifname") == "vxlan100" and e.get("dst")]
            if [e["dst"] for e in remote] != [want]:
                return False
    m = agent_macs(fabric, 100).get(mac)
    if m is None or m["seq"] != seq:
        return False
    if vtep == AGENT:
        if m["type"] != "local" or m["port"] != "hm":
            return False
        # the agent's bridge forwards to the local port; no remote entry left
        entries = [e for e in fabric.bridge_fdb(AGENT, "bv100") if e["mac"] == mac]
        if [e.get("ifname") for e in entries] != ["hm"]:
            return False
    else:
        if m["type"] != "remote" or m["vtep"] != want or not m["installed"]:
            return False
        remote = [e for e in fabric.fdb(AGENT, "vxlan100") if e["mac"] == mac and e.get("dst")]
        if [e["dst"] for e in remote] != [want] or "extern_learn" not in remote[0]["flags"]:
            return False
    return True


def test_host_moves_from_frr_to_agent_and_back(fabric):
    converge(fabric)
    hns = fabric.add_ns(f"{fabric.tag}-mva")
    try:
        # at vtep1 (FRR)
        plug(fabric, 1, hns, "eth0")
        move_address(fabric, hns, None, "eth0")
        wait_for(lambda: fabric.ping(hns, host_ip(AGENT, 100)), CONVERGE, "mover at vtep1 -> h3")
        wait_for(lambda: mover_at(fabric, 1, 0), CONVERGE, "mover local on vtep1, sequence 0")
        # to vtep3 (the agent), make-before-break as a live migration does
        plug(fabric, AGENT, hns, "eth1")
        move_address(fabric, hns, "eth0", "eth1")
        wait_for(lambda: fabric.ping(hns, host_ip(1, 100)), CONVERGE, "mover at vtep3 -> h1")
        fabric.ip(fabric.vtep_ns(1), "link", "del", "hm")
        wait_for(lambda: mover_at(fabric, AGENT, 1), CONVERGE,
                 "mover local on the agent, sequence 1, everywhere")
        for i in FRR_VTEPS:
            assert wait_for(lambda i=i: fabric.ping(hns, host_ip(i, 100)), 10, f"mover -> h{i}")
        # and back to vtep1: FRR advertises sequence 2, the agent withdraws its route
        plug(fabric, 1, hns, "eth2")
        move_address(fabric, hns, "eth1", "eth2")
        wait_for(lambda: fabric.ping(hns, host_ip(2, 100)), CONVERGE, "mover back at vtep1")
        wait_for(lambda: mover_at(fabric, 1, 2), CONVERGE,
                 "mover local on vtep1 again, sequence 2, everywhere (agent included)")
        fabric.ip(fabric.vtep_ns(AGENT), "link", "del", "hm")
        assert wait_for(lambda: fabric.ping(fabric.host_ns(AGENT, 100), MOVER[1]), 10,
                        "h3 -> mover at vtep1")
        assert fabric.agent_status(AGENT)["mac_moves"] >= 1
        # removed: gone from every table and FDB
        fabric.namespaces.remove(hns)
        run(["ip", "netns", "del", hns])

        def gone():
            if MOVER[0] in agent_macs(fabric, 100):
                return False
            if any(e["mac"] == MOVER[0] for e in fabric.bridge_fdb(AGENT, "bv100")):
                return False
            return all(not frr_mac(fabric, i, 100, MOVER[0]) for i in FRR_VTEPS)
        wait_for(gone, CONVERGE, "the removed mover gone everywhere")
    finally:
        if hns in fabric.namespaces:
            fabric.namespaces.remove(hns)
            run(["ip", "netns", "del", hns], check=False)
        for i in (1, AGENT):
            run(["ip", "-n", fabric.vtep_ns(i), "link", "del", "hm"], check=False)


# -- 3. stop, restart ------------------------------------------------------------------------

def agent_kernel_entries(fabric) -> list:
    """What the agent installs on vtep3: VXLAN entries with a dst, neighbours it added."""
    return [(vni, e["mac"], e.get("dst")) for vni in fabric.vnis
            for e in fabric.fdb(AGENT, f"vxlan{vni}") if e.get("dst")]


def test_stop_withdraws_and_cleans_up(fabric):
    converge(fabric)
    assert agent_kernel_entries(fabric)
    assert fabric.stop_agent(AGENT) == 0
    assert agent_kernel_entries(fabric) == []
    assert not os.path.exists(fabric.agent_paths(AGENT)[2]), "state file left behind"
    # our routes are gone from the FRR VTEPs: MACs and flood entries.  (Not
    # every entry with dst vtep3: FRR 8.4's zebra keeps the vxlan100 entry of
    # test 2's mover, whose MAC went back to vtep1, for good.)
    def forgotten(i, vni):
        ours = {host_mac(AGENT, vni), FLOOD_MAC}
        return not frr_mac(fabric, i, vni, host_mac(AGENT, vni)) and not any(
            e.get("dst") == vtep_ip(AGENT) and e["mac"] in ours
            for e in fabric.fdb(i, f"vxlan{vni}"))
    for i in FRR_VTEPS:
        for vni in fabric.vnis:
            wait_for(lambda i=i, vni=vni: forgotten(i, vni),
                     CONVERGE, f"vtep{i} to forget the agent's VNI {vni}")
    fabric.start_agent(AGENT)
    converge(fabric)
    check_same_vni_pings(fabric)


def test_restart_with_kept_state_keeps_traffic(fabric):
    v1 = fabric.vtep_ns(1)
    try:
        fabric.stop_agent(AGENT)
        fabric.start_agent(AGENT, keep_state=True)
        converge(fabric)
        run(["bridge", "-n", v1, "fdb", "add", EXTRA_MAC, "dev", "hp100", "master", "static"])
        wait_for(lambda: agent_macs(fabric, 100).get(EXTRA_MAC, {}).get("installed"),
                 CONVERGE, "the agent to install vtep1's extra MAC")
        before = set(agent_kernel_entries(fabric))
        # pings across the restart, both VNIs, both directions
        pings = [subprocess.Popen(["ip", "netns", "exec", src, "ping", "-n", "-q", "-i", "0.2",
                                   "-c", "50", "-W", "1", dst], stdout=subprocess.PIPE,
                                  text=True)
                 for src, dst in ((fabric.host_ns(AGENT, 100), host_ip(1, 100)),
                                  (fabric.host_ns(2, 200), host_ip(AGENT, 200)))]
        time.sleep(1)
        assert fabric.stop_agent(AGENT) == 0
        # down: the kernel entries stay; the reflectors keep our routes (GR helpers)
        assert set(agent_kernel_entries(fabric)) == before
        time.sleep(1)
        for i in FRR_VTEPS:
            assert frr_mac(fabric, i, 100, host_mac(AGENT, 100)).get("type") == "remote"
        # meanwhile vtep1's extra MAC goes away
        run(["bridge", "-n", v1, "fdb", "del", EXTRA_MAC, "dev", "hp100", "master"])
        time.sleep(1)
        fabric.start_agent(AGENT, keep_state=True)
        wait_for(lambda: agent_ready(fabric), CONVERGE, "the agent back and synchronised")
        for p in pings:
            out, _ = p.communicate(timeout=30)
            received = int(out.split(" received")[0].rsplit(",", 1)[-1].strip()
                           if " received" in out else 0)
            assert received >= 48, f"traffic interrupted by the restart: {out}"
        # no stale entry: the extra MAC is gone, everything else as before
        wait_for(lambda: set(agent_kernel_entries(fabric)) ==
                 before - {(100, EXTRA_MAC, vtep_ip(1))}, CONVERGE,
                 "the agent's kernel entries without the withdrawn MAC")
        assert EXTRA_MAC not in agent_macs(fabric, 100)
        wait_for(lambda: frr_sees_agent(fabric), CONVERGE, "the FRR VTEPs see the agent")
        check_same_vni_pings(fabric)
    finally:
        run(["bridge", "-n", v1, "fdb", "del", EXTRA_MAC, "dev", "hp100", "master"], check=False)
        fabric.stop_agent(AGENT, signal.SIGTERM)
        fabric.start_agent(AGENT)


# -- 4. ARP suppression --------------------------------------------------------------------

SVI = {1: "192.0.2.201", AGENT: "192.0.2.203"}     # bridge (SVI) addresses on bv100


def test_arp_suppression(fabric):
    """With ``arp_suppression`` the agent advertises MAC+IP routes from its
    bridge's neighbour table (an SVI address on bv100 makes the kernel
    learn its hosts' IPs) and installs neighbour entries for the MAC+IP
    routes of others (FRR's, learnt the same way on vtep1), with
    ``neigh_suppress`` on its VXLAN port."""
    v1, v3 = fabric.vtep_ns(1), fabric.vtep_ns(AGENT)
    try:
        fabric.stop_agent(AGENT)
        fabric.start_agent(AGENT, evpn_extra="arp_suppression = true")
        for i, ip in SVI.items():
            fabric.ip(fabric.vtep_ns(i), "addr", "add", f"{ip}/24", "dev", "bv100")
        converge(fabric)
        # each VTEP learns its host's IP on its SVI
        for i, ip in SVI.items():
            assert wait_for(lambda i=i, ip=ip: fabric.ping(fabric.host_ns(i, 100), ip), 10,
                            f"h{i}v100 -> its VTEP's SVI")
        # ours: a MAC+IP route for h3v100, seen by FRR with its IP
        def frr_has_our_ip():
            cache = fabric.vtysh_json(v1, "show evpn arp-cache vni 100 json")
            e = cache.get(host_ip(AGENT, 100), {})
            return e.get("type") == "remote" and e.get("mac") == host_mac(AGENT, 100) \
                and e.get("remoteVtep") == vtep_ip(AGENT)
        wait_for(frr_has_our_ip, CONVERGE, "FRR's ARP cache with the agent's host IP")
        mine = agent_macs(fabric, 100)[host_mac(AGENT, 100)]
        assert mine["type"] == "local" and mine["ips"] == [host_ip(AGENT, 100)], mine
        # theirs: a neighbour entry for h1v100 on our bridge, and neigh_suppress on
        def neighbour():
            out = run(["ip", "-n", v3, "-j", "neigh", "show", "dev", "bv100"]).stdout
            return [n for n in json.loads(out or "[]") if n.get("dst") == host_ip(1, 100)]
        n = wait_for(neighbour, CONVERGE, "a neighbour entry for h1v100 on the agent's bridge")
        assert n[0]["lladdr"] == host_mac(1, 100) and "extern_learn" in n[0], n   # iproute2: a key
        link = run(["bridge", "-n", v3, "-d", "link", "show", "dev", "vxlan100"]).stdout
        assert "neigh_suppress on" in link, link
        remote = agent_macs(fabric, 100)[host_mac(1, 100)]
        assert remote["ips"] == [host_ip(1, 100)], remote
        # stopping removes the neighbour entry and turns neigh_suppress off again
        fabric.stop_agent(AGENT)
        assert not neighbour()
        assert "neigh_suppress off" in run(["bridge", "-n", v3, "-d", "link", "show", "dev",
                                            "vxlan100"]).stdout
    finally:
        for i, ip in SVI.items():
            fabric.ip(fabric.vtep_ns(i), "addr", "del", f"{ip}/24", "dev", "bv100", check=False)
        fabric.stop_agent(AGENT)
        fabric.start_agent(AGENT)


# -- 5. other senders' conventions ------------------------------------------------------------

GB = 4                                    # GoBGP "VTEP" at 203.0.113.4 (control plane only)
MAC_TAG = "02:fb:00:64:00:51"             # VNI 100 in the Ethernet tag (JunOS)
MAC_RT = "02:fb:00:64:00:52"              # VNI 100 only in an RFC 8365 route target
RFC8365_RT_100 = f"{ASN}:{(1 << 28) | 100}"


def test_vni_conventions_of_other_senders(fabric):
    """Real GoBGP, as a client of ``bgpevpn rr``, sends routes the way JunOS
    does (VNI 100 in the Ethernet tag, RFC 8365 auto route target
    65000:268435556) and one whose only VNI is in that route target (no
    encapsulation community).  The agent imports both into VNI 100 (its
    default import list holds both auto RT conventions) and programs them,
    saying where it read the VNI."""
    from interop.gobgp import gobgpd_config
    if shutil.which("gobgpd") is None or shutil.which("gobgp") is None:
        if "1" in (os.environ.get("BGPEVPN_FABRIC_REQUIRED"),
                   os.environ.get("BGPEVPN_INTEROP_REQUIRED")):
            pytest.fail("gobgpd/gobgp not installed (Debian package gobgpd)", pytrace=False)
        pytest.skip("gobgpd/gobgp not installed (Debian package gobgpd)")
    converge(fabric)
    ns = fabric.add_ns(f"{fabric.tag}-gb")
    gb_ip = vtep_ip(GB)
    fabric._underlay_port(ns, gb_ip, "u-gb")
    conf = os.path.join(fabric.workdir, "gobgpd.toml")
    with open(conf, "w") as f:
        f.write(gobgpd_config(asn=ASN, router_id=gb_ip, neighbor=RR1_IP))
    proc = fabric.spawn("gobgpd", ns, ["gobgpd", "-f", conf, "--api-hosts", "127.0.0.1:50051",
                                       "--pprof-disable"], fabric.log_path("gobgpd.log"))

    def cli(*args):
        return fabric.ns_exec(ns, ["gobgp", "-u", "127.0.0.1", *args])
    try:
        wait_for(lambda: "Establ" in cli("neighbor").stdout, CONVERGE, "GoBGP <-> bgpevpn rr")
        rd = f"{gb_ip}:100"
        cli("global", "rib", "-a", "evpn", "add", "macadv", MAC_TAG, "0.0.0.0", "etag", "100",
            "label", "100", "rd", rd, "rt", RFC8365_RT_100, "encap", "vxlan", "nexthop", gb_ip)
        cli("global", "rib", "-a", "evpn", "add", "macadv", MAC_RT, "0.0.0.0", "etag", "0",
            "label", "0", "rd", rd, "rt", RFC8365_RT_100, "nexthop", gb_ip)
        cli("global", "rib", "-a", "evpn", "add", "multicast", gb_ip, "etag", "100", "rd", rd,
            "rt", RFC8365_RT_100, "encap", "vxlan", "pmsi", "ingress-repl", "100", gb_ip,
            "nexthop", gb_ip)

        def programmed():
            macs = agent_macs(fabric, 100)
            got = {m: (macs[m]["vtep"], macs[m]["vni_from"], macs[m]["installed"])
                   for m in (MAC_TAG, MAC_RT) if m in macs}
            return got == {MAC_TAG: (gb_ip, "ethernet-tag", True),
                           MAC_RT: (gb_ip, "route-target", True)} \
                and gb_ip in agent_vni(fabric, 100)["flood"]
        wait_for(programmed, CONVERGE, "the agent to program GoBGP's JunOS-style routes")
        fdb = {(e["mac"], e.get("dst")) for e in fabric.fdb(AGENT, "vxlan100")}
        assert {(MAC_TAG, gb_ip), (MAC_RT, gb_ip), (FLOOD_MAC, gb_ip)} <= fdb, fdb
        assert not any(e.get("dst") == gb_ip for e in fabric.fdb(AGENT, "vxlan200"))
        # withdrawn: gone
        proc.stop()
        wait_for(lambda: not any(e.get("dst") == gb_ip for e in fabric.fdb(AGENT, "vxlan100")),
                 CONVERGE, "GoBGP's entries removed once its session is gone")
    finally:
        proc.stop()
        fabric.namespaces.remove(ns)
        run(["ip", "netns", "del", ns], check=False)
