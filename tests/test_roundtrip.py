"""Round trips through both codec twins (fixture ``codec``).

* messages: decode(encode(m)) re-encodes to the same bytes and gives the
  same to_dict() as m (less ``length``, which is 0 on a built message);
* values: str()/parse and bytes()/constructor are inverse for Mac, RD, ESI,
  extended communities; routes and attributes decode back to equal objects;
* pack_updates: routes come back in order, every message fits the context,
  the attribute set decodes to equal objects;
* MessageReader: any chunking of a stream gives what decode_messages gives.
"""
from __future__ import annotations

import ipaddress
import json
import struct

import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import bgpevpn
from bgpevpn import (AsPath, Context, Esi, EthernetAutoDiscoveryRoute, EthernetSegmentRoute,
                     ExtCommunity, InclusiveMulticastRoute, IpPrefixRoute, Ipv4Prefix,
                     Ipv6Prefix, Mac, MacIpRoute, NextHop, Origin, RouteDistinguisher)

import strategies as S


def _no_length(d: dict) -> dict:
    d = dict(d)
    d.pop("length", None)
    return d


def _json_roundtrip(d: dict) -> dict:
    """to_dict() must be JSON as it stands (docs/json-schema.md)."""
    return json.loads(json.dumps(d))


# ---------------------------------------------------------------------------- messages

@given(S.contexts_and_messages())
def test_message_roundtrip(codec, ctx_msg):
    ctx, msg = ctx_msg
    wire = S.encodable(codec, msg, ctx)
    assume(wire is not None)
    note(f"wire={wire.hex()}")
    assert len(wire) <= ctx.max_message_length
    assert wire[:16] == b"\xff" * 16
    assert struct.unpack_from("!H", wire, 16)[0] == len(wire)

    decoded = codec.decode_message(wire, ctx)
    assert type(decoded) is type(msg)
    assert decoded.length == len(wire)
    assert codec.encode_message(decoded, ctx) == wire
    d = decoded.to_dict()
    assert d["length"] == len(wire)
    assert _no_length(d) == _no_length(msg.to_dict())
    assert _json_roundtrip(d) == d
    # the list decoder and the message's own encode() agree
    (again,) = codec.decode_messages(wire, ctx)
    assert again.to_dict() == d
    assert decoded.encode(ctx) == wire


@given(S.contexts.flatmap(lambda c: st.tuples(st.just(c), S.updates(c))))
def test_update_roundtrip_routes_and_attributes(codec, ctx_msg):
    """The decoded UPDATE holds equal routes (same classes, same bytes) and equal attributes."""
    ctx, msg = ctx_msg
    wire = S.encodable(codec, msg, ctx)
    assume(wire is not None)
    decoded = codec.decode_message(wire, ctx)
    assert [bytes(r) for r in decoded.announced] == [bytes(r) for r in msg.announced]
    assert [bytes(r) for r in decoded.withdrawn] == [bytes(r) for r in msg.withdrawn]
    assert [type(r) for r in decoded.nlri] == [type(r) for r in msg.nlri]
    assert decoded.announced == msg.announced
    assert decoded.withdrawn == msg.withdrawn
    assert [a.code for a in decoded.attributes] == [a.code for a in msg.attributes]
    for got, want in zip(decoded.attributes, msg.attributes):
        if want.code in (14, 15):
            continue  # MP attributes: compared through the route lists above
        assert got == want, (got, want)
    assert decoded.end_of_rib == msg.end_of_rib
    assert decoded.malformed == []


@given(S.contexts, S.opens())
def test_open_roundtrip_fields(codec, ctx, msg):
    wire = S.encodable(codec, msg, ctx)
    assume(wire is not None)
    decoded = codec.decode_message(wire, ctx)
    assert decoded.capabilities == msg.capabilities
    assert decoded.parameters == msg.parameters
    assert decoded.extended_parameters == msg.extended_parameters
    assert (decoded.my_as, decoded.hold_time, decoded.bgp_id, decoded.version) == \
        (msg.my_as, msg.hold_time, msg.bgp_id, msg.version)
    # RFC 9072 §2: the extended layout is flagged by Non-Ext OP Len = Non-Ext OP Type = 255
    if msg.extended_parameters:
        assert wire[28:30] == b"\xff\xff"
        assert struct.unpack_from("!H", wire, 30)[0] == len(wire) - 32
    else:
        assert wire[28] == len(wire) - 29


def test_end_of_rib_helper_roundtrip(codec):
    for fam in [(1, 1), (2, 1), (25, 70), (1, 128)]:
        wire = codec.end_of_rib(*fam)
        msg = codec.decode_message(wire)
        assert msg.end_of_rib == fam
        assert codec.encode_message(msg) == wire


# ---------------------------------------------------------------------------- values

@given(S.macs)
def test_mac_str_roundtrip(mac):
    assert Mac(str(mac)) == mac
    assert Mac(bytes(mac)) == mac
    assert str(mac) == str(mac).lower() and len(str(mac)) == 17


@given(S.route_distinguishers)
def test_rd_str_roundtrip(rd):
    """RFC 4364 §4.2 types 0, 1 and 2 over their whole ranges: the printed
    notation parses back to the same 8 octets (including type 2 with an AS
    number below 65536, which must not come back as type 0)."""
    note(f"rd={bytes(rd).hex()} str={rd}")
    assert RouteDistinguisher(str(rd)) == rd
    assert RouteDistinguisher(str(rd)).type == rd.type


@given(st.one_of(S.rd_type0, S.rd_type1, S.rd_type2_large, S.rd_other))
def test_rd_str_roundtrip_common(rd):
    assert RouteDistinguisher(str(rd)) == rd
    assert RouteDistinguisher(bytes(rd)) == rd


@given(S.esis)
def test_esi_str_roundtrip(esi):
    assert Esi(str(esi)) == esi
    assert Esi(bytes(esi)) == esi
    assert esi.type == bytes(esi)[0]


@given(S.ext_communities)
def test_ext_community_str_roundtrip(ec):
    note(f"ec={bytes(ec).hex()} str={ec}")
    assert ExtCommunity(str(ec)) == ec
    assert ExtCommunity(bytes(ec)) == ec


@given(st.one_of(S.ext_communities.filter(
    lambda ec: not (ec[1] in (2, 3) and ec[0] == 2 and int.from_bytes(ec[2:6], "big") <= 0xFFFF)),
    S.ec_unknown))
def test_ext_community_str_roundtrip_common(ec):
    assert ExtCommunity(str(ec)) == ec


@given(S.ext_communities_any)
def test_ext_community_any_octets_print(ec):
    """Any 8 octets print in the schema notation and keep their bytes."""
    text = str(ec)
    assert text.split(":")[0] in ("target", "origin", "encapsulation", "mac-mobility",
                                  "esi-label", "es-import", "router-mac", "l2-attributes",
                                  "df-election", "nd", "default-gateway", "raw")
    if text.startswith("raw:"):
        assert ExtCommunity(text) == ec


def _decode_one_route(codec, route, ctx):
    b = bytes(route)
    afi, safi = route.family
    routes = codec.decode_nlri(b, 0, len(b), afi, safi, ctx)
    assert len(routes) == 1
    return routes[0]


@given(S.evpn_routes)
def test_evpn_route_decode_encode(codec, route):
    got = _decode_one_route(codec, route, Context())
    assert bytes(got) == bytes(route)
    assert type(got) is type(route)
    assert got == route and hash(got) == hash(route)
    assert got.key == route.key
    assert got.to_dict() == route.to_dict()
    assert got.to_dict()["route_type"] == bytes(route)[0]


@given(S.evpn_routes_add_path)
def test_evpn_route_add_path_decode_encode(codec, route):
    ctx = Context(add_path=[(25, 70)])
    got = _decode_one_route(codec, route, ctx)
    assert bytes(got) == bytes(route)
    assert got.path_id == route.path_id
    assert got == route
    assert got.to_dict() == route.to_dict()


@given(st.one_of(S.ipv4_prefixes, S.ipv6_prefixes))
def test_prefix_decode_encode(codec, route):
    got = _decode_one_route(codec, route, Context())
    assert type(got) is type(route) and bytes(got) == bytes(route)
    assert got.prefix == route.prefix and got.path_id is None


@given(st.one_of(S.ipv4_prefixes_add_path, S.ipv6_prefixes_add_path))
def test_prefix_add_path_decode_encode(codec, route):
    got = _decode_one_route(codec, route, Context(add_path=[(1, 1), (2, 1)]))
    assert type(got) is type(route) and bytes(got) == bytes(route)
    assert got.path_id == route.path_id
    assert got.to_dict() == route.to_dict() and "path_id" in got.to_dict()


@given(S.contexts.flatmap(lambda c: st.tuples(st.just(c), S.path_attributes(c))))
def test_attribute_decode_encode(codec, ctx_attr):
    ctx, attr = ctx_attr
    wire = codec.encode_attribute(attr, ctx)
    items, errors = codec.decode_attributes(wire, 0, len(wire), ctx)
    assert errors == []
    assert len(items) == 1
    (got,) = items
    assert got == attr
    assert got.flags == attr.flags
    assert type(got) is type(attr)
    assert codec.encode_attribute(got, ctx) == wire


# builders: the fields given come back in to_dict() (offsets per RFC 7432 §7).
# Addresses are compared as addresses here; their text form is checked on its own below.

def _ip(text):
    return None if text is None else ipaddress.ip_address(text)


@given(S.route_distinguishers_any, S.esis, S.ethernet_tags, S.labels)
def test_build_type1_fields(rd, esi, tag, label):
    d = EthernetAutoDiscoveryRoute.build(rd, esi, tag, label).to_dict()
    assert (d["route_type"], d["rd"], d["esi"], d["ethernet_tag"], d["labels"]) == \
        (1, str(rd), str(esi), tag, [label])


@given(S.route_distinguishers_any, S.macs, st.one_of(st.none(), S.ip_addresses),
       st.lists(S.labels, min_size=1, max_size=2), S.esis, S.ethernet_tags)
def test_build_type2_fields(rd, mac, ip, labels, esi, tag):
    r = MacIpRoute.build(rd, mac, ip, tuple(labels), esi, tag)
    d = r.to_dict()
    assert (d["route_type"], d["rd"], d["esi"], d["ethernet_tag"], d["mac"], _ip(d["ip"]),
            d["labels"]) == (2, str(rd), str(esi), tag, str(mac), _ip(ip), labels)
    assert r.mac == mac and r.esi == esi and list(r.labels) == labels and r.ip == _ip(ip)
    assert r.vni == labels[0] and r.mpls_label == labels[0] >> 4
    assert len(r) == 2 + 33 + (0 if ip is None else len(ipaddress.ip_address(ip).packed)) \
        + 3 * (len(labels) - 1)


@given(S.route_distinguishers_any, S.ip_addresses, S.ethernet_tags)
def test_build_type3_fields(rd, ip, tag):
    r = InclusiveMulticastRoute.build(rd, ip, tag)
    d = r.to_dict()
    assert (d["route_type"], d["rd"], d["ethernet_tag"], _ip(d["originator_ip"])) == \
        (3, str(rd), tag, _ip(ip))
    assert r.originator_ip == _ip(ip)


@given(S.route_distinguishers_any, S.esis, S.ip_addresses)
def test_build_type4_fields(rd, esi, ip):
    d = EthernetSegmentRoute.build(rd, esi, ip).to_dict()
    assert (d["route_type"], d["rd"], d["esi"], _ip(d["originator_ip"])) == \
        (4, str(rd), str(esi), _ip(ip))


@given(S.route_distinguishers_any, st.one_of(
    st.tuples(S.ipv4_networks, st.one_of(st.none(), S.ipv4_addresses)),
    st.tuples(S.ipv6_networks, st.one_of(st.none(), S.ipv6_addresses))),
    S.labels, S.esis, S.ethernet_tags)
def test_build_type5_fields(rd, pfx_gw, label, esi, tag):
    pfx, gw = pfx_gw
    r = IpPrefixRoute.build(rd, pfx, label, gw, esi, tag)
    d = r.to_dict()
    net = ipaddress.ip_network(pfx)
    zero = ipaddress.IPv4Address(0) if net.version == 4 else ipaddress.IPv6Address(0)
    want_gw = _ip(gw) if gw is not None else zero  # RFC 9136 §3.1: absent gateway is all zero
    assert (d["route_type"], d["rd"], d["esi"], d["ethernet_tag"],
            ipaddress.ip_network(d["prefix"]), _ip(d["gateway"]), d["labels"]) == \
        (5, str(rd), str(esi), tag, net, want_gw, [label])
    assert r.prefix == net and r.gateway == want_gw
    assert len(r) == 2 + (34 if net.version == 4 else 58)


@given(S.route_distinguishers_any, S.ipv6_addresses)
def test_ipv6_text_is_stable(rd, ip):
    """The stable JSON schema (docs/json-schema.md) prints an address the way
    the library's own views do (``str(route.originator_ip)``, Python's
    ``ipaddress``, RFC 5952 §4).  Text made by the C library's inet_ntop
    differs for ::/96 (glibc "::0.1.0.0" where ipaddress says "::1:0", and
    musl/Windows differ again), so the JSON would depend on the platform."""
    r = InclusiveMulticastRoute.build(rd, ip, 0)
    assert r.to_dict()["originator_ip"] == str(r.originator_ip) == \
        str(ipaddress.IPv6Address(ip))


def test_every_evpn_route_type_1_to_8_has_a_builder():
    """The brief (and README) promise ``build`` classmethods for route types 1-8."""
    missing = [cls.__name__ for cls in (
        bgpevpn.EthernetAutoDiscoveryRoute, bgpevpn.MacIpRoute, bgpevpn.InclusiveMulticastRoute,
        bgpevpn.EthernetSegmentRoute, bgpevpn.IpPrefixRoute, bgpevpn.SelectiveMulticastRoute,
        bgpevpn.MembershipReportSynchRoute, bgpevpn.LeaveSynchRoute)
        if not callable(getattr(cls, "build", None))]
    assert missing == []
    # types 6-8 share one builder (RFC 9251 §9 lays them out alike): each must
    # produce its own class, which decodes back to the same class and fields
    for cls in (bgpevpn.SelectiveMulticastRoute, bgpevpn.MembershipReportSynchRoute,
                bgpevpn.LeaveSynchRoute):
        r = cls.build("65000:1", "239.1.1.1", "192.0.2.1", source="198.51.100.7",
                      ethernet_tag=100, flags=2, esi="01:02:03:04:05:06:07:08:09:0a",
                      leave_group_synch_seq=7, max_response_time=9)
        assert type(r) is cls and r.route_type == cls.route_type
        (back,) = bgpevpn.wire.decode_evpn_nlri(bytes(r), 0, len(r))
        assert type(back) is cls and bytes(back) == bytes(r)
        d = back.to_dict()
        assert (d["group"], d["originator_ip"], d["source"], d["ethernet_tag"], d["flags"]) == \
            ("239.1.1.1", "192.0.2.1", "198.51.100.7", 100, 2)


# ---------------------------------------------------------------------------- pack_updates

def _bulk_routes(family, n, ctx):
    """n cheap distinct routes of a family (to force several messages)."""
    ap = family in ctx.add_path
    out = []
    for i in range(n):
        if family == (1, 1):
            r = Ipv4Prefix.build(f"10.{i >> 8 & 255}.{i & 255}.0/24", i if ap else None)
        elif family == (2, 1):
            r = Ipv6Prefix.build(f"2001:db8:{i:x}::/48", i if ap else None)
        else:
            r = MacIpRoute.build("203.0.113.1:2", Mac(b"\x02\x00" + struct.pack("!I", i)),
                                 f"10.0.{i >> 8 & 255}.{i & 255}" if i % 2 else None, (100 + i,))
            if ap:
                r = bgpevpn.AddPathEvpnRoute(i, r)
        out.append(r)
    return out


@st.composite
def pack_cases(draw):
    ctx = draw(S.contexts)
    family = draw(st.sampled_from(S.MP_FAMILIES))
    withdraw = draw(st.booleans())
    drawn = draw(st.lists(S.routes_for(family, ctx), max_size=20))
    bulk = _bulk_routes(family, draw(st.one_of(st.integers(0, 20), st.integers(100, 700))), ctx)
    routes = list(drawn)
    for r in bulk:
        routes.insert(draw(st.integers(0, len(routes))), r)
    attrs = draw(S.attribute_sets(ctx, mandatory=True, exclude={3}))
    # keep the attribute set small enough to leave room for NLRI
    while sum(len(bgpevpn.wire.encode_attribute(a, ctx)) for a in attrs) > \
            ctx.max_message_length - 800:
        attrs = [a for a in attrs if a.code in (1, 2)] if len(attrs) > 2 else attrs[:0]
    if family == (1, 1):
        nh = draw(S.ipv4_addresses)
        if draw(st.booleans()):
            attrs.insert(draw(st.integers(0, len(attrs))), NextHop(nh))
    elif family == (2, 1):
        nh = draw(st.one_of(S.ipv6_addresses, st.tuples(S.ipv6_addresses, S.ipv6_addresses)
                            .map(lambda t: f"{t[0]},{t[1]}")))
    else:
        nh = draw(st.one_of(S.ipv4_addresses, S.ipv6_addresses))
    return ctx, family, routes, attrs, nh, withdraw


@given(pack_cases())
def test_pack_updates_roundtrip(codec, case):
    ctx, family, routes, attrs, nh, withdraw = case
    assume(routes)
    msgs = codec.pack_updates(routes, attrs, nh, ctx, withdraw=withdraw)
    assert msgs, "routes given, no UPDATE produced"
    got_routes = []
    for wire in msgs:
        assert len(wire) <= ctx.max_message_length
        assert struct.unpack_from("!H", wire, 16)[0] == len(wire)
        msg = codec.decode_message(wire, ctx)
        assert msg.type == "UPDATE"
        assert msg.end_of_rib is None
        if withdraw:
            assert msg.announced == []
            got_routes += msg.withdrawn
            assert [a.code for a in msg.attributes if a.code != 15] == []
        else:
            assert msg.withdrawn == []
            got_routes += msg.announced
            plain = [a for a in msg.attributes if a.code not in (14, 15)]
            want = list(attrs)
            if family == (1, 1) and not any(a.code == 3 for a in attrs):
                want.append(NextHop(nh))
            assert plain == want
            if family != (1, 1):
                mp = msg.attributes.mp_reach
                assert (mp.afi, mp.safi) == family
                assert mp.next_hop == codec.next_hop_bytes(nh)
        assert codec.encode_message(msg, ctx) == wire
    assert [bytes(r) for r in got_routes] == [bytes(r) for r in routes]
    assert [type(r) for r in got_routes] == [type(r) for r in routes]
    # as few messages as the size allows: no two neighbours could have been merged
    sizes = [len(m) for m in msgs]
    overhead = len(msgs[0]) - sum(len(bytes(r)) for r in
                                  (codec.decode_message(msgs[0], ctx).withdrawn if withdraw
                                   else codec.decode_message(msgs[0], ctx).announced))
    for a, b in zip(sizes, sizes[1:]):
        assert a + (b - overhead) > ctx.max_message_length


def test_pack_updates_splits_at_4096(codec):
    ctx = Context()
    routes = _bulk_routes((25, 70), 1000, ctx)
    attrs = [Origin(0), AsPath([]), bgpevpn.ExtCommunities([ExtCommunity("target:65000:100")])]
    msgs = codec.pack_updates(routes, attrs, "203.0.113.1", ctx)
    assert len(msgs) > 1
    assert all(len(m) <= 4096 for m in msgs)
    out = [r for m in codec.decode_messages(b"".join(msgs), ctx) for r in m.announced]
    assert out == routes
    big = Context(extended_message=True)
    msgs2 = codec.pack_updates(routes, attrs, "203.0.113.1", big)
    assert len(msgs2) < len(msgs)
    assert all(len(m) <= 65535 for m in msgs2)


# ---------------------------------------------------------------------------- MessageReader

@st.composite
def streams(draw):
    ctx = draw(S.contexts)
    msgs = draw(st.lists(S.messages(ctx), min_size=1, max_size=6))
    wires = []
    for m in msgs:
        w = S.encodable(bgpevpn._wire_py, m, ctx)
        if w is not None:
            wires.append(w)
    data = b"".join(wires)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=20)))
    return ctx, data, cuts


@given(streams())
def test_message_reader_any_chunking(codec, case):
    ctx, data, cuts = case
    want = codec.decode_messages(data, ctx)
    reader = codec.MessageReader(ctx)
    got = []
    prev = 0
    for c in cuts + [len(data)]:
        got.extend(reader.feed(data[prev:c]))
        prev = c
    got.extend(reader.feed(b""))
    assert [m.to_dict() for m in got] == [m.to_dict() for m in want]
    assert [codec.encode_message(m, ctx) for m in got] == \
        [codec.encode_message(m, ctx) for m in want]
    assert reader.pending == 0
    assert reader.offset == len(data)


@given(streams(), st.integers(1, 200))
def test_message_reader_keeps_partial_message(codec, case, cut):
    ctx, data, _ = case
    assume(data)
    first_len = struct.unpack_from("!H", data, 16)[0]
    partial = data[:min(cut, first_len - 1)]
    reader = codec.MessageReader(ctx)
    assert list(reader.feed(data + partial)) == codec.decode_messages(data, ctx)
    assert reader.pending == len(partial)
    rest = data[len(partial):first_len]
    more = list(reader.feed(rest))
    assert len(more) == 1 and codec.encode_message(more[0], ctx) == data[:first_len]
    assert reader.pending == 0


# ------------------------------------------------------------------ input types, bad values

@given(S.contexts_and_messages())
def test_buffer_types(codec, ctx_msg):
    """bytes, bytearray and memoryview decode alike."""
    ctx, m = ctx_msg
    wire = S.encodable(codec, m, ctx)
    assume(wire is not None)
    want = codec.decode_message(wire, ctx).to_dict()
    assert codec.decode_message(bytearray(wire), ctx).to_dict() == want
    assert codec.decode_message(memoryview(wire), ctx).to_dict() == want
    assert [x.to_dict() for x in codec.decode_messages(bytearray(wire), ctx)] == [want]
    assert [x.to_dict() for x in codec.MessageReader(ctx).feed(bytearray(wire))] == [want]


_ORIGIN_ASPATH = [bgpevpn.Origin(0), bgpevpn.AsPath([])]


@pytest.mark.parametrize("attr,ctx", [
    (bgpevpn.AsPath([(2, (70000,))]), Context(four_octet_as=False)),
    (bgpevpn.Aggregator((70000, "192.0.2.1")), Context(four_octet_as=False)),
    (bgpevpn.Med(-1), Context()),
    (bgpevpn.LocalPref(2 ** 32), Context()),
    (bgpevpn.Communities((2 ** 32,)), Context()),
    (bgpevpn.Otc(-1), Context()),
    (bgpevpn.NextHop("300.1.1.1"), Context()),
    (bgpevpn.PmsiTunnel((0, 6, 2 ** 24, b"\xc0\x00\x02\x01")), Context()),
    (bgpevpn.LargeCommunities(((2 ** 32, 0, 0),)), Context()),
], ids=["as_path-2-octet", "aggregator-2-octet", "med", "local_pref", "communities", "otc",
        "next_hop", "pmsi-label", "large-communities"])
def test_encoding_out_of_range_values_raises_value_error(codec, attr, ctx):
    """A built attribute whose value does not fit its wire field is a
    ValueError (as AS_PATH already does), not struct.error/OSError/OverflowError."""
    msg = bgpevpn.Update([], _ORIGIN_ASPATH + [attr], [])
    with pytest.raises(ValueError):
        codec.encode_message(msg, ctx)
