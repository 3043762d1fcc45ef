"""Route objects: packed bytes first, fields decoded on access.

An EVPN route is a ``bytes`` subclass holding its whole NLRI encoding (route
type, length, body; RFC 7432 §7), so it costs one small object, re-encodes
byte-for-byte, and ``bytes(route)`` is what goes on the wire.  ``key`` is
its RIB key; equality and hashing use it.  The codec validates the layout
before it creates a route, so the field views below read without checks.
"""
from __future__ import annotations

import ipaddress

from ._env import NO_SLAB, extension
from .constants import AFI_NAMES, SAFI_NAMES, Afi, EvpnRouteType, Safi
from .errors import ValueParseError
from .values import (Esi, Mac, RouteDistinguisher, _Checked, format_esi, format_mac,
                     format_rd, ip_text)

_new = bytes.__new__
_U16 = _Checked("!H", "2 octets")
_U32 = _Checked("!I", "4 octets")
_ip_text = ip_text


_routemem_c = extension("_routemem_c")


def _plain(cls):
    """Class decorator: instances without the 16-octet GC header, allocated
    from the route slab, when the extension is built (bgpevpn/_routemem_c.pyx
    says why that is safe for a packed route; ``BGPEVPN_NO_SLAB=1`` keeps
    pymalloc); applied as the class is made, before any instance."""
    if _routemem_c is not None and _routemem_c.plain_instances(cls) and not NO_SLAB:
        _routemem_c.slab_instances(cls)
    return cls


def _ip_bytes(addr) -> bytes:
    if addr is None:
        return b""
    return ipaddress.ip_address(addr).packed


def _u24(raw: bytes, pos: int) -> int:
    return (raw[pos] << 16) | (raw[pos + 1] << 8) | raw[pos + 2]


@_plain
class Route(bytes):
    """Base of packed routes."""
    __slots__ = ()
    afi = 0
    safi = 0

    @property
    def family(self) -> tuple:
        return (self.afi, self.safi)

    @property
    def key(self) -> bytes:
        return bytes(self)

    def _base_dict(self) -> dict:
        return {"afi": AFI_NAMES.get(self.afi, self.afi),
                "safi": SAFI_NAMES.get(self.safi, self.safi)}


# --- IP unicast ------------------------------------------------------------

@_plain
class _PrefixRoute(Route):
    """RFC 4271 §4.3 prefix: length octet then the significant octets;
    with ADD-PATH (RFC 7911 §3) a 4-octet path identifier first."""
    __slots__ = ()
    _addr_len = 4
    _has_path_id = False

    def __eq__(self, other):
        if isinstance(other, Route):
            return type(self) is type(other) and bytes.__eq__(self, other)
        return NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    __hash__ = bytes.__hash__

    @property
    def path_id(self):
        return _U32.unpack_from(self)[0] if self._has_path_id else None

    @property
    def prefixlen(self) -> int:
        return self[4] if self._has_path_id else self[0]

    @property
    def network(self):
        off = 5 if self._has_path_id else 1
        raw = bytes(self[off:]).ljust(self._addr_len, b"\x00")
        cls = ipaddress.IPv4Network if self._addr_len == 4 else ipaddress.IPv6Network
        return cls((raw, self.prefixlen), strict=False)

    @property
    def prefix(self) -> str:
        off = 5 if self._has_path_id else 1
        raw = bytes(self[off:]).ljust(self._addr_len, b"\x00")
        return f"{_ip_text(raw)}/{self.prefixlen}"

    @classmethod
    def build(cls, prefix, path_id=None) -> "_PrefixRoute":
        net = ipaddress.ip_network(prefix, strict=False)
        if net.version != (4 if cls._addr_len == 4 else 6):
            raise ValueParseError(f"{prefix} is not an IPv{4 if cls._addr_len == 4 else 6} prefix")
        nbytes = (net.prefixlen + 7) // 8
        body = bytes([net.prefixlen]) + net.network_address.packed[:nbytes]
        target = _PREFIX_CLASSES[(cls._addr_len, path_id is not None)]
        if path_id is not None:
            body = _U32.pack(path_id) + body
        return _new(target, body)

    def to_dict(self) -> dict:
        d = self._base_dict()
        d["prefix"] = self.prefix
        if self._has_path_id:
            d["path_id"] = self.path_id
        return d

    def __repr__(self) -> str:
        pid = f", path_id={self.path_id}" if self._has_path_id else ""
        return f"{type(self).__name__}('{self.prefix}'{pid})"


@_plain
class Ipv4Prefix(_PrefixRoute):
    __slots__ = ()
    afi, safi = Afi.IPV4, Safi.UNICAST


@_plain
class Ipv4PrefixAddPath(_PrefixRoute):
    __slots__ = ()
    afi, safi = Afi.IPV4, Safi.UNICAST
    _has_path_id = True


@_plain
class Ipv6Prefix(_PrefixRoute):
    __slots__ = ()
    afi, safi = Afi.IPV6, Safi.UNICAST
    _addr_len = 16


@_plain
class Ipv6PrefixAddPath(_PrefixRoute):
    __slots__ = ()
    afi, safi = Afi.IPV6, Safi.UNICAST
    _addr_len = 16
    _has_path_id = True


_PREFIX_CLASSES = {(4, False): Ipv4Prefix, (4, True): Ipv4PrefixAddPath,
                   (16, False): Ipv6Prefix, (16, True): Ipv6PrefixAddPath}


class RawNlri:
    """The NLRI field of an MP attribute of a family this library does not
    parse (RFC 4760 §3), kept whole so it re-encodes as it came."""
    __slots__ = ("afi", "safi", "data")

    def __init__(self, afi: int, safi: int, data: bytes):
        self.afi, self.safi, self.data = int(afi), int(safi), bytes(data)

    @property
    def family(self) -> tuple:
        return (self.afi, self.safi)

    @property
    def key(self) -> bytes:
        return self.data

    def __bytes__(self) -> bytes:
        return self.data

    def __len__(self) -> int:
        return len(self.data)

    def __eq__(self, other):
        if isinstance(other, RawNlri):
            return (self.afi, self.safi, self.data) == (other.afi, other.safi, other.data)
        return NotImplemented

    def __hash__(self):
        return hash((self.afi, self.safi, self.data))

    def to_dict(self) -> dict:
        return {"afi": AFI_NAMES.get(self.afi, self.afi),
                "safi": SAFI_NAMES.get(self.safi, self.safi), "raw": self.data.hex()}

    def __repr__(self) -> str:
        return f"RawNlri(afi={self.afi}, safi={self.safi}, data={self.data.hex()!r})"


# --- EVPN --------------------------------------------------------------------

@_plain
class EvpnRoute(Route):
    """RFC 7432 §7: route type (1 octet), length (1 octet), body.

    Offsets below count from the start of the route (type octet = 0), so the
    body starts at 2 and the RD of every RD-led type is ``self[2:10]``.
    """
    __slots__ = ()
    afi, safi = Afi.L2VPN, Safi.EVPN
    route_type = 0
    _has_rd = True

    def __eq__(self, other):
        if isinstance(other, EvpnRoute):
            return self.key == other.key
        return NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __hash__(self):
        return hash(self.key)

    @property
    def rd(self):
        return _new(RouteDistinguisher, self[2:10]) if self._has_rd and len(self) >= 10 else None

    @property
    def key(self) -> bytes:
        return bytes(self[:1] + self[2:])

    def to_dict(self) -> dict:
        d = {"afi": "l2vpn", "safi": "evpn", "route_type": self[0]}
        d["rd"] = format_rd(self[2:10]) if self._has_rd and len(self) >= 10 else None
        self._fields(d)
        return d

    def _fields(self, d: dict) -> None:
        d["raw"] = bytes(self[10:] if self._has_rd and len(self) >= 10 else self[2:]).hex()

    def __repr__(self) -> str:
        d = self.to_dict()
        for k in ("afi", "safi", "route_type"):
            d.pop(k)
        inner = ", ".join(f"{k}={v}" for k, v in d.items())
        return f"{type(self).__name__}({inner})"

    # helpers shared by the builders
    @staticmethod
    def _pack(route_type: int, body: bytes, cls):
        if len(body) > 255:
            raise ValueParseError("EVPN route body longer than 255 octets")
        return _new(cls, bytes([route_type, len(body)]) + body)


def _esi(value) -> bytes:
    if isinstance(value, Esi):
        return bytes(value)
    if value in (None, 0):
        return b"\x00" * 10
    return bytes(Esi(value))


def _labels_bytes(labels) -> bytes:
    out = b""
    for lab in labels:
        if not 0 <= lab <= 0xFFFFFF:
            raise ValueParseError(f"label field out of range: {lab}")
        out += lab.to_bytes(3, "big")
    return out


@_plain
class EthernetAutoDiscoveryRoute(EvpnRoute):
    """Type 1, RFC 7432 §7.1: RD, ESI, Ethernet tag, MPLS label. Key: RD, ESI, tag."""
    __slots__ = ()
    route_type = 1

    esi = property(lambda self: _new(Esi, self[10:20]))
    ethernet_tag = property(lambda self: _U32.unpack_from(self, 20)[0])
    labels = property(lambda self: (_u24(self, 24),))
    vni = property(lambda self: _u24(self, 24), doc="The label as a 24-bit VNI (RFC 8365).")
    mpls_label = property(lambda self: _u24(self, 24) >> 4, doc="The label as MPLS (20 bits).")
    key = property(lambda self: bytes(self[:1] + self[2:24]))

    def _fields(self, d):
        d["esi"] = format_esi(self[10:20])
        d["ethernet_tag"] = _U32.unpack_from(self, 20)[0]
        d["labels"] = [_u24(self, 24)]

    @classmethod
    def build(cls, rd, esi, ethernet_tag: int, label: int):
        body = bytes(RouteDistinguisher(rd)) + _esi(esi) + _U32.pack(ethernet_tag) \
            + _labels_bytes([label])
        return cls._pack(1, body, cls)


@_plain
class MacIpRoute(EvpnRoute):
    """Type 2, RFC 7432 §7.2: RD, ESI, Ethernet tag, MAC length (48), MAC, IP
    length (0/32/128), IP, label 1, optional label 2.
    Key: RD, tag, MAC, IP (ESI and labels are attributes)."""
    __slots__ = ()
    route_type = 2

    esi = property(lambda self: _new(Esi, self[10:20]))
    ethernet_tag = property(lambda self: _U32.unpack_from(self, 20)[0])
    mac = property(lambda self: _new(Mac, self[25:31]))

    @property
    def ip(self):
        n = self[31] >> 3
        return ipaddress.ip_address(bytes(self[32:32 + n])) if n else None

    @property
    def labels(self) -> tuple:
        p = 32 + (self[31] >> 3)
        return tuple(_u24(self, q) for q in range(p, len(self), 3))

    @property
    def vni(self) -> int:
        """Label 1 as a 24-bit VNI (RFC 8365 §5.1.3)."""
        return _u24(self, 32 + (self[31] >> 3))

    @property
    def mpls_label(self) -> int:
        """Label 1 as a 20-bit MPLS label (RFC 7432 §7.2)."""
        return _u24(self, 32 + (self[31] >> 3)) >> 4

    @property
    def key(self) -> bytes:
        return bytes(self[:1] + self[2:10] + self[20:32 + (self[31] >> 3)])

    def _fields(self, d):
        n = self[31] >> 3
        d["esi"] = format_esi(self[10:20])
        d["ethernet_tag"] = _U32.unpack_from(self, 20)[0]
        d["mac"] = format_mac(self[25:31])
        d["ip"] = _ip_text(bytes(self[32:32 + n]))
        d["labels"] = [_u24(self, q) for q in range(32 + n, len(self), 3)]

    @classmethod
    def build(cls, rd, mac, ip=None, labels=(0,), esi=None, ethernet_tag: int = 0):
        if not 1 <= len(labels) <= 2:
            raise ValueParseError("a MAC/IP route carries one or two labels")
        ipb = _ip_bytes(ip)
        body = (bytes(RouteDistinguisher(rd)) + _esi(esi) + _U32.pack(ethernet_tag)
                + b"\x30" + bytes(Mac(mac)) + bytes([len(ipb) * 8]) + ipb
                + _labels_bytes(labels))
        return cls._pack(2, body, cls)


@_plain
class InclusiveMulticastRoute(EvpnRoute):
    """Type 3, RFC 7432 §7.3: RD, Ethernet tag, originating router's IP.
    All of it is the key."""
    __slots__ = ()
    route_type = 3

    ethernet_tag = property(lambda self: _U32.unpack_from(self, 10)[0])

    @property
    def originator_ip(self):
        n = self[14] >> 3
        return ipaddress.ip_address(bytes(self[15:15 + n])) if n else None

    def _fields(self, d):
        d["ethernet_tag"] = _U32.unpack_from(self, 10)[0]
        d["originator_ip"] = _ip_text(bytes(self[15:15 + (self[14] >> 3)]))

    @classmethod
    def build(cls, rd, originator_ip, ethernet_tag: int = 0):
        ipb = _ip_bytes(originator_ip)
        body = bytes(RouteDistinguisher(rd)) + _U32.pack(ethernet_tag) \
            + bytes([len(ipb) * 8]) + ipb
        return cls._pack(3, body, cls)


@_plain
class EthernetSegmentRoute(EvpnRoute):
    """Type 4, RFC 7432 §7.4: RD, ESI, originating router's IP; all of it is the key."""
    __slots__ = ()
    route_type = 4

    esi = property(lambda self: _new(Esi, self[10:20]))

    @property
    def originator_ip(self):
        n = self[20] >> 3
        return ipaddress.ip_address(bytes(self[21:21 + n])) if n else None

    def _fields(self, d):
        d["esi"] = format_esi(self[10:20])
        d["originator_ip"] = _ip_text(bytes(self[21:21 + (self[20] >> 3)]))

    @classmethod
    def build(cls, rd, esi, originator_ip):
        ipb = _ip_bytes(originator_ip)
        body = bytes(RouteDistinguisher(rd)) + _esi(esi) + bytes([len(ipb) * 8]) + ipb
        return cls._pack(4, body, cls)


@_plain
class IpPrefixRoute(EvpnRoute):
    """Type 5, RFC 9136 §3.1: RD, ESI, Ethernet tag, prefix length, prefix
    (4 or 16 octets), gateway IP (same size), label.  Key: RD, tag, prefix
    length, prefix (RFC 9136 §3.2)."""
    __slots__ = ()
    route_type = 5

    esi = property(lambda self: _new(Esi, self[10:20]))
    ethernet_tag = property(lambda self: _U32.unpack_from(self, 20)[0])

    @property
    def _alen(self) -> int:
        return 4 if self[1] == 34 else 16

    @property
    def prefix(self):
        a = self._alen
        return ipaddress.ip_network((bytes(self[25:25 + a]), self[24]), strict=False)

    @property
    def gateway(self):
        a = self._alen
        return ipaddress.ip_address(bytes(self[25 + a:25 + 2 * a]))

    @property
    def labels(self) -> tuple:
        return (_u24(self, len(self) - 3),)

    @property
    def vni(self) -> int:
        """The label as a 24-bit VNI (RFC 8365 §5.1.3, RFC 9136 §3.1)."""
        return _u24(self, len(self) - 3)

    @property
    def mpls_label(self) -> int:
        return _u24(self, len(self) - 3) >> 4

    @property
    def key(self) -> bytes:
        return bytes(self[:1] + self[2:10] + self[20:25 + self._alen])

    def _fields(self, d):
        a = self._alen
        d["esi"] = format_esi(self[10:20])
        d["ethernet_tag"] = _U32.unpack_from(self, 20)[0]
        d["prefix"] = f"{_ip_text(bytes(self[25:25 + a]))}/{self[24]}"
        d["gateway"] = _ip_text(bytes(self[25 + a:25 + 2 * a]))
        d["labels"] = [_u24(self, len(self) - 3)]

    @classmethod
    def build(cls, rd, prefix, label: int = 0, gateway=None, esi=None, ethernet_tag: int = 0):
        net = ipaddress.ip_network(prefix, strict=False)
        a = 4 if net.version == 4 else 16
        gw = _ip_bytes(gateway) if gateway is not None else b"\x00" * a
        if len(gw) != a:
            raise ValueParseError("gateway and prefix must be of the same IP version")
        body = (bytes(RouteDistinguisher(rd)) + _esi(esi) + _U32.pack(ethernet_tag)
                + bytes([net.prefixlen]) + net.network_address.packed + gw
                + _labels_bytes([label]))
        return cls._pack(5, body, cls)


def _walk_addrs(raw: bytes, pos: int, count: int):
    """Read ``count`` (length-in-bits, address) pairs from ``pos``; the codec
    has checked the layout."""
    out = []
    for _ in range(count):
        n = raw[pos] >> 3
        out.append(_ip_text(bytes(raw[pos + 1:pos + 1 + n])))
        pos += 1 + n
    return out, pos


@_plain
class SelectiveMulticastRoute(EvpnRoute):
    """Type 6, RFC 9251 §9.1: RD, Ethernet tag, source, group, originator
    (each length-in-bits + address), flags.  Flags are not part of the key."""
    __slots__ = ()
    route_type = 6
    _addr_start = 14

    @property
    def key(self) -> bytes:
        return bytes(self[:1] + self[2:-1])

    def _fields(self, d):
        if self._addr_start == 24:
            d["esi"] = format_esi(self[10:20])
        d["ethernet_tag"] = _U32.unpack_from(self, self._addr_start - 4)[0]
        (src, grp, orig), pos = _walk_addrs(self, self._addr_start, 3)
        d["source"], d["group"], d["originator_ip"] = src, grp, orig
        if self[0] == 8:
            d["leave_group_synch_seq"] = _U32.unpack_from(self, pos)[0]
            d["max_response_time"] = self[pos + 4]
        d["flags"] = self[-1]


    @staticmethod
    def _addr(a) -> bytes:
        b = _ip_bytes(a)
        return bytes([len(b) * 8]) + b

    @classmethod
    def build(cls, rd, group, originator_ip, source=None, ethernet_tag: int = 0, flags: int = 0,
              esi=None, leave_group_synch_seq: int = 0, max_response_time: int = 0):
        """RFC 9251 §9.1-9.3 (``esi`` for types 7 and 8; the last two fields
        for type 8); ``source`` None is the wildcard (*, G)."""
        if not 0 <= flags <= 255:
            raise ValueParseError(f"flags out of range: {flags}")
        body = bytes(RouteDistinguisher(rd))
        if cls.route_type in (7, 8):
            body += _esi(esi)
        body += (_U32.pack(ethernet_tag) + cls._addr(source) + cls._addr(group)
                 + cls._addr(originator_ip))
        if cls.route_type == 8:
            if not 0 <= max_response_time <= 255:
                raise ValueParseError(f"maximum response time out of range: {max_response_time}")
            body += _U32.pack(leave_group_synch_seq) + bytes([max_response_time])
        return cls._pack(cls.route_type, body + bytes([flags]), cls)


@_plain
class MembershipReportSynchRoute(SelectiveMulticastRoute):
    """Type 7, RFC 9251 §9.2: RD, ESI, Ethernet tag, source, group, originator, flags."""
    __slots__ = ()
    route_type = 7
    _addr_start = 24


@_plain
class LeaveSynchRoute(SelectiveMulticastRoute):
    """Type 8, RFC 9251 §9.3: as type 7 plus Leave Group Synchronization
    number (4) and Maximum Response Time (1) before the flags."""
    __slots__ = ()
    route_type = 8
    _addr_start = 24

    @property
    def key(self) -> bytes:
        return bytes(self[:1] + self[2:-6])


@_plain
class RawEvpnRoute(EvpnRoute):
    """Types 9 and 10 (RFC 9572, RD first), type 11 and unknown types: kept
    whole; the RD is readable for the RD-led ones."""
    __slots__ = ()

    @property
    def route_type(self) -> int:  # type: ignore[override]
        return self[0]

    @property
    def _has_rd(self) -> bool:  # type: ignore[override]
        return self[0] in (9, 10) and len(self) >= 10


class AddPathEvpnRoute:
    """An EVPN route received with an RFC 7911 path identifier: ``path_id``
    and the ``route``; other attributes are the route's."""
    __slots__ = ("path_id", "route")
    afi, safi = Afi.L2VPN, Safi.EVPN

    def __init__(self, path_id: int, route: EvpnRoute):
        self.path_id, self.route = path_id, route

    def __getattr__(self, name):
        if name in AddPathEvpnRoute.__slots__:
            # not set yet (an object made without __init__, e.g. by copy or
            # pickle): looking it up on the route would recurse
            raise AttributeError(name)
        return getattr(self.route, name)

    def __reduce__(self):
        return (AddPathEvpnRoute, (self.path_id, self.route))

    family = property(lambda self: (Afi.L2VPN, Safi.EVPN))
    key = property(lambda self: _U32.pack(self.path_id) + self.route.key)

    def __bytes__(self) -> bytes:
        return _U32.pack(self.path_id) + bytes(self.route)

    def __len__(self) -> int:
        return 4 + len(self.route)

    def __eq__(self, other):
        if isinstance(other, AddPathEvpnRoute):
            return self.key == other.key
        return NotImplemented

    def __hash__(self):
        return hash(self.key)

    def to_dict(self) -> dict:
        d = self.route.to_dict()
        d["path_id"] = self.path_id
        return d

    def __repr__(self) -> str:
        return f"AddPathEvpnRoute(path_id={self.path_id}, {self.route!r})"



#: Route type -> class, the codec's dispatch table.
EVPN_ROUTE_CLASSES = {
    1: EthernetAutoDiscoveryRoute, 2: MacIpRoute, 3: InclusiveMulticastRoute,
    4: EthernetSegmentRoute, 5: IpPrefixRoute, 6: SelectiveMulticastRoute,
    7: MembershipReportSynchRoute, 8: LeaveSynchRoute,
}

__all__ = ["Route", "Ipv4Prefix", "Ipv4PrefixAddPath", "Ipv6Prefix", "Ipv6PrefixAddPath",
           "RawNlri", "EvpnRoute", "EthernetAutoDiscoveryRoute", "MacIpRoute",
           "InclusiveMulticastRoute", "EthernetSegmentRoute", "IpPrefixRoute",
           "SelectiveMulticastRoute", "MembershipReportSynchRoute", "LeaveSynchRoute",
           "RawEvpnRoute", "AddPathEvpnRoute", "EVPN_ROUTE_CLASSES", "EvpnRouteType"]
