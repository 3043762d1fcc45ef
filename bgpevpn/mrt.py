"""MRT routing information export format: RFC 6396, with RFC 8050 (ADD-PATH).

Reading: ``MrtReader(path_or_fileobj)`` (or ``read_mrt``/``iter_mrt``) yields one
``MrtRecord`` per record of a plain, gzip, bzip2 or xz file.  BGP4MP and
BGP4MP_ET messages are decoded with the bgpevpn codec under the context their
subtype fixes (AS4 subtypes: 4-octet AS numbers, RFC 6396 §4.4.3; ADDPATH
subtypes: path identifiers, RFC 8050 §3); TABLE_DUMP_V2 RIB entries have their
attributes decoded with 4-octet AS numbers (RFC 6396 §4.3.4), the abbreviated
MP_REACH_NLRI (next hop length and next hop only) included.  Other types and
subtypes are kept raw.

Writing: ``MrtWriter(fileobj)`` re-encodes decoded records byte for byte
(``write``) and builds new ones (``write_bgp4mp_message``, ``write_state_change``,
``write_peer_index_table``, ``write_rib_entry``, ``dump_rib``).

Structural errors (truncation, lengths that do not fit) raise ``MrtError`` with
the byte offset in the (decompressed) file; a BGP message that the codec rejects
is kept with its ``BGPError`` in ``record.error``.
"""
from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import ipaddress
import lzma
import os
import socket
import struct
import zlib
from collections.abc import Iterable, Iterator
from enum import IntEnum
from typing import NamedTuple

from . import wire
from .attributes import (
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    Attributes,
    NextHop,
    format_next_hop,
)
from .constants import AttrType, ErrorAction, afi_name, safi_name
from .context import Context
from .errors import BGPError
from .messages import Message
from .routes import AddPathEvpnRoute, Ipv4PrefixAddPath, Ipv6PrefixAddPath, RawNlri

__all__ = ["Bgp4mpMessage", "Bgp4mpStateChange", "Bgp4mpSubtype", "MrtError", "MrtReader",
           "MrtRecord", "MrtType", "MrtWriter", "PeerEntry", "PeerIndexTable", "RibDumpEntry",
           "RibEntry", "RibGeneric", "RibRecord", "TableDumpRecord", "TableDumpV2Subtype",
           "UnknownRecord", "decode_mrt_record", "decode_rib_attributes",
           "encode_rib_attributes", "iter_mrt", "read_mrt"]

HEADER_LEN = 12                 # RFC 6396 §2: timestamp, type, subtype, length
_HEADER = struct.Struct("!IHHI")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_CHUNK = 1 << 20


class MrtType(IntEnum):
    """RFC 6396 §4 record types."""
    OSPF2 = 11
    TABLE_DUMP = 12
    TABLE_DUMP_V2 = 13
    BGP4MP = 16
    BGP4MP_ET = 17
    ISIS = 32
    ISIS_ET = 33
    OSPF3 = 48
    OSPF3_ET = 49


#: RFC 6396 §3: these types carry a 4-octet microsecond field after the header.
ET_TYPES = frozenset({MrtType.BGP4MP_ET, MrtType.ISIS_ET, MrtType.OSPF3_ET})


class Bgp4mpSubtype(IntEnum):
    """RFC 6396 §4.4 and RFC 8050 §3."""
    STATE_CHANGE = 0
    MESSAGE = 1
    MESSAGE_AS4 = 4
    STATE_CHANGE_AS4 = 5
    MESSAGE_LOCAL = 6
    MESSAGE_AS4_LOCAL = 7
    MESSAGE_ADDPATH = 8
    MESSAGE_AS4_ADDPATH = 9
    MESSAGE_LOCAL_ADDPATH = 10
    MESSAGE_AS4_LOCAL_ADDPATH = 11


class TableDumpV2Subtype(IntEnum):
    """RFC 6396 §4.3 and RFC 8050 §4."""
    PEER_INDEX_TABLE = 1
    RIB_IPV4_UNICAST = 2
    RIB_IPV4_MULTICAST = 3
    RIB_IPV6_UNICAST = 4
    RIB_IPV6_MULTICAST = 5
    RIB_GENERIC = 6
    RIB_IPV4_UNICAST_ADDPATH = 8
    RIB_IPV4_MULTICAST_ADDPATH = 9
    RIB_IPV6_UNICAST_ADDPATH = 10
    RIB_IPV6_MULTICAST_ADDPATH = 11
    RIB_GENERIC_ADDPATH = 12


#: BGP4MP message subtype -> (as4, local, addpath).
_MESSAGE_SUBTYPES = {1: (False, False, False), 4: (True, False, False),
                     6: (False, True, False), 7: (True, True, False),
                     8: (False, False, True), 9: (True, False, True),
                     10: (False, True, True), 11: (True, True, True)}
_MESSAGE_SUBTYPE_OF = {v: k for k, v in _MESSAGE_SUBTYPES.items()}
#: TABLE_DUMP_V2 AFI/SAFI-specific RIB subtype -> (afi, safi, addpath).
_RIB_SUBTYPES = {2: (1, 1, False), 3: (1, 2, False), 4: (2, 1, False), 5: (2, 2, False),
                 8: (1, 1, True), 9: (1, 2, True), 10: (2, 1, True), 11: (2, 2, True)}
_RIB_SUBTYPE_OF = {v: k for k, v in _RIB_SUBTYPES.items()}
#: RFC 4271 §8.2.2 states, as numbered in RFC 6396 §4.4.1.
BGP_STATE_NAMES = {1: "idle", 2: "connect", 3: "active", 4: "open-sent", 5: "open-confirm",
                   6: "established"}
#: Families whose NLRI the codec reads with an RFC 7911 path identifier: the
#: ADDPATH subtypes (RFC 8050) put one before every NLRI of the message.
ADD_PATH_FAMILIES = frozenset({(1, 1), (2, 1), (25, 70), (1, 2), (2, 2)})
_ADDR_LEN = {1: 4, 2: 16}


class MrtError(ValueError):
    """Malformed MRT input; ``offset`` is the byte offset in the (decompressed) file."""

    def __init__(self, reason: str, offset: int | None = None):
        self.reason, self.offset = reason, offset
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"MRT: {reason}{where}")

    def to_dict(self) -> dict:
        return {"error": self.reason, "offset": self.offset}

    def __reduce__(self):
        return (type(self), (self.reason, self.offset))


# --- small helpers -------------------------------------------------------------------

def _need(buf, pos: int, n: int, end: int, what: str) -> None:
    """Raise unless ``n`` octets of ``what`` fit between ``pos`` and ``end``."""
    if end - pos < n:
        raise MrtError(f"{what} needs {n} octets, {max(end - pos, 0)} left", pos)


def _ip(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def _ip_bytes(addr) -> bytes:
    if isinstance(addr, (bytes, bytearray)):
        return bytes(addr)
    return ipaddress.ip_address(addr).packed


def _afi_of(*addrs) -> int:
    sizes = {len(_ip_bytes(a)) for a in addrs}
    if len(sizes) != 1:
        raise ValueError("peer and local addresses must be of the same IP version")
    return 1 if sizes.pop() == 4 else 2


def _split_time(time) -> tuple:
    """(seconds, microseconds) of a POSIX time given as int or float."""
    seconds = int(time)
    micros = round((time - seconds) * 1_000_000)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    return seconds, micros


def _prefix_octets(plen: int) -> int:
    return (plen + 7) >> 3


def _decode_bgp(data: bytes, ctx: Context) -> tuple:
    """(message, error): the codec's message, or its BGPError (with the partly
    decoded UPDATE when RFC 7606 allowed one)."""
    try:
        return wire.decode_message(data, ctx), None
    except BGPError as exc:
        return getattr(exc, "update", None), exc


# --- RIB entry attributes (RFC 6396 §4.3.4) ---------------------------------------------

def _walk_attributes(data: bytes):
    """(flags, code, value start, value end, attribute start) of each attribute, or
    None when the headers do not chain (the codec then reports the error)."""
    out, pos, end = [], 0, len(data)
    while pos < end:
        if end - pos < 3:
            return None
        flags, code = data[pos], data[pos + 1]
        if flags & 0x10:
            if end - pos < 4:
                return None
            vstart, alen = pos + 4, _U16.unpack_from(data, pos + 2)[0]
        else:
            vstart, alen = pos + 3, data[pos + 2]
        if vstart + alen > end:
            return None
        out.append((flags, code, vstart, vstart + alen, pos))
        pos = vstart + alen
    return out


def _attribute_bytes(flags: int, code: int, value: bytes) -> bytes:
    if len(value) > 255:
        flags |= 0x10
    if flags & 0x10:
        return bytes([flags, code]) + _U16.pack(len(value)) + value
    return bytes([flags, code, len(value)]) + value


def _expand_mp_reach(data: bytes, afi: int, safi: int) -> tuple:
    """(attribute octets with an RFC 4760 MP_REACH_NLRI, abbreviated?): RFC 6396
    §4.3.4 keeps only the next hop length and next hop in RIB entries; the codec
    reads the full form, so AFI, SAFI and the reserved octet are put back."""
    walked = _walk_attributes(data)
    if walked is None:
        return data, False
    for flags, code, vstart, vend, start in walked:
        if code != AttrType.MP_REACH_NLRI:
            continue
        value = data[vstart:vend]
        if not value or value[0] + 1 != len(value):
            return data, False
        full = _U16.pack(afi) + bytes([safi]) + value + b"\x00"
        return data[:start] + _attribute_bytes(flags, code, full) + data[vend:], True
    return data, False


def decode_rib_attributes(data: bytes, afi: int, safi: int, four_octet_as: bool = True):
    """(Attributes, errors) of one RIB entry's attribute octets.

    RFC 6396 §4.3.4: AS numbers are 4 octets (TABLE_DUMP_V2) and MP_REACH_NLRI may
    hold only the next hop, read for ``afi``/``safi``.  RFC 7606 errors are listed
    in ``errors`` (the attribute left out); an error that leaves the attributes
    unreadable gives no attributes and that one error.
    """
    expanded, _abbreviated = _expand_mp_reach(bytes(data), afi, safi)
    ctx = Context(four_octet_as=four_octet_as, extended_message=True)
    try:
        items, errors = wire.decode_attributes(expanded, 0, len(expanded), ctx)
    except BGPError as exc:
        return Attributes(()), [exc]
    return Attributes(items), [err for _code, err in errors]


def _next_hop_octets(next_hop) -> bytes:
    if next_hop is None:
        return b""
    return wire.next_hop_bytes(next_hop)


def _canonical_attribute(attr):
    """AS_PATH and AGGREGATOR re-encoded from their values: their ``raw`` octets may
    hold 2-octet AS numbers (from a BGP4MP_MESSAGE), and RIB entries need 4."""
    if isinstance(attr, (AsPath, Aggregator)) and not isinstance(attr, (As4Path, As4Aggregator)):
        return type(attr)(attr.value, attr.flags)
    return attr


def encode_rib_attributes(attributes, next_hop=None, afi: int = 1, safi: int = 1,
                          full_mp_reach: bool = False) -> bytes:
    """Attribute octets of a TABLE_DUMP_V2 RIB entry (RFC 6396 §4.3.4).

    MP_REACH/MP_UNREACH of ``attributes`` are dropped; the next hop (``next_hop``,
    else the one of ``attributes``) goes into NEXT_HOP for IPv4 unicast with an
    IPv4 next hop, and into an MP_REACH_NLRI otherwise, placed by attribute type
    code: abbreviated to next hop length and next hop as RFC 6396 §4.3.4 says, or
    with ``full_mp_reach`` in the RFC 4760 form without NLRI that GoBGP (and
    Quagga) read and write instead.  AS numbers are written in 4 octets.
    """
    items = list(attributes.items if isinstance(attributes, Attributes) else attributes)
    if next_hop is None:
        next_hop = _attributes_next_hop(items)
    nh = _next_hop_octets(next_hop)
    kept = [_canonical_attribute(a) for a in items
            if a.code not in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI)]
    has_classic = any(a.code == AttrType.NEXT_HOP for a in kept)
    mp = None
    if (afi, safi) in ((1, 1), (1, 2)) and len(nh) == 4:
        if not has_classic:
            kept.append(NextHop(_ip(nh)))
    elif nh:
        value = bytes([len(nh)]) + nh
        if full_mp_reach:
            value = _U16.pack(afi) + bytes([safi]) + value + b"\x00"
        mp = _attribute_bytes(0x80, AttrType.MP_REACH_NLRI, value)
    ctx = Context(four_octet_as=True, extended_message=True)
    out = []
    for attr in sorted(kept, key=lambda a: a.code):
        if mp is not None and attr.code > AttrType.MP_REACH_NLRI:
            out.append(mp)
            mp = None
        out.append(wire.encode_attribute(attr, ctx))
    if mp is not None:
        out.append(mp)
    return b"".join(out)


def _attributes_next_hop(items):
    for a in items:
        if a.code == AttrType.MP_REACH_NLRI:
            return bytes(a.value.next_hop)
    for a in items:
        if a.code == AttrType.NEXT_HOP:
            return a.value
    return None


# --- records ------------------------------------------------------------------------------

class MrtRecord:
    """Common base: ``seconds``, ``microseconds`` (None unless an _ET type),
    ``mrt_type``, ``subtype``; ``encode()`` gives the record's bytes."""
    mrt_type = -1
    subtype = -1

    def __init__(self, seconds: int, microseconds: int | None = None):
        self.seconds, self.microseconds = seconds, microseconds

    @property
    def timestamp(self) -> float:
        return self.seconds + (self.microseconds or 0) / 1e6

    @property
    def type_name(self) -> str:
        try:
            return MrtType(self.mrt_type).name
        except ValueError:
            return str(self.mrt_type)

    @property
    def subtype_name(self) -> str:
        enum = {MrtType.BGP4MP: Bgp4mpSubtype, MrtType.BGP4MP_ET: Bgp4mpSubtype,
                MrtType.TABLE_DUMP_V2: TableDumpV2Subtype}.get(self.mrt_type)
        try:
            return enum(self.subtype).name if enum is not None else str(self.subtype)
        except ValueError:
            return str(self.subtype)

    def body(self) -> bytes:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def encode(self) -> bytes:
        """RFC 6396 §2/§3 header (the microsecond field counted in the length), body."""
        body = self.body()
        if self.microseconds is not None:
            body = _U32.pack(self.microseconds) + body
        return _HEADER.pack(self.seconds, self.mrt_type, self.subtype, len(body)) + body

    def describe(self) -> str:
        return ""

    def _head(self) -> dict:
        return {"mrt_type": self.type_name, "subtype": self.subtype_name,
                "timestamp": self.timestamp}

    def to_dict(self) -> dict:
        return self._head()

    def __eq__(self, other):
        if not isinstance(other, MrtRecord):
            return NotImplemented
        return self.encode() == other.encode()

    __hash__ = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type_name}/{self.subtype_name} {self.describe()})"


class UnknownRecord(MrtRecord):
    """A type or subtype not decoded here, kept raw (``data`` is the body after any
    microsecond field); ``error`` is set when a non-strict reader could not decode it."""

    def __init__(self, seconds, mrt_type, subtype, data, microseconds=None, error=None):
        super().__init__(seconds, microseconds)
        self.mrt_type, self.subtype, self.data, self.error = mrt_type, subtype, bytes(data), error

    def body(self) -> bytes:
        return self.data

    def to_dict(self) -> dict:
        d = self._head()
        d["data"] = self.data.hex()
        if self.error is not None:
            d["error"] = self.error.to_dict()
        return d


class _Bgp4mpPeer(MrtRecord):
    """The peer part of RFC 6396 §4.4.1-4.4.3: AS numbers, interface, AFI, addresses."""

    def __init__(self, seconds, subtype, peer_as, local_as, peer_ip, local_ip, ifindex=0,
                 microseconds=None):
        super().__init__(seconds, microseconds)
        self.mrt_type = MrtType.BGP4MP_ET if microseconds is not None else MrtType.BGP4MP
        self.subtype, self.peer_as, self.local_as = subtype, peer_as, local_as
        self.peer_ip, self.local_ip, self.ifindex = peer_ip, local_ip, ifindex
        self.afi = _afi_of(peer_ip, local_ip)

    as4 = property(lambda self: self.subtype in (4, 5, 7, 9, 11))

    def _peer_body(self) -> bytes:
        asf = "!II" if self.as4 else "!HH"
        return (struct.pack(asf, self.peer_as, self.local_as)
                + struct.pack("!HH", self.ifindex, self.afi)
                + _ip_bytes(self.peer_ip) + _ip_bytes(self.local_ip))

    def describe(self) -> str:
        return f"{self.peer_ip} AS{self.peer_as}"

    def _peer_dict(self) -> dict:
        d = self._head()
        d.update(peer_as=self.peer_as, local_as=self.local_as, interface_index=self.ifindex,
                 afi=afi_name(self.afi), peer_ip=self.peer_ip, local_ip=self.local_ip)
        return d


class Bgp4mpStateChange(_Bgp4mpPeer):
    """RFC 6396 §4.4.1 STATE_CHANGE / §4.4.4 STATE_CHANGE_AS4."""

    def __init__(self, seconds, subtype, peer_as, local_as, peer_ip, local_ip, old_state,
                 new_state, ifindex=0, microseconds=None):
        super().__init__(seconds, subtype, peer_as, local_as, peer_ip, local_ip, ifindex,
                         microseconds)
        self.old_state, self.new_state = old_state, new_state

    def body(self) -> bytes:
        return self._peer_body() + struct.pack("!HH", self.old_state, self.new_state)

    def to_dict(self) -> dict:
        d = self._peer_dict()
        d.update(old_state=BGP_STATE_NAMES.get(self.old_state, self.old_state),
                 new_state=BGP_STATE_NAMES.get(self.new_state, self.new_state))
        return d


class Bgp4mpMessage(_Bgp4mpPeer):
    """RFC 6396 §4.4.2/§4.4.3 (and the _LOCAL and RFC 8050 _ADDPATH variants): one
    whole BGP message in ``data``; ``message`` is it decoded under ``context``
    (None, or the partial UPDATE, when ``error`` holds the codec's BGPError)."""

    def __init__(self, seconds, subtype, peer_as, local_as, peer_ip, local_ip, data,
                 ifindex=0, microseconds=None):
        super().__init__(seconds, subtype, peer_as, local_as, peer_ip, local_ip, ifindex,
                         microseconds)
        self.data = bytes(data)
        self.message, self.error = _decode_bgp(self.data, self.context)

    local = property(lambda self: _MESSAGE_SUBTYPES[self.subtype][1])
    addpath = property(lambda self: _MESSAGE_SUBTYPES[self.subtype][2])

    @property
    def context(self) -> Context:
        """AS4 subtypes: 4-octet AS_PATH (RFC 6396 §4.4.3); ADDPATH subtypes: path
        identifiers before every NLRI (RFC 8050 §3)."""
        return Context(four_octet_as=self.as4,
                       add_path=ADD_PATH_FAMILIES if self.addpath else frozenset(),
                       extended_message=True)

    def body(self) -> bytes:
        return self._peer_body() + self.data

    def to_dict(self) -> dict:
        d = self._peer_dict()
        d["bgp"] = self.message.to_dict() if self.message is not None else None
        if self.error is not None:
            d["bgp_error"] = self.error.to_dict()
        return d


class PeerEntry(NamedTuple):
    """RFC 6396 §4.3.1 peer entry; ``peer_type`` bit 0: IPv6 address, bit 1: 4-octet AS."""
    bgp_id: str
    address: str
    asn: int
    peer_type: int = 2

    def to_dict(self) -> dict:
        return {"bgp_id": self.bgp_id, "address": self.address, "as": self.asn,
                "as4": bool(self.peer_type & 2)}


def make_peer_entry(bgp_id, address, asn: int) -> PeerEntry:
    """A peer entry with the type bits its address and AS number need."""
    ipv6 = len(_ip_bytes(address)) == 16
    return PeerEntry(str(bgp_id), str(address), asn, (1 if ipv6 else 0) | 2)


class PeerIndexTable(MrtRecord):
    """RFC 6396 §4.3.1: collector BGP ID, view name, peers (indexed by RIB entries)."""
    mrt_type = MrtType.TABLE_DUMP_V2
    subtype = TableDumpV2Subtype.PEER_INDEX_TABLE

    def __init__(self, seconds, collector_id, view_name, peers, microseconds=None):
        super().__init__(seconds, microseconds)
        self.collector_id, self.view_name = collector_id, view_name
        self.peers = [p if isinstance(p, PeerEntry) else make_peer_entry(*p) for p in peers]

    def body(self) -> bytes:
        view = self.view_name.encode("utf-8", "surrogateescape") \
            if isinstance(self.view_name, str) else bytes(self.view_name)
        out = [_ip_bytes(self.collector_id), _U16.pack(len(view)), view,
               _U16.pack(len(self.peers))]
        for p in self.peers:
            ipv6, as4 = p.peer_type & 1, p.peer_type & 2
            addr = _ip_bytes(p.address)
            if len(addr) != (16 if ipv6 else 4):
                raise ValueError(f"peer {p.address} does not match its type bits {p.peer_type}")
            out += [bytes([p.peer_type]), _ip_bytes(p.bgp_id), addr,
                    _U32.pack(p.asn) if as4 else _U16.pack(p.asn)]
        return b"".join(out)

    def describe(self) -> str:
        return f"collector {self.collector_id}" + (f" view {self.view_name}"
                                                    if self.view_name else "")

    def to_dict(self) -> dict:
        d = self._head()
        d.update(collector_id=self.collector_id, view_name=self.view_name,
                 peers=[p.to_dict() for p in self.peers])
        return d


class RibEntry:
    """RFC 6396 §4.3.4 RIB entry (RFC 8050 §4.1: with a path identifier).

    ``attr_data`` is the attribute octets as in the file; ``attributes`` and
    ``errors`` are their decode (``decode_rib_attributes``); ``peer`` is the
    ``PeerEntry`` of ``peer_index`` once a reader has seen the PEER_INDEX_TABLE.
    """
    __slots__ = (
        "attr_data",
        "attributes",
        "errors",
        "originated_time",
        "path_id",
        "peer",
        "peer_index",
    )

    def __init__(self, peer_index, originated_time, attr_data, path_id=None, afi=1, safi=1):
        self.peer_index, self.originated_time, self.path_id = peer_index, originated_time, path_id
        self.attr_data = bytes(attr_data)
        self.attributes, self.errors = decode_rib_attributes(self.attr_data, afi, safi)
        self.peer = None

    @classmethod
    def build(cls, peer_index: int, attributes=(), next_hop=None, originated_time: int = 0,
              path_id=None, afi: int = 1, safi: int = 1,
              full_mp_reach: bool = False) -> RibEntry:
        """An entry from attribute objects (``encode_rib_attributes``)."""
        data = encode_rib_attributes(attributes, next_hop, afi, safi, full_mp_reach)
        return cls(peer_index, originated_time, data, path_id, afi, safi)

    @property
    def next_hop(self):
        """(address, link-local or None) from MP_REACH_NLRI, else NEXT_HOP."""
        mp = self.attributes.mp_reach
        if mp is not None:
            return format_next_hop(bytes(mp.next_hop))
        return (self.attributes.next_hop, None)

    def encode(self, with_path_id: bool) -> bytes:
        head = _U16.pack(self.peer_index) + _U32.pack(self.originated_time)
        if with_path_id:
            head += _U32.pack(self.path_id or 0)
        return head + _U16.pack(len(self.attr_data)) + self.attr_data

    def to_dict(self) -> dict:
        nh, ll = self.next_hop
        d = {"peer_index": self.peer_index, "originated_time": self.originated_time}
        if self.peer is not None:
            d["peer"] = self.peer.to_dict()
        if self.path_id is not None:
            d["path_id"] = self.path_id
        d.update(next_hop=nh, attributes=self.attributes.to_dict())
        if ll is not None:
            d["next_hop_link_local"] = ll
        if self.errors:
            d["errors"] = [e.to_dict() for e in self.errors]
        return d

    def __repr__(self) -> str:
        return f"RibEntry(peer_index={self.peer_index}, next_hop={self.next_hop[0]})"


class _RibBase(MrtRecord):
    mrt_type = MrtType.TABLE_DUMP_V2

    def _entries_body(self, with_path_id: bool) -> bytes:
        return _U16.pack(len(self.entries)) + b"".join(e.encode(with_path_id)
                                                       for e in self.entries)

    def describe(self) -> str:
        peers = [f"{e.peer.address} AS{e.peer.asn}" if e.peer is not None
                 else f"peer index {e.peer_index}" for e in self.entries]
        return ", ".join(peers)

    def _rib_dict(self) -> dict:
        d = self._head()
        d.update(sequence=self.sequence, afi=afi_name(self.afi), safi=safi_name(self.safi))
        return d


class RibRecord(_RibBase):
    """RFC 6396 §4.3.2 RIB_IPV4/IPV6_UNICAST/MULTICAST and the RFC 8050 §4.1 ADDPATH
    variants: one prefix (``nlri``: length octet and address octets) and its entries."""

    def __init__(self, seconds, subtype, sequence, nlri, entries, microseconds=None):
        super().__init__(seconds, microseconds)
        self.subtype, self.sequence, self.nlri = subtype, sequence, bytes(nlri)
        self.afi, self.safi, self.addpath = _RIB_SUBTYPES[subtype]
        self.entries = list(entries)

    @property
    def prefix(self) -> str:
        size = _ADDR_LEN[self.afi]
        raw = self.nlri[1:].ljust(size, b"\x00")[:size]
        return f"{_ip(raw)}/{self.nlri[0]}"

    def routes(self) -> list:
        """One route object per entry, with its path id for the ADDPATH subtypes
        (multicast prefixes come back as the unicast classes: same encoding)."""
        out = []
        for e in self.entries:
            data = (_U32.pack(e.path_id or 0) + self.nlri) if self.addpath else self.nlri
            out += wire.decode_prefixes(data, 0, len(data), _ADDR_LEN[self.afi], self.addpath,
                                        ErrorAction.AFI_SAFI_DISABLE)
        return out

    def body(self) -> bytes:
        return _U32.pack(self.sequence) + self.nlri + self._entries_body(self.addpath)

    def to_dict(self) -> dict:
        d = self._rib_dict()
        d.update(prefix=self.prefix, entries=[e.to_dict() for e in self.entries])
        return d


class RibGeneric(_RibBase):
    """RFC 6396 §4.3.3 RIB_GENERIC and RFC 8050 §4.2 RIB_GENERIC_ADDPATH: AFI, SAFI, one
    NLRI (``nlri``, with its path identifier first for ADDPATH) and its entries.

    ``routes`` is the NLRI decoded by the codec (``RawNlri`` for families it keeps
    raw).  ``path_id_in_entries`` is set when an ADDPATH record put the path
    identifier in each entry instead (GoBGP, OpenBGPD) and only that layout fit.
    A family whose NLRI length this module cannot tell is kept in ``rest``
    (RFC 6396 §4.3.3: "SHOULD discard the remainder"), ``entries`` empty.
    """

    def __init__(self, seconds, subtype, sequence, afi, safi, nlri, entries, rest=None,
                 path_id_in_entries=False, microseconds=None):
        super().__init__(seconds, microseconds)
        self.subtype, self.sequence, self.afi, self.safi = subtype, sequence, afi, safi
        self.nlri, self.entries, self.rest = bytes(nlri), list(entries), rest
        self.path_id_in_entries = path_id_in_entries
        self.routes = self._decode_routes() if rest is None else []

    addpath = property(lambda self: self.subtype == TableDumpV2Subtype.RIB_GENERIC_ADDPATH)

    def _decode_routes(self) -> list:
        in_nlri = self.addpath and not self.path_id_in_entries
        ctx = Context(add_path=frozenset({(self.afi, self.safi)}) if in_nlri else frozenset())
        return wire.decode_nlri(self.nlri, 0, len(self.nlri), self.afi, self.safi, ctx)

    def body(self) -> bytes:
        head = _U32.pack(self.sequence) + _U16.pack(self.afi) + bytes([self.safi]) + self.nlri
        if self.rest is not None:
            return head + self.rest
        return head + self._entries_body(self.path_id_in_entries)

    def to_dict(self) -> dict:
        d = self._rib_dict()
        d["nlri"] = [r.to_dict() for r in self.routes] if self.rest is None else self.nlri.hex()
        if self.rest is not None:
            d["rest"] = self.rest.hex()
        if self.path_id_in_entries:
            d["path_id_in_entries"] = True
        d["entries"] = [e.to_dict() for e in self.entries]
        return d


class TableDumpRecord(MrtRecord):
    """RFC 6396 §4.2 TABLE_DUMP (subtype 1 IPv4, 2 IPv6): one route of one peer,
    attributes with 2-octet AS numbers."""
    mrt_type = MrtType.TABLE_DUMP

    def __init__(self, seconds, subtype, view, sequence, prefix_raw, prefix_len, status,
                 originated_time, peer_ip, peer_as, attr_data, microseconds=None):
        super().__init__(seconds, microseconds)
        self.subtype, self.view, self.sequence = subtype, view, sequence
        self.prefix_raw, self.prefix_len, self.status = bytes(prefix_raw), prefix_len, status
        self.originated_time, self.peer_ip, self.peer_as = originated_time, peer_ip, peer_as
        self.attr_data = bytes(attr_data)
        afi = 1 if subtype == 1 else 2
        self.attributes, self.errors = decode_rib_attributes(self.attr_data, afi, 1, False)

    prefix = property(lambda self: f"{_ip(self.prefix_raw)}/{self.prefix_len}")

    def body(self) -> bytes:
        return (struct.pack("!HH", self.view, self.sequence) + self.prefix_raw
                + bytes([self.prefix_len, self.status]) + _U32.pack(self.originated_time)
                + _ip_bytes(self.peer_ip) + _U16.pack(self.peer_as)
                + _U16.pack(len(self.attr_data)) + self.attr_data)

    def describe(self) -> str:
        return f"{self.peer_ip} AS{self.peer_as}"

    def to_dict(self) -> dict:
        d = self._head()
        d.update(view=self.view, sequence=self.sequence, prefix=self.prefix,
                 status=self.status, originated_time=self.originated_time,
                 peer_ip=self.peer_ip, peer_as=self.peer_as,
                 attributes=self.attributes.to_dict())
        if self.errors:
            d["errors"] = [e.to_dict() for e in self.errors]
        return d


# --- decoding -------------------------------------------------------------------------------

def _decode_bgp4mp(buf, pos, end, seconds, subtype, micros):
    """RFC 6396 §4.4 (RFC 8050 §3 for the ADDPATH subtypes)."""
    if subtype in (0, 5):
        as4 = subtype == 5
    elif subtype in _MESSAGE_SUBTYPES:
        as4 = _MESSAGE_SUBTYPES[subtype][0]
    else:
        return None
    peer_as, local_as, ifindex, peer_ip, local_ip, pos = _bgp4mp_peer(buf, pos, end, as4)
    if subtype in (0, 5):
        _need(buf, pos, 4, end, "BGP4MP state change")
        if end - pos != 4:
            raise MrtError(f"{end - pos - 4} octets after the BGP4MP states", pos + 4)
        old, new = struct.unpack_from("!HH", buf, pos)
        return Bgp4mpStateChange(seconds, subtype, peer_as, local_as, peer_ip, local_ip,
                                 old, new, ifindex, micros)
    return Bgp4mpMessage(seconds, subtype, peer_as, local_as, peer_ip, local_ip,
                         buf[pos:end], ifindex, micros)


def _bgp4mp_peer(buf, pos, end, as4):
    """Peer AS, local AS (2 or 4 octets), interface index, AFI, peer and local IP."""
    asz = 4 if as4 else 2
    _need(buf, pos, 2 * asz + 4, end, "BGP4MP peer header")
    peer_as, local_as = struct.unpack_from("!II" if as4 else "!HH", buf, pos)
    ifindex, afi = struct.unpack_from("!HH", buf, pos + 2 * asz)
    pos += 2 * asz + 4
    size = _ADDR_LEN.get(afi)
    if size is None:
        raise MrtError(f"BGP4MP address family {afi} is neither 1 (IPv4) nor 2 (IPv6)",
                       pos - 2)
    _need(buf, pos, 2 * size, end, "BGP4MP peer and local addresses")
    return (peer_as, local_as, ifindex, _ip(buf[pos:pos + size]),
            _ip(buf[pos + size:pos + 2 * size]), pos + 2 * size)


def _decode_peer_index_table(buf, pos, end, seconds, micros):
    """RFC 6396 §4.3.1."""
    _need(buf, pos, 6, end, "PEER_INDEX_TABLE header")
    collector = _ip(buf[pos:pos + 4])
    vlen = _U16.unpack_from(buf, pos + 4)[0]
    _need(buf, pos + 6, vlen + 2, end, "PEER_INDEX_TABLE view name and peer count")
    view = buf[pos + 6:pos + 6 + vlen].decode("utf-8", "surrogateescape")
    pos += 6 + vlen
    count, pos = _U16.unpack_from(buf, pos)[0], pos + 2
    peers = []
    for _ in range(count):
        _need(buf, pos, 1, end, "peer entry type")
        ptype = buf[pos]
        alen, asz = (16 if ptype & 1 else 4), (4 if ptype & 2 else 2)
        _need(buf, pos + 1, 4 + alen + asz, end, f"peer entry {len(peers)}")
        asn = (_U32 if asz == 4 else _U16).unpack_from(buf, pos + 5 + alen)[0]
        peers.append(PeerEntry(_ip(buf[pos + 1:pos + 5]), _ip(buf[pos + 5:pos + 5 + alen]),
                               asn, ptype))
        pos += 5 + alen + asz
    if pos != end:
        raise MrtError(f"{end - pos} octets after the {count} peer entries", pos)
    return PeerIndexTable(seconds, collector, view, peers, micros)


def _decode_entries(buf, pos, end, afi, safi, with_path_id):
    """RFC 6396 §4.3.4 entry count and RIB entries, which must end the record."""
    _need(buf, pos, 2, end, "RIB entry count")
    count, pos = _U16.unpack_from(buf, pos)[0], pos + 2
    entries = []
    head = 10 if with_path_id else 6
    for i in range(count):
        _need(buf, pos, head + 2, end, f"RIB entry {i} header")
        peer_index, originated = struct.unpack_from("!HI", buf, pos)
        path_id = _U32.unpack_from(buf, pos + 6)[0] if with_path_id else None
        alen = _U16.unpack_from(buf, pos + head)[0]
        _need(buf, pos + head + 2, alen, end, f"RIB entry {i} attributes")
        start = pos + head + 2
        entries.append(RibEntry(peer_index, originated, buf[start:start + alen], path_id,
                                afi, safi))
        pos = start + alen
    if pos != end:
        raise MrtError(f"{end - pos} octets after the {count} RIB entries", pos)
    return entries


def _decode_rib(buf, pos, end, seconds, subtype, micros):
    """RFC 6396 §4.3.2 (RFC 8050 §4.1): sequence, prefix length, prefix, entries."""
    afi, safi, addpath = _RIB_SUBTYPES[subtype]
    _need(buf, pos, 5, end, "RIB header")
    seq, plen = _U32.unpack_from(buf, pos)[0], buf[pos + 4]
    if plen > _ADDR_LEN[afi] * 8:
        raise MrtError(f"prefix length {plen} for AFI {afi}", pos + 4)
    nbytes = _prefix_octets(plen)
    _need(buf, pos + 5, nbytes, end, "RIB prefix")
    nlri = buf[pos + 4:pos + 5 + nbytes]
    entries = _decode_entries(buf, pos + 5 + nbytes, end, afi, safi, addpath)
    return RibRecord(seconds, subtype, seq, nlri, entries, micros)


def _nlri_length(buf, pos, end, afi, safi):
    """Octets of the single NLRI at ``pos`` (RFC 6396 §4.3.3), or None for a family
    whose encoding is not known here."""
    if end - pos < 1:
        return None
    if safi == 70 or safi == 5:         # EVPN (RFC 7432 §7), MCAST-VPN (RFC 6514 §4)
        return 2 + buf[pos + 1] if end - pos >= 2 else None
    if safi in (71, 72):                # BGP-LS (RFC 9552 §5.2): 2-octet type and length
        return 4 + _U16.unpack_from(buf, pos + 2)[0] if end - pos >= 4 else None
    if safi in (133, 134):              # flow spec (RFC 8955 §4): 1 or 2 length octets
        if buf[pos] >= 0xF0:
            return 2 + (((buf[pos] & 0x0F) << 8) | buf[pos + 1]) if end - pos >= 2 else None
        return 1 + buf[pos]
    if safi in (1, 2, 4, 128, 129, 132) and afi in (1, 2, 25):
        return 1 + _prefix_octets(buf[pos])   # length in bits (RFC 4271, 3107, 4364, 4684)
    return None


def _decode_rib_generic(buf, pos, end, seconds, subtype, micros):
    """RFC 6396 §4.3.3; RFC 8050 §4.2 puts the path identifier in the NLRI (and,
    failing that layout, GoBGP's path identifier per entry is tried)."""
    _need(buf, pos, 7, end, "RIB_GENERIC header")
    seq, afi = struct.unpack_from("!IH", buf, pos)
    safi, pos = buf[pos + 6], pos + 7
    if subtype != TableDumpV2Subtype.RIB_GENERIC_ADDPATH:
        return _rib_generic_layout(buf, pos, end, seconds, subtype, micros, seq, afi, safi,
                                   False)
    try:
        return _rib_generic_layout(buf, pos, end, seconds, subtype, micros, seq, afi, safi,
                                   True)
    except MrtError as first:
        try:
            return _rib_generic_layout(buf, pos, end, seconds, subtype, micros, seq, afi,
                                       safi, False)
        except MrtError:
            raise first from None


def _rib_generic_layout(buf, pos, end, seconds, subtype, micros, seq, afi, safi, pid_in_nlri):
    skip = 4 if pid_in_nlri else 0
    n = _nlri_length(buf, pos + skip, end, afi, safi)
    if n is None:
        return RibGeneric(seconds, subtype, seq, afi, safi, b"", [], rest=bytes(buf[pos:end]),
                          microseconds=micros)
    _need(buf, pos, skip + n, end, f"RIB_GENERIC NLRI of AFI {afi} SAFI {safi}")
    nlri = buf[pos:pos + skip + n]
    pid_in_entries = subtype == TableDumpV2Subtype.RIB_GENERIC_ADDPATH and not pid_in_nlri
    entries = _decode_entries(buf, pos + skip + n, end, afi, safi, pid_in_entries)
    try:
        return RibGeneric(seconds, subtype, seq, afi, safi, nlri, entries,
                          path_id_in_entries=pid_in_entries, microseconds=micros)
    except BGPError as exc:
        raise MrtError(f"RIB_GENERIC NLRI: {exc.reason}", pos) from None


def _decode_table_dump(buf, pos, end, seconds, subtype, micros):
    """RFC 6396 §4.2: view, sequence, prefix, length, status, originated time, peer
    address and AS (2 octets), attributes."""
    size = {1: 4, 2: 16}.get(subtype)
    if size is None:
        return None
    _need(buf, pos, 4 + size + 6 + size + 4, end, "TABLE_DUMP entry")
    view, seq = struct.unpack_from("!HH", buf, pos)
    prefix = buf[pos + 4:pos + 4 + size]
    p = pos + 4 + size
    plen, status, originated = buf[p], buf[p + 1], _U32.unpack_from(buf, p + 2)[0]
    if plen > size * 8:
        raise MrtError(f"prefix length {plen}", p)
    peer_ip = _ip(buf[p + 6:p + 6 + size])
    p += 6 + size
    peer_as, alen = struct.unpack_from("!HH", buf, p)
    _need(buf, p + 4, alen, end, "TABLE_DUMP attributes")
    if p + 4 + alen != end:
        raise MrtError(f"{end - p - 4 - alen} octets after the TABLE_DUMP attributes",
                       p + 4 + alen)
    return TableDumpRecord(seconds, subtype, view, seq, prefix, plen, status, originated,
                           peer_ip, peer_as, buf[p + 4:end], micros)


def _decode_body(buf, pos, end, seconds, mtype, subtype, micros):
    if mtype in (MrtType.BGP4MP, MrtType.BGP4MP_ET):
        return _decode_bgp4mp(buf, pos, end, seconds, subtype, micros)
    if mtype == MrtType.TABLE_DUMP_V2:
        if subtype == TableDumpV2Subtype.PEER_INDEX_TABLE:
            return _decode_peer_index_table(buf, pos, end, seconds, micros)
        if subtype in _RIB_SUBTYPES:
            return _decode_rib(buf, pos, end, seconds, subtype, micros)
        if subtype in (TableDumpV2Subtype.RIB_GENERIC, TableDumpV2Subtype.RIB_GENERIC_ADDPATH):
            return _decode_rib_generic(buf, pos, end, seconds, subtype, micros)
        return None
    if mtype == MrtType.TABLE_DUMP:
        return _decode_table_dump(buf, pos, end, seconds, subtype, micros)
    return None


def decode_mrt_record(data, offset: int = 0) -> MrtRecord:
    """Decode one whole record (header included); ``MrtError`` offsets are
    ``offset`` plus the position in ``data``."""
    buf = data if isinstance(data, bytes) else bytes(data)
    try:
        return _decode_record(buf)
    except MrtError as exc:
        exc.offset = offset + (exc.offset or 0)
        exc.args = (f"MRT: {exc.reason} at offset {exc.offset}",)
        raise


def _decode_record(buf: bytes) -> MrtRecord:
    _need(buf, 0, HEADER_LEN, len(buf), "record header")
    seconds, mtype, subtype, length = _HEADER.unpack_from(buf)
    if HEADER_LEN + length != len(buf):
        raise MrtError(f"length field {length} but {len(buf) - HEADER_LEN} octets given", 8)
    pos, micros = HEADER_LEN, None
    if mtype in ET_TYPES:
        _need(buf, pos, 4, len(buf), "microsecond timestamp")
        micros, pos = _U32.unpack_from(buf, pos)[0], pos + 4
    record = _decode_body(buf, pos, len(buf), seconds, mtype, subtype, micros)
    if record is None:
        return UnknownRecord(seconds, mtype, subtype, buf[pos:], micros)
    return record


# --- files ----------------------------------------------------------------------------------

_COMPRESSORS = ((b"\x1f\x8b", lambda f: gzip.GzipFile(fileobj=f)), (b"BZh", bz2.BZ2File),
                (b"\xfd7zXZ\x00", lzma.LZMAFile))


def _open(source, stack: contextlib.ExitStack):
    """A binary file object for a path or file object, undoing gzip/bzip2/xz by magic."""
    if isinstance(source, (str, os.PathLike)):
        source = stack.enter_context(open(source, "rb"))  # noqa: SIM115 (the stack closes it)
    if hasattr(source, "peek"):
        head = source.peek(6)[:6]
    elif getattr(source, "seekable", lambda: False)():
        where = source.tell()
        head = source.read(6)
        source.seek(where)
    else:
        source = io.BytesIO(source.read())
        head = source.getvalue()[:6]
    for magic, opener in _COMPRESSORS:
        if head.startswith(magic):
            return stack.enter_context(opener(source)), True
    return source, False


def _read(f, n: int, compressed: bool, offset: int) -> bytes:
    """Up to ``n`` octets, read in bounded chunks (a corrupt length cannot allocate
    gigabytes up front); fewer only at the end of the data."""
    parts, want = [], n
    while want > 0:
        try:
            chunk = f.read(min(want, _CHUNK))
        except EOFError:
            break  # compressed stream cut short: reported as a truncated record
        except (OSError, lzma.LZMAError, zlib.error) as exc:
            if not compressed:
                raise
            raise MrtError(f"corrupt compressed data: {exc}", offset) from None
        if not chunk:
            break
        parts.append(chunk)
        want -= len(chunk)
    return b"".join(parts)


class MrtReader:
    """Iterate over the records of an MRT file (path or binary file object, plain or
    compressed).  RIB entries get their ``peer`` from the last PEER_INDEX_TABLE.

    With ``strict`` (the default) a malformed record raises ``MrtError``; without,
    a record whose framing is sound but whose body is not becomes an
    ``UnknownRecord`` with ``error`` set, and reading goes on.  A record cut short
    by the end of the file always raises.
    """

    def __init__(self, source, strict: bool = True):
        self.source, self.strict = source, strict
        self.peer_table: PeerIndexTable | None = None

    def __iter__(self) -> Iterator[MrtRecord]:
        with contextlib.ExitStack() as stack:
            f, compressed = _open(self.source, stack)
            offset = 0
            while True:
                head = _read(f, HEADER_LEN, compressed, offset)
                if not head:
                    return
                if len(head) < HEADER_LEN:
                    raise MrtError(f"record header truncated to {len(head)} octets", offset)
                length = _U32.unpack_from(head, 8)[0]
                body = _read(f, length, compressed, offset + HEADER_LEN)
                if len(body) < length:
                    raise MrtError(f"record of length {length} truncated to {len(body)} "
                                   "octets", offset)
                yield self._record(head + body, offset)
                offset += HEADER_LEN + length

    def _record(self, raw: bytes, offset: int) -> MrtRecord:
        try:
            record = decode_mrt_record(raw, offset)
        except MrtError as exc:
            if self.strict:
                raise
            seconds, mtype, subtype, _length = _HEADER.unpack_from(raw)
            return UnknownRecord(seconds, mtype, subtype, raw[HEADER_LEN:], None, exc)
        if isinstance(record, PeerIndexTable):
            self.peer_table = record
        elif isinstance(record, _RibBase) and self.peer_table is not None:
            peers = self.peer_table.peers
            for entry in record.entries:
                if entry.peer_index < len(peers):
                    entry.peer = peers[entry.peer_index]
        return record


def read_mrt(source, strict: bool = True) -> Iterator[MrtRecord]:
    """Yield every record of an MRT file (see ``MrtReader``)."""
    yield from MrtReader(source, strict)


def iter_mrt(path, strict: bool = True) -> Iterator[tuple]:
    """Yield ``(timestamp, peer_description, record)`` for every record.

    ``timestamp`` is the record's (microseconds for _ET types); the description
    is ``ADDRESS ASn`` of the BGP4MP / TABLE_DUMP peer, ``collector ID`` for a
    PEER_INDEX_TABLE, and the entries' peers for a RIB record.
    """
    for record in MrtReader(path, strict):
        yield record.timestamp, record.describe(), record


# --- writing --------------------------------------------------------------------------------

class RibDumpEntry(NamedTuple):
    """One path for ``MrtWriter.dump_rib``: a route object (``Ipv4Prefix``,
    ``Ipv6Prefix``, an EVPN route, their ADD-PATH variants, ``RawNlri``), its
    attributes, the peer it came from and its next hop (else the attributes')."""
    route: object
    attributes: object
    peer_ip: str
    peer_as: int
    peer_bgp_id: str = "0.0.0.0"
    next_hop: object = None
    originated_time: int = 0


def _route_parts(route) -> tuple:
    """(afi, safi, NLRI octets without path id, path id or None) of a route object."""
    if isinstance(route, AddPathEvpnRoute):
        inner = route.route
        return inner.afi, inner.safi, bytes(inner), route.path_id
    if isinstance(route, (Ipv4PrefixAddPath, Ipv6PrefixAddPath)):
        return route.afi, route.safi, bytes(route)[4:], route.path_id
    if isinstance(route, RawNlri):
        return route.afi, route.safi, route.data, None
    return int(route.afi), int(route.safi), bytes(route), None


class MrtWriter:
    """Write MRT records to a binary file object (``MrtWriter.open`` for a path,
    compressed by its .gz/.bz2/.xz suffix).  Times are POSIX seconds (int or
    float); _ET records keep the microseconds."""

    def __init__(self, fileobj):
        self.f = fileobj
        self.records = 0
        self._owned: list = []

    @classmethod
    def open(cls, path) -> MrtWriter:
        name = os.fspath(path)
        openers = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
        opener = openers.get(os.path.splitext(name)[1], open)
        writer = cls(opener(name, "wb"))
        writer._owned.append(writer.f)
        return writer

    def close(self) -> None:
        for f in self._owned:
            f.close()
        self._owned = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, record: MrtRecord) -> int:
        """Write a record (decoded or built); returns the octets written."""
        data = record.encode()
        self.f.write(data)
        self.records += 1
        return len(data)

    def write_raw(self, time, mrt_type: int, subtype: int, body: bytes, et: bool = False) -> int:
        seconds, micros = _split_time(time)
        return self.write(UnknownRecord(seconds, mrt_type, subtype, body,
                                        micros if et else None))

    def write_bgp4mp_message(self, time, peer_as, local_as, peer_ip, local_ip, message_bytes,
                             as4: bool = True, addpath: bool = False, et: bool = False,
                             local: bool = False, ifindex: int = 0) -> int:
        """RFC 6396 §4.4.2/§4.4.3 (and _LOCAL, RFC 8050 _ADDPATH) subtype chosen from
        ``as4``, ``local`` and ``addpath``; a ``Message`` is encoded under the context
        that subtype implies."""
        subtype = _MESSAGE_SUBTYPE_OF[(bool(as4), bool(local), bool(addpath))]
        if isinstance(message_bytes, Message):
            ctx = Context(four_octet_as=as4, add_path=ADD_PATH_FAMILIES if addpath
                          else frozenset(), extended_message=True)
            message_bytes = message_bytes.encode(ctx)
        seconds, micros = _split_time(time)
        return self.write(Bgp4mpMessage(seconds, subtype, peer_as, local_as, str(peer_ip),
                                        str(local_ip), message_bytes, ifindex,
                                        micros if et else None))

    def write_state_change(self, time, peer_as, local_as, peer_ip, local_ip, old_state: int,
                           new_state: int, as4: bool = True, et: bool = False,
                           ifindex: int = 0) -> int:
        """RFC 6396 §4.4.1 / §4.4.4; states numbered 1 Idle .. 6 Established."""
        seconds, micros = _split_time(time)
        return self.write(Bgp4mpStateChange(seconds, 5 if as4 else 0, peer_as, local_as,
                                            str(peer_ip), str(local_ip), old_state, new_state,
                                            ifindex, micros if et else None))

    def write_peer_index_table(self, collector_id, view_name: str, peers, time=0) -> int:
        """RFC 6396 §4.3.1; ``peers`` are ``PeerEntry`` or (bgp_id, address, asn)."""
        return self.write(PeerIndexTable(int(time), str(collector_id), view_name, peers))

    def write_rib_entry(self, time, sequence: int, route, entries, afi=None, safi=None,
                        path_id_in_entries: bool = False) -> int:
        """One TABLE_DUMP_V2 RIB record: a prefix (or any NLRI) and its per-peer
        ``entries`` (``RibEntry``; ``RibEntry.build`` makes them).

        IPv4/IPv6 unicast and multicast use the AFI/SAFI-specific subtypes, other
        families RIB_GENERIC; entries with a path id select the RFC 8050 ADDPATH
        subtype.  ``route`` is a route object, or a prefix string with
        ``afi``/``safi`` defaulting to unicast.  For RIB_GENERIC_ADDPATH the path id
        goes into the NLRI (RFC 8050 §4.2), or into each entry with
        ``path_id_in_entries`` (the GoBGP layout).
        """
        if isinstance(route, str):
            net = ipaddress.ip_network(route, strict=False)
            r_afi, r_safi = (1 if net.version == 4 else 2), 1
            nlri, pid = bytes([net.prefixlen]) + net.network_address.packed[
                :_prefix_octets(net.prefixlen)], None
        else:
            r_afi, r_safi, nlri, pid = _route_parts(route)
        afi, safi = afi or r_afi, safi or r_safi
        entries = list(entries)
        seconds = int(time)
        addpath = pid is not None or any(e.path_id is not None for e in entries)
        subtype = _RIB_SUBTYPE_OF.get((afi, safi, addpath))
        if subtype is not None:
            return self.write(RibRecord(seconds, subtype, sequence, nlri, entries))
        if addpath and not path_id_in_entries:
            if pid is None:
                pid = next(e.path_id for e in entries if e.path_id is not None)
            nlri = _U32.pack(pid) + nlri
        elif addpath and pid is not None:
            entries = [RibEntry(e.peer_index, e.originated_time, e.attr_data, pid, afi, safi)
                       if e.path_id is None else e for e in entries]
        subtype = TableDumpV2Subtype.RIB_GENERIC_ADDPATH if addpath \
            else TableDumpV2Subtype.RIB_GENERIC
        return self.write(RibGeneric(seconds, subtype, sequence, afi, safi, nlri, entries,
                                     path_id_in_entries=addpath and path_id_in_entries))

    def dump_rib(self, routes: Iterable[RibDumpEntry], time=0, collector_id="0.0.0.0",
                 view_name: str = "", gobgp_compat: bool = False) -> int:
        """Write a PEER_INDEX_TABLE then one RIB record per NLRI (in first-seen order,
        sequence numbers from 0): what bgpdump and bgpkit read as a RIB dump.

        ``gobgp_compat`` writes what ``gobgp mrt inject`` reads instead of RFC 6396
        §4.3.4 / RFC 8050 §4.2: MP_REACH_NLRI in its full RFC 4760 form, and the
        RIB_GENERIC_ADDPATH path identifier in each entry.  Returns the number of
        records written."""
        peers: dict = {}
        groups: dict = {}
        for item in routes:
            item = item if isinstance(item, RibDumpEntry) else RibDumpEntry(*item)
            peer = make_peer_entry(item.peer_bgp_id, item.peer_ip, item.peer_as)
            index = peers.setdefault(peer[:3], len(peers))
            afi, safi, nlri, pid = _route_parts(item.route)
            generic = _RIB_SUBTYPE_OF.get((afi, safi, False)) is None
            in_nlri = generic and not gobgp_compat
            key = (afi, safi, nlri, pid if in_nlri else None)
            entry = RibEntry.build(index, item.attributes, item.next_hop, item.originated_time,
                                   None if in_nlri else pid, afi, safi, gobgp_compat)
            groups.setdefault(key, (item.route, []))[1].append(entry)
        table = [make_peer_entry(*p) for p in peers]
        written = 1
        self.write_peer_index_table(collector_id, view_name, table, time)
        for sequence, (route, entries) in enumerate(groups.values()):
            self.write_rib_entry(time, sequence, route, entries,
                                 path_id_in_entries=gobgp_compat)
            written += 1
        return written
