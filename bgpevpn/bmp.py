"""BGP Monitoring Protocol: RFC 7854, with RFC 8671 (Adj-RIB-Out) and RFC 9069 (Loc-RIB).

Layers, bottom up:

1. ``decode_bmp_message(data)``: one whole BMP message (common header, RFC 7854 §4.1)
   into a ``BmpMessage`` subclass; the BGP PDUs inside are decoded with the bgpevpn
   codec under a context taken from the peer's Peer Up OPENs (see ``BmpPeerState``).
2. ``BmpReader``: incremental framing of a BMP byte stream (a socket, or one
   direction of a TCP connection in a capture): ``feed(data)`` returns the whole
   messages now available; a partial message waits for more bytes.  It keeps the
   per-peer contexts up to date from Peer Up / Peer Down messages.
3. ``iter_bmp_capture(path)``: the BMP messages of a pcap/pcapng capture, using the
   TCP reassembly of ``bgpevpn.pcap``.

Malformed BMP structure raises ``BmpError`` (a ``ValueError`` carrying the byte
offset, shaped like ``bgpevpn.BGPError``: ``reason``, ``offset``, ``to_dict()``).
A BGP PDU that the codec rejects does not stop anything: the message keeps the
``BGPError`` in ``error`` (and, for RFC 7606 errors, the partly decoded UPDATE).
"""
from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Iterator
from enum import IntEnum
from typing import NamedTuple

from . import wire
from .context import Context
from .errors import BGPError
from .messages import Notification, Open
from .values import format_rd

__all__ = ["BMP_VERSION", "BmpCaptureReader", "BmpError", "BmpMessage", "BmpPeerState",
           "BmpReader", "BmpType", "InfoTlv", "Initiation", "MalformedBmpMessage", "PeerDown",
           "PeerHeader", "PeerUp", "RouteMirroring", "RouteMonitoring", "Statistic",
           "StatisticsReport", "Termination", "UnknownBmpMessage", "decode_bmp_message",
           "iter_bmp_capture"]

BMP_VERSION = 3
COMMON_HEADER_LEN = 6          # RFC 7854 §4.1: version (1), length (4), type (1)
PER_PEER_HEADER_LEN = 42       # RFC 7854 §4.2
PEER_HEADER_END = COMMON_HEADER_LEN + PER_PEER_HEADER_LEN
BGP_HEADER_LEN = 19            # RFC 4271 §4.1
#: Largest BMP message accepted: RFC 7854 sets no limit, a stream reader needs one.
MAX_BMP_LENGTH = 16 << 20
#: Default TCP ports of BMP collectors: IANA 1790 (RFC 7854 §3.3 leaves it to
#: configuration), JunOS examples 10179, pmacct/OpenBMP 11019 and 5000.
DEFAULT_PORTS = (1790, 10179, 11019, 5000)

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_COMMON = struct.Struct("!BIB")
_MARKER = b"\xff" * 16
#: The codec context used for OPENs (their layout does not depend on it) and as the
#: base of every other context here: BMP bounds each PDU by its own length, so an
#: UPDATE longer than 4096 octets (RFC 8654) is accepted whatever was negotiated.
_OPEN_CONTEXT = Context(extended_message=True)
#: Families whose NLRI the codec reads with an RFC 7911 path identifier.
_ADD_PATH_FAMILIES = frozenset({(1, 1), (2, 1), (25, 70)})


class BmpType(IntEnum):
    """RFC 7854 §4.1 message types."""
    ROUTE_MONITORING = 0
    STATISTICS_REPORT = 1
    PEER_DOWN = 2
    PEER_UP = 3
    INITIATION = 4
    TERMINATION = 5
    ROUTE_MIRRORING = 6


BMP_TYPE_NAMES = {0: "route-monitoring", 1: "statistics-report", 2: "peer-down",
                  3: "peer-up", 4: "initiation", 5: "termination", 6: "route-mirroring"}
#: RFC 7854 §4.2 and RFC 9069 §4.1.
PEER_TYPE_NAMES = {0: "global", 1: "rd", 2: "local", 3: "loc-rib"}
#: RFC 7854 §4.3/§4.4 and RFC 9069 §5.1 information TLV types (Initiation, Peer Up).
INFO_TLV_NAMES = {0: "string", 1: "sys-descr", 2: "sys-name", 3: "vrf-table-name",
                  4: "admin-label"}
#: RFC 7854 §4.5 termination TLV types and §4.5 reason codes.
TERMINATION_TLV_NAMES = {0: "string", 1: "reason"}
TERMINATION_REASON_NAMES = {0: "administratively-closed", 1: "unspecified",
                            2: "out-of-resources", 3: "redundant-connection",
                            4: "permanently-administratively-closed"}
#: RFC 7854 §4.9 and RFC 9069 §5.4 Peer Down reasons.
PEER_DOWN_REASON_NAMES = {1: "local-notification", 2: "local-no-notification",
                          3: "remote-notification", 4: "remote-no-notification",
                          5: "peer-deconfigured", 6: "local-tlv"}
#: RFC 7854 §4.8 and RFC 8671 §5 statistics types: (name, value layout).
STAT_TYPES = {
    0: ("prefixes-rejected", "counter"), 1: ("duplicate-prefix-advertisements", "counter"),
    2: ("duplicate-withdraws", "counter"), 3: ("cluster-list-loops", "counter"),
    4: ("as-path-loops", "counter"), 5: ("originator-id-invalid", "counter"),
    6: ("as-confed-loops", "counter"), 7: ("adj-rib-in-routes", "gauge"),
    8: ("loc-rib-routes", "gauge"), 9: ("adj-rib-in-routes-per-family", "family-gauge"),
    10: ("loc-rib-routes-per-family", "family-gauge"),
    11: ("updates-treated-as-withdraw", "counter"),
    12: ("prefixes-treated-as-withdraw", "counter"), 13: ("duplicate-updates", "counter"),
    14: ("adj-rib-out-pre-policy-routes", "gauge"),
    15: ("adj-rib-out-post-policy-routes", "gauge"),
    16: ("adj-rib-out-pre-policy-routes-per-family", "family-gauge"),
    17: ("adj-rib-out-post-policy-routes-per-family", "family-gauge"),
}
_STAT_SIZES = {"counter": 4, "gauge": 8, "family-gauge": 11}
#: RFC 7854 §4.7 Route Mirroring TLV types and information codes.
MIRROR_TLV_NAMES = {0: "bgp-message", 1: "information"}
MIRROR_INFO_NAMES = {0: "errored-pdu", 1: "messages-lost"}


class BmpError(ValueError):
    """Malformed BMP input; ``offset`` is where (in the stream or the message given).

    Shaped like ``bgpevpn.BGPError`` (``reason``, ``offset``, ``data``,
    ``to_dict()``) but carries no NOTIFICATION code: BMP has no error reply.
    """

    def __init__(self, reason: str, offset: int | None = None, data: bytes = b""):
        self.reason, self.offset, self.data = reason, offset, bytes(data)
        #: whole messages a reader had decoded before the error (``BmpReader.feed``)
        self.messages: list = []
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"BMP: {reason}{where}")

    def to_dict(self) -> dict:
        return {"error": self.reason, "offset": self.offset, "data": self.data.hex()}

    def __reduce__(self):
        return (type(self), (self.reason, self.offset, self.data))


# --- small readers -----------------------------------------------------------------

def _need(buf, pos: int, n: int, end: int, what: str) -> None:
    """Raise unless ``n`` octets of ``what`` fit between ``pos`` and ``end``."""
    if pos < 0 or end - pos < n:
        raise BmpError(f"{what} needs {n} octets, {max(end - pos, 0)} left", pos)


def _ip(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def _address16(raw: bytes, ipv6: bool) -> str:
    """A 16-octet address field: IPv4 sits in the low-order 4 octets (RFC 7854 §4.2)."""
    return _ip(raw) if ipv6 else _ip(raw[12:])


def _text(raw: bytes) -> str:
    """RFC 7854 §4.4: UTF-8, not NUL-terminated (some senders add one anyway)."""
    return raw.decode("utf-8", "replace").rstrip("\x00")


def _tlvs(buf, pos: int, end: int, what: str) -> list:
    """(type, value) pairs of 2-octet type, 2-octet length TLVs (RFC 7854 §4.4)."""
    out = []
    while pos < end:
        _need(buf, pos, 4, end, f"{what} TLV header")
        ttype, tlen = struct.unpack_from("!HH", buf, pos)
        _need(buf, pos + 4, tlen, end, f"{what} TLV type {ttype} of length {tlen}")
        out.append((ttype, bytes(buf[pos + 4:pos + 4 + tlen])))
        pos += 4 + tlen
    return out


def _pdu_end(buf, pos: int, end: int, what: str) -> int:
    """End of the BGP PDU at ``pos``, from its header's length (RFC 4271 §4.1)."""
    _need(buf, pos, BGP_HEADER_LEN, end, f"{what} BGP header")
    length = _U16.unpack_from(buf, pos + 16)[0]
    if length < BGP_HEADER_LEN or length > end - pos:
        raise BmpError(f"{what} BGP length {length} does not fit the {end - pos} octets "
                       "left", pos + 16)
    return pos + length


def _decode_pdu(raw: bytes, ctx: Context):
    """(message, error): the codec's result, or its BGPError (with a partial
    UPDATE in ``error.update`` when RFC 7606 allowed one)."""
    try:
        return wire.decode_message(raw, ctx), None
    except BGPError as exc:
        return getattr(exc, "update", None), exc


def _family_list(families) -> list:
    return [f"{a}/{s}" for a, s in sorted(families)]


# --- per-peer header ------------------------------------------------------------------

class PeerHeader(NamedTuple):
    """RFC 7854 §4.2 per-peer header (RFC 9069 §4.1 for the Loc-RIB peer type 3)."""
    peer_type: int
    flags: int
    distinguisher: bytes   # 8 octets; an RD for peer type 1 (RFC 4364 §4.2 notation)
    address: str
    asn: int
    bgp_id: str
    seconds: int
    microseconds: int

    @property
    def timestamp(self) -> float:
        return self.seconds + self.microseconds / 1e6

    @property
    def is_loc_rib(self) -> bool:
        return self.peer_type == 3

    @property
    def ipv6(self) -> bool:
        """V flag (RFC 7854 §4.2); not defined for Loc-RIB, whose address is zero."""
        return not self.is_loc_rib and bool(self.flags & 0x80)

    @property
    def post_policy(self) -> bool:
        """L flag: Adj-RIB-In (or -Out) after policy (RFC 7854 §4.2, RFC 8671 §4)."""
        return not self.is_loc_rib and bool(self.flags & 0x40)

    @property
    def legacy_as_path(self) -> bool:
        """A flag: AS_PATH uses 2-octet AS numbers (RFC 7854 §4.2)."""
        return not self.is_loc_rib and bool(self.flags & 0x20)

    @property
    def adj_rib_out(self) -> bool:
        """O flag: the routes are the Adj-RIB-Out (RFC 8671 §4)."""
        return not self.is_loc_rib and bool(self.flags & 0x10)

    @property
    def filtered(self) -> bool:
        """F flag: the Loc-RIB is filtered (RFC 9069 §4.2)."""
        return self.is_loc_rib and bool(self.flags & 0x80)

    @property
    def key(self) -> tuple:
        """What identifies the monitored peer within one BMP session."""
        return (self.peer_type, self.distinguisher, self.address)

    def flag_names(self) -> list:
        if self.is_loc_rib:
            named = ((0x80, "filtered"),)
        else:
            named = ((0x80, "ipv6"), (0x40, "post-policy"), (0x20, "legacy-as-path"),
                     (0x10, "adj-rib-out"))
        out = [name for bit, name in named if self.flags & bit]
        rest = self.flags & ~sum(bit for bit, _ in named) & 0xFF
        if rest:
            out.append(f"0x{rest:02x}")
        return out

    def describe(self) -> str:
        if self.is_loc_rib:
            return f"loc-rib {format_rd(self.distinguisher)} ({self.bgp_id} AS{self.asn})"
        rd = "" if self.peer_type == 0 else f" rd {format_rd(self.distinguisher)}"
        return f"peer {self.address} AS{self.asn}{rd}"

    def to_dict(self) -> dict:
        return {"type": PEER_TYPE_NAMES.get(self.peer_type, self.peer_type),
                "distinguisher": format_rd(self.distinguisher), "address": self.address,
                "as": self.asn, "bgp_id": self.bgp_id, "flags": self.flag_names(),
                "timestamp": self.timestamp}


def decode_peer_header(buf, pos: int, end: int) -> PeerHeader:
    """RFC 7854 §4.2: type, flags, distinguisher (8), address (16), AS (4), BGP ID (4),
    timestamp seconds (4) and microseconds (4)."""
    _need(buf, pos, PER_PEER_HEADER_LEN, end, "per-peer header")
    ptype, flags = buf[pos], buf[pos + 1]
    asn, secs, usecs = struct.unpack_from("!I4xII", buf, pos + 26)
    raw_addr = bytes(buf[pos + 10:pos + 26])
    if ptype == 3:  # RFC 9069 §4.1: zero-filled; print as IPv6 only if it is not zero-padded
        ipv6 = any(raw_addr[:12])
    else:
        ipv6 = bool(flags & 0x80)
    return PeerHeader(ptype, flags, bytes(buf[pos + 2:pos + 10]), _address16(raw_addr, ipv6),
                      asn, _ip(bytes(buf[pos + 30:pos + 34])), secs, usecs)


# --- peer state (contexts) ------------------------------------------------------------

class BmpPeerState(NamedTuple):
    """What a Peer Up taught about one monitored peer: its OPENs and the codec
    contexts of the UPDATEs it received (``rib_in``) and sent (``rib_out``)."""
    peer_up: PeerUp
    rib_in: Context | None
    rib_out: Context | None


def _peer_state(msg: PeerUp) -> BmpPeerState:
    """RFC 7854 §4.10: the sent OPEN is the monitored router's, the received OPEN the
    peer's; UPDATEs received from the peer (Adj-RIB-In) are sent under the peer's OPEN."""
    sent, received = msg.sent_open, msg.received_open
    if not isinstance(sent, Open) or not isinstance(received, Open):
        return BmpPeerState(msg, None, None)
    return BmpPeerState(msg, Context.negotiated(received, sent),
                        Context.negotiated(sent, received))


def _route_context(header: PeerHeader, peers) -> tuple:
    """(context, source) for the UPDATEs of a Route Monitoring / Mirroring message.

    ADD-PATH per family comes from the Peer Up OPENs (RFC 7911 §4 negotiation, the
    Adj-RIB-Out direction for the O flag, RFC 8671); AS number size from the A flag
    (RFC 7854 §4.2), or from the OPENs for Loc-RIB (RFC 9069 has no A flag).
    """
    state = peers.get(header.key) if peers else None
    base = None
    if state is not None:
        base = state.rib_out if header.adj_rib_out or header.is_loc_rib else state.rib_in
    if header.is_loc_rib:
        four = base.four_octet_as if base is not None else True
    else:
        four = not header.legacy_as_path
    add_path = base.add_path if base is not None else frozenset()
    source = "peer-up" if base is not None else "per-peer-header"
    return Context(four, add_path, True), source


def _decode_routes(raw: bytes, header: PeerHeader, peers) -> tuple:
    """(message, error, context, source); without a Peer Up, ADD-PATH is guessed (and
    said so) when the plain decode fails and the ADD-PATH one succeeds."""
    ctx, source = _route_context(header, peers)
    msg, err = _decode_pdu(raw, ctx)
    if err is not None and source == "per-peer-header":
        guess = Context(ctx.four_octet_as, _ADD_PATH_FAMILIES, True)
        msg2, err2 = _decode_pdu(raw, guess)
        if err2 is None:
            return msg2, None, guess, "guessed"
    return msg, err, ctx, source


# --- messages ---------------------------------------------------------------------------

class BmpMessage:
    """Common base: ``msg_type``, ``length``, ``peer`` (a ``PeerHeader`` or None)."""
    msg_type = -1
    peer: PeerHeader | None = None

    def __init__(self, length: int = 0, peer: PeerHeader | None = None, version: int = 3):
        self.length, self.peer, self.version = length, peer, version

    @property
    def bmp_type(self) -> str:
        return BMP_TYPE_NAMES.get(self.msg_type, "unknown")

    def _head(self) -> dict:
        d = {"bmp_type": self.bmp_type, "version": self.version, "length": self.length}
        if self.peer is not None:
            d["peer"] = self.peer.to_dict()
        return d

    def to_dict(self) -> dict:
        return self._head()

    def __repr__(self) -> str:
        peer = f", {self.peer.describe()}" if self.peer is not None else ""
        return f"{type(self).__name__}({self.length} octets{peer})"


class InfoTlv(NamedTuple):
    """An information TLV (RFC 7854 §4.4): ``type`` and raw ``value``."""
    type: int
    value: bytes

    @property
    def name(self) -> str:
        return INFO_TLV_NAMES.get(self.type, "unknown")

    @property
    def text(self) -> str:
        return _text(self.value)

    def to_dict(self) -> dict:
        return {"type": self.type, "name": self.name, "value": self.text}


def _info_tlvs(buf, pos: int, end: int, what: str) -> list:
    return [InfoTlv(t, v) for t, v in _tlvs(buf, pos, end, what)]


def _first_text(tlvs, ttype: int):
    return next((t.text for t in tlvs if t.type == ttype), None)


class Initiation(BmpMessage):
    """RFC 7854 §4.3: information TLVs (sysDescr and sysName are required)."""
    msg_type = BmpType.INITIATION

    def __init__(self, tlvs, length: int = 0):
        super().__init__(length)
        self.tlvs = list(tlvs)

    sys_descr = property(lambda self: _first_text(self.tlvs, 1))
    sys_name = property(lambda self: _first_text(self.tlvs, 2))
    strings = property(lambda self: [t.text for t in self.tlvs if t.type == 0])

    def to_dict(self) -> dict:
        d = self._head()
        d["information"] = [t.to_dict() for t in self.tlvs]
        return d


class Termination(BmpMessage):
    """RFC 7854 §4.5: string (type 0) and reason (type 1, 2 octets) TLVs."""
    msg_type = BmpType.TERMINATION

    def __init__(self, tlvs, length: int = 0):
        super().__init__(length)
        self.tlvs = list(tlvs)   # (type, value) pairs

    @property
    def reason(self):
        for t, v in self.tlvs:
            if t == 1 and len(v) == 2:
                return _U16.unpack(v)[0]
        return None

    strings = property(lambda self: [_text(v) for t, v in self.tlvs if t == 0])

    def to_dict(self) -> dict:
        d = self._head()
        items = []
        for t, v in self.tlvs:
            item = {"type": t, "name": TERMINATION_TLV_NAMES.get(t, "unknown")}
            if t == 0:
                item["value"] = _text(v)
            elif t == 1 and len(v) == 2:
                code = _U16.unpack(v)[0]
                item.update(value=code, reason=TERMINATION_REASON_NAMES.get(code))
            else:
                item["data"] = v.hex()
            items.append(item)
        d["information"] = items
        return d


def _bgp_dict(msg, err) -> dict:
    d = {"bgp": msg.to_dict() if msg is not None else None}
    if err is not None:
        d["bgp_error"] = err.to_dict()
    return d


class PeerUp(BmpMessage):
    """RFC 7854 §4.10: local address and ports, the OPEN the monitored router sent
    and the one it received (each decoded, or None with the BGPError kept),
    information TLVs (RFC 9069 §5.1: VRF/table name for Loc-RIB)."""
    msg_type = BmpType.PEER_UP

    def __init__(self, peer, local_address, local_port, remote_port, sent_open_data,
                 received_open_data, tlvs=(), length: int = 0):
        super().__init__(length, peer)
        self.local_address, self.local_port, self.remote_port = \
            local_address, local_port, remote_port
        self.sent_open_data, self.received_open_data = sent_open_data, received_open_data
        self.sent_open, self.sent_open_error = _decode_pdu(sent_open_data, _OPEN_CONTEXT)
        self.received_open, self.received_open_error = _decode_pdu(received_open_data,
                                                                   _OPEN_CONTEXT)
        self.tlvs = list(tlvs)

    table_name = property(lambda self: _first_text(self.tlvs, 3))

    def to_dict(self) -> dict:
        d = self._head()
        d.update(local_address=self.local_address, local_port=self.local_port,
                 remote_port=self.remote_port)
        for name, msg, err in (("sent_open", self.sent_open, self.sent_open_error),
                               ("received_open", self.received_open,
                                self.received_open_error)):
            d[name] = msg.to_dict() if msg is not None else None
            if err is not None:
                d[name + "_error"] = err.to_dict()
        d["information"] = [t.to_dict() for t in self.tlvs]
        return d


class RouteMonitoring(BmpMessage):
    """RFC 7854 §4.6: one BGP UPDATE of the peer's Adj-RIB-In (Adj-RIB-Out with the
    O flag, RFC 8671; the Loc-RIB for peer type 3, RFC 9069 §5.3).

    ``bgp`` is the decoded message (for an RFC 7606 error, the UPDATE with the
    malformed attributes left out) or None; ``error`` the codec's BGPError;
    ``context`` what it was decoded with and ``context_source`` where that came
    from: ``peer-up`` (the peer's OPENs), ``per-peer-header`` (the A flag only,
    no Peer Up seen) or ``guessed`` (ADD-PATH assumed because only that decoded).
    """
    msg_type = BmpType.ROUTE_MONITORING

    def __init__(self, peer, data: bytes, bgp, error, context, context_source,
                 length: int = 0):
        super().__init__(length, peer)
        self.data, self.bgp, self.error = data, bgp, error
        self.context, self.context_source = context, context_source

    def to_dict(self) -> dict:
        d = self._head()
        d.update(_bgp_dict(self.bgp, self.error))
        d["context"] = {"four_octet_as": self.context.four_octet_as,
                        "add_path": _family_list(self.context.add_path),
                        "source": self.context_source}
        return d


class PeerDown(BmpMessage):
    """RFC 7854 §4.9: ``reason`` 1/3 carry a NOTIFICATION (``notification``),
    2 an FSM event code (``fsm_event``), 4/5 nothing, 6 (RFC 9069 §5.4) TLVs."""
    msg_type = BmpType.PEER_DOWN

    def __init__(self, peer, reason: int, data: bytes = b"", notification=None, error=None,
                 fsm_event=None, tlvs=(), length: int = 0):
        super().__init__(length, peer)
        self.reason, self.data = reason, data
        self.notification, self.error = notification, error
        self.fsm_event, self.tlvs = fsm_event, list(tlvs)

    reason_name = property(lambda self: PEER_DOWN_REASON_NAMES.get(self.reason, "unknown"))

    def to_dict(self) -> dict:
        d = self._head()
        d.update(reason=self.reason, reason_name=self.reason_name)
        if self.reason in (1, 3):
            d.update(_bgp_dict(self.notification, self.error))
        elif self.reason == 2:
            d["fsm_event"] = self.fsm_event
        elif self.reason == 6:
            d["information"] = [t.to_dict() for t in self.tlvs]
        elif self.data:
            d["data"] = self.data.hex()
        return d


class Statistic(NamedTuple):
    """One statistics TLV (RFC 7854 §4.8): ``value`` is an int (counter, gauge),
    (afi, safi, gauge) for the per-family gauges, or None when the length does not
    fit the type (``data`` keeps the octets)."""
    type: int
    value: object
    data: bytes

    @property
    def name(self) -> str:
        return STAT_TYPES.get(self.type, ("unknown",))[0]

    def to_dict(self) -> dict:
        d = {"type": self.type, "name": self.name}
        if isinstance(self.value, tuple):
            d.update(afi=self.value[0], safi=self.value[1], value=self.value[2])
        elif self.value is not None:
            d["value"] = self.value
        else:
            d["data"] = self.data.hex()
        return d


def _stat_value(stype: int, data: bytes):
    """Decode by the type's layout; an unknown type by its length (4, 8 or 11)."""
    layout = STAT_TYPES.get(stype, (None, None))[1]
    size = len(data)
    if layout is not None and _STAT_SIZES[layout] != size:
        return None
    if size == 4:
        return _U32.unpack(data)[0]
    if size == 8:
        return _U64.unpack(data)[0]
    if size == 11:
        return (_U16.unpack_from(data)[0], data[2], _U64.unpack_from(data, 3)[0])
    return None


class StatisticsReport(BmpMessage):
    """RFC 7854 §4.8: ``stats`` in wire order."""
    msg_type = BmpType.STATISTICS_REPORT

    def __init__(self, peer, stats, length: int = 0):
        super().__init__(length, peer)
        self.stats = list(stats)

    @property
    def counters(self) -> dict:
        """type -> value; the per-family gauges as {(afi, safi): value}."""
        out: dict = {}
        for s in self.stats:
            if isinstance(s.value, tuple):
                out.setdefault(s.type, {})[s.value[:2]] = s.value[2]
            else:
                out[s.type] = s.value
        return out

    def to_dict(self) -> dict:
        d = self._head()
        d["stats"] = [s.to_dict() for s in self.stats]
        return d


class RouteMirroring(BmpMessage):
    """RFC 7854 §4.7: ``items`` are ("bgp-message", message, error, raw) and
    ("information", code) in wire order, plus ("unknown", type, raw)."""
    msg_type = BmpType.ROUTE_MIRRORING

    def __init__(self, peer, items, length: int = 0):
        super().__init__(length, peer)
        self.items = list(items)

    @property
    def messages(self) -> list:
        return [item[1] for item in self.items if item[0] == "bgp-message"]

    def to_dict(self) -> dict:
        d = self._head()
        out = []
        for item in self.items:
            if item[0] == "bgp-message":
                entry = {"type": 0, "name": "bgp-message"}
                entry.update(_bgp_dict(item[1], item[2]))
            elif item[0] == "information":
                entry = {"type": 1, "name": "information", "code": item[1],
                         "code_name": MIRROR_INFO_NAMES.get(item[1], "unknown")}
            else:
                entry = {"type": item[1], "name": "unknown", "data": item[2].hex()}
            out.append(entry)
        d["tlvs"] = out
        return d


class UnknownBmpMessage(BmpMessage):
    """A message type this module does not know (RFC 7854 §4.1), kept raw."""

    def __init__(self, msg_type: int, data: bytes, length: int = 0, version: int = 3):
        super().__init__(length, version=version)
        self.msg_type, self.data = msg_type, data

    def to_dict(self) -> dict:
        d = self._head()
        d.update(type_code=self.msg_type, data=self.data.hex())
        return d


class MalformedBmpMessage(BmpMessage):
    """A framed message whose body is malformed: ``error`` (a BmpError) and the raw
    ``data``; the stream goes on after it (its length was sound)."""

    def __init__(self, msg_type: int, data: bytes, error: BmpError, length: int = 0):
        super().__init__(length)
        self.msg_type, self.data, self.error = msg_type, data, error

    def to_dict(self) -> dict:
        d = self._head()
        d.update(type_code=self.msg_type, malformed=True, error=self.error.to_dict(),
                 data=self.data.hex())
        return d


# --- decoders per type -------------------------------------------------------------------

def _decode_initiation(buf, end: int, length: int) -> Initiation:
    return Initiation(_info_tlvs(buf, COMMON_HEADER_LEN, end, "initiation"), length)


def _decode_termination(buf, end: int, length: int) -> Termination:
    return Termination(_tlvs(buf, COMMON_HEADER_LEN, end, "termination"), length)


def _decode_peer_up(buf, end: int, length: int, peer: PeerHeader) -> PeerUp:
    """RFC 7854 §4.10: local address (16), local port (2), remote port (2), sent OPEN,
    received OPEN, information TLVs."""
    pos = PEER_HEADER_END
    _need(buf, pos, 20, end, "peer up local address and ports")
    raw_local = bytes(buf[pos:pos + 16])
    ipv6 = peer.ipv6 if not peer.is_loc_rib else any(raw_local[:12])
    local = _address16(raw_local, ipv6)
    lport, rport = struct.unpack_from("!HH", buf, pos + 16)
    pos += 20
    sent_end = _pdu_end(buf, pos, end, "peer up sent OPEN")
    recv_end = _pdu_end(buf, sent_end, end, "peer up received OPEN")
    tlvs = _info_tlvs(buf, recv_end, end, "peer up information")
    return PeerUp(peer, local, lport, rport, bytes(buf[pos:sent_end]),
                  bytes(buf[sent_end:recv_end]), tlvs, length)


def _decode_peer_down(buf, end: int, length: int, peer: PeerHeader) -> PeerDown:
    """RFC 7854 §4.9 (reason 6: RFC 9069 §5.4)."""
    pos = PEER_HEADER_END
    _need(buf, pos, 1, end, "peer down reason")
    reason, pos = buf[pos], pos + 1
    data = bytes(buf[pos:end])
    if reason in (1, 3):
        pdu_end = _pdu_end(buf, pos, end, "peer down NOTIFICATION")
        if pdu_end != end:
            raise BmpError(f"{end - pdu_end} octets after the peer down NOTIFICATION", pdu_end)
        msg, err = _decode_pdu(data, _OPEN_CONTEXT)
        if msg is not None and not isinstance(msg, Notification) and err is None:
            err = BmpError(f"peer down reason {reason} carries a {msg.type}, not a "
                           "NOTIFICATION", pos)
        return PeerDown(peer, reason, data, msg, err, length=length)
    if reason == 2:
        if len(data) != 2:
            raise BmpError(f"peer down reason 2 needs a 2-octet FSM event code, got "
                           f"{len(data)} octets", pos)
        return PeerDown(peer, reason, data, fsm_event=_U16.unpack(data)[0], length=length)
    if reason == 6:
        return PeerDown(peer, reason, data, tlvs=_info_tlvs(buf, pos, end, "peer down"),
                        length=length)
    return PeerDown(peer, reason, data, length=length)


def _decode_stats(buf, end: int, length: int, peer: PeerHeader) -> StatisticsReport:
    """RFC 7854 §4.8: a 4-octet count, then that many type/length/value statistics."""
    pos = PEER_HEADER_END
    _need(buf, pos, 4, end, "statistics count")
    count, pos = _U32.unpack_from(buf, pos)[0], pos + 4
    if count > (end - pos) // 4:
        raise BmpError(f"statistics count {count} cannot fit in {end - pos} octets", pos - 4)
    stats = []
    for _ in range(count):
        _need(buf, pos, 4, end, "statistic header")
        stype, slen = struct.unpack_from("!HH", buf, pos)
        _need(buf, pos + 4, slen, end, f"statistic type {stype} of length {slen}")
        data = bytes(buf[pos + 4:pos + 4 + slen])
        stats.append(Statistic(stype, _stat_value(stype, data), data))
        pos += 4 + slen
    if pos != end:
        raise BmpError(f"{end - pos} octets after the {count} statistics", pos)
    return StatisticsReport(peer, stats, length)


def _decode_route_monitoring(buf, end: int, length: int, peer: PeerHeader,
                             peers) -> RouteMonitoring:
    """RFC 7854 §4.6: the rest of the message is one BGP UPDATE PDU."""
    pos = PEER_HEADER_END
    pdu_end = _pdu_end(buf, pos, end, "route monitoring")
    if pdu_end != end:
        raise BmpError(f"{end - pdu_end} octets after the route monitoring PDU", pdu_end)
    data = bytes(buf[pos:end])
    msg, err, ctx, source = _decode_routes(data, peer, peers)
    return RouteMonitoring(peer, data, msg, err, ctx, source, length)


def _decode_route_mirroring(buf, end: int, length: int, peer: PeerHeader,
                            peers) -> RouteMirroring:
    """RFC 7854 §4.7: TLVs; type 0 a BGP PDU, type 1 a 2-octet information code."""
    items = []
    for ttype, value in _tlvs(buf, PEER_HEADER_END, end, "route mirroring"):
        if ttype == 0:
            msg, err, _ctx, _src = _decode_routes(value, peer, peers)
            items.append(("bgp-message", msg, err, value))
        elif ttype == 1 and len(value) == 2:
            items.append(("information", _U16.unpack(value)[0]))
        else:
            items.append(("unknown", ttype, value))
    return RouteMirroring(peer, items, length)


def decode_bmp_message(data, peers=None, offset: int = 0) -> BmpMessage:
    """Decode one whole BMP message (RFC 7854 §4.1 common header first).

    ``peers`` maps ``PeerHeader.key`` to ``BmpPeerState`` (as ``BmpReader.peers``
    does) and gives the contexts of Route Monitoring UPDATEs.  Raises ``BmpError``
    (``offset`` added to the position in ``data``) when the BMP structure is wrong.
    """
    buf = data if isinstance(data, bytes) else bytes(data)
    try:
        return _decode(buf, peers)
    except BmpError as exc:
        exc.offset = offset + (exc.offset or 0)
        exc.args = (f"BMP: {exc.reason} at offset {exc.offset}",)
        raise


def _decode(buf: bytes, peers) -> BmpMessage:
    _need(buf, 0, COMMON_HEADER_LEN, len(buf), "common header")
    version, length, mtype = _COMMON.unpack_from(buf)
    if version != BMP_VERSION:
        raise BmpError(f"version {version} is not {BMP_VERSION}", 0)
    if length != len(buf):
        raise BmpError(f"length field {length} but {len(buf)} octets given", 1)
    if mtype == BmpType.INITIATION:
        return _decode_initiation(buf, length, length)
    if mtype == BmpType.TERMINATION:
        return _decode_termination(buf, length, length)
    if mtype > BmpType.ROUTE_MIRRORING:
        return UnknownBmpMessage(mtype, buf[COMMON_HEADER_LEN:], length, version)
    peer = decode_peer_header(buf, COMMON_HEADER_LEN, length)
    if mtype == BmpType.ROUTE_MONITORING:
        return _decode_route_monitoring(buf, length, length, peer, peers)
    if mtype == BmpType.PEER_UP:
        return _decode_peer_up(buf, length, length, peer)
    if mtype == BmpType.PEER_DOWN:
        return _decode_peer_down(buf, length, length, peer)
    if mtype == BmpType.STATISTICS_REPORT:
        return _decode_stats(buf, length, length, peer)
    return _decode_route_mirroring(buf, length, length, peer, peers)


# --- stream framing -----------------------------------------------------------------------

def _plausible(buf, pos: int, max_length: int):
    """Whether a BMP message could start at ``pos`` (True/False), or None when more
    octets are needed to tell.  Used only to find the next message after lost
    bytes; it checks the fields RFC 7854 fixes (§4.1 version, §4.2 peer type and
    reserved flags, §4.6/§4.10 the BGP marker) without reading beyond 87 octets."""
    avail = len(buf) - pos
    if avail < COMMON_HEADER_LEN:
        return None
    version, length, mtype = _COMMON.unpack_from(buf, pos)
    if version != BMP_VERSION or length < COMMON_HEADER_LEN or length > max_length \
            or mtype > BmpType.ROUTE_MIRRORING:
        return False
    if mtype in (BmpType.INITIATION, BmpType.TERMINATION):
        return _plausible_tlv(buf, pos, length)
    if length < PEER_HEADER_END:
        return False
    if avail < PEER_HEADER_END:
        return None
    if not _plausible_peer(buf, pos + COMMON_HEADER_LEN):
        return False
    return _plausible_body(buf, pos, length, mtype)


def _plausible_tlv(buf, pos: int, length: int):
    if length == COMMON_HEADER_LEN:
        return True
    if length < COMMON_HEADER_LEN + 4:
        return False
    if len(buf) - pos < COMMON_HEADER_LEN + 4:
        return None
    ttype, tlen = struct.unpack_from("!HH", buf, pos + COMMON_HEADER_LEN)
    return ttype < 0x100 and tlen <= length - COMMON_HEADER_LEN - 4


def _plausible_peer(buf, pos: int) -> bool:
    ptype, flags = buf[pos], buf[pos + 1]
    if ptype > 3:
        return False
    if ptype == 3:
        return not flags & 0x3F
    if flags & 0x0F:
        return False
    if ptype == 0 and any(buf[pos + 2:pos + 10]):  # §4.2: zero for a global instance peer
        return False
    return bool(flags & 0x80) or not any(buf[pos + 10:pos + 22])


def _plausible_body(buf, pos: int, length: int, mtype: int):
    body = pos + PEER_HEADER_END
    if mtype in (BmpType.ROUTE_MONITORING, BmpType.PEER_UP):
        pdu = body + (20 if mtype == BmpType.PEER_UP else 0)
        if length < pdu - pos + BGP_HEADER_LEN:
            return False
        if len(buf) < pdu + BGP_HEADER_LEN:
            return None
        want = 2 if mtype == BmpType.ROUTE_MONITORING else 1
        pdu_len = _U16.unpack_from(buf, pdu + 16)[0]
        return buf[pdu:pdu + 16] == _MARKER and buf[pdu + 18] == want and \
            BGP_HEADER_LEN <= pdu_len <= length - (pdu - pos)
    if mtype == BmpType.PEER_DOWN:
        return length > PEER_HEADER_END and (len(buf) <= body or 1 <= buf[body] <= 6)
    if mtype == BmpType.STATISTICS_REPORT:
        if length < PEER_HEADER_END + 4:
            return False
        if len(buf) < body + 4:
            return None
        return _U32.unpack_from(buf, body)[0] <= (length - PEER_HEADER_END - 4) // 4
    return length >= PEER_HEADER_END + 4


class BmpReader:
    """Incremental BMP framing (RFC 7854 §4.1) for one byte stream.

    ``feed(data)`` returns the list of whole messages now available; a partial
    message waits.  A message whose body is malformed becomes a
    ``MalformedBmpMessage`` and the stream goes on.  A bad common header (version
    not 3, impossible length) raises ``BmpError`` (``error.messages`` holds the
    messages decoded before it) unless ``resync`` is set; then the reader skips to
    the next plausible header and lists what it skipped in ``skipped`` as
    (stream offset, octets, reason).  ``synced=False`` starts in that search (a
    capture that begins mid-stream).  ``peers`` holds each monitored peer's state,
    from Peer Up to Peer Down.
    """

    def __init__(self, resync: bool = False, synced: bool = True,
                 max_length: int = MAX_BMP_LENGTH):
        self.resync, self.synced, self.max_length = resync, synced, max_length
        self.peers: dict = {}
        self.skipped: list = []
        self.offset = 0               # stream offset of the first buffered octet
        self._buf = bytearray()
        self._skip_from = 0
        self._skip_reason = "stream does not start with a BMP header"

    @property
    def pending(self) -> int:
        """Octets buffered that do not yet form a whole message."""
        return len(self._buf)

    def feed(self, data=b"") -> list:
        self._buf += data
        out: list = []
        pos = self._frame(out)
        del self._buf[:pos]
        self.offset += pos
        return out

    def gap(self, nbytes: int) -> None:
        """``nbytes`` of the stream were lost: drop the partial message, resynchronise."""
        self._drop("incomplete message before a gap in the stream")
        self.offset += nbytes
        self._lose_sync(self.offset, "resynchronising after a gap in the stream")

    def close(self) -> None:
        """The stream ended: a partial message left over is recorded as skipped."""
        self._drop("truncated at the end of the stream")

    def _drop(self, reason: str) -> None:
        if self.synced and self._buf:
            self.skipped.append((self.offset, len(self._buf), reason))
        elif not self.synced:
            self._end_skip(self.offset + len(self._buf))
        self.offset += len(self._buf)
        self._buf.clear()

    def _lose_sync(self, offset: int, reason: str) -> None:
        self.synced, self._skip_from, self._skip_reason = False, offset, reason

    def _end_skip(self, offset: int) -> None:
        if offset > self._skip_from:
            self.skipped.append((self._skip_from, offset - self._skip_from,
                                 self._skip_reason))
        self._skip_from = offset

    def _frame(self, out: list) -> int:
        buf, pos = self._buf, 0
        while True:
            if not self.synced:
                found = self._search(pos)
                if found is None:
                    # keep what might start a header; the rest is skipped for good
                    return max(pos, len(buf) - (PEER_HEADER_END + 20 + BGP_HEADER_LEN))
                self._end_skip(self.offset + found)
                pos, self.synced = found, True
            if len(buf) - pos < COMMON_HEADER_LEN:
                return pos
            version, length, mtype = _COMMON.unpack_from(buf, pos)
            if version != BMP_VERSION or length < COMMON_HEADER_LEN or length > self.max_length:
                err = BmpError(f"invalid common header (version {version}, length {length})",
                               self.offset + pos, bytes(buf[pos:pos + COMMON_HEADER_LEN]))
                if not self.resync:
                    err.messages = out
                    del buf[:pos]
                    self.offset += pos
                    raise err
                self._lose_sync(self.offset + pos, "invalid BMP header")
                pos += 1
                continue
            if len(buf) - pos < length:
                return pos
            out.append(self._message(bytes(buf[pos:pos + length]), mtype, self.offset + pos))
            pos += length

    def _search(self, pos: int):
        """Position of the next plausible header, or None to wait for more octets."""
        buf = self._buf
        while True:
            pos = buf.find(b"\x03", pos)
            if pos < 0:
                return None
            verdict = _plausible(buf, pos, self.max_length)
            if verdict is None:
                return None
            if verdict:
                return pos
            pos += 1

    def _message(self, raw: bytes, mtype: int, offset: int) -> BmpMessage:
        try:
            msg = decode_bmp_message(raw, self.peers, offset)
        except BmpError as exc:
            return MalformedBmpMessage(mtype, raw, exc, len(raw))
        if isinstance(msg, PeerUp):
            self.peers[msg.peer.key] = _peer_state(msg)
        elif isinstance(msg, PeerDown):
            self.peers.pop(msg.peer.key, None)
        elif isinstance(msg, Termination):
            self.peers.clear()
        return msg


# --- captures ---------------------------------------------------------------------------

def _session_description(src: str, msg: BmpMessage) -> str:
    if msg.peer is None:
        return f"router {src}"
    return f"router {src} {msg.peer.describe()}"


class _BmpStreamConsumer:
    """Plugs a ``BmpReader`` under one reassembled TCP direction of ``bgpevpn.pcap``:
    the ``feed`` / ``jump`` / ``stop`` calls its stream makes on a framer."""

    def __init__(self, src: str, dst: str, mid_stream: bool, skipped: list):
        self.src, self.dst, self.skipped = src, dst, skipped
        self.reader = BmpReader(resync=True, synced=not mid_stream)
        if mid_stream:
            self.reader._skip_reason = "capture started mid-stream"

    def feed(self, data: bytes, time: float, frame: int) -> list:
        return [(time, _session_description(self.src, m), m, frame)
                for m in self.reader.feed(data)]

    def jump(self, nbytes: int) -> None:
        self.reader.gap(nbytes)
        self._collect()

    def stop(self, reason: str) -> None:
        self.reader.close()
        self._collect()

    def _collect(self) -> None:
        for offset, nbytes, reason in self.reader.skipped:
            self.skipped.append((self.src, self.dst, offset, nbytes, reason))
        self.reader.skipped = []


class BmpCaptureReader:
    """Iterate over (time, peer description, BMP message, frame) of a pcap/pcapng
    capture; afterwards ``gaps`` (from ``bgpevpn.pcap``) and ``skipped``
    ((src, dst, stream offset, octets, reason)) say what could not be read.

    Each direction of each TCP connection touching one of ``ports`` is
    reassembled by ``bgpevpn.pcap`` and framed by its own ``BmpReader`` in resync
    mode: a stream seen without its SYN starts with a search for a plausible header.
    """

    def __init__(self, path, ports: Iterable[int] | int = DEFAULT_PORTS):
        self.path = path
        self.ports = frozenset((ports,) if isinstance(ports, int) else ports)
        self.gaps: list = []
        self.skipped: list = []

    def __iter__(self) -> Iterator[tuple]:
        from .pcap import reassemble_tcp
        self.gaps, self.skipped = [], []

        def consumer(src, dst, mid_stream):
            return _BmpStreamConsumer(src, dst, mid_stream, self.skipped)
        yield from reassemble_tcp(self.path, self.ports, consumer, self.gaps,
                                  frame_of=lambda item: item[3])


def iter_bmp_capture(path, ports: Iterable[int] | int = DEFAULT_PORTS) -> Iterator[tuple]:
    """Yield ``(timestamp, peer_description, bmp_message)`` for every BMP message
    of a pcap/pcapng capture (optionally compressed).

    ``timestamp`` is the capture time of the packet that completed the message;
    ``peer_description`` names the BMP speaker (``router ADDRESS:PORT``) and, for
    messages with a per-peer header, the monitored peer (``peer ADDRESS ASn``,
    with ``rd X`` for RD-instance peers, or ``loc-rib RD (BGP-ID ASn)``).
    """
    for time, description, msg, _frame in BmpCaptureReader(path, ports):
        yield time, description, msg
