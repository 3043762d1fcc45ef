"""Path attributes (RFC 4271 §4.3 and the RFCs named per class).

An attribute holds its decoded ``value``, its ``flags`` as received and, when
it came from the wire, its ``raw`` value octets, so it re-encodes
byte-for-byte.  The codec (``_wire_py`` / ``_wire_c``) creates them; users
may build them from values (``raw`` is then encoded on demand).
"""
from __future__ import annotations

from typing import NamedTuple

from .constants import (AS_PATH_SEGMENT_NAMES, ATTR_DEFAULT_FLAGS, ATTR_NAMES, ORIGIN_NAMES,
                        PMSI_TUNNEL_TYPE_NAMES, AttrType)
from .values import ExtCommunity, format_ext_community, ip_text



def format_next_hop(raw: bytes) -> tuple:
    """(address, link-local or None) for a next hop of 4, 16 or 32 octets;
    12/24-octet VPN next hops lose their zero RD (RFC 4364 §4.3.2)."""
    n = len(raw)
    if n in (12, 24):
        raw, n = raw[8:] if n == 12 else raw[8:24], 4 if n == 12 else 16
    if n in (4, 16):
        return ip_text(raw), None
    if n == 32:
        return ip_text(raw[:16]), ip_text(raw[16:])
    return (raw.hex() if raw else None), None


class PathAttribute:
    """Base class: ``value``, ``flags`` and, when decoded, ``raw`` octets."""
    __slots__ = ("value", "flags", "raw")
    code = 0

    def __init__(self, value, flags: int | None = None, raw: bytes | None = None):
        self.value = value
        self.flags = ATTR_DEFAULT_FLAGS.get(self.code, 0xC0) if flags is None else flags
        self.raw = raw

    @property
    def name(self) -> str:
        return ATTR_NAMES.get(self.code, f"attr_{self.code}")

    def to_json(self):
        return self.value

    def __eq__(self, other):
        if not isinstance(other, PathAttribute):
            return NotImplemented
        return (type(self) is type(other) and self.code == other.code
                and self.flags == other.flags and self.value == other.value)

    def __hash__(self):
        return hash((self.code, self.flags, repr(self.value)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()!r})"


class Origin(PathAttribute):
    """RFC 4271 §5.1.1: 0 IGP, 1 EGP, 2 INCOMPLETE."""
    __slots__ = ()
    code = AttrType.ORIGIN

    def to_json(self):
        return ORIGIN_NAMES.get(self.value, self.value)


class AsPathSegment(NamedTuple):
    type: int
    asns: tuple


class AsPath(PathAttribute):
    """RFC 4271 §5.1.2 (RFC 6793 for 4-octet AS numbers, RFC 5065 for
    confederation segments): ``value`` is a tuple of ``AsPathSegment``.
    ``four_octet`` says which AS size ``raw`` was decoded with: encoding for
    the other size re-encodes from the value."""
    __slots__ = ("four_octet",)
    code = AttrType.AS_PATH

    def __init__(self, value, flags=None, raw=None, four_octet=True):
        super().__init__(tuple(AsPathSegment(int(t), tuple(a)) for t, a in value), flags, raw)
        self.four_octet = four_octet

    def to_json(self):
        return [{"type": AS_PATH_SEGMENT_NAMES.get(s.type, s.type), "asns": list(s.asns)}
                for s in self.value]

    def __str__(self) -> str:
        out = []
        for s in self.value:
            txt = " ".join(map(str, s.asns))
            out.append({1: "{%s}", 3: "(%s)", 4: "[%s]"}.get(s.type, "%s") % txt)
        return " ".join(out)


class As4Path(AsPath):
    """RFC 6793 §3."""
    __slots__ = ()
    code = AttrType.AS4_PATH


class NextHop(PathAttribute):
    """RFC 4271 §5.1.3: an IPv4 address (string)."""
    __slots__ = ()
    code = AttrType.NEXT_HOP


class Med(PathAttribute):
    """RFC 4271 §5.1.4."""
    __slots__ = ()
    code = AttrType.MULTI_EXIT_DISC


class LocalPref(PathAttribute):
    """RFC 4271 §5.1.5."""
    __slots__ = ()
    code = AttrType.LOCAL_PREF


class AtomicAggregate(PathAttribute):
    """RFC 4271 §5.1.6: no value."""
    __slots__ = ()
    code = AttrType.ATOMIC_AGGREGATE

    def __init__(self, value=True, flags=None, raw=None):
        super().__init__(True, flags, raw)


class Aggregator(PathAttribute):
    """RFC 4271 §5.1.7: ``value`` = (AS, address); ``four_octet`` as for AsPath."""
    __slots__ = ("four_octet",)
    code = AttrType.AGGREGATOR

    def __init__(self, value, flags=None, raw=None, four_octet=True):
        super().__init__(value, flags, raw)
        self.four_octet = four_octet

    def to_json(self):
        return {"as": self.value[0], "address": self.value[1]}


class As4Aggregator(Aggregator):
    """RFC 6793 §3."""
    __slots__ = ()
    code = AttrType.AS4_AGGREGATOR


class Communities(PathAttribute):
    """RFC 1997: ``value`` is a tuple of 32-bit integers."""
    __slots__ = ()
    code = AttrType.COMMUNITIES

    def to_json(self):
        return [f"{c >> 16}:{c & 0xFFFF}" for c in self.value]


class OriginatorId(PathAttribute):
    """RFC 4456 §8: the originator's router id (dotted quad)."""
    __slots__ = ()
    code = AttrType.ORIGINATOR_ID


class ClusterList(PathAttribute):
    """RFC 4456 §8: a tuple of cluster ids (dotted quads)."""
    __slots__ = ()
    code = AttrType.CLUSTER_LIST

    def to_json(self):
        return list(self.value)


class ExtCommunities(PathAttribute):
    """RFC 4360: a tuple of ``ExtCommunity``."""
    __slots__ = ()
    code = AttrType.EXTENDED_COMMUNITIES

    def __init__(self, value, flags=None, raw=None):
        super().__init__(tuple(c if isinstance(c, ExtCommunity) else ExtCommunity(c)
                               for c in value), flags, raw)

    def to_json(self):
        return [format_ext_community(c) for c in self.value]


class LargeCommunities(PathAttribute):
    """RFC 8092: a tuple of (global admin, local 1, local 2)."""
    __slots__ = ()
    code = AttrType.LARGE_COMMUNITY

    def to_json(self):
        return [f"{a}:{b}:{c}" for a, b, c in self.value]


class PmsiTunnelValue(NamedTuple):
    flags: int
    tunnel_type: int
    label: int          # the raw 3-octet field (a VNI for VXLAN, RFC 8365 §5.1.3)
    tunnel_id: bytes


class PmsiTunnel(PathAttribute):
    """RFC 6514 §5: flags, tunnel type, MPLS label (raw 3 octets), tunnel
    identifier (for ingress replication, the endpoint address, RFC 7432 §11.2)."""
    __slots__ = ()
    code = AttrType.PMSI_TUNNEL

    def __init__(self, value, flags=None, raw=None):
        super().__init__(PmsiTunnelValue(*value), flags, raw)

    @property
    def endpoint(self):
        tid = self.value.tunnel_id
        if len(tid) in (4, 16):
            return ip_text(tid)
        return None

    def to_json(self):
        v = self.value
        ep = self.endpoint
        return {"flags": v.flags, "type": v.tunnel_type,
                "type_name": PMSI_TUNNEL_TYPE_NAMES.get(v.tunnel_type), "label": v.label,
                "endpoint": ep if ep is not None else v.tunnel_id.hex()}


class Aigp(PathAttribute):
    """RFC 7311 §3: ``value`` is the AIGP metric (TLV type 1) or None;
    every TLV is kept in ``tlvs`` as (type, value octets)."""
    __slots__ = ("tlvs",)
    code = AttrType.AIGP

    def __init__(self, value, flags=None, raw=None, tlvs=None):
        super().__init__(value, flags, raw)
        self.tlvs = tuple(tlvs) if tlvs is not None else ((1, value.to_bytes(8, "big")),)


class Otc(PathAttribute):
    """RFC 9234 §5: Only To Customer, an AS number."""
    __slots__ = ()
    code = AttrType.OTC


class MpReachValue(NamedTuple):
    afi: int
    safi: int
    next_hop: bytes       # raw next hop octets (RFC 4760 §3)
    routes: list
    reserved: int = 0     # RFC 4760 §3 'Reserved' octet, kept as received


class MpReachNlri(PathAttribute):
    """RFC 4760 §3."""
    __slots__ = ()
    code = AttrType.MP_REACH_NLRI

    def __init__(self, value, flags=None, raw=None):
        super().__init__(MpReachValue(*value), flags, raw)

    def to_json(self):
        nh, ll = format_next_hop(self.value.next_hop)
        return {"afi": self.value.afi, "safi": self.value.safi, "next_hop": nh,
                "next_hop_link_local": ll, "routes": len(self.value.routes)}


class MpUnreachValue(NamedTuple):
    afi: int
    safi: int
    routes: list


class MpUnreachNlri(PathAttribute):
    """RFC 4760 §4."""
    __slots__ = ()
    code = AttrType.MP_UNREACH_NLRI

    def __init__(self, value, flags=None, raw=None):
        super().__init__(MpUnreachValue(*value), flags, raw)

    def to_json(self):
        return {"afi": self.value.afi, "safi": self.value.safi,
                "routes": len(self.value.routes)}


class UnknownAttribute(PathAttribute):
    """Any attribute this library does not decode: kept with its code and
    flags; ``value`` is the raw octets (RFC 4271 §5: passed on when transitive)."""
    __slots__ = ("type_code",)

    def __init__(self, code: int, value: bytes, flags: int | None = None, raw=None):
        self.type_code = code
        super().__init__(bytes(value), 0xC0 if flags is None else flags, bytes(value))

    @property
    def code(self):  # type: ignore[override]
        return self.type_code

    def to_json(self):
        return {"code": self.type_code, "flags": self.flags, "data": self.value.hex()}


#: code -> class for the attributes decoded here.
ATTRIBUTE_CLASSES = {cls.code: cls for cls in (
    Origin, AsPath, NextHop, Med, LocalPref, AtomicAggregate, Aggregator, Communities,
    OriginatorId, ClusterList, MpReachNlri, MpUnreachNlri, ExtCommunities, As4Path,
    As4Aggregator, PmsiTunnel, Aigp, LargeCommunities, Otc)}


class Attributes:
    """The path attributes of one UPDATE, in wire order.

    ``attrs[code]`` or ``attrs.get(code)`` gives one; the properties give the
    common values.  Hashable and comparable through ``key`` (the codes,
    flags and values of every attribute except MP_REACH/MP_UNREACH), so a
    RIB can intern identical sets.
    """
    __slots__ = ("items", "_by_code", "_key")

    def __init__(self, items=()):
        self.items = tuple(items)
        self._by_code = {}
        for a in self.items:
            self._by_code.setdefault(a.code, a)
        self._key = None

    def __getitem__(self, code):
        return self._by_code[code]

    def get(self, code, default=None):
        return self._by_code.get(code, default)

    def __contains__(self, code) -> bool:
        return code in self._by_code

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def _value(self, code):
        a = self._by_code.get(code)
        return a.value if a is not None else None

    origin = property(lambda self: self._value(AttrType.ORIGIN))
    as_path = property(lambda self: self._value(AttrType.AS_PATH))
    next_hop = property(lambda self: self._value(AttrType.NEXT_HOP))
    med = property(lambda self: self._value(AttrType.MULTI_EXIT_DISC))
    local_pref = property(lambda self: self._value(AttrType.LOCAL_PREF))
    communities = property(lambda self: self._value(AttrType.COMMUNITIES) or ())
    originator_id = property(lambda self: self._value(AttrType.ORIGINATOR_ID))
    cluster_list = property(lambda self: self._value(AttrType.CLUSTER_LIST) or ())
    ext_communities = property(lambda self: self._value(AttrType.EXTENDED_COMMUNITIES) or ())
    large_communities = property(lambda self: self._value(AttrType.LARGE_COMMUNITY) or ())
    pmsi_tunnel = property(lambda self: self._by_code.get(AttrType.PMSI_TUNNEL))
    mp_reach = property(lambda self: self._value(AttrType.MP_REACH_NLRI))
    mp_unreach = property(lambda self: self._value(AttrType.MP_UNREACH_NLRI))

    @property
    def route_targets(self) -> tuple:
        return tuple(c for c in self.ext_communities if c.is_route_target)

    @property
    def key(self) -> tuple:
        if self._key is None:
            self._key = tuple((a.code, a.flags, a.raw if a.raw is not None else repr(a.value))
                              for a in self.items
                              if a.code not in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI))
        return self._key

    def __eq__(self, other):
        if not isinstance(other, Attributes):
            return NotImplemented
        return self.items == other.items

    def __hash__(self):
        return hash(self.key)

    def to_dict(self) -> dict:
        d: dict = {}
        for a in self.items:
            if a.code in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI):
                continue
            if isinstance(a, UnknownAttribute):
                d.setdefault("unknown", []).append(a.to_json())
            elif a.code == AttrType.AIGP:
                d["aigp"] = a.value
                extra = [{"type": t, "data": v.hex()} for t, v in a.tlvs if t != 1]
                if extra:
                    d["aigp_tlvs"] = extra
            else:
                d[a.name] = a.to_json()
        return d

    def __repr__(self) -> str:
        return f"Attributes({list(self.items)!r})"
