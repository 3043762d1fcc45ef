"""Immutable wire values shared by both codec twins: MAC, RD, ESI, extended
communities, labels.

Each is a ``bytes`` subclass holding exactly its wire encoding, so it is
hashable, compact, and ``bytes(value)`` is what goes on the wire.  A ``str``
given to the constructor is parsed in the notation ``str()`` prints.
"""
from __future__ import annotations

import ipaddress
import socket
import struct

from .constants import (TUNNEL_TYPE_NAMES, VNI_TUNNEL_TYPES, ExtCommSubtype, ExtCommType,
                        EsiType, Rfc8365ServiceType, TunnelType)
from .errors import ValueParseError

_new_bytes = bytes.__new__


class _Checked:
    """struct.Struct whose pack raises ValueParseError for out-of-range values."""

    def __init__(self, fmt: str, what: str):
        self._s = struct.Struct(fmt)
        self.unpack_from = self._s.unpack_from
        self.unpack = self._s.unpack
        self.size = self._s.size
        self.what = what

    def pack(self, *values) -> bytes:
        try:
            return self._s.pack(*values)
        except struct.error:
            raise ValueParseError(f"{values[0] if len(values) == 1 else values} does not fit "
                                  f"in {self.what}") from None


_U16 = _Checked("!H", "2 octets")
_U32 = _Checked("!I", "4 octets")


def _fixed(cls, value, size, parse):
    if isinstance(value, str):
        return _new_bytes(cls, parse(value))
    raw = bytes(value)
    if len(raw) != size:
        raise ValueParseError(f"{cls.__name__} needs {size} octets, got {len(raw)}")
    return _new_bytes(cls, raw)


def _hex_octets(text: str, size: int, what: str) -> bytes:
    parts = text.replace("-", ":").replace(".", ":").split(":") if ":" in text or "-" in text \
        else None
    try:
        if parts is not None and len(parts) == size:
            raw = bytes(int(p, 16) for p in parts)
        elif parts is None and len(text) == 2 * size:
            raw = bytes.fromhex(text)
        else:
            raise ValueError
        if len(raw) != size:
            raise ValueError
        return raw
    except ValueError:
        raise ValueParseError(f"not a {what}: {text!r}") from None


_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET


def ip_text(raw: bytes):
    """Text of a 4- or 16-octet address, None for none.  IPv6 is written as
    RFC 5952 says (``ipaddress``), not as the C library's inet_ntop, which
    writes some addresses in the deprecated IPv4-compatible form
    (``::0.1.0.0`` for ``::1:0``) and differs between platforms."""
    if not raw:
        return None
    if len(raw) == 4:
        return _ntop(_AF_INET, raw)
    return str(ipaddress.IPv6Address(bytes(raw)))


class Mac(bytes):
    """A 6-octet IEEE MAC address, printed ``50:54:33:00:00:0a``."""
    __slots__ = ()

    def __new__(cls, value):
        return _fixed(cls, value, 6, lambda t: _parse_mac(t))

    def __str__(self) -> str:
        return ":".join(f"{b:02x}" for b in self)

    def __repr__(self) -> str:
        return f"Mac('{self}')"

    def to_dict(self) -> str:
        return str(self)


def _parse_mac(text: str) -> bytes:
    t = text.strip()
    if "." in t and len(t) == 14:  # Cisco 5054.3300.000a
        t = t.replace(".", "")
    return _hex_octets(t, 6, "MAC address")


def format_mac(raw: bytes) -> str:
    """``50:54:33:00:00:0a`` for six raw octets."""
    return ":".join(f"{b:02x}" for b in raw)


class RouteDistinguisher(bytes):
    """RFC 4364 §4.2 route distinguisher (8 octets).

    Type 0 ``65000:100`` (2-octet AS : 4-octet number), type 1
    ``203.0.113.2:100`` (IPv4 : 2-octet number), type 2 ``4200000000:100``
    (4-octet AS : 2-octet number).  Other types print as ``raw:<hex>``.
    """
    __slots__ = ()

    def __new__(cls, value):
        return _fixed(cls, value, 8, _parse_rd)

    @property
    def type(self) -> int:
        return _U16.unpack_from(self)[0]

    @property
    def administrator(self):
        t = self.type
        if t == 0:
            return _U16.unpack_from(self, 2)[0]
        if t == 1:
            return ipaddress.IPv4Address(self[2:6])
        if t == 2:
            return _U32.unpack_from(self, 2)[0]
        return None

    @property
    def assigned(self):
        t = self.type
        if t == 0:
            return _U32.unpack_from(self, 4)[0]
        if t in (1, 2):
            return _U16.unpack_from(self, 6)[0]
        return None

    def __str__(self) -> str:
        return format_rd(self)

    def __repr__(self) -> str:
        return f"RouteDistinguisher('{self}')"

    def to_dict(self) -> str:
        return str(self)


def format_rd(raw: bytes) -> str:
    """RFC 4364 §4.2 notation of eight raw octets."""
    t = (raw[0] << 8) | raw[1]
    if t == 0:
        return f"{(raw[2] << 8) | raw[3]}:{_U32.unpack_from(raw, 4)[0]}"
    if t == 1:
        return f"{raw[2]}.{raw[3]}.{raw[4]}.{raw[5]}:{(raw[6] << 8) | raw[7]}"
    if t == 2:
        asn = _U32.unpack_from(raw, 2)[0]
        # a 4-octet AS below 65536 keeps its type when printed: 100L:5 (JunOS style)
        return f"{asn}{'L' if asn <= 0xFFFF else ''}:{(raw[6] << 8) | raw[7]}"
    return "raw:" + bytes(raw).hex()


def _parse_rd(text: str) -> bytes:
    t = text.strip()
    if t.startswith("raw:"):
        try:
            raw = bytes.fromhex(t[4:])
        except ValueError:
            raw = b""
        if len(raw) != 8:
            raise ValueParseError(f"not a route distinguisher: {text!r}")
        return raw
    admin, sep, num = t.rpartition(":")
    try:
        if not sep:
            raise ValueError
        n = int(num)
        if "." in admin:
            ip = ipaddress.IPv4Address(admin)
            if not 0 <= n <= 0xFFFF:
                raise ValueError
            return b"\x00\x01" + ip.packed + _U16.pack(n)
        asn = int(admin.rstrip("L"))
        if asn <= 0xFFFF and not admin.endswith("L"):
            if not 0 <= n <= 0xFFFFFFFF:
                raise ValueError
            return b"\x00\x00" + _U16.pack(asn) + _U32.pack(n)
        if not (0 <= asn <= 0xFFFFFFFF and 0 <= n <= 0xFFFF):
            raise ValueError
        return b"\x00\x02" + _U32.pack(asn) + _U16.pack(n)
    except (ValueError, ValueParseError):
        raise ValueParseError(f"not a route distinguisher: {text!r}") from None


class Esi(bytes):
    """RFC 7432 §5 Ethernet Segment Identifier (10 octets), printed as ten
    colon-separated hex octets; ``fields()`` decodes types 0 to 5."""
    __slots__ = ()

    def __new__(cls, value=b"\x00" * 10):
        if isinstance(value, int):
            value = bytes([value]) + b"\x00" * 9 if value == 0 else value
        return _fixed(cls, value, 10, lambda t: _parse_esi(t))

    @property
    def type(self) -> int:
        return self[0]

    def is_zero(self) -> bool:
        """ESI 0: a single-homed site (RFC 7432 §5)."""
        return not any(self)

    def fields(self) -> dict:
        """The type-specific fields of RFC 7432 §5."""
        t = self[0]
        if t == EsiType.ARBITRARY:
            return {"type": 0, "value": self[1:].hex()}
        if t == EsiType.LACP:
            return {"type": 1, "system_mac": format_mac(self[1:7]),
                    "port_key": _U16.unpack_from(self, 7)[0]}
        if t == EsiType.L2_BRIDGE:
            return {"type": 2, "root_bridge_mac": format_mac(self[1:7]),
                    "root_bridge_priority": _U16.unpack_from(self, 7)[0]}
        if t == EsiType.MAC_BASED:
            return {"type": 3, "system_mac": format_mac(self[1:7]),
                    "local_discriminator": int.from_bytes(self[7:10], "big")}
        if t == EsiType.ROUTER_ID:
            return {"type": 4, "router_id": str(ipaddress.IPv4Address(self[1:5])),
                    "local_discriminator": _U32.unpack_from(self, 5)[0]}
        if t == EsiType.AS_BASED:
            return {"type": 5, "as": _U32.unpack_from(self, 1)[0],
                    "local_discriminator": _U32.unpack_from(self, 5)[0]}
        return {"type": t, "value": self[1:].hex()}

    def __str__(self) -> str:
        return format_esi(self)

    def __repr__(self) -> str:
        return f"Esi('{self}')"

    def to_dict(self) -> str:
        return str(self)


def format_esi(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _parse_esi(text: str) -> bytes:
    t = text.strip()
    if t in ("0", "single-homed"):
        return b"\x00" * 10
    return _hex_octets(t, 10, "ESI")


# --- labels ---------------------------------------------------------------

def label_vni(raw: int) -> int:
    """RFC 8365 §5.1.3: for VXLAN/NVGRE the whole 24-bit field is the VNI."""
    return raw & 0xFFFFFF


def label_mpls(raw: int) -> int:
    """RFC 3032 / RFC 7432 §7: the high-order 20 bits are an MPLS label."""
    return (raw >> 4) & 0xFFFFF


def label_kind(ext_communities) -> str:
    """Which meaning the 3-octet label field has, from the route's
    encapsulation extended community (RFC 8365 §5.1.3): ``"vni"`` when it is
    VXLAN, NVGRE, VXLAN-GPE or Geneve, else ``"mpls"`` (RFC 7432 default)."""
    for ec in ext_communities or ():
        tunnel = ec.tunnel_type if isinstance(ec, ExtCommunity) else None
        if tunnel is not None:
            return "vni" if tunnel in VNI_TUNNEL_TYPES else "mpls"
    return "mpls"


def label_value(raw: int, ext_communities) -> int:
    """The label field read as the sender meant it (see ``label_kind``)."""
    return label_vni(raw) if label_kind(ext_communities) == "vni" else label_mpls(raw)


def vni_to_label(vni: int) -> int:
    if not 0 <= vni <= 0xFFFFFF:
        raise ValueParseError(f"VNI out of range: {vni}")
    return vni


def mpls_to_label(label: int, bos: bool = True) -> int:
    if not 0 <= label <= 0xFFFFF:
        raise ValueParseError(f"MPLS label out of range: {label}")
    return (label << 4) | (1 if bos else 0)


# --- extended communities -------------------------------------------------

class ExtCommunity(bytes):
    """An 8-octet extended community (RFC 4360), printed in the notation of
    docs/json-schema.md (``target:65000:100``, ``encapsulation:vxlan``,
    ``mac-mobility:1:sticky``, ...).  Unknown ones print ``raw:<hex>`` and
    re-encode as they came."""
    __slots__ = ()

    def __new__(cls, value):
        return _fixed(cls, value, 8, _parse_ext_community)

    # constructors -----------------------------------------------------
    @classmethod
    def route_target(cls, admin, number: int) -> "ExtCommunity":
        """RFC 4360 §4 / RFC 5668: 2-octet AS, IPv4 or 4-octet AS route target."""
        return cls(_as_or_ip_ec(admin, number, ExtCommSubtype.ROUTE_TARGET))

    @classmethod
    def route_origin(cls, admin, number: int) -> "ExtCommunity":
        return cls(_as_or_ip_ec(admin, number, ExtCommSubtype.ROUTE_ORIGIN))

    @classmethod
    def encapsulation(cls, tunnel_type: int) -> "ExtCommunity":
        """RFC 9012 §4.1 (RFC 8365 §5.1.3 for VXLAN = 8)."""
        return cls(bytes([0x03, 0x0C, 0, 0, 0, 0]) + _U16.pack(tunnel_type))

    @classmethod
    def mac_mobility(cls, sequence: int, sticky: bool = False) -> "ExtCommunity":
        """RFC 7432 §7.7."""
        return cls(bytes([0x06, 0x00, 1 if sticky else 0, 0]) + _U32.pack(sequence))

    @classmethod
    def esi_label(cls, label: int, single_active: bool = False) -> "ExtCommunity":
        """RFC 7432 §7.5."""
        if not 0 <= label <= 0xFFFFFF:
            raise ValueParseError(f"ESI label out of range: {label}")
        return cls(bytes([0x06, 0x01, 1 if single_active else 0, 0, 0])
                   + label.to_bytes(3, "big"))

    @classmethod
    def es_import(cls, mac) -> "ExtCommunity":
        """RFC 7432 §7.6."""
        return cls(bytes([0x06, 0x02]) + bytes(Mac(mac)))

    @classmethod
    def router_mac(cls, mac) -> "ExtCommunity":
        """RFC 9135 §8.1."""
        return cls(bytes([0x06, 0x03]) + bytes(Mac(mac)))

    @classmethod
    def default_gateway(cls) -> "ExtCommunity":
        """RFC 7432 §7.8."""
        return cls(bytes([0x03, 0x0D, 0, 0, 0, 0, 0, 0]))

    @classmethod
    def layer2_attributes(cls, flags: int, mtu: int) -> "ExtCommunity":
        """RFC 8214 §3.1."""
        return cls(bytes([0x06, 0x04]) + _U16.pack(flags) + _U16.pack(mtu) + b"\x00\x00")

    @classmethod
    def df_election(cls, algorithm: int, bitmap: int) -> "ExtCommunity":
        """RFC 8584 §2.2."""
        if not 0 <= algorithm <= 255:
            raise ValueParseError(f"DF election algorithm out of range: {algorithm}")
        return cls(bytes([0x06, 0x06, algorithm]) + _U16.pack(bitmap) + b"\x00\x00\x00")

    @classmethod
    def arp_nd(cls, flags: int) -> "ExtCommunity":
        """RFC 9047 §3."""
        if not 0 <= flags <= 255:
            raise ValueParseError(f"ARP/ND flags out of range: {flags}")
        return cls(bytes([0x06, 0x08, flags, 0, 0, 0, 0, 0]))

    # views ------------------------------------------------------------
    @property
    def type(self) -> int:
        return self[0]

    @property
    def subtype(self) -> int:
        return self[1]

    @property
    def is_route_target(self) -> bool:
        return self[1] == ExtCommSubtype.ROUTE_TARGET and (self[0] & 0x3F) in (0, 1, 2)

    @property
    def tunnel_type(self):
        """The tunnel type of an encapsulation community, else None."""
        if self[0] == ExtCommType.TRANSITIVE_OPAQUE and self[1] == ExtCommSubtype.ENCAPSULATION:
            return _U16.unpack_from(self, 6)[0]
        return None

    @property
    def mac_mobility_sequence(self):
        if self[0] == ExtCommType.EVPN and self[1] == ExtCommSubtype.MAC_MOBILITY:
            return _U32.unpack_from(self, 4)[0]
        return None

    @property
    def sticky(self) -> bool:
        return (self[0] == ExtCommType.EVPN and self[1] == ExtCommSubtype.MAC_MOBILITY
                and bool(self[2] & 1))

    def __str__(self) -> str:
        return format_ext_community(self)

    def __repr__(self) -> str:
        return f"ExtCommunity('{self}')"

    def to_dict(self) -> str:
        return str(self)


def _as_or_ip_ec(admin, number: int, subtype: int) -> bytes:
    if isinstance(admin, str) and "." in admin:
        if not 0 <= number <= 0xFFFF:
            raise ValueParseError(f"IPv4-specific community number out of range: {number}")
        return bytes([0x01, subtype]) + ipaddress.IPv4Address(admin).packed + _U16.pack(number)
    four = isinstance(admin, str) and admin.endswith("L")
    asn = int(admin[:-1] if four else admin)
    if asn < 0 or number < 0:
        raise ValueParseError(f"negative value in community {admin}:{number}")
    if asn <= 0xFFFF and not four:
        if not 0 <= number <= 0xFFFFFFFF:
            raise ValueParseError(f"community number out of range: {number}")
        return bytes([0x00, subtype]) + _U16.pack(asn) + _U32.pack(number)
    if not (asn <= 0xFFFFFFFF and 0 <= number <= 0xFFFF):
        raise ValueParseError(f"4-octet AS community out of range: {asn}:{number}")
    return bytes([0x02, subtype]) + _U32.pack(asn) + _U16.pack(number)


_TUNNEL_BY_NAME = {v: k for k, v in TUNNEL_TYPE_NAMES.items()}


def format_ext_community(raw: bytes) -> str:
    """docs/json-schema.md notation of one 8-octet extended community."""
    t, s = raw[0], raw[1]
    base = t & 0x3F  # the non-transitive bit does not change the layout
    if s in (ExtCommSubtype.ROUTE_TARGET, ExtCommSubtype.ROUTE_ORIGIN) and base in (0, 1, 2) \
            and t in (0, 1, 2):
        kind = "target" if s == ExtCommSubtype.ROUTE_TARGET else "origin"
        if t == 0:
            return f"{kind}:{(raw[2] << 8) | raw[3]}:{_U32.unpack_from(raw, 4)[0]}"
        if t == 1:
            return f"{kind}:{raw[2]}.{raw[3]}.{raw[4]}.{raw[5]}:{(raw[6] << 8) | raw[7]}"
        asn = _U32.unpack_from(raw, 2)[0]
        # RFC 5668 with an AS below 65536 keeps its type when printed: 100L:5
        return f"{kind}:{asn}{'L' if asn <= 0xFFFF else ''}:{(raw[6] << 8) | raw[7]}"
    if t == ExtCommType.TRANSITIVE_OPAQUE:
        if s == ExtCommSubtype.ENCAPSULATION:
            tt = (raw[6] << 8) | raw[7]
            return f"encapsulation:{TUNNEL_TYPE_NAMES.get(tt, tt)}"
        if s == ExtCommSubtype.DEFAULT_GATEWAY:
            return "default-gateway"
    if t == ExtCommType.EVPN:
        if s == ExtCommSubtype.MAC_MOBILITY:
            seq = _U32.unpack_from(raw, 4)[0]
            return f"mac-mobility:{seq}:sticky" if raw[2] & 1 else f"mac-mobility:{seq}"
        if s == ExtCommSubtype.ESI_LABEL:
            label = int.from_bytes(raw[5:8], "big")
            return f"esi-label:{label}:single-active" if raw[2] & 1 else f"esi-label:{label}"
        if s == ExtCommSubtype.ES_IMPORT_RT:
            return "es-import:" + format_mac(raw[2:8])
        if s == ExtCommSubtype.ROUTERS_MAC:
            return "router-mac:" + format_mac(raw[2:8])
        if s == ExtCommSubtype.LAYER2_ATTRIBUTES:
            return f"l2-attributes:{_U16.unpack_from(raw, 2)[0]}:{_U16.unpack_from(raw, 4)[0]}"
        if s == ExtCommSubtype.DF_ELECTION:
            return f"df-election:{raw[2]}:{_U16.unpack_from(raw, 3)[0]}"
        if s == ExtCommSubtype.ARP_ND:
            return f"nd:{raw[2]}"
    return "raw:" + bytes(raw).hex()


def _parse_ext_community(text: str) -> bytes:
    t = text.strip()
    kind, _, rest = t.partition(":")
    try:
        if kind in ("target", "rt", "RT", "origin", "soo"):
            admin, _, num = rest.rpartition(":")
            sub = ExtCommSubtype.ROUTE_TARGET if kind in ("target", "rt", "RT") \
                else ExtCommSubtype.ROUTE_ORIGIN
            return _as_or_ip_ec(admin, int(num), sub)
        if kind == "encapsulation":
            tt = _TUNNEL_BY_NAME.get(rest)
            return bytes(ExtCommunity.encapsulation(tt if tt is not None else int(rest)))
        if kind == "mac-mobility":
            seq, _, flag = rest.partition(":")
            if flag not in ("", "sticky"):
                raise ValueError
            return bytes(ExtCommunity.mac_mobility(int(seq), flag == "sticky"))
        if kind == "esi-label":
            label, _, flag = rest.partition(":")
            if flag not in ("", "single-active"):
                raise ValueError
            return bytes(ExtCommunity.esi_label(int(label), flag == "single-active"))
        if kind == "es-import":
            return bytes(ExtCommunity.es_import(rest))
        if kind == "router-mac":
            return bytes(ExtCommunity.router_mac(rest))
        if kind == "default-gateway" and not rest:
            return bytes(ExtCommunity.default_gateway())
        if kind == "l2-attributes":
            flags, mtu = rest.split(":")
            return bytes(ExtCommunity.layer2_attributes(int(flags), int(mtu)))
        if kind == "df-election":
            alg, bitmap = rest.split(":")
            return bytes(ExtCommunity.df_election(int(alg), int(bitmap)))
        if kind == "nd":
            return bytes(ExtCommunity.arp_nd(int(rest)))
        if kind == "raw":
            raw = bytes.fromhex(rest)
            if len(raw) == 8:
                return raw
    except (ValueError, OverflowError, ValueParseError, ipaddress.AddressValueError):
        pass
    raise ValueParseError(f"not an extended community: {text!r}")


# --- RFC 8365 §5.1.2.1 auto-derived route targets -------------------------

def auto_route_target(asn: int, vni: int, service: int = Rfc8365ServiceType.VXLAN,
                      domain_id: int = 0) -> ExtCommunity:
    """The route target an RFC 8365 §5.1.2.1 NVE derives for a VNI.

    Global administrator: the 2-octet AS.  Local administrator: A bit (0 =
    auto-derived), 3-bit Type (1 = VXLAN), 4-bit D-ID, 24-bit service id (the
    VNI).  65000 + VXLAN VNI 100 gives ``target:65000:268435556``.
    """
    if not 0 <= asn <= 0xFFFF:
        raise ValueParseError("RFC 8365 auto-derivation needs a 2-octet AS "
                              "(use the low-order 16 bits of a 4-octet AS)")
    if not (0 <= vni <= 0xFFFFFF and 0 <= service <= 7 and 0 <= domain_id <= 15):
        raise ValueParseError("VNI, type or domain id out of range")
    local = (service << 28) | (domain_id << 24) | vni
    return ExtCommunity.route_target(asn, local)


def parse_auto_route_target(rt) -> dict | None:
    """The inverse of ``auto_route_target``: ``{"as", "type", "domain_id",
    "vni", "auto"}`` for a 2-octet-AS route target, or None for other ones.
    ``auto`` is the A bit read as RFC 8365 defines it (False when set)."""
    raw = bytes(rt) if not isinstance(rt, str) else bytes(ExtCommunity(rt))
    if len(raw) != 8 or raw[0] != 0x00 or raw[1] != ExtCommSubtype.ROUTE_TARGET:
        return None
    local = _U32.unpack_from(raw, 4)[0]
    return {"as": (raw[2] << 8) | raw[3], "auto": not local >> 31,
            "type": (local >> 28) & 0x7, "domain_id": (local >> 24) & 0xF,
            "vni": local & 0xFFFFFF}


__all__ = ["Mac", "RouteDistinguisher", "Esi", "ExtCommunity", "label_vni", "label_mpls",
           "label_kind", "label_value", "vni_to_label", "mpls_to_label", "auto_route_target",
           "parse_auto_route_target", "format_mac", "format_rd", "format_esi",
           "format_ext_community", "TunnelType"]
