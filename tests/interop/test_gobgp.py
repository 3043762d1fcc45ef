"""bgpevpn's Speaker against GoBGP 3.10 (gobgpd), iBGP AS 65000, l2vpn evpn,
hold time 9 s.

Topology (per test, see netns.py): router namespace with gobgpd at
198.51.100.1 (API on 127.0.0.1:50051 of that namespace), speaker namespace
with agent.py (our Speaker) at 198.51.100.2; one veth between.  GoBGP
originates EVPN routes from its CLI (``global rib -a evpn add macadv|multicast``).
"""
from __future__ import annotations

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
from .netns import run, wait_until

pytestmark = pytest.mark.interop

HOLD = 9
EVPN = [25, 70]
ZERO_ESI = "00:00:00:00:00:00:00:00:00:00"
#: GoBGP-originated hosts: (MAC, IP or None)
HOSTS = [("02:00:00:bb:00:01", "10.1.1.21"), ("02:00:00:bb:00:02", None),
         ("02:00:00:bb:00:03", "10.1.1.23")]


def bring_up(lab, gobgp_factory, agent_factory, *, gr=False, hosts=(), multicast=False):
    g = gobgp_factory(hold=HOLD, graceful_restart=gr).start()
    originate(lab, g, hosts, multicast)
    agent = agent_factory(hold_time=HOLD, graceful_restart={"restart_time": 120} if gr else None)
    agent.start()
    est = agent.established(30)
    wait_until(lambda: g.session_state(lab.speaker_ip) == "established", 10,
               what="GoBGP to see the session established")
    return g, agent, est


def originate(lab, g, hosts, multicast) -> None:
    rd = f"{lab.router_ip}:2"
    for mac, ip in hosts:
        g.add_macadv(mac, ip, rd=rd, label=VNI, rt=RT, nexthop=lab.router_ip)
    if multicast:
        g.add_multicast(lab.router_ip, rd=rd, rt=RT, label=VNI, endpoint=lab.router_ip,
                        nexthop=lab.router_ip)


def gobgp_expected_from_ours(specs, speaker_ip) -> dict:
    """What ``gobgp -j global rib -a evpn`` must show for our routes."""
    exp = {}
    for s in specs:
        f = {"route_type": s["type"], "rd": OUR_RD, "ethernet_tag": 0, "next_hop": speaker_ip,
             "route_targets": [RT], "encapsulation": [8], "origin": 0, "local_pref": 100,
             "as_path": []}
        if s["type"] == 2:
            f.update(mac=s["mac"], ip=s["ip"], labels=[VNI], esi="single-homed")
        else:
            f.update(originator_ip=s["originator_ip"],
                     pmsi={"type": 6, "label": VNI, "endpoint": speaker_ip,
                           "leaf_info_required": False})
        exp[spec_key(s)] = f
    return exp


ORIGIN_NAMES = {0: "igp", 1: "egp", 2: "incomplete"}


def ours_expected_from_gobgp(local: dict) -> dict:
    """What our RIB must hold for GoBGP's own routes, from GoBGP's view."""
    exp = {}
    for k, f in local.items():
        ext = sorted([f"target:{rt}" for rt in f["route_targets"]]
                     + ["encapsulation:vxlan" if e == 8 else f"encapsulation:{e}"
                        for e in f["encapsulation"]])
        e = {"route_type": f["route_type"], "rd": f["rd"], "ethernet_tag": f["ethernet_tag"],
             "next_hop": f["next_hop"], "ext_communities": ext,
             "origin": ORIGIN_NAMES[f["origin"]], "local_pref": 100, "as_path": [],
             "stale": False}
        if f["route_type"] == 2:
            e.update(mac=f["mac"], ip=f["ip"], labels=f["labels"],
                     esi=ZERO_ESI if f["esi"] == "single-homed" else f["esi"])
        else:
            p = f["pmsi"]
            e.update(originator_ip=f["originator_ip"],
                     pmsi={"flags": 1 if p["leaf_info_required"] else 0, "type": p["type"],
                           "type_name": "ingress-replication", "label": p["label"],
                           "endpoint": p["endpoint"]})
        exp[k] = e
    return exp


def test_session_established(lab, gobgp_factory, agent_factory):
    g, agent, est = bring_up(lab, gobgp_factory, agent_factory)
    assert est["families"] == [EVPN]
    assert (est["peer_as"], est["peer_id"], est["hold_time"]) == (65000, lab.router_ip, HOLD)
    assert est["four_octet_as"] and est["route_refresh"]
    assert est["extended_message"] is False       # GoBGP does not offer RFC 8654
    nb = g.neighbor(lab.speaker_ip)
    st = nb["state"]
    assert st["session_state"] == 6 and st["router_id"] == lab.speaker_ip
    fams = [(a["state"]["family"], a["state"].get("enabled")) for a in nb["afi_safis"]]
    assert fams == [({"afi": 25, "safi": 70}, True)]
    remote = {c["type_url"].rsplit(".", 1)[-1] for c in st["remote_cap"]}
    assert {"MultiProtocolCapability", "FourOctetASNCapability",
            "RouteRefreshCapability"} <= remote, remote
    assert nb["timers"]["state"]["negotiated_hold_time"] == HOLD
    time.sleep(HOLD + 1.5)
    nb = g.neighbor(lab.speaker_ip)
    assert nb["state"]["session_state"] == 6
    assert nb["state"]["messages"]["received"].get("keepalive", 0) >= 3
    assert "notification" not in nb["state"]["messages"]["received"]
    assert agent.find("SessionDown") == [] and agent.find("NotificationReceived") == []


def test_routes_we_send_are_received_exactly(lab, gobgp_factory, agent_factory):
    g, agent, _ = bring_up(lab, gobgp_factory, agent_factory)
    t2 = our_type2(150)
    t3 = our_type3(lab.speaker_ip)
    r = agent.announce(t2, type2_attrs(), lab.speaker_ip)
    # no extended message with GoBGP: 150 routes (5,550 octets of NLRI) need
    # two UPDATEs of at most 4,096 octets (GoBGP would reset the session otherwise)
    assert r["messages"] >= 2
    agent.announce([t3], type3_attrs(lab.speaker_ip), lab.speaker_ip)
    expected = gobgp_expected_from_ours(t2 + [t3], lab.speaker_ip)
    wait_until(lambda: len(g.evpn_routes(peer=lab.speaker_ip)) >= len(expected), 30,
               what="GoBGP to hold our 151 routes")
    assert_tables_equal(g.evpn_routes(peer=lab.speaker_ip), expected,
                        "GoBGP's table of our routes")
    st = g.neighbor(lab.speaker_ip)["afi_safis"][0]["state"]
    assert st.get("received") == 151 and st.get("accepted") == 151
    assert g.neighbor(lab.speaker_ip)["state"]["session_state"] == 6


def test_routes_gobgp_originates_are_received_exactly(lab, gobgp_factory, agent_factory):
    g, agent, _ = bring_up(lab, gobgp_factory, agent_factory, hosts=HOSTS, multicast=True)
    local = g.evpn_routes()
    assert len(local) == 4
    expected = ours_expected_from_gobgp(local)
    wait_until(lambda: set(agent.rib()) == set(expected), 20,
               what="our RIB to hold GoBGP's 4 routes")
    assert_tables_equal(our_rib_view(agent.rib()), expected, "our RIB of GoBGP's routes")
    for e in expected.values():
        assert e["rd"] == f"{lab.router_ip}:2" and e["ext_communities"] == PEER_EXT
        assert e["next_hop"] == lab.router_ip and e.get("labels", [VNI]) == [VNI]
    t3 = next(e for e in expected.values() if e["route_type"] == 3)
    assert t3["pmsi"] == {"flags": 0, "type": 6, "type_name": "ingress-replication",
                          "label": VNI, "endpoint": lab.router_ip}
    for u in agent.find("UpdateReceived"):
        assert u["error"] is None and u["discarded"] == []


def test_withdrawals_both_ways(lab, gobgp_factory, agent_factory):
    g, agent, _ = bring_up(lab, gobgp_factory, agent_factory, hosts=HOSTS, multicast=True)
    t2 = our_type2(20)
    t3 = our_type3(lab.speaker_ip)
    agent.announce(t2, type2_attrs(), lab.speaker_ip)
    agent.announce([t3], type3_attrs(lab.speaker_ip), lab.speaker_ip)
    wait_until(lambda: len(g.evpn_routes(peer=lab.speaker_ip)) == 21, 20,
               what="GoBGP to hold our 21 routes")
    gone, kept = t2[:10] + [t3], t2[10:]
    agent.withdraw(gone)
    expected = gobgp_expected_from_ours(kept, lab.speaker_ip)
    wait_until(lambda: set(g.evpn_routes(peer=lab.speaker_ip)) == set(expected), 20,
               what="GoBGP to drop the 11 withdrawn routes")
    assert_tables_equal(g.evpn_routes(peer=lab.speaker_ip), expected, "GoBGP after withdraw")
    # GoBGP -> ours
    wait_until(lambda: len(agent.rib()) == 4, 20, what="GoBGP's 4 routes")
    m = agent.mark()
    rd = f"{lab.router_ip}:2"
    g.del_macadv("02:00:00:bb:00:01", "10.1.1.21", rd=rd, label=VNI)
    g.del_macadv("02:00:00:bb:00:02", None, rd=rd, label=VNI)
    local = g.evpn_routes()
    assert len(local) == 2
    wait_until(lambda: set(agent.rib()) == set(local), 20,
               what="our RIB to lose GoBGP's withdrawn routes")
    withdrawn = {(w["mac"], w["ip"]) for u in agent.find("UpdateReceived", m)
                 for w in u["withdrawn"]}
    assert withdrawn == {("02:00:00:bb:00:01", "10.1.1.21"), ("02:00:00:bb:00:02", None)}
    assert_tables_equal(our_rib_view(agent.rib()), ours_expected_from_gobgp(local),
                        "our RIB after GoBGP's withdrawals")


def close_wait_queues(ns, peer_ip) -> list:
    out = run(["ip", "netns", "exec", ns, "ss", "-tnH", "state", "close-wait"]).stdout
    return [int(p[0]) for p in (line.split() for line in out.splitlines())
            if len(p) >= 4 and p[3].startswith(peer_ip + ":")]


def test_hold_timer_expiry_when_gobgp_is_frozen(lab, gobgp_factory, agent_factory):
    g, agent, _ = bring_up(lab, gobgp_factory, agent_factory)
    m = agent.mark()
    t0 = time.monotonic()
    g.freeze()
    try:
        sent = agent.wait("NotificationSent", HOLD + 5, since=m)
        elapsed = time.monotonic() - t0
        assert HOLD - 3.5 <= elapsed <= HOLD + 1.5, elapsed
        assert (sent["code"], sent["subcode"], sent["data"]) == (4, 0, "")
        down = agent.wait("SessionDown", 5, since=m)
        assert down["reason"] == "hold timer expired" and down["was_established"]
        assert (down["notification"]["code"], down["notification"]["subcode"]) == (4, 0)
        # the frozen gobgpd's socket holds our KEEPALIVEs (19), the NOTIFICATION (21), FIN (+1)
        qs = wait_until(lambda: close_wait_queues(lab.router_ns, lab.speaker_ip), 5,
                        what="the frozen gobgpd's connection in CLOSE-WAIT")
        assert any(q >= 22 and (q - 1) % 19 == 2 for q in qs), qs
    finally:
        g.thaw()
    agent.established(40, since=m)
    wait_until(lambda: g.session_state(lab.speaker_ip) == "established", 20,
               what="GoBGP to re-establish after SIGCONT")
    # on SIGCONT GoBGP either reads our 4/0 first or its own hold timer fires first
    recs = g.log_records()
    got = [(r.get("Code"), r.get("Subcode")) for r in recs if r.get("msg") == "received notification"]
    assert all(c == (4, 0) for c in got), got
    downs = [r.get("Reason") for r in recs if r.get("msg") == "Peer Down"]
    assert downs and all(d in ("hold-timer-expired", "graceful-restart")
                         or d.startswith("notification-received code 4(") for d in downs), downs


def test_shutdown_message_is_understood(lab, gobgp_factory, agent_factory):
    g, agent, _ = bring_up(lab, gobgp_factory, agent_factory)
    m = agent.mark()
    agent.close("maintenance window")
    sent = agent.wait("NotificationSent", 5, since=m)
    assert (sent["code"], sent["subcode"], sent["shutdown_message"]) == (
        6, 2, "maintenance window")
    wait_until(lambda: g.session_state(lab.speaker_ip) != "established", 10,
               what="GoBGP to drop the session")
    nb = g.neighbor(lab.speaker_ip)
    assert nb["state"]["messages"]["received"].get("notification", 0) >= 1
    recs = wait_until(lambda: [r for r in g.log_records()
                               if r.get("msg") == "received notification"], 10,
                      what="GoBGP's 'received notification' log line")
    r = recs[-1]
    assert (r.get("Code"), r.get("Subcode")) == (6, 2), r
    assert r.get("Communicated-Reason") == "maintenance window", r
    down = [r for r in g.log_records() if r.get("msg") == "Peer Down"]
    assert down and "code 6(cease) subcode 2(administrative shutdown)" in down[-1]["Reason"]
    time.sleep(3)
    assert g.session_state(lab.speaker_ip) != "established"
    assert agent.find("SessionEstablished", m) == []


def test_graceful_restart_of_gobgp(lab, gobgp_factory, agent_factory):
    g, agent, est = bring_up(lab, gobgp_factory, agent_factory, gr=True, hosts=HOSTS,
                             multicast=True)
    gr = est["peer_graceful_restart"]
    assert gr["restart_time"] == 30 and gr["families"] == [[25, 70, False]]
    ours = our_type2(10)
    agent.announce(ours, type2_attrs(), lab.speaker_ip)
    agent.end_of_rib()
    agent.wait("EndOfRibReceived", 30)
    wait_until(lambda: len(agent.rib()) == 4, 15, what="GoBGP's 4 routes")
    before = agent.rib()

    m = agent.mark()
    g.kill()                        # a crash: no NOTIFICATION, the TCP connection closes
    pr = agent.wait("PeerRestarting", 10, since=m)
    assert pr["families"] == [EVPN] and pr["restart_time"] == 30
    down = agent.wait("SessionDown", 5, since=m)
    assert down["notification"] is None and down["was_established"]
    held = agent.rib()
    assert set(held) == set(before) and all(e["stale"] for e in held.values())
    # GoBGP comes back (R bit) with all but bb:03, which must go with the stale flush
    g.start(restarting=True)
    originate(lab, g, HOSTS[:2], multicast=True)
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
    local = g.evpn_routes()
    gone = (2, f"{lab.router_ip}:2", 0, "02:00:00:bb:00:03", "10.1.1.23")
    assert gone in before and gone not in local and len(local) == 3
    assert_tables_equal(our_rib_view(agent.rib()), ours_expected_from_gobgp(local),
                        "our RIB after the restart and the stale flush")
    wait_until(lambda: set(g.evpn_routes(peer=lab.speaker_ip))
               == {spec_key(s) for s in ours}, 20, what="GoBGP to relearn our routes")


def test_stale_routes_flushed_when_gobgp_does_not_come_back(lab, gobgp_factory,
                                                            agent_factory):
    """RFC 4724 §4.2: the restart time GoBGP announced (5 s) passes without a
    new session: our side flushes the stale routes by itself."""
    g = gobgp_factory(hold=HOLD, graceful_restart=True, restart_time=5).start()
    originate(lab, g, HOSTS, multicast=True)
    agent = agent_factory(hold_time=HOLD, graceful_restart={"restart_time": 120}).start()
    est = agent.established(30)
    assert est["peer_graceful_restart"]["restart_time"] == 5
    agent.end_of_rib()
    wait_until(lambda: len(agent.rib()) == 4, 15, what="GoBGP's 4 routes")
    m = agent.mark()
    g.kill()
    pr = agent.wait("PeerRestarting", 10, since=m)
    assert pr["restart_time"] == 5
    assert len(agent.rib()) == 4 and all(e["stale"] for e in agent.rib().values())
    flushed = agent.wait("StaleRoutesFlushed", 10, since=m)
    assert flushed["family"] == EVPN and flushed["reason"] == "restart timer expired"
    assert 4.0 <= flushed["t"] - pr["t"] <= 7.0, flushed["t"] - pr["t"]
    assert agent.rib() == {}
