"""Hand-built messages, written in hex octet by octet from the RFC layouts
(not produced by bgpevpn's encoder): decode them, check the fields and the
docs/json-schema.md keys, and check that encoding gives the same octets back.
Run against both codec twins (fixture ``codec``).
"""
from __future__ import annotations

import json

import pytest

import bgpevpn
from bgpevpn import Context, label_kind


def h(text: str) -> bytes:
    """Hex with spaces, newlines and '#' comments allowed."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()))


MARKER = "ff" * 16

MESSAGE_KEYS = {"type", "length"}
UPDATE_KEYS = MESSAGE_KEYS | {"withdrawn", "announced", "attributes", "end_of_rib"}
OPEN_KEYS = MESSAGE_KEYS | {"version", "my_as", "my_as_2", "hold_time", "bgp_id",
                            "extended_parameters", "capabilities"}
NOTIFICATION_KEYS = MESSAGE_KEYS | {"code", "subcode", "code_name", "subcode_name", "data"}
EVPN_KEYS = {"afi", "safi", "route_type", "rd"}
EVPN_TYPE_KEYS = {1: {"esi", "ethernet_tag", "labels"},
                  2: {"esi", "ethernet_tag", "mac", "ip", "labels"},
                  3: {"ethernet_tag", "originator_ip"},
                  4: {"esi", "originator_ip"},
                  5: {"esi", "ethernet_tag", "prefix", "gateway", "labels"}}


def decode(codec, data, ctx=None):
    ctx = ctx or Context()
    m = codec.decode_message(data, ctx)
    assert m.length == len(data)
    assert codec.encode_message(m, ctx) == data, "re-encoding changed the octets"
    d = m.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["length"] == len(data)
    return m, d


# ---------------------------------------------------------------------------- EVPN UPDATEs

# FRR-style EVPN type 2 (RFC 7432 §7.2, RFC 8365 §5.1.3), MAC only, eBGP.
FRR_RT2 = h(f"""
{MARKER}
0068 02                     # length 104, UPDATE
0000                        # withdrawn routes length
0051                        # total path attribute length 81
90 0e 002c                  # MP_REACH_NLRI, optional + extended length, 44 octets (RFC 4760 §3)
   0019 46                  #   AFI 25 L2VPN, SAFI 70 EVPN
   04 cb007101              #   next hop 203.0.113.1
   00                       #   reserved
   02 21                    #   route type 2, length 33
      0001 cb007101 0002    #     RD type 1 203.0.113.1:2
      00000000000000000000  #     ESI 0
      00000000              #     Ethernet tag 0
      30 50543300000a       #     MAC length 48, MAC 50:54:33:00:00:0a
      00                    #     IP length 0
      000064                #     label 1: VNI 100
40 01 01 00                 # ORIGIN IGP
50 02 0006 02 01 0000fde8   # AS_PATH (extended length as FRR sends it): AS_SEQUENCE [65000]
c0 10 10                    # EXTENDED_COMMUNITIES, 16 octets
   0002 fde8 00000064       #   route target 65000:100
   030c 00000000 0008       #   encapsulation VXLAN
""")


def test_frr_evpn_type2(codec):
    m, d = decode(codec, FRR_RT2)
    assert m.type == "UPDATE"
    assert set(d) >= UPDATE_KEYS
    assert d["end_of_rib"] is None and d["withdrawn"] == []
    (route,) = d["announced"]
    assert set(route) >= EVPN_KEYS | EVPN_TYPE_KEYS[2] | {"next_hop"}
    assert route == {**route, "afi": "l2vpn", "safi": "evpn", "route_type": 2,
                     "rd": "203.0.113.1:2", "esi": "00:00:00:00:00:00:00:00:00:00",
                     "ethernet_tag": 0, "mac": "50:54:33:00:00:0a", "ip": None,
                     "labels": [100], "next_hop": "203.0.113.1"}
    assert d["attributes"] == {"origin": "igp",
                               "as_path": [{"type": "as-sequence", "asns": [65000]}],
                               "extended_communities": ["target:65000:100",
                                                        "encapsulation:vxlan"]}
    (r,) = m.announced
    assert isinstance(r, bgpevpn.MacIpRoute)
    assert str(r.rd) == "203.0.113.1:2" and str(r.mac) == "50:54:33:00:00:0a"
    assert r.vni == 100 and r.mpls_label == 6
    assert label_kind(m.attributes.ext_communities) == "vni"
    assert m.attributes.mp_reach.next_hop == h("cb007101")
    assert m.attributes[2].flags == 0x50
    assert [str(c) for c in m.attributes.route_targets] == ["target:65000:100"]


FRR_RT2_TWO_OCTET_AS = h(f"""
{MARKER}
0066 02 0000 004f
90 0e 002c 0019 46 04 cb007101 00
   02 21 0001cb0071010002 00000000000000000000 00000000 30 50543300000a 00 000064
40 01 01 00
50 02 0004 02 01 fde8       # AS_PATH with 2-octet AS numbers (RFC 4271 §4.3)
c0 10 10 0002fde800000064 030c000000000008
""")


def test_evpn_type2_two_octet_as(codec):
    m, d = decode(codec, FRR_RT2_TWO_OCTET_AS, Context(four_octet_as=False))
    assert d["attributes"]["as_path"] == [{"type": "as-sequence", "asns": [65000]}]


# Type 3 inclusive multicast (RFC 7432 §7.3) with PMSI tunnel (RFC 6514 §5, RFC 7432 §11.2)
TYPE3_PMSI = h(f"""
{MARKER}
005d 02                     # length 93, UPDATE
0000 0046                   # no withdrawn; attributes 70 octets
90 0e 001c                  # MP_REACH_NLRI, 28 octets
   0019 46 04 cb007101 00
   03 11                    #   route type 3, length 17
      0001 cb007101 0002    #     RD 203.0.113.1:2
      00000000              #     Ethernet tag 0
      20 cb007101           #     originating router 203.0.113.1 (32 bits)
40 01 01 00                 # ORIGIN IGP
40 02 00                    # AS_PATH empty (iBGP)
c0 10 10 0002fde800000064 030c000000000008
c0 16 09                    # PMSI_TUNNEL, 9 octets
   00                       #   flags
   06                       #   tunnel type 6, ingress replication
   000064                   #   label (VNI 100)
   cb007101                 #   tunnel endpoint 203.0.113.1
""")


def test_type3_with_pmsi(codec):
    m, d = decode(codec, TYPE3_PMSI)
    (route,) = d["announced"]
    assert set(route) >= EVPN_KEYS | EVPN_TYPE_KEYS[3]
    assert (route["route_type"], route["rd"], route["ethernet_tag"], route["originator_ip"],
            route["next_hop"]) == (3, "203.0.113.1:2", 0, "203.0.113.1", "203.0.113.1")
    assert d["attributes"]["pmsi_tunnel"] == {"flags": 0, "type": 6,
                                              "type_name": "ingress-replication",
                                              "label": 100, "endpoint": "203.0.113.1"}
    assert d["attributes"]["as_path"] == []
    assert m.attributes.pmsi_tunnel.endpoint == "203.0.113.1"
    (r,) = m.announced
    assert isinstance(r, bgpevpn.InclusiveMulticastRoute)
    assert str(r.originator_ip) == "203.0.113.1"


# Types 1, 4, 5 (RFC 7432 §7.1, §7.4; RFC 9136 §3.1) in one MP_REACH, IPv6 next hop
EVPN_1_4_5 = h(f"""
{MARKER}
008f 02 0000 0078           # length 143; attributes 120
40 01 01 00
40 02 00
90 0e 006d                  # MP_REACH_NLRI, 109 octets
   0019 46 10 20010db8000000000000000000000001 00   # next hop 2001:db8::1
   01 19                    #   type 1, length 25
      0000 fde8 00000064    #     RD 65000:100
      01 50543300000a 1234 00   # ESI type 1 (LACP), system MAC, port key 0x1234
      ffffffff              #     Ethernet tag MAX-ET
      000000                #     label 0
   04 17                    #   type 4, length 23
      0002 fa56ea00 0064    #     RD 4200000000:100
      01 50543300000a 1234 00
      20 c0000201           #     originating router 192.0.2.1
   05 22                    #   type 5, length 34
      0001 cb007101 0002
      00000000000000000000
      00000000
      18 0a010200           #     prefix 10.1.2.0/24
      00000000              #     gateway 0.0.0.0
      002329                #     label: VNI 9001
""")


def test_evpn_types_1_4_5(codec):
    m, d = decode(codec, EVPN_1_4_5)
    r1, r4, r5 = d["announced"]
    for r, t in ((r1, 1), (r4, 4), (r5, 5)):
        assert set(r) >= EVPN_KEYS | EVPN_TYPE_KEYS[t]
        assert r["next_hop"] == "2001:db8::1"
    assert (r1["rd"], r1["esi"], r1["ethernet_tag"], r1["labels"]) == \
        ("65000:100", "01:50:54:33:00:00:0a:12:34:00", 0xFFFFFFFF, [0])
    assert (r4["rd"], r4["esi"], r4["originator_ip"]) == \
        ("4200000000:100", "01:50:54:33:00:00:0a:12:34:00", "192.0.2.1")
    assert (r5["rd"], r5["prefix"], r5["gateway"], r5["labels"]) == \
        ("203.0.113.1:2", "10.1.2.0/24", "0.0.0.0", [9001])
    assert m.announced[0].esi.fields() == {"type": 1, "system_mac": "50:54:33:00:00:0a",
                                           "port_key": 0x1234}


# ---------------------------------------------------------------------------- End-of-RIB

def test_end_of_rib_ipv4_unicast(codec):
    """RFC 4724 §2: an UPDATE with nothing in it."""
    data = h(f"{MARKER} 0017 02 0000 0000")
    m, d = decode(codec, data)
    assert m.end_of_rib == (1, 1)
    assert d == {"type": "UPDATE", "length": 23, "withdrawn": [], "announced": [],
                 "attributes": {}, "end_of_rib": "ipv4/unicast"}


@pytest.mark.parametrize("attr_hex", ["80 0f 03 0019 46", "90 0f 0003 0019 46"])
def test_end_of_rib_l2vpn_evpn(codec, attr_hex):
    """RFC 4724 §2: an MP_UNREACH_NLRI with AFI/SAFI and no routes, alone."""
    attr = h(attr_hex)
    data = h(f"{MARKER}") + (23 + len(attr)).to_bytes(2, "big") + b"\x02\x00\x00" \
        + len(attr).to_bytes(2, "big") + attr
    m, d = decode(codec, data)
    assert m.end_of_rib == (25, 70)
    assert d["end_of_rib"] == "l2vpn/evpn"
    assert d["withdrawn"] == [] and d["announced"] == [] and d["attributes"] == {}


def test_not_end_of_rib(codec):
    """MP_UNREACH with other attributes, or with routes, is not End-of-RIB."""
    data = h(f"{MARKER} 001b 02 0000 0004 40 01 01 00")
    m, d = decode(codec, data)
    assert d["end_of_rib"] is None
    data = h(f"{MARKER} 0021 02 0000 000a 80 0f 07 0001 01 18 0a0000")
    m, d = decode(codec, data)
    assert d["end_of_rib"] is None
    assert d["withdrawn"] == [{"afi": "ipv4", "safi": "unicast", "prefix": "10.0.0.0/24"}]


# ---------------------------------------------------------------------------- IP unicast

CLASSIC_V4 = h(f"""
{MARKER}
0040 02                     # length 64
0004 18 c0a801              # withdrawn: 192.168.1.0/24
001f                        # attributes 31
40 01 01 02                 # ORIGIN INCOMPLETE
40 02 0a 02 02 0000fde8 0000fde9   # AS_SEQUENCE [65000 65001]
40 03 04 c0000201           # NEXT_HOP 192.0.2.1
80 04 04 00000064           # MED 100
08 0a                       # NLRI 10.0.0.0/8
10 ac10                     # 172.16.0.0/16
00                          # 0.0.0.0/0
""")


def test_classic_ipv4_update(codec):
    m, d = decode(codec, CLASSIC_V4)
    assert d["withdrawn"] == [{"afi": "ipv4", "safi": "unicast", "prefix": "192.168.1.0/24"}]
    assert [r["prefix"] for r in d["announced"]] == ["10.0.0.0/8", "172.16.0.0/16", "0.0.0.0/0"]
    assert all(r["next_hop"] == "192.0.2.1" and r["afi"] == "ipv4" for r in d["announced"])
    assert d["attributes"] == {"origin": "incomplete", "as_path": [
        {"type": "as-sequence", "asns": [65000, 65001]}], "next_hop": "192.0.2.1", "med": 100}


ADD_PATH_V4 = h(f"""
{MARKER}
0034 02                     # length 52
0000 0015                   # no withdrawn; attributes 21
40 01 01 00                 # ORIGIN IGP
40 02 00                    # AS_PATH empty
40 03 04 c0000201           # NEXT_HOP 192.0.2.1
40 05 04 00000064           # LOCAL_PREF 100
00000007 18 0a0000          # path id 7, 10.0.0.0/24 (RFC 7911 §3)
""")


def test_add_path_ipv4(codec):
    m, d = decode(codec, ADD_PATH_V4, Context(add_path=[(1, 1)]))
    assert d["announced"] == [{"afi": "ipv4", "safi": "unicast", "prefix": "10.0.0.0/24",
                               "path_id": 7, "next_hop": "192.0.2.1"}]
    assert d["attributes"]["local_pref"] == 100
    assert m.nlri[0].path_id == 7


IPV6_LINK_LOCAL = h(f"""
{MARKER}
0050 02 0000 0039           # length 80; attributes 57
40 01 01 00
40 02 00
80 0e 2f                    # MP_REACH_NLRI, 47 octets (RFC 4760 §3, RFC 2545 §3)
   0002 01 20               #   IPv6 unicast, next hop length 32
   20010db8000000000000000000000001   # global
   fe800000000000000000000000000001   # link-local
   00
   40 20010db800010002      #   2001:db8:1:2::/64
   00                       #   ::/0
""")


def test_ipv6_link_local_next_hop(codec):
    m, d = decode(codec, IPV6_LINK_LOCAL)
    assert d["announced"] == [
        {"afi": "ipv6", "safi": "unicast", "prefix": "2001:db8:1:2::/64",
         "next_hop": "2001:db8::1", "next_hop_link_local": "fe80::1"},
        {"afi": "ipv6", "safi": "unicast", "prefix": "::/0",
         "next_hop": "2001:db8::1", "next_hop_link_local": "fe80::1"}]


VPNV4_RAW = h(f"""
{MARKER}
0041 02 0000 002a           # length 65; attributes 42
40 01 01 00 40 02 00
80 0e 20                    # MP_REACH_NLRI, 32 octets
   0001 80 0c               #   AFI 1 SAFI 128 (VPNv4), next hop 12 octets (RD 0 + IPv4)
   0000000000000000 c0000201
   00
   70 000641 0000fde800000064 0a0000   # label, RD, 10.0.0.0/24 (RFC 4364 §4.3.4)
""")


def test_raw_family_kept(codec):
    m, d = decode(codec, VPNV4_RAW)
    (r,) = d["announced"]
    assert r == {"afi": "ipv4", "safi": "mpls-vpn", "raw": "700006410000fde8000000640a0000",
                 "next_hop": "192.0.2.1"}


# ---------------------------------------------------------------------------- OPEN

# FRR: one capability per optional parameter (RFC 5492 §4), 4-octet AS (RFC 6793).
FRR_OPEN = h(f"""
{MARKER}
0062 01                     # length 98, OPEN
04                          # version 4
5ba0                        # my AS 23456 (AS_TRANS)
00b4                        # hold time 180
cb007101                    # BGP identifier 203.0.113.1
45                          # optional parameters length 69
02 06 01 04 0001 00 01      # multiprotocol IPv4 unicast (RFC 4760 §8)
02 06 01 04 0019 00 46      # multiprotocol L2VPN EVPN
02 02 80 00                 # route refresh (Cisco, pre-standard)
02 02 02 00                 # route refresh (RFC 2918)
02 02 46 00                 # enhanced route refresh (RFC 7313)
02 06 41 04 fa56ea00        # 4-octet AS 4200000000 (RFC 6793)
02 06 45 04 0001 01 01      # ADD-PATH IPv4 unicast, receive (RFC 7911)
02 02 06 00                 # extended message (RFC 8654)
02 09 49 07 05 6c65616631 00    # FQDN hostname "leaf1", domain ""
02 08 40 06 4078 0001 01 00     # graceful restart: N bit, 120 s, IPv4 unicast (RFC 4724, RFC 8538)
""")


def test_frr_open(codec):
    m, d = decode(codec, FRR_OPEN)
    assert m.type == "OPEN"
    assert set(d) >= OPEN_KEYS
    assert "parameters" not in d
    assert (d["version"], d["my_as"], d["my_as_2"], d["hold_time"], d["bgp_id"],
            d["extended_parameters"]) == (4, 4200000000, 23456, 180, "203.0.113.1", False)
    caps = d["capabilities"]
    assert [(c["code"], c["name"]) for c in caps] == [
        (1, "multiprotocol"), (1, "multiprotocol"), (128, "route-refresh-cisco"),
        (2, "route-refresh"), (70, "enhanced-route-refresh"), (65, "four-octet-as"),
        (69, "add-path"), (6, "extended-message"), (73, "fqdn"), (64, "graceful-restart")]
    assert caps[0] == {"code": 1, "name": "multiprotocol", "afi": "ipv4", "safi": "unicast"}
    assert caps[1] == {"code": 1, "name": "multiprotocol", "afi": "l2vpn", "safi": "evpn"}
    assert caps[5] == {"code": 65, "name": "four-octet-as", "as": 4200000000}
    assert caps[6] == {"code": 69, "name": "add-path", "families": [
        {"afi": "ipv4", "safi": "unicast", "send_receive": "receive"}]}
    assert caps[7] == {"code": 6, "name": "extended-message"}
    assert caps[8] == {"code": 73, "name": "fqdn", "hostname": "leaf1", "domain": ""}
    assert caps[9] == {"code": 64, "name": "graceful-restart", "restart_flags": 4,
                       "restart_time": 120,
                       "families": [{"afi": "ipv4", "safi": "unicast", "flags": 0}]}
    assert len(m.parameters) == 10
    assert m.asn == 4200000000 and m.families == [(1, 1), (25, 70)]
    ctx = Context.negotiated(m)
    assert ctx.four_octet_as and ctx.extended_message
    assert ctx.add_path == frozenset()  # receive only: this speaker does not send path ids


# GoBGP: every capability in one optional parameter.
GOBGP_OPEN = h(f"""
{MARKER}
003d 01                     # length 61
04 fde8 005a c0000202       # version 4, AS 65000, hold 90, id 192.0.2.2
20                          # optional parameters length 32
02 1e                       # one capabilities parameter, 30 octets
   01 04 0001 00 01
   01 04 0019 00 46
   02 00
   41 04 0000fde8
   45 04 0019 46 03         # ADD-PATH L2VPN EVPN, send and receive
   40 02 0078               # graceful restart 120 s, no families
""")


def test_gobgp_open(codec):
    m, d = decode(codec, GOBGP_OPEN)
    assert set(d) >= OPEN_KEYS
    assert len(m.parameters) == 1
    assert (d["my_as"], d["my_as_2"], d["hold_time"], d["bgp_id"]) == \
        (65000, 65000, 90, "192.0.2.2")
    assert [c["code"] for c in d["capabilities"]] == [1, 1, 2, 65, 69, 64]
    assert d["capabilities"][4]["families"] == [
        {"afi": "l2vpn", "safi": "evpn", "send_receive": "both"}]
    assert d["capabilities"][5] == {"code": 64, "name": "graceful-restart", "restart_flags": 0,
                                    "restart_time": 120, "families": []}
    ctx = Context.negotiated(m)
    assert ctx.add_path == frozenset({(25, 70)}) and not ctx.extended_message
    # both sides: ADD-PATH counts when the other side can receive (RFC 7911 §4)
    assert Context.negotiated(m, decode(codec, FRR_OPEN)[0]).add_path == frozenset()


RFC9072_OPEN = h(f"""
{MARKER}
0029 01
04 fde8 00b4 c0000201
ff                          # Non-Ext OP Len 255
ff                          # Non-Ext OP Type 255
0009                        # Extended Opt. Parm. Length 9
02 0006 01 04 0001 00 01    # capabilities parameter, 2-octet length
""")


def test_rfc9072_open(codec):
    m, d = decode(codec, RFC9072_OPEN)
    assert d["extended_parameters"] is True
    assert d["capabilities"] == [{"code": 1, "name": "multiprotocol", "afi": "ipv4",
                                  "safi": "unicast"}]


def test_open_unknown_and_malformed_capabilities(codec):
    data = h(f"""
    {MARKER} 002d 01 04 fde8 00b4 c0000201 10
    02 0e
       99 02 abcd           # unknown capability 153
       41 02 fde8           # four-octet-as of 2 octets: malformed
       01 04 0001 00 01
    """)
    m, d = decode(codec, data)
    assert d["capabilities"][0] == {"code": 153, "name": "unknown", "data": "abcd"}
    assert d["capabilities"][1]["malformed"] is True and d["capabilities"][1]["data"] == "fde8"
    assert d["my_as"] == 65000


def test_open_other_parameter(codec):
    data = h(f"{MARKER} 0021 01 04 fde8 00b4 c0000201 04 01 02 abcd")
    m, d = decode(codec, data)
    assert d["parameters"] == [{"type": 1, "data": "abcd"}]
    assert d["capabilities"] == []


# ---------------------------------------------------------------------------- NOTIFICATION etc.

def test_notification_cease_shutdown(codec):
    """RFC 9003 §2: Cease / Administrative Shutdown, data = length + UTF-8."""
    data = h(f"{MARKER} 0021 03 06 02 0b 6d61696e74656e616e6365")
    m, d = decode(codec, data)
    assert set(d) >= NOTIFICATION_KEYS
    assert d == {"type": "NOTIFICATION", "length": 33, "code": 6, "subcode": 2,
                 "code_name": "cease", "subcode_name": "administrative-shutdown",
                 "data": "0b6d61696e74656e616e6365", "shutdown_message": "maintenance"}


def test_notification_utf8_shutdown(codec):
    text = "Wartung für 5 Minuten"
    raw = text.encode()
    data = h(MARKER) + (21 + 1 + len(raw)).to_bytes(2, "big") + h("03 06 04") + bytes(
        [len(raw)]) + raw
    m, d = decode(codec, data)
    assert d["shutdown_message"] == text and d["subcode_name"] == "administrative-reset"


def test_notification_hard_reset(codec):
    """RFC 8538 §3: Cease / Hard Reset carries the code, subcode and data of the
    NOTIFICATION it stands for."""
    data = h(f"{MARKER} 001a 03 06 09 04 00 0102 03")
    m, d = decode(codec, data)
    assert (d["code"], d["subcode"], d["subcode_name"]) == (6, 9, "hard-reset")
    assert d["inner"] == {"code": 4, "subcode": 0, "code_name": "hold-timer-expired",
                          "subcode_name": None, "data": "010203"}


def test_notification_unknown_codes(codec):
    data = h(f"{MARKER} 0016 03 63 07 aa")
    m, d = decode(codec, data)
    assert (d["code"], d["subcode"], d["code_name"], d["subcode_name"], d["data"]) == \
        (99, 7, None, None, "aa")
    assert "shutdown_message" not in d and "inner" not in d


def test_keepalive(codec):
    m, d = decode(codec, h(f"{MARKER} 0013 04"))
    assert d == {"type": "KEEPALIVE", "length": 19}


@pytest.mark.parametrize("body,want", [
    ("0001 00 01", {"afi": "ipv4", "safi": "unicast", "subtype": "normal"}),
    ("0019 01 46", {"afi": "l2vpn", "safi": "evpn", "subtype": "borr"}),
    ("0002 02 01", {"afi": "ipv6", "safi": "unicast", "subtype": "eorr"}),
    ("0063 07 63", {"afi": 99, "safi": 99, "subtype": 7}),
])
def test_route_refresh(codec, body, want):
    """RFC 2918 §3 / RFC 7313 §3.2: AFI (2), subtype (1), SAFI (1)."""
    m, d = decode(codec, h(f"{MARKER} 0017 05 {body}"))
    assert d == {"type": "ROUTE-REFRESH", "length": 23, **want}
