"""The reference codec: the executable specification of the BGP wire format.

Pure Python, reading with integer cursors and ``struct.unpack_from`` over one
``bytes`` buffer.  ``_wire_c.pyx`` mirrors these functions name for name and
must give identical results (objects and exceptions); ``wire.py`` picks one.

Every length read from the wire is checked against the bounds of the
enclosing structure before use; malformed input raises ``BGPError``
subclasses carrying the NOTIFICATION code/subcode and RFC 7606 action.
"""
from __future__ import annotations

import socket
import struct

from .attributes import (ATTRIBUTE_CLASSES, Aggregator, Aigp, As4Aggregator, As4Path, AsPath,
                         AtomicAggregate, Attributes, ClusterList, Communities, ExtCommunities,
                         LargeCommunities, LocalPref, Med, MpReachNlri, MpUnreachNlri,
                         NextHop, Origin, OriginatorId, Otc, PmsiTunnel, UnknownAttribute)
from .constants import (ATTR_DEFAULT_FLAGS, HEADER_LEN, MARKER, MAX_MESSAGE_LEN, AttrType,
                        ErrorAction, MessageType)
from .columns import WITHDRAWN, EvpnColumns, new_column_arrays, row_of_route
from .context import DEFAULT_CONTEXT, Context
from .errors import (BGPError, MessageHeaderError, OpenMessageError,
                     RouteRefreshMessageError, UpdateMessageError, ValueParseError)
from .messages import (Capability, Keepalive, Message, Notification, Open, RouteRefresh,
                       UnknownMessage, Update)
from .routes import (EVPN_ROUTE_CLASSES, AddPathEvpnRoute, Ipv4Prefix, Ipv4PrefixAddPath, Ipv6Prefix,
                     Ipv6PrefixAddPath, MacIpRoute, RawEvpnRoute, RawNlri, Route)
from .values import ExtCommunity

IMPLEMENTATION = "py"

_new = bytes.__new__
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_u16 = _U16.unpack_from
_u32 = _U32.unpack_from
_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6

TAW = ErrorAction.TREAT_AS_WITHDRAW
DISCARD = ErrorAction.ATTRIBUTE_DISCARD
AFI_SAFI_DISABLE = ErrorAction.AFI_SAFI_DISABLE
RESET = ErrorAction.SESSION_RESET

#: RFC 4271 §6.1 minimum length per message type (KEEPALIVE: exactly 19).
_MIN_LEN = {1: 29, 2: 23, 3: 21, 4: 19, 5: 23}

#: RFC 7606 §7 (and each attribute's RFC): what a malformed attribute costs.
ATTR_ERROR_ACTION = {
    AttrType.ORIGIN: TAW, AttrType.AS_PATH: TAW, AttrType.NEXT_HOP: TAW,
    AttrType.MULTI_EXIT_DISC: TAW, AttrType.LOCAL_PREF: TAW,
    AttrType.ATOMIC_AGGREGATE: DISCARD, AttrType.AGGREGATOR: DISCARD,
    AttrType.COMMUNITIES: TAW, AttrType.ORIGINATOR_ID: TAW, AttrType.CLUSTER_LIST: TAW,
    AttrType.MP_REACH_NLRI: AFI_SAFI_DISABLE, AttrType.MP_UNREACH_NLRI: AFI_SAFI_DISABLE,
    AttrType.EXTENDED_COMMUNITIES: TAW, AttrType.AS4_PATH: DISCARD,
    AttrType.AS4_AGGREGATOR: DISCARD, AttrType.PMSI_TUNNEL: TAW, AttrType.AIGP: DISCARD,
    AttrType.LARGE_COMMUNITY: TAW, AttrType.OTC: TAW,
}

FAMILY_IPV4_UNICAST = (1, 1)
FAMILY_IPV6_UNICAST = (2, 1)
FAMILY_EVPN = (25, 70)


# --- framing ---------------------------------------------------------------------

def check_range(buf, pos: int, end=None) -> None:
    """Positions handed to a codec function must lie inside its buffer; any
    other is a programmer error (ValueError), never a read outside it."""
    n = len(buf)
    if end is None:
        end = n
    if not 0 <= pos <= end <= n:
        raise ValueError(f"positions {pos}..{end} outside the {n}-octet buffer")


def check_header(buf, pos: int, max_len: int):
    """RFC 4271 §4.1/§6.1: validate the header at ``pos`` (19 octets must be
    there) and return (length, type)."""
    if pos < 0 or len(buf) - pos < HEADER_LEN:
        raise MessageHeaderError(2, "message header is truncated", offset=pos)
    if buf[pos:pos + 16] != MARKER:
        raise MessageHeaderError(1, "marker is not all ones", offset=pos)
    length = (buf[pos + 16] << 8) | buf[pos + 17]
    mtype = buf[pos + 18]
    if length < HEADER_LEN or length > max_len:
        raise MessageHeaderError(2, f"message length {length} outside 19..{max_len}",
                                 bytes(buf[pos + 16:pos + 18]), offset=pos)
    minimum = _MIN_LEN.get(mtype)
    if mtype == 1 and length > MAX_MESSAGE_LEN:
        # RFC 8654 §4: OPEN (and KEEPALIVE) are never extended messages
        raise MessageHeaderError(2, f"OPEN of {length} octets (OPEN is never extended)",
                                 bytes(buf[pos + 16:pos + 18]), offset=pos)
    if minimum is not None and (length < minimum or (mtype == 4 and length != 19)):
        raise MessageHeaderError(2, f"{length} octets is not a valid length for message type "
                                 f"{mtype}", bytes(buf[pos + 16:pos + 18]), offset=pos)
    return length, mtype


def split_messages(buf, pos: int = 0, max_len: int = 4096):
    """Frame whole messages in ``buf`` from ``pos``: returns ([(start, end), ...],
    next position).  A partial message at the end is left for later (it is not
    an error); a malformed header raises MessageHeaderError."""
    check_range(buf, pos)
    out = []
    end = len(buf)
    while end - pos >= HEADER_LEN:
        length, _ = check_header(buf, pos, max_len)
        if end - pos < length:
            break
        out.append((pos, pos + length))
        pos += length
    return out, pos


def decode_messages(data, context=None) -> list:
    """Decode a buffer holding whole messages; a trailing partial message or
    malformed input raises BGPError (offset = where, in ``data``)."""
    ctx = context or DEFAULT_CONTEXT
    buf = data if isinstance(data, bytes) else bytes(data)
    frames, pos = split_messages(buf, 0, ctx.max_message_length)
    if pos != len(buf):
        raise MessageHeaderError(2, f"{len(buf) - pos} octets after the last whole message "
                                 "(truncated message)", offset=pos)
    return [decode_frame(buf, s, e, ctx) for s, e in frames]


def decode_message(data, context=None) -> Message:
    """Decode exactly one whole message."""
    ctx = context or DEFAULT_CONTEXT
    buf = data if isinstance(data, bytes) else bytes(data)
    if len(buf) < HEADER_LEN:
        raise MessageHeaderError(2, f"{len(buf)} octets is shorter than a BGP header", offset=0)
    length, _ = check_header(buf, 0, ctx.max_message_length)
    if length != len(buf):
        raise MessageHeaderError(2, f"length field {length} but {len(buf)} octets given",
                                 bytes(buf[16:18]), offset=0)
    return decode_frame(buf, 0, length, ctx)


def decode_frame(buf, start: int, end: int, ctx) -> Message:
    """Decode the framed message buf[start:end] (header already checked)."""
    if start < 0 or end > len(buf) or end - start < HEADER_LEN:
        raise MessageHeaderError(2, "message header is truncated", offset=start)
    mtype = buf[start + 18]
    length = end - start
    pos = start + HEADER_LEN
    try:
        if mtype == MessageType.UPDATE:
            return decode_update(buf, pos, end, ctx, length)
        if mtype == MessageType.KEEPALIVE:
            return Keepalive(length)
        if mtype == MessageType.OPEN:
            return decode_open(buf, pos, end, length)
        if mtype == MessageType.NOTIFICATION:
            return Notification(buf[pos], buf[pos + 1], buf[pos + 2:end], length)
        if mtype == MessageType.ROUTE_REFRESH:
            return decode_route_refresh(buf, pos, end, length)
        return UnknownMessage(mtype, buf[pos:end], length)
    except BGPError as e:
        if e.offset is None:
            e.offset = start
        raise


class MessageReader:
    """Incremental framing for a byte stream (a socket): ``feed(data)``
    returns an iterator of the whole messages now available; a partial
    message waits for more bytes.  ``context`` may be changed between feeds
    (e.g. after the OPENs negotiated extended message)."""

    def __init__(self, context=None):
        self.context = context or DEFAULT_CONTEXT
        self._buf = bytearray()
        self.offset = 0  # stream offset of the first byte still buffered

    def feed(self, data=b""):
        self._buf += data
        return self._drain()

    def _drain(self):
        while len(self._buf) >= HEADER_LEN:
            ctx = self.context
            head = bytes(self._buf[:HEADER_LEN])
            try:
                length, _ = check_header(head, 0, ctx.max_message_length)
            except BGPError as e:
                e.offset = self.offset
                raise
            if len(self._buf) < length:
                return
            frame = bytes(self._buf[:length])
            del self._buf[:length]
            start = self.offset
            self.offset += length
            try:
                yield decode_frame(frame, 0, length, ctx)
            except BGPError as e:
                e.offset = start + (e.offset or 0)
                raise

    @property
    def pending(self) -> int:
        """Octets buffered that do not yet form a whole message."""
        return len(self._buf)


# --- OPEN ---------------------------------------------------------------------------

def decode_open(buf, pos: int, end: int, length: int) -> Open:
    """RFC 4271 §4.2, RFC 5492 §4 (capabilities), RFC 9072 §2 (extended
    optional parameters length)."""
    version = buf[pos]
    my_as = _u16(buf, pos + 1)[0]
    hold = _u16(buf, pos + 3)[0]
    bgp_id = _ntop(_AF_INET, buf[pos + 5:pos + 9])
    opt_len = buf[pos + 9]
    pos += 10
    extended = False
    if opt_len == 255 and pos < end and buf[pos] == 255:
        # RFC 9072 §2: non-extended type 255 then a 2-octet length
        if end - pos < 3:
            raise OpenMessageError(0, "extended optional parameters length is truncated")
        opt_len = _u16(buf, pos + 1)[0]
        pos += 3
        extended = True
    if pos + opt_len != end:
        raise OpenMessageError(0, f"optional parameters length {opt_len} does not match the "
                               f"{end - pos} octets present")
    params = []
    caps = []
    hdr = 3 if extended else 2
    while pos < end:
        if end - pos < hdr:
            raise OpenMessageError(0, "optional parameter header is truncated")
        ptype = buf[pos]
        plen = _u16(buf, pos + 1)[0] if extended else buf[pos + 1]
        vstart = pos + hdr
        vend = vstart + plen
        if vend > end:
            raise OpenMessageError(0, f"optional parameter {ptype} overruns the OPEN")
        value = buf[vstart:vend]
        params.append((ptype, value))
        if ptype == 2:
            caps.extend(decode_capabilities(value))
        pos = vend
    return Open(my_as, hold, bgp_id, caps, version, params, extended, length)


def decode_capabilities(value: bytes) -> list:
    """RFC 5492 §4: code (1), length (1), value; a capability that overruns
    its parameter is a malformed OPEN."""
    caps = []
    pos, end = 0, len(value)
    while pos < end:
        if end - pos < 2:
            raise OpenMessageError(0, "capability header is truncated")
        code, clen = value[pos], value[pos + 1]
        if pos + 2 + clen > end:
            raise OpenMessageError(0, f"capability {code} overruns its optional parameter")
        caps.append(Capability(code, value[pos + 2:pos + 2 + clen]))
        pos += 2 + clen
    return caps


def decode_route_refresh(buf, pos: int, end: int, length: int) -> RouteRefresh:
    """RFC 2918 §3, RFC 7313 §3.2/§5: BoRR/EoRR must be exactly 23 octets."""
    afi = _u16(buf, pos)[0]
    subtype = buf[pos + 2]
    safi = buf[pos + 3]
    if subtype in (1, 2) and length != 23:
        raise RouteRefreshMessageError(1, f"{'BoRR' if subtype == 1 else 'EoRR'} "
                                       f"ROUTE-REFRESH of {length} octets",
                                       bytes(buf[pos - HEADER_LEN:end]))
    return RouteRefresh(afi, safi, subtype, buf[pos + 4:end], length)


# --- UPDATE -------------------------------------------------------------------------

def decode_update(buf, pos: int, end: int, ctx, length: int = 0) -> Update:
    """RFC 4271 §4.3 with RFC 7606 error handling."""
    check_range(buf, pos, end)
    if end - pos < 4:
        raise UpdateMessageError(1, "UPDATE body shorter than 4 octets", action=RESET)
    wlen = _u16(buf, pos)[0]
    pos += 2
    if pos + wlen + 2 > end:
        raise UpdateMessageError(1, f"withdrawn routes length {wlen} overruns the UPDATE",
                                 action=RESET)
    add_path = ctx.add_path
    withdrawn = decode_prefixes(buf, pos, pos + wlen, 4, FAMILY_IPV4_UNICAST in add_path,
                                RESET)
    pos += wlen
    alen = _u16(buf, pos)[0]
    pos += 2
    if pos + alen > end:
        raise UpdateMessageError(1, f"total path attribute length {alen} overruns the UPDATE",
                                 action=RESET)
    items, errors = decode_attributes(buf, pos, pos + alen, ctx)
    nlri = decode_prefixes(buf, pos + alen, end, 4, FAMILY_IPV4_UNICAST in add_path, RESET)
    update = Update(withdrawn, Attributes(items), nlri, length)
    if nlri or (update.attributes.mp_reach is not None and update.attributes.mp_reach.routes):
        missing = [c for c in (AttrType.ORIGIN, AttrType.AS_PATH) if c not in update.attributes]
        if nlri and AttrType.NEXT_HOP not in update.attributes:
            missing.append(AttrType.NEXT_HOP)
        for code in missing:
            if not any(c == code for c, _ in errors):
                errors.append((code, UpdateMessageError(
                    3, f"missing well-known attribute {AttrType(code).name}", bytes([code]),
                    TAW)))
    if errors:
        worst = max(errors, key=lambda ce: ce[1].action)[1]
        update.malformed = errors
        worst.update = update
        raise worst
    return update


def decode_attributes(buf, pos: int, end: int, ctx):
    """Walk the path attributes in buf[pos:end] (RFC 4271 §4.3).

    Returns (attributes, errors): an attribute that is malformed under
    RFC 7606 is left out and its error listed as (code, UpdateMessageError);
    errors that leave the UPDATE unparseable raise at once.
    """
    check_range(buf, pos, end)
    items = []
    errors = []
    seen = set()
    while pos < end:
        # RFC 7606 §4: an attribute that does not fit in the Total Attribute
        # Length is treat-as-withdraw; the NLRI is still found from that length
        if end - pos < 3 or (buf[pos] & 0x10 and end - pos < 4):
            errors.append((0, UpdateMessageError(1, "attribute header is truncated",
                                                 bytes(buf[pos:end]), TAW)))
            break
        flags = buf[pos]
        code = buf[pos + 1]
        if flags & 0x10:
            alen = _u16(buf, pos + 2)[0]
            vstart = pos + 4
        else:
            alen = buf[pos + 2]
            vstart = pos + 3
        vend = vstart + alen
        if vend > end:
            errors.append((code, UpdateMessageError(
                1, f"attribute {code} of length {alen} overruns the path attributes",
                bytes(buf[pos:end]), TAW)))
            break
        pos = vend
        if code in seen:
            # RFC 7606 §3(g): a repeated MP attribute resets; others keep the first
            if code in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI):
                raise UpdateMessageError(1, f"attribute {code} appears twice", action=RESET)
            errors.append((code, UpdateMessageError(
                1, f"attribute {code} appears twice; the first is kept",
                bytes(buf[vstart - (4 if flags & 0x10 else 3):vend]), DISCARD)))
            continue
        seen.add(code)
        parser = _ATTR_PARSERS.get(code)
        if parser is None:
            if not flags & 0x80:
                raise UpdateMessageError(2, f"unrecognized well-known attribute {code}",
                                         bytes(buf[vstart - (4 if flags & 0x10 else 3):vend]),
                                         RESET)
            items.append(UnknownAttribute(code, buf[vstart:vend], flags))
            continue
        if (flags & 0xC0) != (ATTR_DEFAULT_FLAGS[code] & 0xC0):
            mp = code in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI)
            # an MP attribute whose AFI/SAFI cannot be read leaves no family to disable
            action = RESET if mp and vend - vstart < 3 else ATTR_ERROR_ACTION[code]
            err = UpdateMessageError(
                4, f"attribute {AttrType(code).name} has flags 0x{flags:02x}",
                bytes(buf[vstart - (4 if flags & 0x10 else 3):vend]), action,
                family=(_u16(buf, vstart)[0], buf[vstart + 2]) if mp and action != RESET else None)
            if action == RESET:
                raise err
            errors.append((code, err))
            continue
        try:
            items.append(parser(buf, vstart, vend, flags, ctx))
        except UpdateMessageError as e:
            if e.action == RESET:
                raise
            errors.append((code, e))
    return items, errors


def _attr_error(code, subcode, reason, buf, vstart, vend):
    return UpdateMessageError(subcode, reason, bytes(buf[vstart:vend]),
                              ATTR_ERROR_ACTION[code])


def _fixed_len(code, n, buf, vstart, vend):
    if vend - vstart != n:
        raise _attr_error(code, 5, f"{AttrType(code).name} of {vend - vstart} octets "
                          f"(expected {n})", buf, vstart, vend)


def parse_origin(buf, vstart, vend, flags, ctx):
    """RFC 4271 §5.1.1; RFC 7606 §7.1."""
    _fixed_len(AttrType.ORIGIN, 1, buf, vstart, vend)
    v = buf[vstart]
    if v > 2:
        raise _attr_error(AttrType.ORIGIN, 6, f"undefined ORIGIN {v}", buf, vstart, vend)
    return Origin(v, flags, buf[vstart:vend])


def _parse_segments(code, buf, vstart, vend, asn_size):
    """RFC 4271 §4.3 path segments: type, count, count AS numbers; RFC 7606
    §7.2: unknown type, zero count or overrun make it malformed."""
    segs = []
    pos = vstart
    while pos < vend:
        if vend - pos < 2:
            raise _attr_error(code, 11, "AS path segment header is truncated", buf, vstart, vend)
        stype, count = buf[pos], buf[pos + 1]
        if stype < 1 or stype > 4 or count == 0:
            raise _attr_error(code, 11, f"AS path segment type {stype} count {count}",
                              buf, vstart, vend)
        pos += 2
        nxt = pos + count * asn_size
        if nxt > vend:
            raise _attr_error(code, 11, "AS path segment overruns the attribute",
                              buf, vstart, vend)
        if asn_size == 4:
            asns = struct.unpack_from(f"!{count}I", buf, pos)
        else:
            asns = struct.unpack_from(f"!{count}H", buf, pos)
        segs.append((stype, asns))
        pos = nxt
    return segs


def parse_as_path(buf, vstart, vend, flags, ctx):
    """RFC 4271 §5.1.2, 4-octet AS numbers when negotiated (RFC 6793 §4)."""
    segs = _parse_segments(AttrType.AS_PATH, buf, vstart, vend, 4 if ctx.four_octet_as else 2)
    return AsPath(segs, flags, buf[vstart:vend], ctx.four_octet_as)


def parse_as4_path(buf, vstart, vend, flags, ctx):
    """RFC 6793 §3/§6: always 4-octet; malformed is discarded."""
    return As4Path(_parse_segments(AttrType.AS4_PATH, buf, vstart, vend, 4), flags,
                   buf[vstart:vend])


def parse_next_hop(buf, vstart, vend, flags, ctx):
    """RFC 4271 §5.1.3; RFC 7606 §7.3."""
    _fixed_len(AttrType.NEXT_HOP, 4, buf, vstart, vend)
    return NextHop(_ntop(_AF_INET, buf[vstart:vend]), flags, buf[vstart:vend])


def _parse_u32(cls):
    def parse(buf, vstart, vend, flags, ctx):
        _fixed_len(cls.code, 4, buf, vstart, vend)
        return cls(_u32(buf, vstart)[0], flags, buf[vstart:vend])
    parse.__doc__ = f"{cls.__doc__} A 4-octet value (RFC 7606 §7)."
    return parse


parse_med = _parse_u32(Med)
parse_local_pref = _parse_u32(LocalPref)
parse_otc = _parse_u32(Otc)


def parse_atomic_aggregate(buf, vstart, vend, flags, ctx):
    """RFC 4271 §5.1.6; RFC 7606 §7.6: wrong length -> attribute discard."""
    _fixed_len(AttrType.ATOMIC_AGGREGATE, 0, buf, vstart, vend)
    return AtomicAggregate(True, flags, b"")


def parse_aggregator(buf, vstart, vend, flags, ctx):
    """RFC 4271 §5.1.7 (6 octets, or 8 with 4-octet AS); RFC 7606 §7.7."""
    n = 8 if ctx.four_octet_as else 6
    _fixed_len(AttrType.AGGREGATOR, n, buf, vstart, vend)
    asn = _u32(buf, vstart)[0] if n == 8 else _u16(buf, vstart)[0]
    return Aggregator((asn, _ntop(_AF_INET, buf[vend - 4:vend])), flags, buf[vstart:vend],
                      ctx.four_octet_as)


def parse_as4_aggregator(buf, vstart, vend, flags, ctx):
    """RFC 6793 §3: 4-octet AS + address."""
    _fixed_len(AttrType.AS4_AGGREGATOR, 8, buf, vstart, vend)
    return As4Aggregator((_u32(buf, vstart)[0], _ntop(_AF_INET, buf[vstart + 4:vend])), flags,
                         buf[vstart:vend])


def _multiple_of(code, size, buf, vstart, vend):
    n = vend - vstart
    if n == 0 or n % size:
        raise _attr_error(code, 5, f"{AttrType(code).name} of {n} octets is not a non-zero "
                          f"multiple of {size}", buf, vstart, vend)
    return n // size


def parse_communities(buf, vstart, vend, flags, ctx):
    """RFC 1997; RFC 7606 §7.8."""
    n = _multiple_of(AttrType.COMMUNITIES, 4, buf, vstart, vend)
    return Communities(struct.unpack_from(f"!{n}I", buf, vstart), flags, buf[vstart:vend])


def parse_originator_id(buf, vstart, vend, flags, ctx):
    """RFC 4456 §8; RFC 7606 §7.9."""
    _fixed_len(AttrType.ORIGINATOR_ID, 4, buf, vstart, vend)
    return OriginatorId(_ntop(_AF_INET, buf[vstart:vend]), flags, buf[vstart:vend])


def parse_cluster_list(buf, vstart, vend, flags, ctx):
    """RFC 4456 §8; RFC 7606 §7.10."""
    _multiple_of(AttrType.CLUSTER_LIST, 4, buf, vstart, vend)
    return ClusterList(tuple(_ntop(_AF_INET, buf[p:p + 4]) for p in range(vstart, vend, 4)),
                       flags, buf[vstart:vend])


def parse_ext_communities(buf, vstart, vend, flags, ctx):
    """RFC 4360 §2; RFC 7606 §7.14."""
    _multiple_of(AttrType.EXTENDED_COMMUNITIES, 8, buf, vstart, vend)
    return ExtCommunities(tuple(_new(ExtCommunity, buf[p:p + 8]) for p in range(vstart, vend, 8)),
                          flags, buf[vstart:vend])


def parse_large_communities(buf, vstart, vend, flags, ctx):
    """RFC 8092 §3/§6."""
    n = _multiple_of(AttrType.LARGE_COMMUNITY, 12, buf, vstart, vend)
    v = struct.unpack_from(f"!{3 * n}I", buf, vstart)
    return LargeCommunities(tuple(v[i:i + 3] for i in range(0, 3 * n, 3)), flags,
                            buf[vstart:vend])


def parse_pmsi_tunnel(buf, vstart, vend, flags, ctx):
    """RFC 6514 §5: flags (1), tunnel type (1), MPLS label (3), tunnel id."""
    if vend - vstart < 5:
        raise _attr_error(AttrType.PMSI_TUNNEL, 5, "PMSI tunnel attribute shorter than 5 octets",
                          buf, vstart, vend)
    label = (buf[vstart + 2] << 16) | (buf[vstart + 3] << 8) | buf[vstart + 4]
    return PmsiTunnel((buf[vstart], buf[vstart + 1], label, buf[vstart + 5:vend]), flags,
                      buf[vstart:vend])


def parse_aigp(buf, vstart, vend, flags, ctx):
    """RFC 7311 §3: TLVs of type (1), length (2, counting the 3 header
    octets), value; the AIGP TLV (type 1) is 11 octets."""
    tlvs = []
    metric = None
    pos = vstart
    while pos < vend:
        if vend - pos < 3:
            raise _attr_error(AttrType.AIGP, 5, "AIGP TLV header is truncated", buf, vstart, vend)
        t = buf[pos]
        n = _u16(buf, pos + 1)[0]
        if n < 3 or pos + n > vend or (t == 1 and n != 11):
            raise _attr_error(AttrType.AIGP, 5, f"AIGP TLV {t} of length {n}", buf, vstart, vend)
        v = buf[pos + 3:pos + n]
        if t == 1 and metric is None:
            metric = int.from_bytes(v, "big")
        tlvs.append((t, v))
        pos += n
    return Aigp(metric, flags, buf[vstart:vend], tlvs)


def _check_next_hop(family, nh_len, buf, vstart, vend):
    if family in (FAMILY_EVPN, FAMILY_IPV4_UNICAST):
        ok = nh_len in (4, 16, 32)
    elif family == FAMILY_IPV6_UNICAST:
        ok = nh_len in (16, 32)
    else:
        return
    if not ok:
        raise UpdateMessageError(9, f"next hop of {nh_len} octets for AFI/SAFI "
                                 f"{family[0]}/{family[1]}", bytes(buf[vstart:vend]),
                                 AFI_SAFI_DISABLE)


def parse_mp_reach(buf, vstart, vend, flags, ctx):
    """RFC 4760 §3: AFI (2), SAFI (1), next hop length (1), next hop,
    reserved (1), NLRI; RFC 7606 §7.11 for errors, which name the family."""
    check_range(buf, vstart, vend)
    if vend - vstart < 3:
        raise UpdateMessageError(9, "MP_REACH_NLRI shorter than 5 octets",
                                 bytes(buf[vstart:vend]), RESET)
    afi = _u16(buf, vstart)[0]
    safi = buf[vstart + 2]
    try:
        if vend - vstart < 5:
            raise UpdateMessageError(9, "MP_REACH_NLRI shorter than 5 octets",
                                     bytes(buf[vstart:vend]), AFI_SAFI_DISABLE)
        nh_len = buf[vstart + 3]
        p = vstart + 4 + nh_len
        if p + 1 > vend:
            raise UpdateMessageError(9, f"MP_REACH_NLRI next hop length {nh_len} overruns the "
                                     "attribute", bytes(buf[vstart:vend]), AFI_SAFI_DISABLE)
        _check_next_hop((afi, safi), nh_len, buf, vstart, vend)
        routes = decode_nlri(buf, p + 1, vend, afi, safi, ctx)
    except UpdateMessageError as e:
        e.family = (afi, safi)
        raise
    return MpReachNlri((afi, safi, buf[vstart + 4:p], routes, buf[p]), flags)


def parse_mp_unreach(buf, vstart, vend, flags, ctx):
    """RFC 4760 §4: AFI (2), SAFI (1), withdrawn routes."""
    check_range(buf, vstart, vend)
    if vend - vstart < 3:
        raise UpdateMessageError(9, "MP_UNREACH_NLRI shorter than 3 octets",
                                 bytes(buf[vstart:vend]), RESET)
    afi = _u16(buf, vstart)[0]
    safi = buf[vstart + 2]
    try:
        routes = decode_nlri(buf, vstart + 3, vend, afi, safi, ctx)
    except UpdateMessageError as e:
        e.family = (afi, safi)
        raise
    return MpUnreachNlri((afi, safi, routes), flags)


_ATTR_PARSERS = {
    AttrType.ORIGIN: parse_origin, AttrType.AS_PATH: parse_as_path,
    AttrType.NEXT_HOP: parse_next_hop, AttrType.MULTI_EXIT_DISC: parse_med,
    AttrType.LOCAL_PREF: parse_local_pref, AttrType.ATOMIC_AGGREGATE: parse_atomic_aggregate,
    AttrType.AGGREGATOR: parse_aggregator, AttrType.COMMUNITIES: parse_communities,
    AttrType.ORIGINATOR_ID: parse_originator_id, AttrType.CLUSTER_LIST: parse_cluster_list,
    AttrType.MP_REACH_NLRI: parse_mp_reach, AttrType.MP_UNREACH_NLRI: parse_mp_unreach,
    AttrType.EXTENDED_COMMUNITIES: parse_ext_communities, AttrType.AS4_PATH: parse_as4_path,
    AttrType.AS4_AGGREGATOR: parse_as4_aggregator, AttrType.PMSI_TUNNEL: parse_pmsi_tunnel,
    AttrType.AIGP: parse_aigp, AttrType.LARGE_COMMUNITY: parse_large_communities,
    AttrType.OTC: parse_otc,
}
assert set(_ATTR_PARSERS) == set(ATTRIBUTE_CLASSES)


# --- NLRI ----------------------------------------------------------------------------

def decode_nlri(buf, pos: int, end: int, afi: int, safi: int, ctx) -> list:
    """The NLRI of an MP attribute, by family; other families are kept raw."""
    check_range(buf, pos, end)
    family = (afi, safi)
    add_path = family in ctx.add_path
    if family == FAMILY_EVPN:
        return decode_evpn_nlri(buf, pos, end, add_path)
    if family == FAMILY_IPV4_UNICAST:
        return decode_prefixes(buf, pos, end, 4, add_path, AFI_SAFI_DISABLE)
    if family == FAMILY_IPV6_UNICAST:
        return decode_prefixes(buf, pos, end, 16, add_path, AFI_SAFI_DISABLE)
    return [RawNlri(afi, safi, buf[pos:end])] if pos < end else []


def decode_prefixes(buf, pos: int, end: int, addr_len: int, add_path: bool, action) -> list:
    """RFC 4271 §4.3 prefixes (RFC 7911 §3 path identifier first with ADD-PATH)."""
    check_range(buf, pos, end)
    cls = (Ipv4PrefixAddPath if add_path else Ipv4Prefix) if addr_len == 4 \
        else (Ipv6PrefixAddPath if add_path else Ipv6Prefix)
    maxbits = addr_len * 8
    hdr = 5 if add_path else 1
    out = []
    append = out.append
    while pos < end:
        if end - pos < hdr:
            raise UpdateMessageError(10, "prefix is truncated", bytes(buf[pos:end]), action)
        plen = buf[pos + hdr - 1]
        if plen > maxbits:
            raise UpdateMessageError(10, f"prefix length {plen} exceeds {maxbits}",
                                     bytes(buf[pos:end]), action)
        nxt = pos + hdr + ((plen + 7) >> 3)
        if nxt > end:
            raise UpdateMessageError(10, "prefix overruns its field", bytes(buf[pos:end]),
                                     action)
        append(_new(cls, buf[pos:nxt]))
        pos = nxt
    return out


def evpn_route_class(buf, pos: int, length: int):
    """The class of the EVPN route whose body is buf[pos:pos+length] after a
    check of its layout (RFC 7432 §7.1-7.4, RFC 9136 §3.1, RFC 9251 §9),
    or None when the layout is wrong for its type."""
    check_range(buf, max(pos - 2, 0) if pos >= 2 else -1, pos + length)
    rtype = buf[pos - 2]
    if rtype == 2:
        if length < 33 or buf[pos + 22] != 48:
            return None
        ipl = buf[pos + 29]
        if ipl != 0 and ipl != 32 and ipl != 128:
            return None
        rest = length - 30 - (ipl >> 3)
        return MacIpRoute if rest == 3 or rest == 6 else None
    if rtype == 3:
        if length < 13:
            return None
        ipl = buf[pos + 12]
        return EVPN_ROUTE_CLASSES[3] if (ipl == 32 or ipl == 128) and length == 13 + (ipl >> 3) \
            else None
    if rtype == 1:
        return EVPN_ROUTE_CLASSES[1] if length == 25 else None
    if rtype == 4:
        if length < 19:
            return None
        ipl = buf[pos + 18]
        return EVPN_ROUTE_CLASSES[4] if (ipl == 32 or ipl == 128) and length == 19 + (ipl >> 3) \
            else None
    if rtype == 5:
        if length == 34:
            return EVPN_ROUTE_CLASSES[5] if buf[pos + 22] <= 32 else None
        if length == 58:
            return EVPN_ROUTE_CLASSES[5] if buf[pos + 22] <= 128 else None
        return None
    if 6 <= rtype <= 8:
        p = pos + (12 if rtype == 6 else 22)
        end = pos + length
        for _ in range(3):
            if p >= end:
                return None
            ipl = buf[p]
            if ipl != 0 and ipl != 32 and ipl != 128:
                return None
            p += 1 + (ipl >> 3)
        p += 6 if rtype == 8 else 1
        return EVPN_ROUTE_CLASSES[rtype] if p == end else None
    if rtype in (9, 10):
        return RawEvpnRoute if length >= 8 else None
    return RawEvpnRoute


def decode_evpn_nlri(buf, pos: int, end: int, add_path: bool = False) -> list:
    """RFC 7432 §7: route type (1), length (1), body; one route object each.
    Type 2, the bulk of any EVPN table, is checked inline."""
    check_range(buf, pos, end)
    if add_path:
        return _decode_evpn_nlri_add_path(buf, pos, end)
    out = []
    append = out.append
    while pos < end:
        if end - pos < 2:
            raise UpdateMessageError(10, "EVPN route header is truncated", bytes(buf[pos:end]),
                                     AFI_SAFI_DISABLE)
        length = buf[pos + 1]
        nxt = pos + 2 + length
        if nxt > end:
            raise UpdateMessageError(10, f"EVPN route of length {length} overruns the NLRI",
                                     bytes(buf[pos:end]), AFI_SAFI_DISABLE)
        if buf[pos] == 2 and length >= 33 and buf[pos + 24] == 48:
            ipl = buf[pos + 31]
            rest = length - 30 - (ipl >> 3)
            if (ipl == 0 or ipl == 32 or ipl == 128) and (rest == 3 or rest == 6):
                append(_new(MacIpRoute, buf[pos:nxt]))
                pos = nxt
                continue
        cls = evpn_route_class(buf, pos + 2, length)
        if cls is None:
            raise UpdateMessageError(10, f"EVPN route type {buf[pos]} with a malformed layout "
                                     f"of {length} octets", bytes(buf[pos:nxt]),
                                     AFI_SAFI_DISABLE)
        append(_new(cls, buf[pos:nxt]))
        pos = nxt
    return out


def _decode_evpn_nlri_add_path(buf, pos, end):
    out = []
    while pos < end:
        if end - pos < 6:
            raise UpdateMessageError(10, "EVPN route header is truncated", bytes(buf[pos:end]),
                                     AFI_SAFI_DISABLE)
        pid = _u32(buf, pos)[0]
        routes = decode_evpn_nlri(buf, pos + 4, min(end, pos + 6 + buf[pos + 5]))
        out.append(AddPathEvpnRoute(pid, routes[0]))
        pos += 6 + buf[pos + 5]
    return out


# --- columnar decode -----------------------------------------------------------------

def decode_columns(data, context=None):
    """Decode a buffer of whole messages into ``EvpnColumns`` (see
    ``bgpevpn.columns``): one row per EVPN route, attribute sets interned.
    Errors are those of ``decode_messages``."""
    ctx = context or DEFAULT_CONTEXT
    buf = data if isinstance(data, bytes) else bytes(data)
    cols = EvpnColumns(buf)
    frames, pos = split_messages(buf, 0, ctx.max_message_length)
    if pos != len(buf):
        raise MessageHeaderError(2, f"{len(buf) - pos} octets after the last whole message "
                                 "(truncated message)", offset=pos)
    interned = {}
    add_path = FAMILY_EVPN in ctx.add_path
    out = new_column_arrays()
    for start, end in frames:
        msg = decode_frame(buf, start, end, ctx)
        cols.messages[msg.type] = cols.messages.get(msg.type, 0) + 1
        if msg.type_code != MessageType.UPDATE:
            continue
        attrs = msg.attributes
        reach, unreach = _evpn_nlri_ranges(buf, start, end)
        mp = attrs.mp_reach
        un = attrs.mp_unreach
        rows = []   # (position, span, attribute index): rows follow wire order
        if mp is not None and (mp.afi, mp.safi) == FAMILY_EVPN and mp.routes:
            k = (attrs.key, bytes(mp.next_hop))
            index = interned.get(k)
            if index is None:
                index = interned[k] = len(cols.attribute_sets)
                cols.attribute_sets.append((attrs, bytes(mp.next_hop)))
            rows.append((reach[0], reach, index))
        elif mp is not None and mp.routes:
            fam = (mp.afi, mp.safi)
            cols.other_routes[fam] = cols.other_routes.get(fam, 0) + len(mp.routes)
        if un is not None and (un.afi, un.safi) == FAMILY_EVPN:
            rows.append((unreach[0], unreach, WITHDRAWN))
        elif un is not None and un.routes:
            fam = (un.afi, un.safi)
            cols.other_routes[fam] = cols.other_routes.get(fam, 0) + len(un.routes)
        for _, span, index in sorted(rows):
            _add_rows(out, buf, span, index, add_path)
        n4 = len(msg.nlri) + len(msg.withdrawn_routes)
        if n4:
            cols.other_routes[FAMILY_IPV4_UNICAST] = \
                cols.other_routes.get(FAMILY_IPV4_UNICAST, 0) + n4
    cols.set_columns(out)
    return cols


def _evpn_nlri_ranges(buf, start, end):
    """(pos, end) of the EVPN NLRI in the MP_REACH and MP_UNREACH of an
    UPDATE that decoded cleanly (so every length below is known good)."""
    pos = start + HEADER_LEN
    wlen = _u16(buf, pos)[0]
    a = pos + 4 + wlen
    aend = a + _u16(buf, pos + 2 + wlen)[0]
    reach = unreach = (0, 0)
    while a < aend:
        flags, code = buf[a], buf[a + 1]
        if flags & 0x10:
            vstart, vend = a + 4, a + 4 + _u16(buf, a + 2)[0]
        else:
            vstart, vend = a + 3, a + 3 + buf[a + 2]
        if code in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI) \
                and _u16(buf, vstart)[0] == 25 and buf[vstart + 2] == 70:
            if code == AttrType.MP_REACH_NLRI:
                reach = (vstart + 5 + buf[vstart + 3], vend)
            else:
                unreach = (vstart + 3, vend)
        a = vend
    return reach, unreach


def _add_rows(out, buf, span, index, add_path):
    """One row per EVPN route in buf[span[0]:span[1]] (validated by the
    decode), appended to the arrays of ``out`` (``new_column_arrays()``)."""
    at, end = span
    while at < end:
        pid = 0
        if add_path:
            pid = _u32(buf, at)[0]
            at += 4
        rd, tag, mac, ip_off, ip_len, l1, l2 = row_of_route(buf, at)
        out["route_type"].append(buf[at])
        out["offset"].append(at)
        out["path_id"].append(pid)
        out["rd"].append(rd)
        out["ethernet_tag"].append(tag)
        out["mac"].append(mac)
        out["ip_at"].append(ip_off)
        out["ip_len"].append(ip_len)
        out["label1"].append(l1)
        out["label2"].append(l2)
        out["attr_index"].append(index)
        at += 2 + buf[at + 1]


# --- encoding ------------------------------------------------------------------------

def encode_header(mtype: int, body: bytes, ctx=None) -> bytes:
    """RFC 4271 §4.1: marker, length, type, body."""
    n = HEADER_LEN + len(body)
    limit = (ctx or DEFAULT_CONTEXT).max_message_length
    if n > limit:
        raise MessageHeaderError(2, f"message of {n} octets exceeds the {limit}-octet limit")
    return MARKER + _U16.pack(n) + bytes([mtype]) + body


def encode_message(msg: Message, ctx=None) -> bytes:
    """Any message object to wire bytes; a value that does not fit its
    field raises ValueParseError."""
    try:
        return _encode_message(msg, ctx or DEFAULT_CONTEXT)
    except (struct.error, OverflowError) as e:
        raise ValueParseError(f"cannot encode {type(msg).__name__}: a value does not fit its "
                              f"field ({e})") from None


def _encode_message(msg: Message, ctx) -> bytes:
    if isinstance(msg, Update):
        return encode_header(2, encode_update_body(msg, ctx), ctx)
    if isinstance(msg, Keepalive):
        return encode_header(4, b"", ctx)
    if isinstance(msg, Open):
        return encode_header(1, encode_open_body(msg), ctx)
    if isinstance(msg, Notification):
        return encode_header(3, bytes([msg.code, msg.subcode]) + msg.data, ctx)
    if isinstance(msg, RouteRefresh):
        return encode_header(5, _U16.pack(msg.afi) + bytes([msg.subtype, msg.safi]) + msg.data,
                             ctx)
    if isinstance(msg, UnknownMessage):
        return encode_header(msg.type_code, msg.data, ctx)
    raise TypeError(f"not a BGP message: {msg!r}")


def encode_open_body(msg: Open) -> bytes:
    """RFC 4271 §4.2; the RFC 9072 layout when ``extended_parameters`` or
    when the parameters do not fit in 255 octets."""
    params = msg.parameters
    extended = msg.extended_parameters or any(len(v) > 255 for _, v in params) \
        or sum(2 + len(v) for _, v in params) > 255
    if extended:
        opt = b"".join(bytes([t]) + _U16.pack(len(v)) + v for t, v in params)
        tail = b"\xff\xff" + _U16.pack(len(opt)) + opt
    else:
        opt = b"".join(bytes([t, len(v)]) + v for t, v in params)
        tail = bytes([len(opt)]) + opt
    return (bytes([msg.version]) + _U16.pack(msg.my_as) + _U16.pack(msg.hold_time)
            + socket.inet_pton(_AF_INET, msg.bgp_id) + tail)


def encode_update_body(msg: Update, ctx) -> bytes:
    """RFC 4271 §4.3: withdrawn length, withdrawn, attributes length, attributes, NLRI."""
    withdrawn = b"".join(bytes(r) for r in msg.withdrawn_routes)
    attrs = b"".join(encode_attribute(a, ctx) for a in msg.attributes)
    return (_U16.pack(len(withdrawn)) + withdrawn + _U16.pack(len(attrs)) + attrs
            + b"".join(bytes(r) for r in msg.nlri))


def encode_attribute(attr, ctx) -> bytes:
    """Flags, type, length (2 octets when the extended-length flag is set,
    which is set automatically above 255 octets), value."""
    try:
        value = encode_attribute_value(attr, ctx)
    except (struct.error, OverflowError, OSError, TypeError) as e:
        raise ValueParseError(f"cannot encode {type(attr).__name__} {attr.value!r}: {e}") \
            from None
    flags = attr.flags
    if len(value) > 255:
        flags |= 0x10
    if flags & 0x10:
        return bytes([flags, attr.code]) + _U16.pack(len(value)) + value
    return bytes([flags, attr.code, len(value)]) + value


def encode_attribute_value(attr, ctx) -> bytes:
    """The value octets: as received when the attribute was decoded (unless
    its AS numbers were read with the other AS size than ``ctx`` uses)."""
    code = attr.code
    if attr.raw is not None and not (
            code in (AttrType.AS_PATH, AttrType.AGGREGATOR)
            and getattr(attr, "four_octet", ctx.four_octet_as) != ctx.four_octet_as):
        return bytes(attr.raw)
    v = attr.value
    if code == AttrType.MP_REACH_NLRI:
        nh = bytes(v.next_hop)
        return (_U16.pack(v.afi) + bytes([v.safi, len(nh)]) + nh + bytes([v.reserved])
                + b"".join(bytes(r) for r in v.routes))
    if code == AttrType.MP_UNREACH_NLRI:
        return _U16.pack(v.afi) + bytes([v.safi]) + b"".join(bytes(r) for r in v.routes)
    if code in (AttrType.ORIGIN,):
        return bytes([v])
    if code in (AttrType.AS_PATH, AttrType.AS4_PATH):
        four = ctx.four_octet_as or code == AttrType.AS4_PATH
        out = b""
        for stype, asns in v:
            for i in range(0, len(asns), 255) if asns else ():
                chunk = asns[i:i + 255]
                if not four and any(a > 0xFFFF for a in chunk):
                    raise ValueError("a 4-octet AS number in a 2-octet AS_PATH")
                out += bytes([stype, len(chunk)]) + struct.pack(
                    f"!{len(chunk)}{'I' if four else 'H'}", *chunk)
        return out
    if code in (AttrType.NEXT_HOP, AttrType.ORIGINATOR_ID):
        return socket.inet_pton(_AF_INET, v)
    if code in (AttrType.MULTI_EXIT_DISC, AttrType.LOCAL_PREF, AttrType.OTC):
        return _U32.pack(v)
    if code == AttrType.ATOMIC_AGGREGATE:
        return b""
    if code in (AttrType.AGGREGATOR, AttrType.AS4_AGGREGATOR):
        four = ctx.four_octet_as or code == AttrType.AS4_AGGREGATOR
        return (_U32.pack(v[0]) if four else _U16.pack(v[0])) + socket.inet_pton(_AF_INET, v[1])
    if code == AttrType.COMMUNITIES:
        return struct.pack(f"!{len(v)}I", *v)
    if code == AttrType.CLUSTER_LIST:
        return b"".join(socket.inet_pton(_AF_INET, c) for c in v)
    if code == AttrType.EXTENDED_COMMUNITIES:
        return b"".join(bytes(c) for c in v)
    if code == AttrType.LARGE_COMMUNITY:
        return b"".join(struct.pack("!3I", *c) for c in v)
    if code == AttrType.PMSI_TUNNEL:
        return bytes([v.flags, v.tunnel_type]) + v.label.to_bytes(3, "big") + bytes(v.tunnel_id)
    if code == AttrType.AIGP:
        return b"".join(bytes([t]) + _U16.pack(3 + len(val)) + bytes(val) for t, val in attr.tlvs)
    return bytes(v)


def ipv4_next_hop_text(next_hop) -> str:
    """The NEXT_HOP attribute's address from text or its 4 wire octets (the
    form sessions and the RIB carry next hops in)."""
    if isinstance(next_hop, (bytes, bytearray)) and len(next_hop) == 4:
        return socket.inet_ntop(_AF_INET, bytes(next_hop))
    return str(next_hop)


def next_hop_bytes(next_hop) -> bytes:
    """An address string (or 'global,link-local') to MP_REACH next hop octets."""
    if isinstance(next_hop, (bytes, bytearray)):
        return bytes(next_hop)
    out = b""
    for part in str(next_hop).split(","):
        part = part.strip()
        out += socket.inet_pton(_AF_INET6 if ":" in part else _AF_INET, part)
    return out


def pack_updates(routes, attributes=(), next_hop=None, ctx=None, withdraw: bool = False) -> list:
    """Encode ``routes`` (all of one family) into as few UPDATE messages as
    the negotiated maximum size allows, the attribute set encoded once.

    IPv4 unicast goes in the classic NLRI / withdrawn fields (with a
    NEXT_HOP attribute from ``next_hop``); other families in MP_REACH_NLRI /
    MP_UNREACH_NLRI.  Returns a list of wire messages.
    """
    ctx = ctx or DEFAULT_CONTEXT
    routes = list(routes)
    if not routes:
        return []
    limit = ctx.max_message_length
    afi, safi = routes[0].family
    if not (0 <= afi <= 0xFFFF and 0 <= safi <= 0xFF):
        raise ValueParseError(f"AFI/SAFI {afi}/{safi} out of range")
    for r in routes:
        if r.family != (afi, safi):
            raise ValueError("pack_updates takes routes of one family")
    attrs = [a for a in (attributes.items if isinstance(attributes, Attributes) else attributes)
             if a.code not in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI)]
    classic = (afi, safi) == FAMILY_IPV4_UNICAST
    if withdraw:
        attrs = []
    elif classic and next_hop is not None and not any(a.code == AttrType.NEXT_HOP for a in attrs):
        attrs.append(NextHop(ipv4_next_hop_text(next_hop)))
    attr_bytes = b"".join(encode_attribute(a, ctx) for a in attrs)
    encoded = [bytes(r) for r in routes]
    out = []
    if classic:
        room = limit - HEADER_LEN - 4 - (0 if withdraw else len(attr_bytes))
        for chunk in _chunks(encoded, room):
            if withdraw:
                body = _U16.pack(len(chunk)) + chunk + b"\x00\x00"
            else:
                body = b"\x00\x00" + _U16.pack(len(attr_bytes)) + attr_bytes + chunk
            out.append(MARKER + _U16.pack(HEADER_LEN + len(body)) + b"\x02" + body)
        return out
    if withdraw:
        head = _U16.pack(afi) + bytes([safi])
        code = AttrType.MP_UNREACH_NLRI
    else:
        if next_hop is None:
            raise ValueError("announcing MP routes needs a next hop")
        nh = next_hop_bytes(next_hop)
        head = _U16.pack(afi) + bytes([safi, len(nh)]) + nh + b"\x00"
        code = AttrType.MP_REACH_NLRI
    room = limit - HEADER_LEN - 4 - len(attr_bytes) - 4 - len(head)
    for chunk in _chunks(encoded, room):
        value = head + chunk
        mp = bytes([0x90, code]) + _U16.pack(len(value)) + value
        total = len(attr_bytes) + len(mp)
        body = b"\x00\x00" + _U16.pack(total) + attr_bytes + mp
        out.append(MARKER + _U16.pack(HEADER_LEN + len(body)) + b"\x02" + body)
    return out


def _chunks(encoded, room):
    if room <= 0:
        raise ValueError("the attributes leave no room for NLRI in one message")
    chunk = []
    size = 0
    for e in encoded:
        if len(e) > room:
            raise ValueError("a route does not fit in one message")
        if size + len(e) > room:
            yield b"".join(chunk)
            chunk, size = [], 0
        chunk.append(e)
        size += len(e)
    if chunk:
        yield b"".join(chunk)


def end_of_rib(afi: int, safi: int) -> bytes:
    """RFC 4724 §2 End-of-RIB marker for a family."""
    if (afi, safi) == FAMILY_IPV4_UNICAST:
        return MARKER + b"\x00\x17\x02\x00\x00\x00\x00"
    value = _U16.pack(afi) + bytes([safi])
    body = b"\x00\x00" + _U16.pack(3 + len(value)) + bytes([0x80, 15, len(value)]) + value
    return MARKER + _U16.pack(HEADER_LEN + len(body)) + b"\x02" + body


__all__ = ["IMPLEMENTATION", "check_range", "check_header", "split_messages", "decode_messages",
           "decode_message", "decode_frame", "MessageReader", "decode_open",
           "decode_capabilities", "decode_route_refresh", "decode_update", "decode_attributes",
           "decode_nlri", "decode_prefixes", "decode_evpn_nlri", "evpn_route_class",
           "AddPathEvpnRoute", "encode_header", "encode_message", "encode_open_body",
           "encode_update_body", "encode_attribute", "encode_attribute_value", "pack_updates",
           "end_of_rib", "next_hop_bytes", "decode_columns", "Context", "Route"]
