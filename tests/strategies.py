"""Hypothesis strategies for bgpevpn values, routes, attributes, messages and contexts.

Everything is built through the public API (``import bgpevpn``): value
constructors, the ``build`` classmethods of the routes, the ``Capability``
constructors.  Where the API has no builder (EVPN types 6-8, raw route types
9-11 and unknown ones) the route bytes are laid out here by hand from the RFC
(RFC 9251 §9, RFC 9572 §3, RFC 7432 §7 header).

Message strategies take the ``Context`` they will be encoded with, because
what is valid depends on it (2- vs 4-octet AS numbers, ADD-PATH path ids,
the maximum message size).  ``contexts_and_messages()`` draws both.
"""
from __future__ import annotations

import ipaddress
import struct

from hypothesis import strategies as st

import bgpevpn
from bgpevpn import (Aggregator, Aigp, As4Aggregator, As4Path, AsPath, AtomicAggregate,
                     Capability, ClusterList, Communities, Context, EthernetAutoDiscoveryRoute,
                     EthernetSegmentRoute, Esi, ExtCommunities, ExtCommunity,
                     InclusiveMulticastRoute, IpPrefixRoute, Ipv4Prefix, Ipv6Prefix, Keepalive,
                     LargeCommunities, LeaveSynchRoute, LocalPref, Mac, MacIpRoute, Med,
                     MembershipReportSynchRoute, MpReachNlri, MpUnreachNlri, NextHop,
                     Notification, Open, Origin, OriginatorId, Otc, PmsiTunnel, RawEvpnRoute,
                     RawNlri, RouteDistinguisher, RouteRefresh, SelectiveMulticastRoute,
                     UnknownAttribute, UnknownMessage, Update)

# ---------------------------------------------------------------------------- numbers

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2 ** 64 - 1)

ipv4_addresses = u32.map(lambda i: str(ipaddress.IPv4Address(i)))
ipv6_addresses = st.integers(0, 2 ** 128 - 1).map(lambda i: str(ipaddress.IPv6Address(i)))
ip_addresses = st.one_of(ipv4_addresses, ipv6_addresses)


ipv4_networks = st.tuples(u32, st.integers(0, 32)).map(
    lambda t: str(ipaddress.IPv4Network((t[0], t[1]), strict=False)))
ipv6_networks = st.tuples(st.integers(0, 2 ** 128 - 1), st.integers(0, 128)).map(
    lambda t: str(ipaddress.IPv6Network((t[0], t[1]), strict=False)))

# ---------------------------------------------------------------------------- values

macs = st.binary(min_size=6, max_size=6).map(Mac)

#: RFC 4364 §4.2 types 0, 1, 2 (as (type, administrator, assigned) and as objects)
rd_type0 = st.tuples(u16, u32).map(
    lambda t: RouteDistinguisher(struct.pack("!HHI", 0, t[0], t[1])))
rd_type1 = st.tuples(u32, u16).map(
    lambda t: RouteDistinguisher(struct.pack("!HIH", 1, t[0], t[1])))
rd_type2 = st.tuples(u32, u16).map(
    lambda t: RouteDistinguisher(struct.pack("!HIH", 2, t[0], t[1])))
#: type 2 with an administrator that really needs 4 octets (what real configs use)
rd_type2_large = st.tuples(st.integers(0x10000, 0xFFFFFFFF), u16).map(
    lambda t: RouteDistinguisher(struct.pack("!HIH", 2, t[0], t[1])))
rd_other = st.tuples(st.integers(3, 0xFFFF), st.binary(min_size=6, max_size=6)).map(
    lambda t: RouteDistinguisher(struct.pack("!H", t[0]) + t[1]))
route_distinguishers = st.one_of(rd_type0, rd_type1, rd_type2)
route_distinguishers_any = st.one_of(rd_type0, rd_type1, rd_type2, rd_other)


def _esi(t: int, body: bytes) -> Esi:
    return Esi(bytes([t]) + body)


#: RFC 7432 §5 ESI types 0-5, laid out field by field, plus unknown types.
esi_type0 = st.binary(min_size=9, max_size=9).map(lambda b: _esi(0, b))
esi_type1 = st.tuples(macs, u16).map(lambda t: _esi(1, bytes(t[0]) + struct.pack("!H", t[1])
                                                     + b"\x00"))
esi_type2 = st.tuples(macs, u16).map(lambda t: _esi(2, bytes(t[0]) + struct.pack("!H", t[1])
                                                     + b"\x00"))
esi_type3 = st.tuples(macs, u24).map(lambda t: _esi(3, bytes(t[0]) + t[1].to_bytes(3, "big")))
esi_type4 = st.tuples(u32, u32).map(lambda t: _esi(4, struct.pack("!II", *t) + b"\x00"))
esi_type5 = st.tuples(u32, u32).map(lambda t: _esi(5, struct.pack("!II", *t) + b"\x00"))
esi_unknown = st.tuples(st.integers(6, 255), st.binary(min_size=9, max_size=9)).map(
    lambda t: _esi(*t))
esis = st.one_of(st.just(Esi(b"\x00" * 10)), esi_type0, esi_type1, esi_type2, esi_type3,
                 esi_type4, esi_type5, esi_unknown)

labels = u24

#: (type, subtype) pairs the library prints with a name (docs/json-schema.md).
KNOWN_EXT_COMMUNITY_KINDS = frozenset(
    [(t, s) for t in (0, 1, 2) for s in (2, 3)]
    + [(3, 0x0C), (3, 0x0D)] + [(6, s) for s in (0, 1, 2, 3, 4, 6, 8)])


def _as_admin(kind):
    """(admin, number) for route targets / origins of the three layouts."""
    return st.one_of(
        st.tuples(u16, u32),                                       # 2-octet AS (type 0x00)
        st.tuples(ipv4_addresses, u16),                            # IPv4 (type 0x01)
        st.tuples(st.integers(0x10000, 0xFFFFFFFF), u16),          # 4-octet AS (type 0x02)
    ).map(lambda t: kind(*t))


ec_route_target = _as_admin(ExtCommunity.route_target)
ec_route_origin = _as_admin(ExtCommunity.route_origin)
#: RFC 5668 §2: a 4-octet-AS-specific route target/origin (type 0x02) may carry
#: an AS number below 65536 (JunOS writes it "target:100L:5"); the constructor
#: never makes one, so lay it out by hand.
ec_as4_small = st.tuples(st.sampled_from([2, 3]), u16, u16).map(
    lambda t: ExtCommunity(struct.pack("!BBIH", 2, t[0], t[1], t[2])))
ec_encapsulation = st.one_of(st.sampled_from([8, 9, 10, 12, 13, 19]), u16).map(
    ExtCommunity.encapsulation)
ec_mac_mobility = st.tuples(u32, st.booleans()).map(lambda t: ExtCommunity.mac_mobility(*t))
ec_esi_label = st.tuples(u24, st.booleans()).map(lambda t: ExtCommunity.esi_label(*t))
ec_es_import = macs.map(ExtCommunity.es_import)
ec_router_mac = macs.map(ExtCommunity.router_mac)
ec_default_gateway = st.just(ExtCommunity.default_gateway())
ec_layer2 = st.tuples(u16, u16).map(lambda t: ExtCommunity.layer2_attributes(*t))
ec_df_election = st.tuples(st.integers(0, 31), u16).map(lambda t: ExtCommunity.df_election(*t))
ec_arp_nd = u8.map(ExtCommunity.arp_nd)
ec_unknown = st.binary(min_size=8, max_size=8).filter(
    lambda b: (b[0], b[1]) not in KNOWN_EXT_COMMUNITY_KINDS).map(ExtCommunity)

#: Every kind, in its canonical layout (reserved fields zero): str() is lossless.
ext_communities = st.one_of(ec_route_target, ec_route_origin, ec_as4_small, ec_encapsulation,
                            ec_mac_mobility, ec_esi_label, ec_es_import, ec_router_mac,
                            ec_default_gateway, ec_layer2, ec_df_election, ec_arp_nd,
                            ec_unknown)
#: Any 8 octets (the wire must keep them, whatever str() prints).
ext_communities_any = st.one_of(ext_communities,
                                st.binary(min_size=8, max_size=8).map(ExtCommunity))

# ---------------------------------------------------------------------------- routes

ethernet_tags = st.one_of(st.just(0), u32)

evpn_type1 = st.builds(EthernetAutoDiscoveryRoute.build, route_distinguishers_any, esis,
                       ethernet_tags, labels)
evpn_type2 = st.builds(
    MacIpRoute.build, route_distinguishers_any, macs, st.one_of(st.none(), ip_addresses),
    st.lists(labels, min_size=1, max_size=2).map(tuple), esis, ethernet_tags)
evpn_type3 = st.builds(InclusiveMulticastRoute.build, route_distinguishers_any, ip_addresses,
                       ethernet_tags)
evpn_type4 = st.builds(EthernetSegmentRoute.build, route_distinguishers_any, esis, ip_addresses)
evpn_type5 = st.one_of(
    st.builds(IpPrefixRoute.build, route_distinguishers_any, ipv4_networks, labels,
              st.one_of(st.none(), ipv4_addresses), esis, ethernet_tags),
    st.builds(IpPrefixRoute.build, route_distinguishers_any, ipv6_networks, labels,
              st.one_of(st.none(), ipv6_addresses), esis, ethernet_tags))


def _addr_field(optional: bool = True):
    """RFC 9251 (length in bits, address): 0 (absent), 32 or 128."""
    choices = [ipv4_addresses, ipv6_addresses]
    if optional:
        choices.append(st.none())
    return st.one_of(*choices).map(
        lambda a: b"\x00" if a is None else
        bytes([len(ipaddress.ip_address(a).packed) * 8]) + ipaddress.ip_address(a).packed)


def _evpn_raw(rtype: int, body: bytes, cls):
    return cls(bytes([rtype, len(body)]) + body)


#: RFC 9251 §9.1 SMET: RD, Ethernet tag, source, group, originator, flags.
evpn_type6 = st.builds(
    lambda rd, tag, s, g, o, fl: _evpn_raw(6, bytes(rd) + struct.pack("!I", tag) + s + g + o
                                           + bytes([fl]), SelectiveMulticastRoute),
    route_distinguishers_any, ethernet_tags, _addr_field(), _addr_field(), _addr_field(False), u8)
#: RFC 9251 §9.2 Multicast Membership Report Synch: RD, ESI, tag, source, group, originator, flags.
evpn_type7 = st.builds(
    lambda rd, esi, tag, s, g, o, fl: _evpn_raw(
        7, bytes(rd) + bytes(esi) + struct.pack("!I", tag) + s + g + o + bytes([fl]),
        MembershipReportSynchRoute),
    route_distinguishers_any, esis, ethernet_tags, _addr_field(), _addr_field(),
    _addr_field(False), u8)
#: RFC 9251 §9.3 Leave Synch: as type 7 plus Leave Group Synch # (4) and Max Response Time (1).
evpn_type8 = st.builds(
    lambda rd, esi, tag, s, g, o, seq, mrt, fl: _evpn_raw(
        8, bytes(rd) + bytes(esi) + struct.pack("!I", tag) + s + g + o + struct.pack("!I", seq)
        + bytes([mrt, fl]), LeaveSynchRoute),
    route_distinguishers_any, esis, ethernet_tags, _addr_field(), _addr_field(),
    _addr_field(False), u32, u8, u8)
#: RFC 9572 §3: types 9 and 10 start with an RD; type 11 with a route key.  Kept raw.
evpn_type9_10 = st.builds(lambda t, rd, rest: _evpn_raw(t, bytes(rd) + rest, RawEvpnRoute),
                          st.sampled_from([9, 10]), route_distinguishers_any,
                          st.binary(max_size=60))
evpn_type11 = st.binary(max_size=80).map(lambda b: _evpn_raw(11, b, RawEvpnRoute))
evpn_unknown = st.tuples(st.one_of(st.just(0), st.integers(12, 255)),
                         st.binary(max_size=80)).map(
    lambda t: _evpn_raw(t[0], t[1], RawEvpnRoute))

evpn_routes_by_type = {1: evpn_type1, 2: evpn_type2, 3: evpn_type3, 4: evpn_type4,
                       5: evpn_type5, 6: evpn_type6, 7: evpn_type7, 8: evpn_type8,
                       9: evpn_type9_10, 11: evpn_type11, 42: evpn_unknown}
evpn_routes = st.one_of(*evpn_routes_by_type.values())

ipv4_prefixes = ipv4_networks.map(Ipv4Prefix.build)
ipv6_prefixes = ipv6_networks.map(Ipv6Prefix.build)
ipv4_prefixes_add_path = st.tuples(ipv4_networks, u32).map(lambda t: Ipv4Prefix.build(*t))
ipv6_prefixes_add_path = st.tuples(ipv6_networks, u32).map(lambda t: Ipv6Prefix.build(*t))
evpn_routes_add_path = st.tuples(u32, evpn_routes).map(
    lambda t: bgpevpn.AddPathEvpnRoute(*t))


def routes_for(family, ctx: Context):
    """Routes of one family as the context lays them out (ADD-PATH or not)."""
    ap = tuple(family) in ctx.add_path
    if family == (1, 1):
        return ipv4_prefixes_add_path if ap else ipv4_prefixes
    if family == (2, 1):
        return ipv6_prefixes_add_path if ap else ipv6_prefixes
    if family == (25, 70):
        return evpn_routes_add_path if ap else evpn_routes
    raise ValueError(family)


# ---------------------------------------------------------------------------- attributes

KNOWN_ATTRIBUTE_CODES = frozenset(int(c) for c in bgpevpn.AttrType)
unknown_attribute_codes = st.integers(0, 255).filter(lambda c: c not in KNOWN_ATTRIBUTE_CODES)


def _segments(asn):
    """AS_PATH segments: type 1-4, 1..30 AS numbers (RFC 4271 §4.3, RFC 5065)."""
    return st.lists(st.tuples(st.integers(1, 4), st.lists(asn, min_size=1, max_size=30)
                              .map(tuple)), max_size=4)


def _normalise_flags(attr, ctx):
    """The encoder sets the extended-length flag when the value exceeds 255
    octets; the attribute built here says so up front so it compares equal
    to what decoding gives back."""
    wire = bgpevpn.wire.encode_attribute(attr, ctx)
    if wire[0] & 0x10:
        attr.flags |= 0x10
    return attr


def _with_ext_len(attr_strategy, ctx):
    """Randomly use the extended-length encoding even for short values."""
    def apply(t):
        attr, ext = t
        if ext:
            attr.flags |= 0x10
        return _normalise_flags(attr, ctx)
    return st.tuples(attr_strategy, st.booleans()).map(apply)


def aigp_attributes():
    metric_tlv = u64.map(lambda v: (1, v.to_bytes(8, "big")))
    other_tlv = st.tuples(st.integers(2, 255), st.binary(max_size=12))

    def make(tlvs):
        metric = next((int.from_bytes(v, "big") for t, v in tlvs if t == 1), None)
        return Aigp(metric, tlvs=tlvs)
    return st.one_of(
        u64.map(Aigp),
        st.lists(st.one_of(metric_tlv, other_tlv), min_size=1, max_size=3).map(make))


def unknown_attributes(ctx=None, large: bool = False):
    """Optional (flag 0x80) attributes of codes the library does not know;
    transitive/partial/extended-length bits random."""
    data = st.binary(max_size=40)
    if large:
        data = st.one_of(data, st.binary(min_size=256, max_size=6000))
    flags = st.integers(0, 0xF).map(lambda low: 0x80 | (low << 4))  # 0x80 | T | P | E bits
    return st.builds(lambda code, d, f: UnknownAttribute(code, d, f | (0x10 if len(d) > 255
                                                                        else 0)),
                     unknown_attribute_codes, data, flags)


def attribute_strategies(ctx: Context) -> dict:
    """code -> strategy of one attribute of that code, valid under ``ctx``."""
    asn = u32 if ctx.four_octet_as else u16
    s = {
        1: st.integers(0, 2).map(Origin),
        2: _segments(asn).map(AsPath),
        3: ipv4_addresses.map(NextHop),
        4: u32.map(Med),
        5: u32.map(LocalPref),
        6: st.just(None).map(lambda _: AtomicAggregate()),
        7: st.tuples(asn, ipv4_addresses).map(Aggregator),
        8: st.lists(u32, min_size=1, max_size=80).map(lambda v: Communities(tuple(v))),
        9: ipv4_addresses.map(OriginatorId),
        10: st.lists(ipv4_addresses, min_size=1, max_size=10).map(
            lambda v: ClusterList(tuple(v))),
        16: st.lists(ext_communities_any, min_size=1, max_size=40).map(ExtCommunities),
        17: _segments(u32).map(As4Path),
        18: st.tuples(u32, ipv4_addresses).map(As4Aggregator),
        22: st.tuples(u8, u8, u24, st.one_of(
            ip_addresses.map(lambda a: ipaddress.ip_address(a).packed),
            st.binary(max_size=20))).map(PmsiTunnel),
        26: aigp_attributes(),
        32: st.lists(st.tuples(u32, u32, u32), min_size=1, max_size=25).map(
            lambda v: LargeCommunities(tuple(v))),
        35: u32.map(Otc),
    }
    return {code: _with_ext_len(strat, ctx) for code, strat in s.items()}


def path_attributes(ctx: Context):
    """Any one path attribute (not MP_REACH/MP_UNREACH), valid under ``ctx``."""
    strats = attribute_strategies(ctx)
    return st.one_of(*strats.values(), unknown_attributes(ctx, ctx.extended_message))


@st.composite
def attribute_sets(draw, ctx: Context, mandatory: bool = False, classic: bool = False,
                   exclude=()):
    """A list of attributes with distinct codes in random order; with
    ``mandatory`` ORIGIN and AS_PATH (and NEXT_HOP when ``classic``) are in it."""
    strats = attribute_strategies(ctx)
    codes = draw(st.lists(st.sampled_from(sorted(strats)), unique=True, max_size=8))
    if mandatory:
        codes = list(dict.fromkeys(list(codes) + [1, 2] + ([3] if classic else [])))
    codes = [c for c in codes if c not in exclude]
    attrs = [draw(strats[c]) for c in codes]
    unknown = draw(st.lists(unknown_attributes(ctx, ctx.extended_message), max_size=3,
                            unique_by=lambda a: a.code))
    attrs += unknown
    return draw(st.permutations(attrs))


# ---------------------------------------------------------------------------- capabilities

families_u = st.tuples(u16, u8)
capabilities_known = st.one_of(
    st.tuples(u16, u8).map(lambda t: Capability.multiprotocol(*t)),
    st.sampled_from([(1, 1), (2, 1), (25, 70), (1, 128)]).map(
        lambda t: Capability.multiprotocol(*t)),
    st.just(None).map(lambda _: Capability.route_refresh()),
    st.lists(st.tuples(u16, u16, u16), max_size=5).map(Capability.extended_nexthop),
    st.just(None).map(lambda _: Capability.extended_message()),
    u8.map(Capability.role),
    st.builds(Capability.graceful_restart, st.integers(0, 4095),
              st.lists(st.tuples(u16, u8, u8), max_size=5), st.integers(0, 15)),
    u32.map(Capability.four_octet_as),
    st.lists(st.tuples(u16, u8, st.one_of(st.integers(1, 3), u8)), max_size=5).map(
        Capability.add_path),
    st.just(None).map(lambda _: Capability.enhanced_route_refresh()),
    st.lists(st.tuples(u16, u8, u8, u24), max_size=5).map(
        Capability.long_lived_graceful_restart),
    st.builds(Capability.fqdn, st.text(max_size=30).filter(lambda t: len(t.encode()) < 64),
              st.text(max_size=30).filter(lambda t: len(t.encode()) < 64)),
    st.just(None).map(lambda _: Capability(128)),
)
KNOWN_CAPABILITY_CODES = frozenset(int(c) for c in bgpevpn.CapabilityCode)
capabilities_unknown = st.builds(
    Capability, u8.filter(lambda c: c not in KNOWN_CAPABILITY_CODES), st.binary(max_size=40))
#: A known code whose value does not parse ("malformed": true in to_dict).
capabilities_odd = st.builds(Capability, st.sampled_from(sorted(KNOWN_CAPABILITY_CODES)),
                             st.binary(max_size=12))
capabilities = st.one_of(capabilities_known, capabilities_unknown, capabilities_odd)


def _cap_bytes(c: Capability) -> bytes:
    return bytes([c.code, len(c.data)]) + c.data


@st.composite
def opens(draw, extended=None):
    """OPEN messages: capabilities grouped into optional parameters one per
    parameter (FRR), all in one (GoBGP) or anything between, other parameter
    types mixed in, and the RFC 9072 layout when asked or needed."""
    caps = draw(st.lists(capabilities, max_size=12))
    # split the capability list into consecutive groups, one parameter each
    params = []
    i = 0
    while i < len(caps):
        n = draw(st.integers(1, len(caps) - i))
        group = caps[i:i + n]
        params.append((2, b"".join(_cap_bytes(c) for c in group)))
        i += n
    others = draw(st.lists(st.tuples(st.integers(1, 254).filter(lambda t: t != 2),
                                     st.binary(max_size=20)), max_size=2))
    for p in others:
        params.insert(draw(st.integers(0, len(params))), p)
    ext = draw(st.booleans()) if extended is None else extended
    if sum(2 + len(v) for _, v in params) > 255 or any(len(v) > 255 for _, v in params):
        ext = True
    asn = draw(st.one_of(u16, st.just(23456)))
    return Open(asn, draw(st.one_of(st.just(180), st.just(0), u16)), draw(ipv4_addresses),
                caps, draw(st.one_of(st.just(4), u8)), params, ext)


# ---------------------------------------------------------------------------- other messages

notifications = st.one_of(
    st.builds(Notification, u8, u8, st.binary(max_size=64)),
    st.builds(Notification.shutdown, st.text(max_size=40).filter(lambda t: len(t.encode()) < 255),
              st.sampled_from([2, 4])),
    # RFC 8538 §3 Cease / Hard Reset: the data is an inner code, subcode, data
    st.builds(lambda c, s, d: Notification(6, 9, bytes([c, s]) + d), u8, u8,
              st.binary(max_size=40)),
)
keepalives = st.just(None).map(lambda _: Keepalive())
route_refreshes = st.one_of(
    st.builds(RouteRefresh, u16, u8, st.just(0), st.binary(max_size=40)),
    st.builds(RouteRefresh, u16, u8, st.sampled_from([1, 2])),
    st.builds(RouteRefresh, u16, u8, st.integers(3, 255), st.binary(max_size=10)),
)
unknown_messages = st.builds(UnknownMessage,
                             st.one_of(st.just(0), st.integers(6, 255)), st.binary(max_size=64))

# ---------------------------------------------------------------------------- UPDATE

MP_FAMILIES = [(1, 1), (2, 1), (25, 70)]
raw_families = st.one_of(
    st.sampled_from([(1, 128), (2, 128), (1, 4), (1, 132), (1, 133), (25, 134), (25, 65)]),
    st.tuples(u16, u8)).filter(lambda f: f not in MP_FAMILIES)


def _next_hop_for(family):
    v4 = ipv4_addresses.map(lambda a: ipaddress.IPv4Address(a).packed)
    v6 = ipv6_addresses.map(lambda a: ipaddress.IPv6Address(a).packed)
    v6ll = st.tuples(v6, v6).map(lambda t: t[0] + t[1])
    if family in ((1, 1), (25, 70)):
        return st.one_of(v4, v6, v6ll)
    if family == (2, 1):
        return st.one_of(v6, v6ll)
    return st.binary(max_size=32)


@st.composite
def mp_reach(draw, ctx: Context, family=None):
    fam = family or draw(st.one_of(st.sampled_from(MP_FAMILIES), raw_families))
    nh = draw(_next_hop_for(fam))
    if fam in MP_FAMILIES:
        routes = draw(st.lists(routes_for(fam, ctx), max_size=10))
    else:
        data = draw(st.binary(max_size=60))
        routes = [RawNlri(fam[0], fam[1], data)] if data else []
    reserved = draw(st.one_of(st.just(0), u8))
    return MpReachNlri((fam[0], fam[1], nh, routes, reserved))


@st.composite
def mp_unreach(draw, ctx: Context, family=None):
    fam = family or draw(st.one_of(st.sampled_from(MP_FAMILIES), raw_families))
    if fam in MP_FAMILIES:
        routes = draw(st.lists(routes_for(fam, ctx), max_size=10))
    else:
        data = draw(st.binary(max_size=60))
        routes = [RawNlri(fam[0], fam[1], data)] if data else []
    return MpUnreachNlri((fam[0], fam[1], routes))


@st.composite
def classic_updates(draw, ctx: Context):
    """RFC 4271 §4.3 IPv4: withdrawn field, attributes, NLRI field."""
    pfx = routes_for((1, 1), ctx)
    withdrawn = draw(st.lists(pfx, max_size=10))
    nlri = draw(st.lists(pfx, max_size=10))
    attrs = draw(attribute_sets(ctx, mandatory=bool(nlri), classic=True))
    return Update(withdrawn, attrs, nlri)


@st.composite
def mp_updates(draw, ctx: Context):
    """RFC 4760: MP_REACH and/or MP_UNREACH, possibly with classic fields too."""
    reach = draw(st.one_of(st.none(), mp_reach(ctx)))
    unreach = draw(st.one_of(st.none(), mp_unreach(ctx)))
    pfx = routes_for((1, 1), ctx)
    nlri = draw(st.one_of(st.just([]), st.lists(pfx, max_size=3)))
    withdrawn = draw(st.one_of(st.just([]), st.lists(pfx, max_size=3)))
    announcing = bool(nlri) or (reach is not None and bool(reach.value.routes))
    attrs = draw(attribute_sets(ctx, mandatory=announcing, classic=bool(nlri)))
    mps = [a for a in (reach, unreach) if a is not None]
    for a in mps:
        attrs.insert(draw(st.integers(0, len(attrs))), a)
    return Update(withdrawn, attrs, nlri)


def end_of_ribs():
    return st.one_of(
        st.just(None).map(lambda _: Update()),
        st.one_of(st.sampled_from(MP_FAMILIES), raw_families).map(
            lambda f: Update([], [MpUnreachNlri((f[0], f[1], []))], [])))


def updates(ctx: Context):
    return st.one_of(classic_updates(ctx), mp_updates(ctx), end_of_ribs())


# ---------------------------------------------------------------------------- context / all

add_path_families = st.frozensets(st.one_of(st.sampled_from(MP_FAMILIES), raw_families),
                                  max_size=4)
contexts = st.builds(Context, st.booleans(), add_path_families, st.booleans())


def messages(ctx: Context):
    return st.one_of(opens(), updates(ctx), notifications, keepalives, route_refreshes,
                     unknown_messages)


def contexts_and_messages(message_strategy=messages):
    return contexts.flatmap(lambda c: st.tuples(st.just(c), message_strategy(c)))


def encodable(codec, msg, ctx):
    """The wire bytes of ``msg``, or None when it is too long for ``ctx``."""
    try:
        return codec.encode_message(msg, ctx)
    except bgpevpn.BGPError as e:
        if e.code == 1 and e.subcode == 2:  # longer than ctx.max_message_length
            return None
        raise
