"""bgpevpn's Speaker against FRR 8.4 bgpd (a VXLAN VTEP with
``advertise-all-vni``), iBGP AS 65000, l2vpn evpn, hold time 9 s.

Topology (per test, see netns.py): router namespace with zebra + bgpd,
br100/vxlan100 (VNI 100, local 198.51.100.1) and a host port hA; speaker
namespace with agent.py (our Speaker) at 198.51.100.2; one veth between.
"""
from __future__ import annotations

import re
import time

import pytest

from .evpn_data import (
    OUR_RD,
    PEER_EXT,
    RT,
    VNI,
    assert_tables_equal,
    our_rib_view,
    our_type2,
    our_type3,
    spec_key,
    type2_attrs,
    type3_attrs,
)
from .netns import run, wait_until, wait_value

pytestmark = pytest.mark.interop

HOLD = 9
EVPN = [25, 70]
HOSTS = [("02:00:00:aa:00:01", None), ("02:00:00:aa:00:02", "10.1.1.12"),
         ("02:00:00:aa:00:03", None)]
#: the graceful restart test's hosts: aa:03's neighbour entry goes while bgpd
#: is down (zebra misses FDB deletions while bgpd is away, not neighbour ones)
GR_HOSTS = HOSTS[:2] + [("02:00:00:aa:00:03", "10.1.1.13")]


def bring_up(lab, frr_factory, agent_factory, *, gr=False, hosts=()):
    frr = frr_factory(hold=HOLD, graceful_restart=gr).start()
    for mac, ip in hosts:
        frr.add_local_mac(mac, ip)
    agent = agent_factory(hold_time=HOLD, graceful_restart={"restart_time": 120} if gr else None)
    agent.start()
    est = agent.established(30)
    wait_until(lambda: frr.peer_state(lab.speaker_ip) == "Established", 10,
               what="FRR to see the session Established")
    return frr, agent, est


def frr_expected_from_ours(specs, speaker_ip) -> dict:
    """What FRR's detail JSON must show for the routes we announced."""
    exp = {}
    for s in specs:
        f = {"route_type": s["type"], "rd": OUR_RD, "ethernet_tag": 0,
             "next_hop": [speaker_ip], "route_targets": [RT], "encapsulation": ["8"],
             "local_pref": 100, "origin": "IGP"}
        if s["type"] == 2:
            f.update(mac=s["mac"], ip=s["ip"], vni=VNI, esi=None)
        else:
            f.update(originator_ip=s["originator_ip"],
                     pmsi={"type": "Ingress Replication", "label": VNI})
        exp[spec_key(s)] = f
    return exp


def ours_expected_from_frr(frr_local: dict, router_ip) -> dict:
    """What our RIB must hold for the routes FRR originates, from FRR's own
    view of them (plus what its JSON leaves out: the PMSI endpoint is the
    VTEP address, interop-lab.md)."""
    exp = {}
    for k, f in frr_local.items():
        ext = sorted([f"target:{rt}" for rt in f["route_targets"]]
                     + ["encapsulation:vxlan" if e == "8" else f"encapsulation:{e}"
                        for e in f["encapsulation"]])
        e = {"route_type": f["route_type"], "rd": f["rd"], "ethernet_tag": f["ethernet_tag"],
             "next_hop": f["next_hop"][0], "ext_communities": ext,
             "origin": f["origin"].lower(), "local_pref": 100, "as_path": [], "stale": False}
        if f["route_type"] == 2:
            e.update(mac=f["mac"], ip=f["ip"], labels=[f["vni"]],
                     esi="00:00:00:00:00:00:00:00:00:00")
        else:
            e.update(originator_ip=f["originator_ip"],
                     pmsi={"flags": 0, "type": 6, "type_name": "ingress-replication",
                           "label": f["pmsi"]["label"], "endpoint": router_ip})
        exp[k] = e
    return exp


def test_session_established(lab, frr_factory, agent_factory):
    frr, agent, est = bring_up(lab, frr_factory, agent_factory)
    # our view
    assert est["families"] == [EVPN]
    assert (est["peer_as"], est["peer_id"], est["hold_time"]) == (65000, lab.router_ip, HOLD)
    assert est["four_octet_as"] and est["extended_message"] and est["route_refresh"]
    # FRR's view
    summary = frr.json("show bgp summary json")
    assert summary["l2VpnEvpn"]["peers"][lab.speaker_ip]["state"] == "Established"
    nb = frr.neighbor(lab.speaker_ip)
    caps = nb["neighborCapabilities"]
    assert caps["multiprotocolExtensions"]["l2VpnEvpn"]["advertisedAndReceived"] is True
    assert caps["4byteAs"] == "advertisedAndReceived"
    assert caps["extendedMessage"] == "advertisedAndReceived"
    assert caps["routeRefresh"] == "advertisedAndReceivedOldNew"
    assert caps["enhancedRouteRefresh"] == "advertisedAndReceived"
    assert nb["bgpTimerHoldTimeMsecs"] == HOLD * 1000
    assert nb["remoteRouterId"] == lab.speaker_ip
    # keepalives keep it up for longer than one hold time, both ways
    time.sleep(HOLD + 1.5)
    nb = frr.neighbor(lab.speaker_ip)
    assert nb["bgpState"] == "Established" and nb["connectionsDropped"] == 0
    assert nb["messageStats"]["keepalivesRecv"] >= 3
    assert agent.find("SessionDown") == [] and agent.find("NotificationReceived") == []


def test_routes_we_send_are_received_exactly(lab, frr_factory, agent_factory):
    frr, agent, _ = bring_up(lab, frr_factory, agent_factory)
    t2 = our_type2(100)
    t3 = our_type3(lab.speaker_ip)
    agent.announce(t2, type2_attrs(), lab.speaker_ip)
    agent.announce([t3], type3_attrs(lab.speaker_ip), lab.speaker_ip)
    expected = frr_expected_from_ours(t2 + [t3], lab.speaker_ip)
    wait_until(lambda: len(frr.evpn_routes(peer=lab.speaker_ip)) >= len(expected), 30,
               what="FRR to hold our 101 routes")
    assert_tables_equal(frr.evpn_routes(peer=lab.speaker_ip), expected,
                        "FRR's table of our routes")
    assert frr.neighbor(lab.speaker_ip)["addressFamilyInfo"]["l2VpnEvpn"][
        "acceptedPrefixCounter"] == 101
    # zebra imported them into VNI 100 (RT and VNI right): remote MACs and
    # neighbours at our VTEP, and our VTEP in the flood list (type 3 + PMSI)
    problems = settle(lambda: zebra_problems(frr, lab, t2), 15)
    assert not problems, "zebra/kernel state:\n" + "\n".join(problems[:20])


def settle(check, timeout: float) -> list:
    """Poll ``check()`` (a list of problems) until it is empty or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        problems = check()
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(0.2)


def zebra_problems(frr, lab, t2) -> list:
    out = []
    macs = frr.json(f"show evpn mac vni {VNI} json").get("macs", {})
    arp = frr.json(f"show evpn arp-cache vni {VNI} json")
    for s in t2:
        m = macs.get(s["mac"], {})
        if (m.get("type"), m.get("remoteVtep")) != ("remote", lab.speaker_ip):
            out.append(f"MAC {s['mac']}: {m}")
        if s["ip"]:
            a = arp.get(s["ip"], {})
            if (a.get("type"), a.get("mac"), a.get("remoteVtep")) != (
                    "remote", s["mac"], lab.speaker_ip):
                out.append(f"neighbour {s['ip']}: {a}")
    if lab.speaker_ip not in frr.json(f"show evpn vni {VNI} json").get("numRemoteVteps", []):
        out.append(f"{lab.speaker_ip} not a remote VTEP of VNI {VNI}")
    fdb = run(["bridge", "-n", lab.router_ns, "fdb", "show", "dev", "vxlan100"]).stdout
    if f"00:00:00:00:00:00 dst {lab.speaker_ip} self permanent" not in fdb:
        out.append("no kernel flood entry for our VTEP on vxlan100")
    if f"{t2[0]['mac']} dst {lab.speaker_ip} self extern_learn" not in fdb:
        out.append(f"no kernel FDB entry for {t2[0]['mac']} at our VTEP")
    return out


def test_routes_frr_originates_are_received_exactly(lab, frr_factory, agent_factory):
    frr, agent, _ = bring_up(lab, frr_factory, agent_factory, hosts=HOSTS)
    # 3 MAC routes, 1 MAC+IP route, 1 type 3
    frr_local = wait_value(frr.evpn_routes, lambda t: len(t) == 5, 15,
                           what="FRR to originate 5 routes")
    expected = ours_expected_from_frr(frr_local, lab.router_ip)
    wait_until(lambda: set(agent.rib()) == set(expected), 20,
               what="our RIB to hold FRR's 5 routes")
    assert_tables_equal(our_rib_view(agent.rib()), expected, "our RIB of FRR's routes")
    # the constants too, not just consistency with FRR's JSON
    for e in expected.values():
        assert e["rd"] == f"{lab.router_ip}:2" and e["ext_communities"] == PEER_EXT
        assert e.get("labels", [VNI]) == [VNI]
    # every UPDATE was clean (no RFC 7606 handling)
    for u in agent.find("UpdateReceived"):
        assert u["error"] is None and u["discarded"] == []


def test_withdrawals_both_ways(lab, frr_factory, agent_factory):
    frr, agent, _ = bring_up(lab, frr_factory, agent_factory, hosts=HOSTS)
    # ours -> FRR
    t2 = our_type2(20)
    t3 = our_type3(lab.speaker_ip)
    agent.announce(t2, type2_attrs(), lab.speaker_ip)
    agent.announce([t3], type3_attrs(lab.speaker_ip), lab.speaker_ip)
    wait_until(lambda: len(frr.evpn_routes(peer=lab.speaker_ip)) == 21, 20,
               what="FRR to hold our 21 routes")
    gone, kept = t2[:10] + [t3], t2[10:]
    agent.withdraw(gone)
    expected = frr_expected_from_ours(kept, lab.speaker_ip)
    wait_until(lambda: set(frr.evpn_routes(peer=lab.speaker_ip)) == set(expected), 20,
               what="FRR to drop the 11 withdrawn routes")
    assert_tables_equal(frr.evpn_routes(peer=lab.speaker_ip), expected, "FRR after withdraw")

    def zebra_after_withdraw() -> list:
        macs = {k for k, v in frr.json(f"show evpn mac vni {VNI} json").get("macs", {}).items()
                if v.get("type") == "remote"}
        out = [] if macs == {s["mac"] for s in kept} else [f"remote MACs {sorted(macs)}"]
        if lab.speaker_ip in frr.json(f"show evpn vni {VNI} json").get("numRemoteVteps", []):
            out.append("our VTEP still in the flood list after the type-3 withdrawal")
        return out
    problems = settle(zebra_after_withdraw, 15)
    assert not problems, problems
    # FRR -> ours
    wait_until(lambda: len(agent.rib()) == 5, 20, what="FRR's 5 routes")
    m = agent.mark()
    frr.del_local_mac("02:00:00:aa:00:02", "10.1.1.12")
    frr.del_local_mac("02:00:00:aa:00:03")
    frr_local = wait_value(frr.evpn_routes, lambda t: len(t) == 2, 15,
                           what="FRR to withdraw 3 of its routes")
    wait_until(lambda: set(agent.rib()) == set(frr_local), 20,
               what="our RIB to lose FRR's withdrawn routes")
    withdrawn = {(w["mac"], w["ip"]) for u in agent.find("UpdateReceived", m)
                 for w in u["withdrawn"]}
    assert withdrawn == {("02:00:00:aa:00:02", "10.1.1.12"), ("02:00:00:aa:00:02", None),
                         ("02:00:00:aa:00:03", None)}
    assert_tables_equal(our_rib_view(agent.rib()), ours_expected_from_frr(frr_local,
                                                                          lab.router_ip),
                        "our RIB after FRR's withdrawals")


def test_hold_timer_expiry_when_frr_is_frozen(lab, frr_factory, agent_factory):
    frr, agent, _ = bring_up(lab, frr_factory, agent_factory)
    m = agent.mark()
    t0 = time.monotonic()
    frr.freeze()
    try:
        sent = agent.wait("NotificationSent", HOLD + 5, since=m)
        elapsed = time.monotonic() - t0
        # the last KEEPALIVE from FRR was at most one keepalive interval (3 s) before the freeze
        assert HOLD - 3.5 <= elapsed <= HOLD + 1.5, elapsed
        assert (sent["code"], sent["subcode"], sent["data"]) == (4, 0, "")
        down = agent.wait("SessionDown", 5, since=m)
        assert down["reason"] == "hold timer expired" and down["was_established"]
        assert (down["notification"]["code"], down["notification"]["subcode"]) == (4, 0)
        # wire evidence: the frozen bgpd's socket holds, unread, our KEEPALIVEs
        # (19 octets each) and the 21-octet NOTIFICATION, then our FIN (+1)
        qs = wait_until(lambda: close_wait_queues(lab.router_ns, lab.speaker_ip), 5,
                        what="the frozen bgpd's connection in CLOSE-WAIT")
        assert any(q >= 22 and (q - 1) % 19 == 2 for q in qs), qs
    finally:
        frr.thaw()
    agent.established(40, since=m)
    wait_until(lambda: frr.peer_state(lab.speaker_ip) == "Established", 20,
               what="FRR to re-establish after SIGCONT")
    assert frr.neighbor(lab.speaker_ip)["connectionsDropped"] >= 1
    # on SIGCONT FRR either reads our 4/0 first or its own hold timer fires
    # first (then it sends 4/0 into our closed socket): no other NOTIFICATION
    with open(lab.log_path("frr-bgpd.log"), encoding="utf-8", errors="replace") as f:
        notes = re.findall(r"%NOTIFICATION: (received from|sent to) neighbor \S+ (\d+/\d+)",
                           f.read())
    assert notes and all(code == "4/0" for _, code in notes), notes


def close_wait_queues(ns, peer_ip) -> list:
    out = run(["ip", "netns", "exec", ns, "ss", "-tnH", "state", "close-wait"]).stdout
    qs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[3].startswith(peer_ip + ":"):
            qs.append(int(parts[0]))
    return qs


def test_shutdown_message_is_understood(lab, frr_factory, agent_factory):
    frr, agent, _ = bring_up(lab, frr_factory, agent_factory)
    m = agent.mark()
    agent.close("maintenance window")
    sent = agent.wait("NotificationSent", 5, since=m)
    assert (sent["code"], sent["subcode"], sent["shutdown_message"]) == (
        6, 2, "maintenance window")
    nb = wait_value(lambda: frr.neighbor(lab.speaker_ip),
                    lambda n: n.get("lastShutdownDescription"), 10,
                    what="FRR to record the shutdown")
    assert nb["lastShutdownDescription"] == "maintenance window"
    assert nb["lastNotificationReason"] == "Cease/Administrative Shutdown"
    assert nb["lastErrorCodeSubcode"] == "0602"
    assert nb["lastResetDueTo"] == "BGP Notification received"
    assert nb["bgpState"] != "Established"
    with open(lab.log_path("frr-bgpd.log"), encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert re.search(r'%NOTIFICATION: received from neighbor 198\.51\.100\.2 6/2 '
                     r'\(Cease/Administrative Shutdown\) "maintenance window"', log)
    # closed for good: FRR's reconnect attempts are refused, nothing re-establishes
    time.sleep(3)
    assert frr.peer_state(lab.speaker_ip) != "Established"
    assert agent.find("SessionEstablished", m) == []


def test_graceful_restart_of_frr(lab, frr_factory, agent_factory):
    frr, agent, est = bring_up(lab, frr_factory, agent_factory, gr=True, hosts=GR_HOSTS)
    gr = est["peer_graceful_restart"]
    assert gr["restart_time"] == 30 and gr["families"] == [[25, 70, True]]
    ours = our_type2(10)
    agent.announce(ours, type2_attrs(), lab.speaker_ip)
    agent.end_of_rib()
    agent.wait("EndOfRibReceived", 30)
    wait_until(lambda: len(agent.rib()) == 6, 15, what="FRR's 6 routes")
    wait_until(lambda: frr.neighbor(lab.speaker_ip)["gracefulRestartInfo"]["endOfRibRecv"]
               .get("l2VpnEvpn"), 10, what="FRR to receive our End-of-RIB")
    before = agent.rib()

    m = agent.mark()
    frr.kill_bgpd()                 # a crash: no NOTIFICATION, the TCP connection closes
    pr = agent.wait("PeerRestarting", 10, since=m)
    assert pr["families"] == [EVPN] and pr["restart_time"] == 30
    down = agent.wait("SessionDown", 5, since=m)
    assert down["notification"] is None and down["was_established"]
    held = agent.rib()
    assert set(held) == set(before) and all(e["stale"] for e in held.values())
    # while bgpd is down, host aa:03 loses its IP: that MAC+IP route is not
    # announced again and must go with the stale flush
    run(["ip", "-n", lab.router_ns, "neigh", "del", "10.1.1.13", "dev", "br100"])
    frr.start_bgpd()
    est2 = agent.established(40, since=m)
    assert est2["peer_graceful_restart"]["restarting"] is True
    assert est2["peer_graceful_restart"]["families"] == [[25, 70, True]]
    m2 = agent.mark()
    assert agent.find("StaleRoutesFlushed", m) == []   # F bit set: kept until End-of-RIB
    agent.announce(ours, type2_attrs(), lab.speaker_ip)
    agent.end_of_rib()
    eor = agent.wait("EndOfRibReceived", 40, since=m2)
    flushed = agent.wait("StaleRoutesFlushed", 5, since=m2)
    assert flushed["family"] == EVPN and flushed["reason"] == "End-of-RIB received"
    assert flushed["t"] >= eor["t"]
    frr_local = frr.evpn_routes()
    gone = (2, f"{lab.router_ip}:2", 0, "02:00:00:aa:00:03", "10.1.1.13")
    assert gone in before and gone not in frr_local and len(frr_local) == 5
    assert_tables_equal(our_rib_view(agent.rib()),
                        ours_expected_from_frr(frr_local, lab.router_ip),
                        "our RIB after the restart and the stale flush")
    wait_until(lambda: set(frr.evpn_routes(peer=lab.speaker_ip))
               == {spec_key(s) for s in ours}, 20, what="FRR to relearn our routes")


def test_state_changes_are_reported_when_frr_reconnects(lab, frr_factory, agent_factory):
    """After FRR restarts it connects to us while our session is Idle (the
    idle hold timer running); every StateChanged must start where the
    previous one ended (no transition left out of the event stream)."""
    frr, agent, _ = bring_up(lab, frr_factory, agent_factory)
    m = agent.mark()
    frr.kill_bgpd()
    agent.wait("SessionDown", 10, since=m)
    frr.start_bgpd()
    agent.established(40, since=m)
    chain = [(e["old"], e["new"], e["cause"]) for e in agent.find("StateChanged")]
    breaks = [(a, b) for a, b in zip(chain, chain[1:]) if a[1] != b[0]]
    assert not breaks, f"StateChanged events do not chain: {breaks} in {chain}"


def test_stale_routes_flushed_when_frr_does_not_come_back(lab, frr_factory, agent_factory):
    """RFC 4724 §4.2: the restart time FRR announced (5 s) passes without a
    new session: our side flushes the stale routes by itself."""
    frr = frr_factory(hold=HOLD, graceful_restart=True, restart_time=5).start()
    for mac, ip in HOSTS:
        frr.add_local_mac(mac, ip)
    agent = agent_factory(hold_time=HOLD, graceful_restart={"restart_time": 120}).start()
    est = agent.established(30)
    assert est["peer_graceful_restart"]["restart_time"] == 5
    agent.end_of_rib()
    wait_until(lambda: len(agent.rib()) == 5, 15, what="FRR's 5 routes")
    m = agent.mark()
    frr.kill_bgpd()
    pr = agent.wait("PeerRestarting", 10, since=m)
    assert pr["restart_time"] == 5
    assert len(agent.rib()) == 5 and all(e["stale"] for e in agent.rib().values())
    flushed = agent.wait("StaleRoutesFlushed", 10, since=m)
    assert flushed["family"] == EVPN and flushed["reason"] == "restart timer expired"
    assert 4.0 <= flushed["t"] - pr["t"] <= 7.0, flushed["t"] - pr["t"]
    assert agent.rib() == {}
