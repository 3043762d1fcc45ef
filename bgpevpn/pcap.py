"""Pull whole BGP messages out of packet captures, with the standard library only.

Layers, bottom up:

1. container: pcap (draft-ietf-opsawg-pcap) or pcapng (draft-ietf-opsawg-pcapng),
   optionally gzip/bzip2/xz compressed, gives ``Packet`` records;
2. link layer (tcpdump LINKTYPE list, https://www.tcpdump.org/linktypes.html),
   IPv4 (RFC 791), IPv6 (RFC 8200) and TCP (RFC 9293) give segments;
3. per-direction TCP reassembly in 32-bit sequence space gives a byte stream;
4. BGP framing (RFC 4271 §4.1: 16-octet marker, 2-octet length, 1-octet type)
   gives ``CapturedMessage`` values.

Nothing here trusts the capture: every length is checked against the bytes at
hand, every loop advances, and a file that cannot be read raises ``CaptureError``.
"""
from __future__ import annotations

import bz2
import contextlib
import functools
import gzip
import heapq
import io
import ipaddress
import lzma
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO, NamedTuple

__all__ = ["BgpCaptureReader", "CaptureError", "CapturedMessage", "Packet", "SkippedBytes",
           "StreamGap", "read_bgp_messages", "read_packets"]


class Packet(NamedTuple):
    """One captured frame: its time, 1-based frame number, LINKTYPE and bytes."""
    time: float
    frame: int
    linktype: int
    data: bytes


class CapturedMessage(NamedTuple):
    """One whole BGP message (header included) and the packet that completed it."""
    time: float
    src: str
    dst: str
    data: bytes
    frame: int


class StreamGap(NamedTuple):
    """Bytes of a TCP stream that were never captured (stream offsets)."""
    src: str
    dst: str
    offset: int
    length: int


class SkippedBytes(NamedTuple):
    """Captured stream bytes that could not be framed as BGP messages."""
    src: str
    dst: str
    offset: int
    nbytes: int
    reason: str


class CaptureError(Exception):
    """The file is not a capture this module can read; the message gives the byte offset."""


# --- container formats ------------------------------------------------------------

_PCAP_UNITS = {0xA1B2C3D4: 1_000_000, 0xA1B23C4D: 1_000_000_000}
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BOM = 0x1A2B3C4D
# Smallest valid total length of the blocks read here (§4.1-4.4): their fixed fields.
_PCAPNG_MIN_LENGTH = {_PCAPNG_SHB: 28, 1: 20, 2: 32, 3: 16, 6: 32}
# A record this large is a corrupt length field, not a packet (libpcap caps at 256 KiB).
_MAX_RECORD = 64 << 20
_COMPRESSORS = ((b"\x1f\x8b", lambda f: gzip.GzipFile(fileobj=f)), (b"BZh", bz2.BZ2File),
                (b"\xfd7zXZ\x00", lzma.LZMAFile))


class _Input:
    """Sequential reader that knows its byte offset and treats EOF as truncation."""

    def __init__(self, f: BinaryIO, compressed: bool):
        self.f, self.compressed, self.offset = f, compressed, 0
        self.cut_short = False  # the compressed stream ended before its end marker

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the (possibly truncated) file."""
        parts, want = [], n
        while want > 0:
            try:
                chunk = self.f.read(want)
            except EOFError:  # compressed stream cut short: same as a truncated file
                self.cut_short = True
                break
            except (OSError, lzma.LZMAError, zlib.error) as exc:
                if not self.compressed:
                    raise
                raise CaptureError(f"corrupt compressed data after byte offset "
                                   f"{self.offset}: {exc}") from exc
            if not chunk:
                break
            parts.append(chunk)
            want -= len(chunk)
        data = b"".join(parts)
        self.offset += len(data)
        return data


def _peek_head(f: BinaryIO, n: int) -> tuple[bytes, BinaryIO]:
    """First ``n`` bytes of ``f`` without consuming them (buffering if need be)."""
    if hasattr(f, "peek"):
        return f.peek(n)[:n], f
    if f.seekable():
        pos = f.tell()
        head = f.read(n)
        f.seek(pos)
        return head, f
    buffered = io.BytesIO(f.read())
    return buffered.getvalue()[:n], buffered


def _open(source, stack: contextlib.ExitStack) -> _Input:
    """Open a path or binary file object, undoing compression recognised by magic."""
    if isinstance(source, (str, os.PathLike)):
        source = stack.enter_context(open(source, "rb"))  # noqa: SIM115 (the stack closes it)
    head, f = _peek_head(source, 6)
    for magic, opener in _COMPRESSORS:
        if head.startswith(magic):
            # Closing the decompressor leaves a caller's file object open.
            return _Input(stack.enter_context(opener(f)), True)
    return _Input(f, False)


def read_packets(path_or_fileobj) -> Iterator[Packet]:
    """Yield every packet record of a pcap or pcapng file (compressed or not).

    A truncated file ends the iteration quietly after the last whole record; a file
    that is not a capture, or whose structure is corrupt, raises ``CaptureError``.
    """
    with contextlib.ExitStack() as stack:
        inp = _open(path_or_fileobj, stack)
        try:
            head = inp.read(4)
            if len(head) < 4:
                if inp.cut_short:
                    return
                raise CaptureError(f"not a capture: file ends at byte offset {len(head)}")
            if struct.unpack_from("<I", head)[0] == _PCAPNG_SHB:
                yield from _read_pcapng(inp, head)
            elif any(struct.unpack_from(o + "I", head)[0] in _PCAP_UNITS for o in "<>"):
                yield from _read_pcap(inp, head)
            else:
                raise CaptureError(f"unknown file magic {head.hex()} at byte offset 0")
        except CaptureError as exc:
            if inp.compressed:
                raise CaptureError(f"{exc} (of the decompressed data)") from None
            raise


def _read_pcap(inp: _Input, magic: bytes) -> Iterator[Packet]:
    """Classic pcap (draft-ietf-opsawg-pcap §4-5): 24-byte file header, 16-byte records."""
    order = "<" if struct.unpack_from("<I", magic)[0] in _PCAP_UNITS else ">"
    units = _PCAP_UNITS[struct.unpack_from(order + "I", magic)[0]]
    header = magic + inp.read(20)
    if len(header) < 24:
        return
    major, _minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(
        order + "HHiIII", header, 4)
    if major != 2:
        raise CaptureError(f"pcap version {major} at byte offset 4 is not 2")
    linktype = network & 0xFFFF  # upper bits carry the FCS length (§4, LinkType field)
    frame = 0
    while True:
        offset = inp.offset
        record = inp.read(16)
        if len(record) < 16:
            return
        sec, frac, caplen, _origlen = struct.unpack_from(order + "IIII", record)
        if caplen > _MAX_RECORD:
            raise CaptureError(f"pcap record at byte offset {offset}: captured length {caplen}")
        data = inp.read(caplen)
        if len(data) < caplen:
            return
        frame += 1
        yield Packet(sec + frac / units, frame, linktype, data)


class _Interface(NamedTuple):
    linktype: int
    snaplen: int
    units: int       # timestamp ticks per second (if_tsresol)
    ts_offset: int   # seconds added to every timestamp (if_tsoffset)


def _read_pcapng(inp: _Input, magic: bytes) -> Iterator[Packet]:
    """pcapng (draft-ietf-opsawg-pcapng §3-4): a sequence of typed, length-framed blocks."""
    order, interfaces, frame, last_time = "<", [], 0, 0.0
    head = magic  # the first block's type was read to recognise the format
    while True:
        offset = inp.offset - len(head)
        head += inp.read(8 - len(head))
        if len(head) < 8:
            return
        btype = struct.unpack_from(order + "I", head)[0]
        if btype == _PCAPNG_SHB:  # the palindromic type reads the same in both orders
            bom = inp.read(4)
            if len(bom) < 4:
                return
            order = _section_byte_order(bom, offset)
            head += bom
        length = struct.unpack_from(order + "I", head, 4)[0]
        if length < _PCAPNG_MIN_LENGTH.get(btype, 12) or length % 4 or length > _MAX_RECORD:
            raise CaptureError(f"pcapng block at byte offset {offset}: bad total length {length}")
        block = head + inp.read(length - len(head))
        if len(block) < length:
            return
        if struct.unpack_from(order + "I", block, length - 4)[0] != length:
            raise CaptureError(f"pcapng block at byte offset {offset}: trailing length mismatch")
        if btype == _PCAPNG_SHB:
            _check_section(block, order, offset)
            interfaces = []  # interface ids are numbered per section (§4.2)
        elif btype == 1:
            interfaces.append(_parse_idb(block, order))
        elif btype in (2, 3, 6):
            packet = _parse_packet_block(btype, block, order, interfaces, offset)
            frame += 1
            time = last_time if packet[0] is None else packet[0]
            last_time = time
            yield Packet(time, frame, packet[1], packet[2])
        head = b""


def _section_byte_order(bom: bytes, offset: int) -> str:
    """The Byte-Order Magic of an SHB (§4.1) fixes the byte order of its section."""
    for order in "<>":
        if struct.unpack_from(order + "I", bom)[0] == _PCAPNG_BOM:
            return order
    raise CaptureError(f"pcapng section header at byte offset {offset}: bad byte-order magic")


def _check_section(block: bytes, order: str, offset: int) -> None:
    major = struct.unpack_from(order + "H", block, 12)[0]
    if major != 1:  # §4.1: a reader must not guess at an unknown major version
        raise CaptureError(f"pcapng section at byte offset {offset}: version {major} is not 1")


def _parse_idb(block: bytes, order: str) -> _Interface:
    """Interface Description Block (§4.2); if_tsresol (9) and if_tsoffset (14) options."""
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", block, 8)
    units, ts_offset = 1_000_000, 0
    pos, end = 16, len(block) - 4
    while pos + 4 <= end:
        code, size = struct.unpack_from(order + "HH", block, pos)
        value = pos + 4
        if code == 0 or value + size > end:  # opt_endofopt, or an option running off the block
            break
        if code == 9 and size >= 1:
            resol = block[value]
            units = 2 ** (resol & 0x7F) if resol & 0x80 else 10 ** resol
        elif code == 14 and size >= 8:
            ts_offset = struct.unpack_from(order + "q", block, value)[0]
        pos = value + (size + 3) // 4 * 4  # option values are padded to 32 bits
    return _Interface(linktype, snaplen, units, ts_offset)


def _parse_packet_block(btype: int, block: bytes, order: str, interfaces: list,
                        offset: int) -> tuple[float | None, int, bytes]:
    """(time or None, linktype, data) of an EPB (§4.3), SPB (§4.4) or obsolete PB (Appendix)."""
    end = len(block) - 4
    if btype == 3:  # Simple Packet Block: interface 0, no timestamp
        iface_id, ticks, data_at = 0, None, 12
        caplen = min(struct.unpack_from(order + "I", block, 8)[0], end - data_at)
    elif btype == 6:
        iface_id, hi, lo, caplen = struct.unpack_from(order + "IIII", block, 8)
        ticks, data_at = (hi << 32) | lo, 28
    else:  # obsolete Packet Block: 16-bit interface id, then a drops counter
        iface_id, _drops, hi, lo, caplen = struct.unpack_from(order + "HHIII", block, 8)
        ticks, data_at = (hi << 32) | lo, 28
    if iface_id >= len(interfaces):
        raise CaptureError(f"pcapng block at byte offset {offset}: no interface {iface_id}")
    iface = interfaces[iface_id]
    if btype == 3 and iface.snaplen:
        caplen = min(caplen, iface.snaplen)
    if data_at + caplen > end:
        raise CaptureError(f"pcapng block at byte offset {offset}: captured length {caplen} "
                           "overruns the block")
    time = None
    if ticks is not None:
        seconds, rest = divmod(ticks, iface.units)
        time = iface.ts_offset + seconds + rest / iface.units
    return time, iface.linktype, block[data_at:data_at + caplen]


# --- link layer, IP, TCP ------------------------------------------------------------

_VLAN_TPIDS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))
_IP_ETHERTYPES = frozenset((0x0800, 0x86DD))
_BSD_AF_INET = frozenset((2, 10, 24, 28, 30))  # AF_INET and the various AF_INET6 values
_PPP_IP = frozenset((0x0021, 0x0057))
_MASK32 = 0xFFFFFFFF
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10


class _Segment(NamedTuple):
    key: tuple
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes
    lost: int  # bytes the IP length claims but the capture cut off (snaplen)


def _after_ethertype(data: bytes, ethertype: int, pos: int) -> int | None:
    """Skip any number of 802.1Q / 802.1ad tags (each: TCI, then the inner EtherType)."""
    while ethertype in _VLAN_TPIDS and pos + 4 <= len(data):
        ethertype = struct.unpack_from("!H", data, pos + 2)[0]
        pos += 4
    return pos if ethertype in _IP_ETHERTYPES else None


def _network_offset(linktype: int, data: bytes) -> int | None:
    """Offset of the IP header in a frame of the given LINKTYPE, or None."""
    n = len(data)
    if linktype == 1 and n >= 14:  # LINKTYPE_ETHERNET
        return _after_ethertype(data, struct.unpack_from("!H", data, 12)[0], 14)
    if linktype in (101, 228, 229):  # LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6
        return 0
    if linktype == 113 and n >= 16:  # LINKTYPE_LINUX_SLL: protocol type at 14
        return _after_ethertype(data, struct.unpack_from("!H", data, 14)[0], 16)
    if linktype == 276 and n >= 20:  # LINKTYPE_LINUX_SLL2: protocol type first
        return _after_ethertype(data, struct.unpack_from("!H", data, 0)[0], 20)
    if linktype in (0, 108) and n >= 4:  # NULL (host order) and LOOP (network order)
        family = struct.unpack_from("<I", data)[0]
        if family > 0xFFFF:  # written by a host of the other byte order
            family = struct.unpack_from(">I", data)[0]
        return 4 if family in _BSD_AF_INET else None
    if linktype in (9, 50) and n >= 4:  # LINKTYPE_PPP / PPP_HDLC: RFC 1662 framing optional
        pos = 2 if data[0] == 0xFF and data[1] == 0x03 else 0
        return pos + 2 if struct.unpack_from("!H", data, pos)[0] in _PPP_IP else None
    if linktype == 178 and n >= 4 and data[:3] == b"MGC":  # LINKTYPE_JUNIPER_ETHER
        return _juniper_ether(data)
    return None


def _juniper_ether(data: bytes) -> int | None:
    """Juniper's pseudo-header: "MGC", flags, optional TLV extension, then Ethernet."""
    flags, pos = data[3], 4
    if flags & 0x80:  # extension TLVs, preceded by their 16-bit total length
        if len(data) < 6:
            return None
        pos += 2 + struct.unpack_from("!H", data, 4)[0]
    if flags & 0x02:  # no layer-2 header: a 4-byte field, then the IP packet
        return pos + 4
    if pos + 14 > len(data):
        return None
    return _after_ethertype(data, struct.unpack_from("!H", data, pos + 12)[0], pos + 14)


def _ipv4(data: bytes, pos: int) -> tuple | None:
    """(src, dst, TCP offset, end, lost) of an IPv4 packet carrying TCP (RFC 791)."""
    if pos + 20 > len(data):
        return None
    ihl = (data[pos] & 0x0F) * 4
    total, frag, proto = struct.unpack_from("!H2xHxB", data, pos + 2)
    if ihl < 20 or proto != 6 or frag & 0x1FFF:  # non-first fragments carry no TCP header
        return None
    claimed = pos + total if total >= ihl else len(data)  # 0 with TCP segmentation offload
    end = min(claimed, len(data))
    src, dst = data[pos + 12:pos + 16], data[pos + 16:pos + 20]
    return src, dst, pos + ihl, end, claimed - end


def _ipv6(data: bytes, pos: int) -> tuple | None:
    """(src, dst, TCP offset, end, lost), walking extension headers (RFC 8200 §4)."""
    if pos + 40 > len(data):
        return None
    plen, nxt = struct.unpack_from("!HB", data, pos + 4)
    claimed = pos + 40 + plen if plen else len(data)  # 0: jumbogram or offloaded segment
    end = min(claimed, len(data))
    src, dst = data[pos + 8:pos + 24], data[pos + 24:pos + 40]
    p = pos + 40
    while nxt != 6:
        if p + 8 > end:
            return None
        if nxt in (0, 43, 60):  # hop-by-hop, routing, destination options: 8-octet units
            nxt, p = data[p], p + (data[p + 1] + 1) * 8
        elif nxt == 44:  # fragment header: only the first fragment has the TCP header
            if struct.unpack_from("!H", data, p + 2)[0] >> 3:
                return None
            nxt, p = data[p], p + 8
        elif nxt == 51:  # authentication header (RFC 4302): 4-octet units
            nxt, p = data[p], p + (data[p + 1] + 2) * 4
        else:
            return None
    return src, dst, p, end, claimed - end


@functools.lru_cache(maxsize=4096)
def _endpoint(addr: bytes, port: int) -> str:
    """``addr:port`` text; cached, as a capture holds few endpoints and many packets."""
    if len(addr) == 4:
        return f"{ipaddress.IPv4Address(addr)}:{port}"
    return f"[{ipaddress.IPv6Address(addr)}]:{port}"


def _tcp_segment(linktype: int, data: bytes) -> _Segment | None:
    """Decode link layer, IP and TCP (RFC 9293 §3.1); None for anything else."""
    pos = _network_offset(linktype, data)
    if pos is None or pos >= len(data):
        return None
    version = data[pos] >> 4
    ip = _ipv4(data, pos) if version == 4 else _ipv6(data, pos) if version == 6 else None
    if ip is None:
        return None
    src, dst, tcp, end, lost = ip
    if tcp + 20 > end:
        return None
    sport, dport, seq, ack, off_flags = struct.unpack_from("!HHIIH", data, tcp)
    header = (off_flags >> 12) * 4
    if header < 20 or tcp + header > end:
        return None
    return _Segment((src, sport, dst, dport), _endpoint(src, sport), _endpoint(dst, dport),
                    sport, dport, seq, ack, off_flags & 0x3F, data[tcp + header:end], lost)


# --- TCP reassembly and BGP framing ----------------------------------------------------

_MARKER = b"\xff" * 16
_HEADER = 19
# Out-of-order data held while waiting for a hole to fill; past this the hole is given up.
_MAX_PENDING = 1 << 20


class _Framer:
    """Cuts one direction's byte stream into BGP messages (RFC 4271 §4.1)."""

    def __init__(self, src: str, dst: str, skipped: list, reason: str):
        self.src, self.dst, self.skipped = src, dst, skipped
        self.buf, self.buf_offset = bytearray(), 0
        self.synced, self.skip_from, self.reason = False, 0, reason

    def feed(self, data: bytes, time: float, frame: int) -> list[CapturedMessage]:
        """Append stream bytes; return the messages they complete, in stream order."""
        self.buf += data
        buf, pos, out = self.buf, 0, []
        while True:
            if not self.synced:
                found = self._find_marker(pos)
                if found is None:
                    pos = max(pos, len(buf) - (_HEADER - 1))  # may hold a marker's start
                    break
                self._end_skip(found)
                pos, self.synced = found, True
            if len(buf) - pos < _HEADER:
                break
            length = struct.unpack_from("!H", buf, pos + 16)[0]
            if not buf.startswith(_MARKER, pos) or length < _HEADER:
                self._lose_sync(pos, "invalid BGP header")
                pos += 1
                continue
            if len(buf) - pos < length:
                break
            message = bytes(buf[pos:pos + length])
            out.append(CapturedMessage(time, self.src, self.dst, message, frame))
            pos += length
        del buf[:pos]
        self.buf_offset += pos
        return out

    def _find_marker(self, pos: int) -> int | None:
        """Next position with a marker, a length >= 19 and a known type (1-5) after it."""
        buf = self.buf
        while True:
            found = buf.find(_MARKER, pos)
            if found < 0 or len(buf) - found < _HEADER:
                return None
            length, mtype = struct.unpack_from("!HB", buf, found + 16)
            # Checking the type too stops a run of 0xff in data from posing as a header.
            if length >= _HEADER and 1 <= mtype <= 5:
                return found
            pos = found + 1

    def _skip(self, offset: int, nbytes: int, reason: str) -> None:
        self.skipped.append(SkippedBytes(self.src, self.dst, offset, nbytes, reason))

    def _lose_sync(self, pos: int, reason: str) -> None:
        self.synced, self.skip_from, self.reason = False, self.buf_offset + pos, reason

    def _end_skip(self, pos: int) -> None:
        """Record the bytes skipped while out of sync, up to buffer position ``pos``."""
        nbytes = self.buf_offset + pos - self.skip_from
        if nbytes > 0:
            self._skip(self.skip_from, nbytes, self.reason)

    def stop(self, reason: str) -> None:
        """Give up on the buffered bytes (gap or end of stream) and restart unsynced."""
        if self.synced and self.buf:
            self._skip(self.buf_offset, len(self.buf), reason)
        elif not self.synced:
            self._end_skip(len(self.buf))
        self.buf_offset += len(self.buf)
        self.buf.clear()
        self._lose_sync(0, "resynchronising after a gap in the stream")

    def jump(self, length: int) -> None:
        """Bytes were lost: the next byte fed is ``length`` further on in the stream."""
        self.stop("incomplete message before a gap in the stream")
        self.buf_offset += length
        self.skip_from = self.buf_offset


class _Stream:
    """One direction of one TCP connection, reassembled by sequence number.

    A hole is normally filled by a later (retransmitted) segment, and the messages it
    completes belong to that packet. A hole is given up when it can no longer fill:
    the receiver acknowledged past it (so the capture missed bytes the peer got), a
    FIN or RST, more than ``_MAX_PENDING`` bytes waiting behind it, or the end of the
    capture. Messages after a given-up hole belong to the packets that carried them,
    so they may be yielded after messages of later frames.
    """

    def __init__(self, seg: _Segment, base: int, isn: int | None, gaps: list, consumer):
        self.src, self.dst, self.gaps = seg.src, seg.dst, gaps
        self.base, self.isn, self.offset = base, isn, 0  # base: sequence number at offset 0
        self.pending: list = []  # heap of (offset, arrival, data, lost, time, frame)
        self.pending_bytes, self.arrivals = 0, 0
        self.framer = consumer   # feed(data, time, frame) / jump(n) / stop(reason)

    def _unwrap(self, seq: int) -> int:
        """Stream offset of ``seq``: sequence numbers wrap at 2**32 (RFC 9293 §3.4),
        so take the offset nearest to the next expected byte."""
        delta = (seq - self.base - self.offset) & _MASK32
        return self.offset + (delta - (1 << 32) if delta >= 1 << 31 else delta)

    def add(self, seq: int, data: bytes, lost: int, time: float, frame: int) -> list:
        """Take one segment's payload; return the messages it completes."""
        start = self._unwrap(seq)
        if start + len(data) + lost <= self.offset:
            return []  # a retransmission of bytes already delivered
        if start == self.offset and not self.pending:
            # the usual case, the next bytes in order: what the heap would do, directly
            out = self.framer.feed(data, time, frame) if data else []
            self.offset += len(data)
            self._gap(lost)   # snaplen cut the segment short
            return out
        self.arrivals += 1
        heapq.heappush(self.pending, (start, self.arrivals, data, lost, time, frame))
        self.pending_bytes += len(data)
        out = self._drain((time, frame))
        while self.pending_bytes > _MAX_PENDING:  # bound memory: give up the first hole
            out += self._skip_holes(self.pending[0][0])
        return out

    def acked(self, ack: int) -> list:
        """The receiver acknowledged up to ``ack``: holes below it will never be captured."""
        return self._skip_holes(self._unwrap(ack)) if self.pending else []

    def flush(self) -> list:
        """No more data will fill the holes (FIN, RST): record gaps, deliver the rest."""
        return self._skip_holes(float("inf"))

    def finish(self, reason: str) -> list:
        out = self.flush()
        self.framer.stop(reason)
        return out

    def _skip_holes(self, until: float) -> list:
        """Declare the holes below stream offset ``until`` lost; deliver what follows."""
        out = []
        while self.pending and self.offset < until:
            self._gap(min(until, self.pending[0][0]) - self.offset)
            out += self._drain(None)
        return out

    def _gap(self, length: int) -> None:
        if length > 0:
            self.gaps.append(StreamGap(self.src, self.dst, self.offset, length))
            self.framer.jump(length)
            self.offset += length

    def _drain(self, now: tuple | None) -> list:
        """Deliver buffered segments that start at or before the next expected byte.

        ``now`` is the (time, frame) of the packet that filled a hole; without one the
        bytes are credited to the latest packet that carried any of them.
        """
        out, credit = [], now
        while self.pending and self.pending[0][0] <= self.offset:
            start, _, data, lost, time, frame = heapq.heappop(self.pending)
            self.pending_bytes -= len(data)
            if now is None and (credit is None or frame > credit[1]):
                credit = (time, frame)
            fresh = start + len(data) - self.offset
            if fresh > 0:  # overlapping bytes were delivered already: keep the first copy
                out += self.framer.feed(data[len(data) - fresh:], *credit)
                self.offset += fresh
            self._gap(start + len(data) + lost - self.offset)  # snaplen cut the segment short
        return out


def reassemble_tcp(path_or_fileobj, ports, consumer_factory, gaps: list,
                   frame_of=lambda item: item.frame, seen_ports: set | None = None) -> Iterator:
    """Reassemble every TCP direction touching ``ports`` and yield, in packet
    order, what the consumers' ``feed`` return.

    ``consumer_factory(src, dst, mid_stream)`` makes the consumer of one
    direction of one connection (``mid_stream``: no SYN was seen); a consumer
    has ``feed(data, time, frame) -> list``, ``jump(nbytes)`` (bytes never
    captured) and ``stop(reason) -> list``.  Lost stream bytes go to ``gaps``.
    Items finished at the end of the capture come last, ordered by ``frame_of``.
    ``seen_ports``, when given, collects the ports of every TCP segment.
    """
    ports = frozenset((ports,) if isinstance(ports, int) else ports)
    streams: dict[tuple, _Stream] = {}
    for packet in read_packets(path_or_fileobj):
        seg = _tcp_segment(packet.linktype, packet.data)
        if seg is None:
            continue
        if seen_ports is not None:
            seen_ports.add(seg.sport)
            seen_ports.add(seg.dport)
        if seg.sport in ports or seg.dport in ports:
            yield from _segment(streams, seg, packet.time, packet.frame, consumer_factory, gaps)
    leftovers = []
    for stream in streams.values():
        leftovers += stream.finish("truncated at end of capture")
    yield from sorted(leftovers, key=frame_of)


def _segment(streams: dict, seg: _Segment, time: float, frame: int, factory, gaps) -> list:
    out = []
    if seg.flags & _ACK:
        src, sport, dst, dport = seg.key
        reverse = streams.get((dst, dport, src, sport))
        if reverse is not None:
            out += reverse.acked(seg.ack)
    stream, seq = streams.get(seg.key), seg.seq
    if seg.flags & _SYN:
        if stream is None or stream.isn != seq:  # not a retransmitted SYN: a new connection
            if stream is not None:
                out += stream.finish("truncated by a new connection (SYN)")
            stream = streams[seg.key] = _Stream(seg, (seq + 1) & _MASK32, seq, gaps,
                                                factory(seg.src, seg.dst, False))
        seq = (seq + 1) & _MASK32  # the SYN occupies one sequence number
    elif stream is None:
        if not seg.payload:
            return out  # a stream without its SYN starts at the first data byte
        stream = streams[seg.key] = _Stream(seg, seq, None, gaps, factory(seg.src, seg.dst, True))
    if (seg.payload or seg.lost) and not seg.flags & _RST:  # RST data is diagnostic text
        out += stream.add(seq, seg.payload, seg.lost, time, frame)
    if seg.flags & (_FIN | _RST):
        out += stream.flush()
    return out


class BgpCaptureReader:
    """Iterate over the BGP messages of a capture; afterwards see ``gaps`` and ``skipped``.

    Messages come in the order of the packets that complete them (stream order within
    a packet; see ``_Stream`` for holes that never fill). Each direction of each TCP
    connection on one of ``ports`` is reassembled on its own; stream bytes that were
    never captured are listed in ``gaps`` and bytes that could not be framed as BGP
    are listed in ``skipped``. ``path`` may also be a binary file object.
    """

    def __init__(self, path, ports: Iterable[int] | int = (179,)):
        self.path = path
        self.ports = frozenset((ports,) if isinstance(ports, int) else ports)
        self.gaps: list[StreamGap] = []
        self.skipped: list[SkippedBytes] = []
        self.seen_ports: set = set()   # every TCP port in the capture (after iterating)

    def __iter__(self) -> Iterator[CapturedMessage]:
        self.gaps, self.skipped, self.seen_ports = [], [], set()

        def framer(src, dst, mid_stream):
            return _Framer(src, dst, self.skipped, "capture started mid-stream" if mid_stream
                           else "stream does not start with a BGP marker")
        yield from reassemble_tcp(self.path, self.ports, framer, self.gaps,
                                  seen_ports=self.seen_ports)


def read_bgp_messages(path_or_fileobj,
                      ports: Iterable[int] | int = (179,)) -> Iterator[CapturedMessage]:
    """Yield every whole BGP message in a capture (see ``BgpCaptureReader``)."""
    yield from BgpCaptureReader(path_or_fileobj, ports)
