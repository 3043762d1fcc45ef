"""Value types: RD, ESI, MAC, extended communities, labels, route keys.

Expected octets are written by hand from the RFC layouts cited per test.
"""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bgpevpn
from bgpevpn import (Esi, EthernetAutoDiscoveryRoute, ExtCommunities, ExtCommunity,
                     InclusiveMulticastRoute, IpPrefixRoute, Ipv4Prefix, Mac, MacIpRoute,
                     RouteDistinguisher, ValueParseError, auto_route_target, label_kind,
                     label_mpls, label_value, label_vni, parse_auto_route_target)

import strategies as S

# ---------------------------------------------------------------------------- RD


@pytest.mark.parametrize("text,hexa,rtype,admin,assigned", [
    # RFC 4364 §4.2: type 1 = IPv4 (4) : number (2)
    ("203.0.113.2:100", "0001 cb007102 0064", 1, ipaddress.IPv4Address("203.0.113.2"), 100),
    # type 0 = 2-octet AS : 4-octet number
    ("65000:100", "0000 fde8 00000064", 0, 65000, 100),
    ("65000:4294967295", "0000 fde8 ffffffff", 0, 65000, 4294967295),
    # type 2 = 4-octet AS : 2-octet number
    ("4200000000:100", "0002 fa56ea00 0064", 2, 4200000000, 100),
])
def test_rd_parse_print(text, hexa, rtype, admin, assigned):
    rd = RouteDistinguisher(text)
    assert bytes(rd) == bytes.fromhex(hexa)
    assert str(rd) == text
    assert rd.to_dict() == text
    assert (rd.type, rd.administrator, rd.assigned) == (rtype, admin, assigned)
    assert RouteDistinguisher(bytes.fromhex(hexa)) == rd


def test_rd_other_type_prints_raw():
    rd = RouteDistinguisher(bytes.fromhex("0003 0102030405 06"))
    assert str(rd) == "raw:00030102030405" + "06"
    assert RouteDistinguisher(str(rd)) == rd


@pytest.mark.parametrize("text", [
    "", "foo", "65000", "65000:", ":100", "1.2.3.4:65536", "1.2.3.4.5:1", "300.1.1.1:1",
    "4200000000:65536", "4294967296:1", "65000:4294967296", "65000:-1", "-1:5", "-70000:5",
    "65000:1:2", "raw:0102", "raw:zz", "65000:0x10", "abc:100",
])
def test_rd_bad_strings(text):
    with pytest.raises(ValueParseError):
        RouteDistinguisher(text)


@pytest.mark.parametrize("raw", [b"", b"\x00" * 7, b"\x00" * 9])
def test_rd_bad_length(raw):
    with pytest.raises(ValueParseError):
        RouteDistinguisher(raw)


@given(st.text(max_size=30))
def test_rd_any_text(text):
    """Any string either parses or raises ValueParseError (nothing else)."""
    try:
        rd = RouteDistinguisher(text)
    except ValueParseError:
        return
    assert len(bytes(rd)) == 8


# ---------------------------------------------------------------------------- ESI

@pytest.mark.parametrize("hexa,fields", [
    # RFC 7432 §5, one line per type
    ("00 112233445566778899", {"type": 0, "value": "112233445566778899"}),
    ("01 50543300000a 1234 00", {"type": 1, "system_mac": "50:54:33:00:00:0a",
                                 "port_key": 0x1234}),
    ("02 50543300000a 8000 00", {"type": 2, "root_bridge_mac": "50:54:33:00:00:0a",
                                 "root_bridge_priority": 0x8000}),
    ("03 50543300000a 000102", {"type": 3, "system_mac": "50:54:33:00:00:0a",
                                "local_discriminator": 0x102}),
    ("04 cb007101 00000064 00", {"type": 4, "router_id": "203.0.113.1",
                                 "local_discriminator": 100}),
    ("05 fa56ea00 00000064 00", {"type": 5, "as": 4200000000, "local_discriminator": 100}),
])
def test_esi_fields(hexa, fields):
    esi = Esi(bytes.fromhex(hexa))
    assert esi.type == fields["type"]
    assert esi.fields() == fields
    text = ":".join(f"{b:02x}" for b in bytes.fromhex(hexa))
    assert str(esi) == text
    assert Esi(text) == esi
    assert not esi.is_zero()


def test_esi_zero():
    z = Esi(b"\x00" * 10)
    assert z.is_zero() and str(z) == "00:00:00:00:00:00:00:00:00:00"
    assert Esi("0") == z and Esi("single-homed") == z and Esi(0) == z


@pytest.mark.parametrize("text", ["", "00:00", "00:" * 10 + "00", "zz:00:00:00:00:00:00:00:00:00",
                                  "100:00:00:00:00:00:00:00:00:00", "1"])
def test_esi_bad_strings(text):
    with pytest.raises(ValueParseError):
        Esi(text)


@given(st.text(max_size=40))
def test_esi_any_text(text):
    try:
        Esi(text)
    except ValueParseError:
        pass


# ---------------------------------------------------------------------------- MAC

@pytest.mark.parametrize("text", ["50:54:33:00:00:0a", "50-54-33-00-00-0A", "5054.3300.000a",
                                  "50:54:33:00:00:0A", "505433 00000a".replace(" ", "")])
def test_mac_notations(text):
    m = Mac(text)
    assert bytes(m) == bytes.fromhex("50543300000a")
    assert str(m) == "50:54:33:00:00:0a"


@pytest.mark.parametrize("text", ["", "50:54:33:00:00", "50:54:33:00:00:0a:01", "gg:54:33:00:00:0a",
                                  "5054.3300.00", "50:54:33:00:00:100"])
def test_mac_bad_strings(text):
    with pytest.raises(ValueParseError):
        Mac(text)


@given(st.text(max_size=30))
def test_mac_any_text(text):
    try:
        Mac(text)
    except ValueParseError:
        pass


# ---------------------------------------------------------------------------- extended communities

@pytest.mark.parametrize("text,hexa", [
    # RFC 4360 §4 two-octet AS specific route target: 00 02, AS (2), number (4)
    ("target:65000:268435556", "00 02 fde8 10000064"),
    ("target:65000:100", "00 02 fde8 00000064"),
    # RFC 4360 §4 IPv4-address specific: 01 02, address (4), number (2)
    ("target:192.0.2.1:100", "01 02 c0000201 0064"),
    # RFC 5668 §2 four-octet AS specific: 02 02, AS (4), number (2)
    ("target:4200000000:100", "02 02 fa56ea00 0064"),
    # RFC 4360 §5 route origin: subtype 03
    ("origin:65000:100", "00 03 fde8 00000064"),
    ("origin:192.0.2.1:7", "01 03 c0000201 0007"),
    # RFC 9012 §4.1 encapsulation: 03 0c, reserved (4), tunnel type (2); RFC 8365: VXLAN = 8
    ("encapsulation:vxlan", "03 0c 00000000 0008"),
    ("encapsulation:mpls", "03 0c 00000000 000a"),
    ("encapsulation:nvgre", "03 0c 00000000 0009"),
    ("encapsulation:geneve", "03 0c 00000000 0013"),
    ("encapsulation:1000", "03 0c 00000000 03e8"),
    # RFC 7432 §7.7 MAC mobility: 06 00, flags (sticky = low bit), reserved, sequence (4)
    ("mac-mobility:1", "06 00 00 00 00000001"),
    ("mac-mobility:1:sticky", "06 00 01 00 00000001"),
    ("mac-mobility:0:sticky", "06 00 01 00 00000000"),
    # RFC 7432 §7.5 ESI label: 06 01, flags (single-active = low bit), reserved (2), label (3)
    ("esi-label:100", "06 01 00 0000 000064"),
    ("esi-label:100:single-active", "06 01 01 0000 000064"),
    # RFC 7432 §7.6 ES-import route target: 06 02, MAC (6)
    ("es-import:aa:bb:cc:dd:ee:ff", "06 02 aabbccddeeff"),
    # RFC 9135 §8.1 router's MAC: 06 03, MAC (6)
    ("router-mac:50:54:33:00:00:0a", "06 03 50543300000a"),
    # RFC 8214 §3.1 layer-2 attributes: 06 04, control flags (2), MTU (2), reserved (2)
    ("l2-attributes:2:1500", "06 04 0002 05dc 0000"),
    # RFC 8584 §2.2 DF election: 06 06, RSV/DF alg (1), bitmap (2), reserved (3)
    ("df-election:1:0", "06 06 01 0000 000000"),
    ("df-election:2:16384", "06 06 02 4000 000000"),
    # RFC 9047 §3 ARP/ND: 06 08, flags (1), reserved (5)
    ("nd:1", "06 08 01 0000000000"),
    # RFC 7432 §7.8 default gateway: 03 0d, reserved (6)
    ("default-gateway", "03 0d 000000000000"),
    # anything else (here RFC 7153 link bandwidth, 40 04)
    ("raw:4004fde849742400", "40 04 fde8 49742400"),
    ("raw:ff00000000000001", "ff00000000000001"),
])
def test_ext_community_strings(text, hexa):
    raw = bytes.fromhex(hexa)
    assert str(ExtCommunity(raw)) == text
    assert bytes(ExtCommunity(text)) == raw
    assert ExtCommunity(raw).to_dict() == text


def test_ext_community_views():
    rt = ExtCommunity("target:65000:100")
    assert rt.is_route_target and (rt.type, rt.subtype) == (0, 2)
    assert not ExtCommunity("origin:65000:100").is_route_target
    assert ExtCommunity("encapsulation:vxlan").tunnel_type == 8
    assert rt.tunnel_type is None
    mm = ExtCommunity("mac-mobility:7:sticky")
    assert mm.mac_mobility_sequence == 7 and mm.sticky
    assert not ExtCommunity("mac-mobility:7").sticky


def test_ext_community_constructors_match_strings():
    assert ExtCommunity.route_target(65000, 100) == ExtCommunity("target:65000:100")
    assert ExtCommunity.route_target("192.0.2.1", 100) == ExtCommunity("target:192.0.2.1:100")
    assert ExtCommunity.route_target(4200000000, 100) == ExtCommunity("target:4200000000:100")
    assert ExtCommunity.encapsulation(8) == ExtCommunity("encapsulation:vxlan")
    assert ExtCommunity.mac_mobility(1, True) == ExtCommunity("mac-mobility:1:sticky")
    assert ExtCommunity.router_mac("50:54:33:00:00:0a") == \
        ExtCommunity("router-mac:50:54:33:00:00:0a")
    assert ExtCommunity.default_gateway() == ExtCommunity("default-gateway")


@pytest.mark.parametrize("text", [
    "", "target", "target:", "target:foo", "target:65000", "target:65000:4294967296",
    "target:4200000000:65536", "target:192.0.2.1:65536", "target:-1:5", "target:65000:-1",
    "encapsulation:bogus", "encapsulation:-1", "encapsulation:65536",
    "mac-mobility:x", "mac-mobility:1:slippery", "mac-mobility:-1", "mac-mobility:4294967296",
    "esi-label:16777216", "esi-label:-1", "esi-label:1:dual",
    "es-import:aa:bb", "router-mac:zz:bb:cc:dd:ee:ff",
    "l2-attributes:1", "l2-attributes:65536:1500", "l2-attributes:1:-1",
    "df-election:1", "df-election:256:0", "df-election:1:65536",
    "nd:256", "nd:-1", "default-gateway:1",
    "raw:0102", "raw:zz02030405060708", "nonsense:1",
])
def test_ext_community_bad_strings(text):
    with pytest.raises(ValueParseError):
        ExtCommunity(text)


@given(st.one_of(
    st.text(max_size=40),
    st.tuples(st.sampled_from(["target", "origin", "encapsulation", "mac-mobility", "esi-label",
                               "es-import", "router-mac", "l2-attributes", "df-election", "nd",
                               "raw", "default-gateway"]),
              st.lists(st.one_of(st.integers(-2 ** 40, 2 ** 40).map(str), st.text(max_size=6)),
                       max_size=3)).map(lambda t: ":".join([t[0]] + t[1]))))
def test_ext_community_any_text(text):
    """Any string either parses to 8 octets or raises ValueParseError."""
    try:
        ec = ExtCommunity(text)
    except ValueParseError:
        return
    assert len(bytes(ec)) == 8


# ---------------------------------------------------------------------------- RFC 8365 auto RT

def test_auto_route_target_vxlan():
    """RFC 8365 §5.1.2.1: global admin = 2-octet AS; local admin = A (1 bit,
    0 = auto), Type (3 bits, 1 = VXLAN), D-ID (4 bits), service id (3 octets)."""
    rt = auto_route_target(65000, 100)
    assert str(rt) == "target:65000:268435556"
    assert bytes(rt) == bytes.fromhex("0002 fde8 10000064")
    info = parse_auto_route_target(rt)
    assert info["as"] == 65000
    assert info["type"] == 1
    assert info["vni"] == 100
    assert info["domain_id"] == 0
    assert info["auto"] is True
    assert parse_auto_route_target("target:65000:268435556") == info


def test_auto_route_target_fields():
    rt = auto_route_target(64512, 0xABCDEF, service=2, domain_id=5)
    assert bytes(rt) == bytes.fromhex("0002 fc00 25abcdef")
    info = parse_auto_route_target(rt)
    assert (info["as"], info["type"], info["domain_id"], info["vni"], info["auto"]) == \
        (64512, 2, 5, 0xABCDEF, True)
    # A bit set: manually derived
    manual = ExtCommunity(bytes.fromhex("0002 fde8 90000064"))
    assert parse_auto_route_target(manual)["auto"] is False


def test_auto_route_target_not_applicable():
    assert parse_auto_route_target(ExtCommunity("target:192.0.2.1:100")) is None
    assert parse_auto_route_target(ExtCommunity("target:4200000000:100")) is None
    assert parse_auto_route_target(ExtCommunity("encapsulation:vxlan")) is None
    with pytest.raises(ValueParseError):
        auto_route_target(4200000000, 100)
    with pytest.raises(ValueParseError):
        auto_route_target(65000, 1 << 24)


@given(S.u16, S.u24, st.integers(0, 7), st.integers(0, 15))
def test_auto_route_target_roundtrip(asn, vni, service, did):
    info = parse_auto_route_target(auto_route_target(asn, vni, service, did))
    assert (info["as"], info["vni"], info["type"], info["domain_id"], info["auto"]) == \
        (asn, vni, service, did, True)


# ---------------------------------------------------------------------------- labels

def test_label_views_vni_100():
    """RFC 8365 §5.1.3: the 3-octet field 00 00 64 is VNI 100; read as an
    MPLS label (RFC 7432, high 20 bits) it is 6, what JunOS prints as "Label 6"."""
    assert label_vni(0x000064) == 100
    assert label_mpls(0x000064) == 6
    r = MacIpRoute.build("203.0.113.1:2", "50:54:33:00:00:0a", None, (0x000064,))
    assert bytes(r)[-3:] == b"\x00\x00\x64"
    assert r.labels == (100,) and r.vni == 100 and r.mpls_label == 6
    assert r.to_dict()["labels"] == [100]


def test_label_views_mpls():
    raw = (16001 << 4) | 1  # label 16001, bottom of stack (RFC 3032)
    assert label_mpls(raw) == 16001
    assert label_vni(raw) == raw


def test_label_kind():
    vxlan = [ExtCommunity("target:65000:100"), ExtCommunity("encapsulation:vxlan")]
    mpls = [ExtCommunity("encapsulation:mpls")]
    assert label_kind(vxlan) == "vni"
    assert label_kind(ExtCommunities(vxlan).value) == "vni"
    assert label_kind([ExtCommunity("encapsulation:nvgre")]) == "vni"
    assert label_kind([ExtCommunity("encapsulation:geneve")]) == "vni"
    assert label_kind(mpls) == "mpls"
    assert label_kind([ExtCommunity("target:65000:100")]) == "mpls"
    assert label_kind([]) == "mpls"
    assert label_kind(None) == "mpls"
    assert label_value(0x000064, vxlan) == 100
    assert label_value(0x000064, mpls) == 6
    assert label_value(0x000064, []) == 6


def test_label_kind_from_decoded_update():
    ctx = bgpevpn.Context()
    r = MacIpRoute.build("203.0.113.1:2", "50:54:33:00:00:0a", None, (100,))
    attrs = [bgpevpn.Origin(0), bgpevpn.AsPath([]),
             ExtCommunities([ExtCommunity("target:65000:100"), ExtCommunity.encapsulation(8)])]
    (wire,) = bgpevpn.pack_updates([r], attrs, "203.0.113.1", ctx)
    m = bgpevpn.decode_message(wire, ctx)
    assert label_kind(m.attributes.ext_communities) == "vni"
    assert label_value(m.announced[0].labels[0], m.attributes.ext_communities) == 100


# ---------------------------------------------------------------------------- route keys

RD = "203.0.113.1:2"
MAC = "50:54:33:00:00:0a"
ESI1 = Esi(bytes.fromhex("01 50543300000a 0001 00"))


def test_type2_key_excludes_esi_and_labels():
    """RFC 7432 §7.2: ESI and MPLS Label1/Label2 are attributes, not the route key."""
    a = MacIpRoute.build(RD, MAC, "192.0.2.5", (100,))
    b = MacIpRoute.build(RD, MAC, "192.0.2.5", (200, 300), esi=ESI1)
    c = MacIpRoute.build(RD, MAC, "192.0.2.5", (100,), esi=ESI1)
    assert bytes(a) != bytes(b)
    assert a == b and hash(a) == hash(b) and a.key == b.key
    assert a == c and hash(a) == hash(c)
    assert len({a, b, c}) == 1
    assert {a: 1}[b] == 1


@pytest.mark.parametrize("other", [
    dict(rd=RD, mac="50:54:33:00:00:0b", ip="192.0.2.5"),
    dict(rd=RD, mac=MAC, ip="192.0.2.6"),
    dict(rd=RD, mac=MAC, ip=None),
    dict(rd=RD, mac=MAC, ip="::ffff:192.0.2.5"),
    dict(rd="203.0.113.1:3", mac=MAC, ip="192.0.2.5"),
    dict(rd=RD, mac=MAC, ip="192.0.2.5", ethernet_tag=10),
])
def test_type2_key_includes_rd_tag_mac_ip(other):
    a = MacIpRoute.build(RD, MAC, "192.0.2.5", (100,))
    b = MacIpRoute.build(other["rd"], other["mac"], other["ip"], (100,),
                         ethernet_tag=other.get("ethernet_tag", 0))
    assert a != b
    assert a.key != b.key
    assert len({a, b}) == 2


@given(S.evpn_type2, S.esis, st.lists(S.labels, min_size=1, max_size=2))
def test_type2_key_property(route, esi, labels):
    again = MacIpRoute.build(route.rd, route.mac, route.ip, tuple(labels), esi,
                             route.ethernet_tag)
    assert again == route and hash(again) == hash(route)


@given(S.evpn_type2, S.macs)
def test_type2_key_mac_matters(route, mac):
    other = MacIpRoute.build(route.rd, mac, route.ip, route.labels, route.esi, route.ethernet_tag)
    assert (other == route) == (mac == route.mac)


def test_type1_key_excludes_label():
    """RFC 7432 §7.1: the MPLS label is an attribute; RD, ESI and tag are the key."""
    a = EthernetAutoDiscoveryRoute.build(RD, ESI1, 0xFFFFFFFF, 100)
    b = EthernetAutoDiscoveryRoute.build(RD, ESI1, 0xFFFFFFFF, 200)
    c = EthernetAutoDiscoveryRoute.build(RD, ESI1, 0, 100)
    assert a == b and hash(a) == hash(b)
    assert a != c


def test_type5_key():
    """RFC 9136 §3.1: RD, Ethernet tag, IP prefix length and prefix are the key;
    ESI, gateway and label are not."""
    a = IpPrefixRoute.build(RD, "10.1.0.0/16", 100)
    b = IpPrefixRoute.build(RD, "10.1.0.0/16", 200, "192.0.2.1", ESI1)
    c = IpPrefixRoute.build(RD, "10.1.0.0/24", 100)
    assert a == b and hash(a) == hash(b)
    assert a != c


def test_type3_key_and_cross_type():
    a = InclusiveMulticastRoute.build(RD, "203.0.113.1")
    b = InclusiveMulticastRoute.build(RD, "203.0.113.2")
    assert a != b
    assert a != MacIpRoute.build(RD, MAC)
    assert a != Ipv4Prefix.build("10.0.0.0/8")
