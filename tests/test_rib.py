"""The RIB: decision process, changes, interning, stale paths, policies,
route reflection and MRT dumps."""
import io

from bgpevpn import (AsPath, Attributes, ClusterList, ExtCommunities, ExtCommunity, Ipv4Prefix,
                     LocalPref, MacIpRoute, Med, NextHop, Origin, OriginatorId, Context)
from bgpevpn import wire
from bgpevpn.rib import Rib, Source, route_target_filter
from bgpevpn.rib.mrtio import dump_mrt, load_mrt
from bgpevpn.rib.reflect import RouteReflector, UpdateGroups

EVPN = (25, 70)
V4 = (1, 1)
A = Source("a", "192.0.2.1", "192.0.2.1", 65000, client=True)
B = Source("b", "192.0.2.2", "192.0.2.2", 65000, client=True)
C = Source("c", "192.0.2.3", "192.0.2.3", 65000, client=False)
E = Source("e", "198.51.100.1", "198.51.100.1", 65001, ebgp=True)


def attrs(*extra, lp=100, path=()):
    return Attributes([Origin(0), AsPath([(2, path)] if path else []), LocalPref(lp), *extra])


def mac(i, rd="192.0.2.1:2", labels=(100,)):
    return MacIpRoute.build(rd, f"50:54:33:00:00:{i:02x}", None, labels)


def test_route_key_not_labels_decides_identity():
    rib = Rib()
    rib.update(A, EVPN, [mac(1, labels=(100,))], (), attrs(), b"\xc0\x00\x02\x01")
    # the withdrawal carries label 0 (FRR does that): same RFC 7432 §7.2 key
    ch = rib.update(A, EVPN, (), [mac(1, labels=(0,))])
    assert [c.kind for c in ch] == ["withdrawn"] and rib.count(EVPN) == 0


def test_decision_local_pref_then_as_path_then_med_same_as_only():
    rib = Rib()
    p = Ipv4Prefix.build("10.0.0.0/8")
    rib.update(A, V4, [p], (), attrs(lp=100), b"\xc0\x00\x02\x01")
    rib.update(B, V4, [p], (), attrs(lp=200), b"\xc0\x00\x02\x02")
    assert rib.best(V4)[p].source is B
    rib.update(B, V4, [p], (), attrs(lp=100, path=(65010, 65011)), b"\xc0\x00\x02\x02")
    assert rib.best(V4)[p].source is A          # shorter AS_PATH wins
    rib.update(A, V4, [p], (), attrs(Med(50), path=(65010,)), b"\xc0\x00\x02\x01")
    rib.update(B, V4, [p], (), attrs(Med(10), path=(65010,)), b"\xc0\x00\x02\x02")
    assert rib.best(V4)[p].source is B          # same neighbour AS: lower MED
    rib.update(B, V4, [p], (), attrs(Med(10), path=(65020,)), b"\xc0\x00\x02\x02")
    assert rib.best(V4)[p].source is A          # MED not compared across ASes; lowest id


def test_rfc4456_cluster_list_and_originator():
    rib = Rib()
    p = Ipv4Prefix.build("10.0.0.0/8")
    rib.update(A, V4, [p], (), attrs(OriginatorId("192.0.2.9"), ClusterList(("1.1.1.1", "2.2.2.2"))),
               b"\x01\x01\x01\x01")
    rib.update(B, V4, [p], (), attrs(OriginatorId("192.0.2.8"), ClusterList(("1.1.1.1",))),
               b"\x01\x01\x01\x01")
    assert rib.best(V4)[p].source is B


def test_mac_mobility_sequence_then_sticky_win():
    rib = Rib()
    r = mac(5)
    rib.update(A, EVPN, [r], (), attrs(ExtCommunities([ExtCommunity.mac_mobility(1)])), b"a")
    rib.update(B, EVPN, [r], (), attrs(ExtCommunities([ExtCommunity.mac_mobility(3)])), b"b")
    assert rib.best(EVPN)[r].source is B
    rib.update(A, EVPN, [r], (), attrs(ExtCommunities([ExtCommunity.mac_mobility(0, True)])), b"a")
    assert rib.best(EVPN)[r].source is A


def test_interning_and_changes_callbacks():
    rib = Rib()
    seen = []
    rib.on_change(seen.append)
    a1, a2 = attrs(), attrs()
    rib.update(A, EVPN, [mac(1)], (), a1, b"a")
    rib.update(A, EVPN, [mac(2)], (), a2, b"a")
    assert rib.best(EVPN)[mac(1)].attrs is rib.best(EVPN)[mac(2)].attrs
    assert [c.kind for c in seen] == ["added", "added"]


def test_stale_paths_survive_until_flushed():
    rib = Rib()
    rib.update(A, EVPN, [mac(1), mac(2)], (), attrs(), b"a")
    assert rib.mark_stale(A, EVPN) == 2
    rib.update(A, EVPN, [mac(1)], (), attrs(), b"a")       # re-announced after the restart
    ch = rib.flush_stale(A, EVPN)
    assert [(c.kind, bytes(c.route)) for c in ch] == [("withdrawn", bytes(mac(2)))]


def test_route_target_import_policy():
    rib = Rib(import_policy=route_target_filter(["target:65000:100"]))
    ok = attrs(ExtCommunities([ExtCommunity("target:65000:100")]))
    other = attrs(ExtCommunities([ExtCommunity("target:65000:200")]))
    rib.update(A, EVPN, [mac(1)], (), ok, b"a")
    rib.update(A, EVPN, [mac(2)], (), other, b"a")
    assert set(map(bytes, rib.best(EVPN))) == {bytes(mac(1))}


class _Peer:
    def __init__(self, source):
        self.source, self.context = source, Context(extended_message=True)


def test_reflection_targets_attributes_and_one_encoding_per_group():
    rib = Rib()
    rr = RouteReflector("10.0.0.254", "10.0.0.254")
    peers = [_Peer(s) for s in (A, B, C, E)]
    changes = rib.update(A, EVPN, [mac(i) for i in range(10)], (), attrs(), b"\xc0\x00\x02\x01")
    out = UpdateGroups(rr).build(changes, peers)
    assert set(p.source.name for p in out) == {"b", "c", "e"}       # never back to a
    msg = wire.decode_message(out[peers[1]][0], peers[1].context)
    assert msg.attributes.originator_id == "192.0.2.1"
    assert msg.attributes.cluster_list == ("10.0.0.254",)
    assert msg.attributes.med is None
    assert out[peers[1]] == out[peers[2]]                          # same bytes to the group
    # from a non-client: clients and eBGP only
    ch2 = rib.update(C, EVPN, [mac(50)], (), attrs(), b"\xc0\x00\x02\x03")
    out2 = UpdateGroups(rr).build(ch2, peers)
    assert set(p.source.name for p in out2) == {"a", "b", "e"}
    # our own reflected route coming back is refused
    assert not rr.accept(Attributes([OriginatorId("10.0.0.254")]))
    assert not rr.accept(Attributes([ClusterList(("10.0.0.254",))]))


def test_mrt_dump_and_load_give_the_same_best_paths():
    rib = Rib()
    rib.update(A, EVPN, [mac(i) for i in range(5)], (),
               attrs(ExtCommunities([ExtCommunity("target:65000:100")])), b"\xc0\x00\x02\x01")
    rib.update(E, V4, [Ipv4Prefix.build("10.0.0.0/8")], (),
               attrs(NextHop("198.51.100.1"), path=(65001,)), b"\xc6\x33\x64\x01")
    buf = io.BytesIO()
    assert dump_mrt(rib, buf) > 0
    buf.seek(0)
    back = Rib()
    assert load_mrt(back, buf) == 6
    for fam in (EVPN, V4):
        assert {bytes(r): p.attrs.to_dict() for r, p in rib.best(fam).items()} == \
            {bytes(r): p.attrs.to_dict() for r, p in back.best(fam).items()}


def test_reflected_ipv4_route_keeps_its_wire_next_hop():
    """Sessions and the RIB carry next hops in wire form; an IPv4 unicast
    route goes out with them in its NEXT_HOP attribute (RFC 4456: unchanged)."""
    rib = Rib()
    rr = RouteReflector("10.0.0.254")
    peers = [_Peer(A), _Peer(B)]
    ch = rib.update(A, V4, [Ipv4Prefix.build("10.1.0.0/16")], (), attrs(), b"\xc0\x00\x02\x09")
    (msg,) = UpdateGroups(rr).build(ch, peers)[peers[1]]
    assert wire.decode_message(msg, peers[1].context).attributes.next_hop == "192.0.2.9"
