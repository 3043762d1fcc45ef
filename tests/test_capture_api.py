"""bgpevpn.capture.read: one iterator over streams, pcaps (BGP and BMP) and MRT."""
from pathlib import Path

import pytest

import bgpevpn
from bgpevpn import capture

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"


def kinds(items):
    out = {}
    for it in items:
        key = it.kind if it.kind != "message" else it.message.type
        out[key] = out.get(key, 0) + 1
    return out


def test_pcap_bgp_flows_and_contexts():
    items = list(capture.read(PCAPS / "junos-vmx-vs-frr-rfc5549-notification.pcap"))
    assert kinds(items) == {"OPEN": 18, "UPDATE": 21, "NOTIFICATION": 9, "KEEPALIVE": 12}
    # every message after an OPEN of its flow was decoded with the learnt context
    seen_open = set()
    for it in items:
        if it.message.type == "OPEN":
            seen_open.add((it.src, it.dst))
        elif (it.src, it.dst) in seen_open:
            assert not it.context_guessed
    assert all(" > " in it.flow for it in items)


def test_bmp_capture_gives_route_monitoring_updates_and_records():
    items = list(capture.read(PCAPS / "bmp-srv6-evpn-rt1-vpnv4-vpnv6.pcap"))
    k = kinds(items)
    assert k["UPDATE"] == 143 and k["record"] == 2 + 4 + 7
    evpn = [r for it in items if it.kind == "message"
            for r in it.message.announced if r.afi == 25]
    assert len(evpn) == 2 and {r.ethernet_tag for r in evpn} == {513}
    assert all(it.origin == "bmp" and it.peer for it in items if it.kind != "skipped")


def test_mrt_updates_with_peers():
    items = list(capture.read(PCAPS / "mrt-ryu-updates-2016-as4-v4v6.bz2"))
    assert kinds(items) == {"UPDATE": 2623}
    assert all(it.origin == "mrt" and it.peer for it in items)


def test_raw_stream_bytes_and_resync():
    ka = bgpevpn.Keepalive().encode()
    data = ka + b"junk" + ka
    items = list(capture.read(data))
    assert [it.kind for it in items] == ["message", "skipped", "message"]
    assert items[1].offset == 19 and items[1].length == 4


def test_unusable_input_is_a_source_error():
    with pytest.raises(capture.SourceError):
        list(capture.read(b"hello world, not BGP"))
    with pytest.raises(capture.SourceError):
        list(capture.read("/nonexistent/file.pcap"))


def test_extended_message_session_over_ipv6_vlan_reordered_with_loss_of_nothing():
    """An FRR<->FRR-like session (RFC 8654 extended message negotiated) in a
    generated capture: IPv6 over an 802.1Q VLAN, 1448-octet segments,
    reordered and retransmitted; a 65,535-octet UPDATE of type-2 routes decodes
    exactly, with the context learnt from the OPENs."""
    from test_pcap_reader import Flow, ether, pcap
    from bgpevpn import (AsPath, Capability, ExtCommunities, ExtCommunity, MacIpRoute, Open,
                         Origin, pack_updates)
    ctx = bgpevpn.Context(extended_message=True)
    caps = [Capability.multiprotocol(25, 70), Capability.extended_message()]
    open_a = Open.build(65000, 180, "203.0.113.1", caps).encode()
    open_b = Open.build(65000, 180, "203.0.113.2", caps).encode()
    routes = [MacIpRoute.build("203.0.113.1:2", bytes([0x50, 0x54, 0, 0, i >> 8, i & 255]),
                               None, (100,)) for i in range(4000)]
    attrs = [Origin(0), AsPath([]),
             ExtCommunities([ExtCommunity("target:65000:100"), ExtCommunity.encapsulation(8)])]
    msgs = pack_updates(routes, attrs, "203.0.113.1", ctx)
    assert len(msgs[0]) > 65000          # the biggest message FRR sends
    ka = bgpevpn.Keepalive().encode()
    a = Flow("2001:db8::1", "2001:db8::2", 40000, 179)
    b = Flow("2001:db8::2", "2001:db8::1", 179, 40000)
    stream_a = open_a + ka + b"".join(msgs)
    stream_b = open_b + ka
    segs = [(off, stream_a[off:off + 1448]) for off in range(0, len(stream_a), 1448)]
    # swap neighbours and retransmit every tenth segment
    order = []
    for i in range(0, len(segs) - 1, 2):
        order += [segs[i + 1], segs[i]]
    if len(segs) % 2:
        order.append(segs[-1])
    order += segs[::10]
    frames = [ether(a.syn(), vlans=((0x8100, 100),)), ether(b.syn(), vlans=((0x8100, 100),)),
              ether(b.seg(0, stream_b), vlans=((0x8100, 100),))]
    frames += [ether(a.seg(off, data), vlans=((0x8100, 100),)) for off, data in order]
    items = list(capture.read(pcap(frames)))
    assert {it.kind for it in items} == {"message"}
    updates = [it.message for it in items if it.message.type == "UPDATE"]
    assert [len(u.announced) for u in updates] == [len(bgpevpn.decode_message(m, ctx).announced)
                                                  for m in msgs]
    got = [r for u in updates for r in u.announced]
    assert [bytes(r) for r in got] == [bytes(r) for r in routes]
    assert not any(it.context_guessed for it in items)
    assert updates[0].length == len(msgs[0])
