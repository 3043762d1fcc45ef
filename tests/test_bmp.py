"""Tests for bgpevpn.bmp (RFC 7854, RFC 8671, RFC 9069).

Expected values for the real captures were read off
``tshark -r FILE -d tcp.port==PORT,bmp -Y bmp -V`` (Wireshark 4.0) and written
here by hand; each block says which capture and which fields.
"""
from __future__ import annotations

import collections
import io
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bgpevpn
from bgpevpn import bmp as bmp_module
from bgpevpn.attributes import AsPath, Origin
from bgpevpn.bmp import (
    BmpCaptureReader,
    BmpError,
    BmpReader,
    Initiation,
    MalformedBmpMessage,
    PeerDown,
    PeerUp,
    RouteMirroring,
    RouteMonitoring,
    StatisticsReport,
    Termination,
    UnknownBmpMessage,
    decode_bmp_message,
    iter_bmp_capture,
)
from bgpevpn.messages import Capability, Notification, Open

PCAPS = Path(__file__).parent.parent / "pcaps"
NETGAUZE = PCAPS / "bmp-srv6-evpn-rt1-vpnv4-vpnv6.pcap"
JUNOS = PCAPS / "junos-vmx-bmp-evpn-rt5-vpnv4-v6.pcap"
FRR = PCAPS / "frr10-bmp-upa-draft.pcap"
PORTS = {NETGAUZE: 1790, JUNOS: 10179, FRR: 1790}


@pytest.fixture
def twin(codec, monkeypatch):
    """Run the BMP layer over one codec twin (``py`` or ``c``)."""
    monkeypatch.setattr(bmp_module, "wire", codec)
    return codec


def read_capture(path) -> list:
    return list(iter_bmp_capture(path, PORTS[path]))


def of_type(items, cls) -> list:
    return [m for _, _, m in items if isinstance(m, cls)]


# --- builders for synthetic messages ---------------------------------------------------

def bmp(mtype: int, body: bytes, version: int = 3) -> bytes:
    return struct.pack("!BIB", version, 6 + len(body), mtype) + body


def peer_header(ptype=0, flags=0, rd=b"\x00" * 8, addr="192.0.2.1", asn=65001,
                bgp_id="192.0.2.1", sec=1_700_000_000, usec=250_000) -> bytes:
    import ipaddress
    raw = ipaddress.ip_address(addr).packed.rjust(16, b"\x00")
    return (bytes([ptype, flags]) + rd + raw + struct.pack("!I", asn)
            + ipaddress.ip_address(bgp_id).packed + struct.pack("!II", sec, usec))


def tlv(ttype: int, value: bytes) -> bytes:
    return struct.pack("!HH", ttype, len(value)) + value


def open_bytes(asn, bgp_id, caps=()) -> bytes:
    return Open.build(asn, 90, bgp_id, list(caps)).encode()


def peer_up(header: bytes, sent: bytes, received: bytes, tlvs: bytes = b"") -> bytes:
    local = bytes(12) + bytes([192, 0, 2, 2])
    return bmp(3, header + local + struct.pack("!HH", 179, 50000) + sent + received + tlvs)


def update(prefix="10.0.0.0/24", path_id=None, four=True, asns=(65001, 65002)) -> bytes:
    ctx = bgpevpn.Context(four_octet_as=four,
                          add_path=frozenset({(1, 1)}) if path_id is not None else frozenset())
    route = bgpevpn.Ipv4Prefix.build(prefix, path_id=path_id)
    attrs = [Origin(0), AsPath([(2, asns)])]
    return bgpevpn.pack_updates([route], attrs, next_hop="192.0.2.1", ctx=ctx)[0]


def route_monitoring(header: bytes, pdu: bytes) -> bytes:
    return bmp(0, header + pdu)


# --- real captures: message counts ----------------------------------------------------------

# Counts by BMP type from `tshark ... -Y bmp -T fields -e bmp.type`.
EXPECTED_COUNTS = {
    NETGAUZE: {"peer-up": 4, "route-monitoring": 143, "statistics-report": 7, "peer-down": 2},
    JUNOS: {"initiation": 1, "peer-up": 4, "route-monitoring": 34, "statistics-report": 4,
            "termination": 1},
    FRR: {"initiation": 3, "peer-up": 7, "route-monitoring": 34},
}


@pytest.mark.parametrize("path", list(EXPECTED_COUNTS), ids=lambda p: p.name)
def test_capture_message_counts(path, twin):
    reader = BmpCaptureReader(path, PORTS[path])
    items = list(reader)
    assert collections.Counter(m.bmp_type for _, _, m, _ in items) == EXPECTED_COUNTS[path]
    assert reader.gaps == [] and reader.skipped == []
    assert not any(isinstance(m, MalformedBmpMessage) for _, _, m, _ in items)
    # every UPDATE inside decodes (Wireshark calls some FRR Peer Up TLVs malformed)
    assert [m for _, _, m, _ in items if getattr(m, "error", None) is not None] == []
    for _, _, m, _ in items:
        json.dumps(m.to_dict())


def test_default_ports_find_all_three_captures():
    assert len(list(iter_bmp_capture(NETGAUZE))) == 156
    assert len(list(iter_bmp_capture(JUNOS))) == 44
    assert len(list(iter_bmp_capture(FRR))) == 44


def test_capture_from_file_object():
    items = list(iter_bmp_capture(io.BytesIO(JUNOS.read_bytes()), 10179))
    assert len(items) == 44


# --- NetGauze capture (no SYN: the streams start mid-way) -----------------------------------

def test_netgauze_first_peer_up(twin):
    items = read_capture(NETGAUZE)
    time, description, msg = items[0]
    assert isinstance(msg, PeerUp)
    assert time == pytest.approx(1642958312.745036)            # frame 1 arrival time
    assert description == "router 198.51.100.44:43969 peer fcba:be00:3002::2 AS65000"
    peer = msg.peer
    assert (peer.peer_type, peer.flags, peer.address, peer.asn, peer.bgp_id) == \
        (0, 0x80, "fcba:be00:3002::2", 65000, "198.51.100.154")
    assert (peer.seconds, peer.microseconds) == (1642958312, 741577)
    assert (msg.local_address, msg.local_port, msg.remote_port) == \
        ("fcba:be00:3001::1", 23680, 179)
    # sent OPEN: My AS 23456 (AS_TRANS), 4-octet AS 65543, BGP id 198.51.100.44
    assert (msg.sent_open.my_as, msg.sent_open.asn, msg.sent_open.bgp_id) == \
        (23456, 65543, "198.51.100.44")
    assert (msg.received_open.asn, msg.received_open.bgp_id) == (65000, "198.51.100.154")
    assert (25, 70) in msg.received_open.families
    d = msg.to_dict()
    assert d["bmp_type"] == "peer-up"
    assert d["peer"] == {"type": "global", "distinguisher": "0:0",
                         "address": "fcba:be00:3002::2", "as": 65000,
                         "bgp_id": "198.51.100.154", "flags": ["ipv6"],
                         "timestamp": pytest.approx(1642958312.741577)}


def test_netgauze_statistics(twin):
    # tshark: bmp.stats.type / bmp.stats.data per report, in capture order
    expected = [
        ("global", "0:0", "fcba:be00:3002::2", [(7, 3), (8, 3)]),
        ("rd", "64499:75", "2001:db8:31::153", [(1, 73), (7, 1), (8, 1)]),
        ("rd", "64499:75", "192.0.31.153", [(1, 73), (7, 1), (8, 1)]),
        ("rd", "64499:15", "2001:db8:11::153", [(1, 73), (7, 1), (8, 1)]),
        ("rd", "64499:15", "192.0.11.153", [(1, 146), (7, 2), (8, 2)]),
        ("global", "0:0", "198.51.100.52", [(1, 9563), (2, 602), (4, 526), (7, 131), (8, 131)]),
        ("global", "0:0", "192.0.2.52", [(1, 1460), (2, 76), (4, 76), (7, 20), (8, 20)]),
    ]
    reports = of_type(read_capture(NETGAUZE), StatisticsReport)
    got = [(r.to_dict()["peer"]["type"], r.to_dict()["peer"]["distinguisher"], r.peer.address,
            [(s.type, s.value) for s in r.stats]) for r in reports]
    assert got == expected
    assert reports[0].counters == {7: 3, 8: 3}
    assert reports[0].stats[0].name == "adj-rib-in-routes"


def test_netgauze_peer_down_cease(twin):
    downs = of_type(read_capture(NETGAUZE), PeerDown)
    # frame 4: reason 1 (local, NOTIFICATION follows); frame 5: reason 3 (remote)
    assert [d.reason for d in downs] == [1, 3]
    for down in downs:
        assert isinstance(down.notification, Notification)
        assert (down.notification.code, down.notification.subcode) == (6, 4)
        assert down.to_dict()["bgp"]["code_name"] == "cease"
    assert downs[0].peer.address == "fcba:be00:3002::2"
    assert downs[1].peer.address == "fcba:be00:3001::1"


def test_netgauze_evpn_ethernet_ad_routes(twin):
    evpn = [(m, r) for m in of_type(read_capture(NETGAUZE), RouteMonitoring)
            for r in m.bgp.announced if r.family == (25, 70)]
    # tshark: two Ethernet A-D routes, ESI 0, tag 513, MPLS label 917504
    assert [str(r.rd) for _, r in evpn] == ["198.51.100.154:513", "198.51.100.44:513"]
    for msg, route in evpn:
        assert route.route_type == 1
        assert route.to_dict()["esi"] == "00:00:00:00:00:00:00:00:00:00"
        assert route.ethernet_tag == 513
        assert route.labels[0] >> 4 == 917504
        assert msg.context_source == "peer-up"
    assert [m.bgp.attributes.as_path[0].asns for m, _ in evpn] == [(65000,), (65543,)]


def test_netgauze_peers_without_peer_up_use_the_per_peer_header(twin):
    rms = of_type(read_capture(NETGAUZE), RouteMonitoring)
    sources = collections.Counter(m.context_source for m in rms)
    assert sources == {"peer-up": 141, "per-peer-header": 2}


# --- JunOS capture ---------------------------------------------------------------------------

def test_junos_initiation_and_termination(twin):
    items = read_capture(JUNOS)
    init = of_type(items, Initiation)[0]
    assert init.sys_descr.startswith("Juniper Networks, Inc. vmx internet router")
    assert init.sys_name == "vMX"
    term = of_type(items, Termination)[0]
    assert term.reason == 0
    assert term.strings == ["station removed from config"]
    assert term.to_dict()["information"][1] == {"type": 1, "name": "reason", "value": 0,
                                                "reason": "administratively-closed"}
    assert items[0][1] == "router 203.0.113.0:59324"


def test_junos_peer_ups(twin):
    ups = of_type(read_capture(JUNOS), PeerUp)
    assert [(u.peer.address, u.peer.asn, u.local_address) for u in ups] == [
        ("192.0.2.1", 65011, "192.0.2.0"), ("192.0.2.5", 65500, "192.0.2.4"),
        ("2001:db8::3", 65013, "2001:db8::2"), ("2001:db8::7", 65017, "2001:db8::6")]


def test_junos_evpn_ip_prefix_route(twin):
    rms = of_type(read_capture(JUNOS), RouteMonitoring)
    announced = [(m, r) for m in rms for r in m.bgp.announced if r.family == (25, 70)]
    withdrawn = [r for m in rms for r in m.bgp.withdrawn if r.family == (25, 70)]
    assert len(announced) == 1 and len(withdrawn) == 1
    msg, route = announced[0]
    assert route.route_type == 5
    assert str(route.rd) == "65017:103"
    assert str(route.prefix) == "198.51.100.0/26"
    assert route.labels == (9001,)                        # tshark: VNI 9001
    assert msg.bgp.next_hop_of(route)[0] == "2001:db8::7"
    ext = msg.bgp.to_dict()["attributes"]["extended_communities"]
    assert "router-mac:2c:6b:f5:79:14:f0" in ext          # tshark: EVPN Router's MAC
    assert "encapsulation:vxlan" in ext
    assert withdrawn[0] == route


def test_junos_add_path_negotiated_from_peer_up(twin):
    # Peer 192.0.2.5 sent ADD-PATH "send" for IPv4 unicast, the router "receive":
    # tshark shows "192.0.2.4/31 PathId 1" in frame 12.
    rms = [m for m in of_type(read_capture(JUNOS), RouteMonitoring)
           if m.peer.address == "192.0.2.5" and m.bgp.announced]
    assert len(rms) == 1
    assert rms[0].context.add_path == frozenset({(1, 1)})
    route = rms[0].bgp.announced[0]
    assert (route.prefix, route.path_id) == ("192.0.2.4/31", 1)


def test_junos_statistics_per_family(twin):
    reports = of_type(read_capture(JUNOS), StatisticsReport)
    types = [s.type for s in reports[0].stats]
    assert types == [0, 1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17]
    last = reports[3]
    assert last.peer.address == "2001:db8::7"
    assert len(last.stats) == 21
    assert last.counters[0] == 11                        # tshark: 11 prefixes rejected
    assert sorted(last.counters[16]) == [(1, 1), (1, 128), (2, 1), (2, 128), (25, 70)]
    assert last.stats[11].to_dict() == {"type": 16,
                                        "name": "adj-rib-out-pre-policy-routes-per-family",
                                        "afi": 1, "safi": 1, "value": 0}


# --- FRR capture (RFC 9069 Loc-RIB) ---------------------------------------------------------

def test_frr_initiations(twin):
    inits = of_type(read_capture(FRR), Initiation)
    assert [i.sys_descr for i in inits] == ["FRRouting 10.8.0-dev_git20260719"] * 3
    assert [i.sys_name for i in inits] == ["r3", "r2", "r1"]


def test_frr_loc_rib(twin):
    items = read_capture(FRR)
    ups = [m for m in of_type(items, PeerUp) if m.peer.is_loc_rib]
    assert len(ups) == 3
    assert all(u.table_name == "global" and u.local_address == "0.0.0.0" for u in ups)
    assert ups[0].to_dict()["information"] == [{"type": 3, "name": "vrf-table-name",
                                                "value": "global"}]
    rms = of_type(items, RouteMonitoring)
    kinds = collections.Counter((m.peer.peer_type, m.peer.flags) for m in rms)
    # tshark: bmp.peer.type / bmp.peer.flags of the 34 Route Monitoring messages
    assert kinds == {(0, 0x00): 10, (0, 0x40): 8, (3, 0x00): 13, (3, 0x40): 3}
    loc = [m for m in rms if m.peer.is_loc_rib]
    assert {m.context_source for m in loc} == {"peer-up"}
    assert loc[0].to_dict()["peer"]["type"] == "loc-rib"
    description = next(d for _, d, m in items if m is loc[0])
    assert description == "router 172.20.0.13:43788 loc-rib 0:0 (3.3.3.3 AS65003)"


def test_frr_unreachable_prefix_updates_decode(twin):
    # tshark: NLRI and withdrawn routes of the Route Monitoring UPDATEs; 12 UPDATEs of
    # length 23 (End-of-RIB)
    rms = of_type(read_capture(FRR), RouteMonitoring)
    prefixes = collections.Counter(r.prefix for m in rms for r in m.bgp.announced)
    assert prefixes == {"10.0.0.0/16": 10, "10.0.1.0/24": 7, "10.0.2.0/24": 2}
    withdrawn = [r.prefix for m in rms for r in m.bgp.withdrawn]
    assert withdrawn == ["10.0.1.0/24"] * 3
    assert sum(1 for m in rms if m.bgp.end_of_rib) == 12


# --- the incremental reader -------------------------------------------------------------------

def capture_stream(path) -> bytes:
    """The BMP byte stream of the first router of a capture, from the decoded messages."""
    raw = []
    original = bmp_module.decode_bmp_message

    def grab(data, peers=None, offset=0):
        raw.append(bytes(data))
        return original(data, peers, offset)
    bmp_module.decode_bmp_message = grab
    try:
        items = list(BmpCaptureReader(path, PORTS[path]))
    finally:
        bmp_module.decode_bmp_message = original
    first = items[0][1].split()[1]
    return b"".join(r for r, item in zip(raw, items) if item[1].split()[1] == first)


def summary(messages) -> list:
    return [json.dumps(m.to_dict(), sort_keys=True) for m in messages]


def test_reader_byte_by_byte_equals_whole():
    stream = capture_stream(JUNOS)
    whole = BmpReader().feed(stream)
    reader = BmpReader()
    pieces = []
    for i in range(len(stream)):
        pieces += reader.feed(stream[i:i + 1])
    assert reader.pending == 0
    assert summary(pieces) == summary(whole)
    assert len(whole) == 44


def test_reader_partial_message_waits():
    msg = bmp(4, tlv(1, b"descr") + tlv(2, b"name"))
    reader = BmpReader()
    assert reader.feed(msg[:-1]) == []
    assert reader.pending == len(msg) - 1
    (init,) = reader.feed(msg[-1:])
    assert (init.sys_descr, init.sys_name) == ("descr", "name")


def test_reader_resynchronises_after_garbage():
    stream = capture_stream(JUNOS)
    garbage = b"\x03\x00\x00\x00\x10\x09junk" + bytes(range(40))
    reader = BmpReader(resync=True, synced=False)
    out = reader.feed(garbage + stream)
    assert len(out) == 44
    assert reader.skipped == [(0, len(garbage), "stream does not start with a BMP header")]


def test_reader_strict_mode_raises_with_offset():
    good = bmp(4, tlv(1, b"x"))
    bad = bytes([2]) + good[1:]
    reader = BmpReader()
    with pytest.raises(BmpError) as info:
        reader.feed(good + bad)
    assert info.value.offset == len(good)
    assert "version 2" in str(info.value)
    assert [m.sys_descr for m in info.value.messages] == ["x"]


def test_reader_resync_mode_skips_a_bad_header():
    good = bmp(4, tlv(1, b"x"))
    bad = b"\x03\xff\xff\xff\xff\x04"
    reader = BmpReader(resync=True)
    out = reader.feed(good + bad + good)
    assert len(out) == 2
    assert reader.skipped == [(len(good), len(bad), "invalid BMP header")]


def test_reader_gap_drops_the_partial_message_and_resyncs():
    msg = bmp(4, tlv(1, b"abc"))
    reader = BmpReader(resync=True)
    assert reader.feed(msg + msg[:5]) != []
    reader.gap(100)
    out = reader.feed(msg[7:] + msg)      # the tail of a message, then a whole one
    assert len(out) == 1
    assert reader.skipped[0] == (len(msg), 5, "incomplete message before a gap in the stream")
    assert reader.skipped[1][2] == "resynchronising after a gap in the stream"


def test_malformed_body_does_not_stop_the_stream():
    bad_stats = bmp(1, peer_header() + struct.pack("!I", 1) + struct.pack("!HH", 7, 100))
    good = bmp(4, tlv(1, b"x"))
    out = BmpReader().feed(bad_stats + good)
    assert isinstance(out[0], MalformedBmpMessage)
    assert out[0].bmp_type == "statistics-report"
    assert out[0].error.offset == 6 + 42 + 4 + 4
    assert out[0].to_dict()["malformed"] is True
    assert isinstance(out[1], Initiation)


def test_reader_close_reports_a_truncated_message():
    reader = BmpReader()
    reader.feed(bmp(4, tlv(1, b"x"))[:8])
    reader.close()
    assert reader.skipped == [(0, 8, "truncated at the end of the stream")]


# --- contexts from Peer Up ----------------------------------------------------------------------

ADD_PATH_OPENS = (open_bytes(65000, "192.0.2.2", [Capability.add_path([(1, 1, 1)])]),
                  open_bytes(65001, "192.0.2.1", [Capability.add_path([(1, 1, 2)])]))


def test_peer_up_context_gives_add_path():
    header = peer_header()
    stream = peer_up(header, *ADD_PATH_OPENS) + route_monitoring(header, update(path_id=9))
    _up, rm = BmpReader().feed(stream)
    assert rm.context.add_path == frozenset({(1, 1)}) and rm.context_source == "peer-up"
    assert rm.bgp.announced[0].path_id == 9
    assert rm.to_dict()["context"] == {"four_octet_as": True, "add_path": ["1/1"],
                                       "source": "peer-up"}


def test_adj_rib_out_uses_the_routers_own_direction():
    # O flag (RFC 8671): the UPDATEs were sent by the router, whose OPEN only receives
    header = peer_header(flags=0x10)
    stream = peer_up(header, *ADD_PATH_OPENS) + route_monitoring(header, update())
    _up, rm = BmpReader().feed(stream)
    assert rm.context.add_path == frozenset()
    assert rm.bgp.announced[0].prefix == "10.0.0.0/24"
    assert rm.peer.flag_names() == ["adj-rib-out"]


def test_a_flag_means_two_octet_as_path():
    header = peer_header(flags=0x20)
    (rm,) = BmpReader().feed(route_monitoring(header, update(four=False, asns=(1, 2, 3))))
    assert rm.context.four_octet_as is False
    assert rm.bgp.attributes.as_path[0].asns == (1, 2, 3)
    assert rm.context_source == "per-peer-header"


def test_add_path_guessed_without_peer_up():
    # a path id whose first octet reads as prefix length 255 cannot be a plain prefix
    (rm,) = BmpReader().feed(route_monitoring(peer_header(), update(path_id=0xFF000003)))
    assert rm.context_source == "guessed" and rm.error is None
    assert rm.bgp.announced[0].path_id == 0xFF000003


def test_peer_down_forgets_the_context():
    header = peer_header()
    down = bmp(2, header + b"\x02" + struct.pack("!H", 17))
    reader = BmpReader()
    out = reader.feed(peer_up(header, *ADD_PATH_OPENS) + down)
    assert len(reader.peers) == 0
    assert (out[1].reason, out[1].reason_name, out[1].fsm_event) == \
        (2, "local-no-notification", 17)
    assert out[1].to_dict()["fsm_event"] == 17


def test_loc_rib_peer_up_and_route_monitoring():
    header = peer_header(ptype=3, flags=0x80, addr="0.0.0.0", rd=b"\x00\x00\x00\x00\x00\x00\x00\x05")
    opens = open_bytes(65000, "192.0.2.2")
    stream = (peer_up(header, opens, opens, tlv(3, b"vrf-red"))
              + route_monitoring(header, update()))
    up, rm = BmpReader().feed(stream)
    assert up.table_name == "vrf-red"
    assert rm.peer.filtered and not rm.peer.ipv6 and rm.peer.flag_names() == ["filtered"]
    assert rm.context_source == "peer-up" and rm.context.four_octet_as
    assert rm.to_dict()["peer"]["distinguisher"] == "0:5"


def test_bgp_error_in_route_monitoring_is_kept_and_the_stream_goes_on():
    pdu = bytearray(update())
    pdu[-4] = 40                      # prefix length 40 > 32 in the NLRI field
    out = BmpReader().feed(route_monitoring(peer_header(), bytes(pdu)) + bmp(4, b""))
    assert isinstance(out[0], RouteMonitoring)
    assert isinstance(out[0].error, bgpevpn.BGPError)
    assert out[0].to_dict()["bgp_error"]["code"] == 3
    assert isinstance(out[1], Initiation)


# --- other message types --------------------------------------------------------------------------

def test_route_mirroring():
    body = peer_header() + tlv(0, update()) + tlv(1, b"\x00\x01") + tlv(9, b"zz")
    (msg,) = BmpReader().feed(bmp(6, body))
    assert isinstance(msg, RouteMirroring)
    assert msg.messages[0].announced[0].prefix == "10.0.0.0/24"
    tlvs = msg.to_dict()["tlvs"]
    assert tlvs[1] == {"type": 1, "name": "information", "code": 1,
                       "code_name": "messages-lost"}
    assert tlvs[2] == {"type": 9, "name": "unknown", "data": "7a7a"}


def test_peer_down_reasons_without_notification():
    header = peer_header()
    four, five = (decode_bmp_message(bmp(2, header + bytes([r]))) for r in (4, 5))
    assert (four.reason_name, five.reason_name) == ("remote-no-notification",
                                                    "peer-deconfigured")
    six = decode_bmp_message(bmp(2, header + b"\x06" + tlv(3, b"global")))
    assert six.to_dict()["information"] == [{"type": 3, "name": "vrf-table-name",
                                             "value": "global"}]


def test_peer_down_notification_must_fill_the_message():
    note = Notification(6, 2).encode()
    with pytest.raises(BmpError, match="after the peer down NOTIFICATION"):
        decode_bmp_message(bmp(2, peer_header() + b"\x01" + note + b"x"))


def test_statistics_unknown_type_and_bad_length():
    body = peer_header() + struct.pack("!I", 3) + tlv(99, b"\x00\x00\x00\x07") \
        + tlv(7, b"\x00\x01") + tlv(9, bytes(11))
    msg = decode_bmp_message(bmp(1, body))
    assert [s.to_dict() for s in msg.stats] == [
        {"type": 99, "name": "unknown", "value": 7},
        {"type": 7, "name": "adj-rib-in-routes", "data": "0001"},
        {"type": 9, "name": "adj-rib-in-routes-per-family", "afi": 0, "safi": 0, "value": 0}]


def test_unknown_message_type_kept_raw():
    msg = decode_bmp_message(bmp(42, b"\x01\x02"))
    assert isinstance(msg, UnknownBmpMessage)
    assert msg.to_dict() == {"bmp_type": "unknown", "version": 3, "length": 8,
                             "type_code": 42, "data": "0102"}


def test_termination_clears_the_peers():
    header = peer_header()
    reader = BmpReader()
    reader.feed(peer_up(header, *ADD_PATH_OPENS))
    assert len(reader.peers) == 1
    reader.feed(bmp(5, tlv(1, b"\x00\x01")))
    assert reader.peers == {}


def test_ipv4_peer_address_is_in_the_low_order_octets():
    msg = decode_bmp_message(bmp(1, peer_header(addr="198.51.100.7") + bytes(4)))
    assert msg.peer.address == "198.51.100.7" and msg.peer.timestamp == 1_700_000_000.25


# --- malformed input -------------------------------------------------------------------------------

@pytest.mark.parametrize("data, reason, offset", [
    (b"\x03\x00\x00", "common header needs 6 octets", 0),
    (b"\x01\x00\x00\x00\x06\x04", "version 1 is not 3", 0),
    (bmp(4, tlv(1, b"abc"))[:-1], "length field 13 but 12 octets given", 1),
    (bmp(4, struct.pack("!HH", 1, 9) + b"ab"), "initiation TLV type 1 of length 9", 10),
    (bmp(0, peer_header()[:30]), "per-peer header needs 42 octets", 6),
    (bmp(0, peer_header() + b"\xff" * 16), "route monitoring BGP header", 48),
    (bmp(0, peer_header() + b"\xff" * 16 + b"\x00\x30\x02"), "BGP length 48 does not fit", 64),
    (bmp(3, peer_header() + bytes(19)), "peer up local address and ports", 48),
    (bmp(1, peer_header() + struct.pack("!I", 1000)), "statistics count 1000", 48),
    (bmp(2, peer_header() + b"\x02\x00"), "FSM event code", 49),
    (bmp(2, peer_header()), "peer down reason", 48),
])
def test_malformed_messages_raise_bmp_error(data, reason, offset):
    with pytest.raises(BmpError) as info:
        decode_bmp_message(data, offset=0)
    assert reason in info.value.reason
    assert info.value.offset == offset
    assert isinstance(info.value, ValueError)
    assert info.value.to_dict()["offset"] == offset


def test_every_truncation_of_real_messages_raises_bmp_error():
    stream = capture_stream(NETGAUZE)
    messages = BmpReader().feed(stream)
    pos = 0
    for msg in messages[:40]:
        raw = stream[pos:pos + msg.length]
        pos += msg.length
        for cut in range(len(raw)):
            with pytest.raises(BmpError):
                decode_bmp_message(raw[:cut])


@given(st.binary(max_size=300))
def test_random_bytes_only_raise_bmp_error(data):
    try:
        decode_bmp_message(data).to_dict()
    except BmpError:
        pass


@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=20),
       st.integers(1, 500))
def test_mutated_stream_never_breaks_a_resync_reader(flips, chunk):
    stream = bytearray(capture_stream(JUNOS))
    for pos, value in flips:
        stream[pos % len(stream)] = value
    reader = BmpReader(resync=True)
    for i in range(0, len(stream), chunk):
        for msg in reader.feed(bytes(stream[i:i + chunk])):
            json.dumps(msg.to_dict())
    reader.close()
