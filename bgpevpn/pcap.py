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

Speed: the records are read at offsets in a buffer (the whole capture when it is
given as bytes). A record walk (``_PyWalker``, or its C twin
``bgpevpn._pcap_c.Walker`` when built) goes over the packets that only append
the next bytes to a stream, or do nothing (pure ACKs, other ports, not TCP), and
hands over their payloads joined; every other packet takes the general path,
one ``Packet`` and ``_Segment`` at a time. The standard library is enough: the
C twin is optional.
"""
from __future__ import annotations

import bisect
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

from . import _impl

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
        self.error: CaptureError | None = None  # raised once the bytes before it are used

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the (possibly truncated) file.

        Damaged compressed data raises ``CaptureError``, after the bytes decompressed
        before the damage were returned.
        """
        if self.error is not None:
            raise self.error
        parts, want = [], n
        # A decompressor's read that meets damage loses what it decompressed in that
        # call: small read1() calls keep the bytes before the damage.
        read, piece = (self.f.read1, io.DEFAULT_BUFFER_SIZE) if self.compressed \
            else (self.f.read, n)
        while want > 0:
            try:
                chunk = read(min(want, piece))
            except EOFError:  # compressed stream cut short: same as a truncated file
                self.cut_short = True
                break
            except (OSError, lzma.LZMAError, zlib.error) as exc:
                if not self.compressed:
                    raise
                self.error = CaptureError(f"corrupt compressed data after byte offset "
                                          f"{self.offset + n - want}: {exc}")
                self.error.__cause__ = exc
                if not parts:
                    raise self.error from exc
                break
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


# Bytes read from a file at a time; the walk of the records goes over this buffer.
_CHUNK = 1 << 20


class _Capture:
    """The records of one pcap or pcapng capture, read at offsets in a buffer.

    ``buf[pos:]`` are the bytes not used yet and ``base`` the capture offset of
    ``buf[0]``. A capture given as (uncompressed) bytes is the buffer; otherwise
    the buffer is refilled from the (decompressed) input ``_CHUNK`` bytes at a time.
    ``fmt`` says what the record walk needs: ``(0, big_endian, units, linktype)``
    for pcap, ``(1, big_endian, interfaces)`` for the current pcapng section.
    """

    def __init__(self, source, stack: contextlib.ExitStack):
        self.buf, self.inp = b"", None
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if data.startswith(tuple(magic for magic, _ in _COMPRESSORS)):
                self.inp = _open(io.BytesIO(data), stack)
            else:
                self.buf = data
        else:
            self.inp = _open(source, stack)
        self.pos = self.base = 0
        self.frame, self.last_time = 0, 0.0
        self.fmt: tuple = ()
        self.order, self.interfaces = "<", []

    @property
    def compressed(self) -> bool:
        return self.inp is not None and self.inp.compressed

    def offset(self) -> int:
        return self.base + self.pos

    def have(self, n: int) -> bool:
        """Whether ``n`` bytes are at hand from ``pos``, reading more if need be."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return True
        if self.inp is None:
            return False
        more = self.inp.read(max(n - avail, _CHUNK))
        if more:
            self.buf = self.buf[self.pos:] + more
            self.base += self.pos
            self.pos = 0
        return len(self.buf) - self.pos >= n

    def start(self) -> bool:
        """Read the file header; False for a file that ends inside it."""
        if not self.have(4):
            if self.inp is not None and self.inp.cut_short:
                return False
            raise CaptureError(f"not a capture: file ends at byte offset {len(self.buf)}")
        head = self.buf[:4]
        if struct.unpack_from("<I", head)[0] == _PCAPNG_SHB:
            self.fmt = (1, False, ())  # the section header block is read as the first block
            return True
        if not any(struct.unpack_from(o + "I", head)[0] in _PCAP_UNITS for o in "<>"):
            raise CaptureError(f"unknown file magic {head.hex()} at byte offset 0")
        # Classic pcap (draft-ietf-opsawg-pcap §4-5): 24-byte file header, 16-byte records.
        order = "<" if struct.unpack_from("<I", head)[0] in _PCAP_UNITS else ">"
        units = _PCAP_UNITS[struct.unpack_from(order + "I", head)[0]]
        if not self.have(24):
            return False
        major, _minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(
            order + "HHiIII", self.buf, 4)
        if major != 2:
            raise CaptureError(f"pcap version {major} at byte offset 4 is not 2")
        self.pos = 24
        self.order = order
        # upper bits of the LinkType field carry the FCS length (§4)
        self.fmt = (0, order == ">", units, network & 0xFFFF)
        return True

    def next_packet(self) -> Packet | None:
        """The next packet record; None at the end of the capture (or where it is cut)."""
        return self._pcap_record() if self.fmt[0] == 0 else self._pcapng_packet()

    def _pcap_record(self) -> Packet | None:
        offset = self.offset()
        if not self.have(16):
            return None
        sec, frac, caplen, _origlen = struct.unpack_from(self.order + "IIII", self.buf, self.pos)
        if caplen > _MAX_RECORD:
            raise CaptureError(f"pcap record at byte offset {offset}: captured length {caplen}")
        if not self.have(16 + caplen):
            return None
        at = self.pos + 16
        data = self.buf[at:at + caplen]
        self.pos = at + caplen
        self.frame += 1
        _, _, units, linktype = self.fmt
        self.last_time = time = sec + frac / units
        return Packet(time, self.frame, linktype, data)

    def _pcapng_packet(self) -> Packet | None:
        """pcapng (draft-ietf-opsawg-pcapng §3-4): a sequence of typed, length-framed blocks."""
        while True:
            offset = self.offset()
            if not self.have(8):
                return None
            order = self.order
            btype = struct.unpack_from(order + "I", self.buf, self.pos)[0]
            if btype == _PCAPNG_SHB:  # the palindromic type reads the same in both orders
                if not self.have(12):
                    return None
                order = _section_byte_order(self.buf[self.pos + 8:self.pos + 12], offset)
            length = struct.unpack_from(order + "I", self.buf, self.pos + 4)[0]
            if length < _PCAPNG_MIN_LENGTH.get(btype, 12) or length % 4 or length > _MAX_RECORD:
                raise CaptureError(f"pcapng block at byte offset {offset}: "
                                   f"bad total length {length}")
            if not self.have(length):
                return None
            block = self.buf[self.pos:self.pos + length]
            if struct.unpack_from(order + "I", block, length - 4)[0] != length:
                raise CaptureError(f"pcapng block at byte offset {offset}: "
                                   "trailing length mismatch")
            self.pos += length
            if btype == _PCAPNG_SHB:
                _check_section(block, order, offset)
                self.order = order
                self.interfaces = []  # interface ids are numbered per section (§4.2)
            elif btype == 1:
                self.interfaces.append(_parse_idb(block, order))
            elif btype in (2, 3, 6):
                packet = _parse_packet_block(btype, block, order, self.interfaces, offset)
                self.frame += 1
                time = self.last_time if packet[0] is None else packet[0]
                self.last_time = time
                return Packet(time, self.frame, packet[1], packet[2])
            else:
                continue
            self.fmt = (1, order == ">", tuple(self.interfaces))

    def errors(self) -> contextlib.AbstractContextManager:
        """Say in the message of a ``CaptureError`` when its offset is of decompressed data."""
        return _decompressed_offsets(self)


@contextlib.contextmanager
def _decompressed_offsets(cap: _Capture):
    try:
        yield
    except CaptureError as exc:
        if cap.compressed:
            raise CaptureError(f"{exc} (of the decompressed data)") from None
        raise


def read_packets(path_or_fileobj) -> Iterator[Packet]:
    """Yield every packet record of a pcap or pcapng file (compressed or not).

    ``path_or_fileobj`` is a path, a binary file object or the bytes of the file.
    A truncated file ends the iteration quietly after the last whole record; a file
    that is not a capture, or whose structure is corrupt, raises ``CaptureError``.
    """
    with contextlib.ExitStack() as stack:
        cap = _Capture(path_or_fileobj, stack)
        with cap.errors():
            if not cap.start():
                return
            while True:
                packet = cap.next_packet()
                if packet is None:
                    return
                yield packet


class _Interface(NamedTuple):
    linktype: int
    snaplen: int
    units: int       # timestamp ticks per second (if_tsresol)
    ts_offset: int   # seconds added to every timestamp (if_tsoffset)


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


# The parsers below read the frame ``data[start:end]`` in place (``data`` may be the
# whole capture) and return offsets into ``data``; bgpevpn/_pcap_c.pyx mirrors them.

_U16 = struct.Struct("!H")


def _after_ethertype(data: bytes, ethertype: int, pos: int, end: int) -> int | None:
    """Skip any number of 802.1Q / 802.1ad tags (each: TCI, then the inner EtherType)."""
    while ethertype in _VLAN_TPIDS and pos + 4 <= end:
        ethertype = _U16.unpack_from(data, pos + 2)[0]
        pos += 4
    return pos if ethertype in _IP_ETHERTYPES else None


def _network_offset(linktype: int, data: bytes, start: int, end: int) -> int | None:
    """Offset of the IP header in a frame of the given LINKTYPE, or None."""
    n = end - start
    if linktype == 1 and n >= 14:  # LINKTYPE_ETHERNET
        return _after_ethertype(data, _U16.unpack_from(data, start + 12)[0], start + 14, end)
    if linktype in (101, 228, 229):  # LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6
        return start
    if linktype == 113 and n >= 16:  # LINKTYPE_LINUX_SLL: protocol type at 14
        return _after_ethertype(data, _U16.unpack_from(data, start + 14)[0], start + 16, end)
    if linktype == 276 and n >= 20:  # LINKTYPE_LINUX_SLL2: protocol type first
        return _after_ethertype(data, _U16.unpack_from(data, start)[0], start + 20, end)
    if linktype in (0, 108) and n >= 4:  # NULL (host order) and LOOP (network order)
        family = struct.unpack_from("<I", data, start)[0]
        if family > 0xFFFF:  # written by a host of the other byte order
            family = struct.unpack_from(">I", data, start)[0]
        return start + 4 if family in _BSD_AF_INET else None
    if linktype in (9, 50) and n >= 4:  # LINKTYPE_PPP / PPP_HDLC: RFC 1662 framing optional
        pos = start + 2 if data[start] == 0xFF and data[start + 1] == 0x03 else start
        return pos + 2 if _U16.unpack_from(data, pos)[0] in _PPP_IP else None
    if linktype == 178 and n >= 4 and data[start:start + 3] == b"MGC":  # JUNIPER_ETHER
        return _juniper_ether(data, start, end)
    return None


def _juniper_ether(data: bytes, start: int, end: int) -> int | None:
    """Juniper's pseudo-header: "MGC", flags, optional TLV extension, then Ethernet."""
    flags, pos = data[start + 3], start + 4
    if flags & 0x80:  # extension TLVs, preceded by their 16-bit total length
        if end - start < 6:
            return None
        pos += 2 + _U16.unpack_from(data, start + 4)[0]
    if flags & 0x02:  # no layer-2 header: a 4-byte field, then the IP packet
        return pos + 4
    if pos + 14 > end:
        return None
    return _after_ethertype(data, _U16.unpack_from(data, pos + 12)[0], pos + 14, end)


def _ipv4(data: bytes, pos: int, end: int) -> tuple | None:
    """(src, dst, TCP offset, end, lost) of an IPv4 packet carrying TCP (RFC 791)."""
    if pos + 20 > end:
        return None
    ihl = (data[pos] & 0x0F) * 4
    total, frag, proto = struct.unpack_from("!H2xHxB", data, pos + 2)
    if ihl < 20 or proto != 6 or frag & 0x1FFF:  # non-first fragments carry no TCP header
        return None
    claimed = pos + total if total >= ihl else end  # 0 with TCP segmentation offload
    stop = min(claimed, end)
    return data[pos + 12:pos + 16], data[pos + 16:pos + 20], pos + ihl, stop, claimed - stop


def _ipv6(data: bytes, pos: int, end: int) -> tuple | None:
    """(src, dst, TCP offset, end, lost), walking extension headers (RFC 8200 §4)."""
    if pos + 40 > end:
        return None
    plen, nxt = struct.unpack_from("!HB", data, pos + 4)
    claimed = pos + 40 + plen if plen else end  # 0: jumbogram or offloaded segment
    stop = min(claimed, end)
    p = pos + 40
    while nxt != 6:
        if p + 8 > stop:
            return None
        if nxt in (0, 43, 60):  # hop-by-hop, routing, destination options: 8-octet units
            nxt, p = data[p], p + (data[p + 1] + 1) * 8
        elif nxt == 44:  # fragment header: only the first fragment has the TCP header
            if _U16.unpack_from(data, p + 2)[0] >> 3:
                return None
            nxt, p = data[p], p + 8
        elif nxt == 51:  # authentication header (RFC 4302): 4-octet units
            nxt, p = data[p], p + (data[p + 1] + 2) * 4
        else:
            return None
    return data[pos + 8:pos + 24], data[pos + 24:pos + 40], p, stop, claimed - stop


_TCP = struct.Struct("!HHIIH")


def _tcp_header(linktype: int, data: bytes, start: int, end: int) -> tuple | None:
    """Decode link layer, IP and TCP (RFC 9293 §3.1) of the frame ``data[start:end]``:
    (src, dst, sport, dport, seq, ack, flags, payload start, payload end, lost),
    or None for anything else."""
    pos = _network_offset(linktype, data, start, end)
    if pos is None or pos >= end:
        return None
    version = data[pos] >> 4
    ip = _ipv4(data, pos, end) if version == 4 else _ipv6(data, pos, end) if version == 6 \
        else None
    if ip is None:
        return None
    src, dst, tcp, stop, lost = ip
    if tcp + 20 > stop:
        return None
    sport, dport, seq, ack, off_flags = _TCP.unpack_from(data, tcp)
    header = (off_flags >> 12) * 4
    if header < 20 or tcp + header > stop:
        return None
    return src, dst, sport, dport, seq, ack, off_flags & 0x3F, tcp + header, stop, lost


@functools.lru_cache(maxsize=4096)
def _endpoint(addr: bytes, port: int) -> str:
    """``addr:port`` text; cached, as a capture holds few endpoints and many packets."""
    if len(addr) == 4:
        return f"{ipaddress.IPv4Address(addr)}:{port}"
    return f"[{ipaddress.IPv6Address(addr)}]:{port}"


def _tcp_segment(linktype: int, data: bytes) -> _Segment | None:
    """The TCP segment in one frame (see ``_tcp_header``), or None."""
    tcp = _tcp_header(linktype, data, 0, len(data))
    if tcp is None:
        return None
    src, dst, sport, dport, seq, ack, flags, start, end, lost = tcp
    return _Segment((src, sport, dst, dport), _endpoint(src, sport), _endpoint(dst, dport),
                    sport, dport, seq, ack, flags, data[start:end], lost)


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
        return self._frame(data, None, time, frame)

    def feed_run(self, data: bytes, ends: list, times: list, frames: list) -> list:
        """``feed`` for the payloads of consecutive packets joined: packet ``i``
        ended at ``data[ends[i] - 1]`` and had ``times[i]`` and ``frames[i]``."""
        return self._frame(data, ends, times, frames)

    def _frame(self, data: bytes, ends, times, frames) -> list[CapturedMessage]:
        """Messages completed by ``data``, each credited to the packet of its last byte."""
        if self.buf:
            buf = self.buf
            buf += data
        else:
            buf = data  # nothing held back: frame the new bytes where they are
        before, pos, out = len(buf) - len(data), 0, []
        src, dst = self.src, self.dst
        while True:
            if not self.synced:
                found = self._find_marker(buf, pos)
                if found is None:
                    pos = max(pos, len(buf) - (_HEADER - 1))  # may hold a marker's start
                    break
                self._end_skip(found)
                pos, self.synced = found, True
            if len(buf) - pos < _HEADER:
                break
            length = _U16.unpack_from(buf, pos + 16)[0]
            if not buf.startswith(_MARKER, pos) or length < _HEADER:
                self._lose_sync(pos, "invalid BGP header")
                pos += 1
                continue
            if len(buf) - pos < length:
                break
            end = pos + length
            message = buf[pos:end] if buf is data else bytes(buf[pos:end])
            if ends is None:
                out.append(CapturedMessage(times, src, dst, message, frames))
            else:
                i = bisect.bisect_left(ends, end - before)
                out.append(CapturedMessage(times[i], src, dst, message, frames[i]))
            pos = end
        if buf is data:
            self.buf = bytearray(data[pos:])
        else:
            del buf[:pos]
        self.buf_offset += pos
        return out

    @staticmethod
    def _find_marker(buf, pos: int) -> int | None:
        """Next position with a marker, a length >= 19 and a known type (1-5) after it."""
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

    def add_run(self, data: bytes, ends: list, times: list, frames: list) -> list:
        """Take the payloads of in-order segments, joined (``_Framer.feed_run``), when
        they start at the next expected byte and nothing waits in the heap."""
        feed_run = getattr(self.framer, "feed_run", None)
        if feed_run is not None:
            out = feed_run(data, ends, times, frames)
        else:
            out, start = [], 0
            for end, time, frame in zip(ends, times, frames):
                out += self.framer.feed(data[start:end], time, frame)
                start = end
        self.offset += len(data)
        return out

    def expected(self) -> int:
        """The sequence number of the next byte when the next in-order segment would be
        delivered at once (nothing waiting in the heap), else -1 (see ``walk``)."""
        return -1 if self.pending else (self.base + self.offset) & _MASK32

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


# --- the record walk: packets that need no more than appending to a stream ------------

# Payload bytes joined into one run at most (a run is handed over, then the walk goes on).
_MAX_RUN = 1 << 20


class _PyWalker:
    """Walk the records of a capture buffer while every packet is one that
    ``reassemble_tcp`` would only append to a stream, and join those payloads.

    ``walk(buf, pos, frame, last_time, fmt, expect, seen_ports)`` starts at the
    record at ``buf[pos]`` (``fmt`` as ``_Capture.fmt``; ``frame`` and
    ``last_time`` those of the record before) and goes on while each record is
    whole, well formed and a packet that

    * carries no TCP segment, or one on none of the ports (its ports still go to
      ``seen_ports``, a set or None), or
    * is a segment on the ports without SYN, FIN, RST or bytes cut off by the
      snaplen, whose ACK (if set) is for a stream with nothing waiting
      (``expect`` maps each stream key to ``_Stream.expected()``), and whose
      payload, if any, is the next in order of the stream that has
      ``expect[key] == seq``; all payloads must be of one stream.

    It stops before any other record (``_Capture.next_packet`` and ``_segment``
    take it) and after ``max_run`` payload bytes. It returns ``(pos, frame,
    last_time, key, data, ends, times, frames)``: where it stopped, the frame
    number and time of the last packet walked, and the run: the stream key, the
    payloads joined, and for each packet of the run the end of its payload in
    ``data``, its time and its frame (key and data None without a run).
    ``bgpevpn._pcap_c.Walker`` is the C twin, which may stop earlier (never later)
    on records it leaves to the Python code.
    """

    IMPLEMENTATION = "py"

    def __init__(self, ports: Iterable[int], max_run: int = _MAX_RUN):
        self.ports, self.max_run = frozenset(ports), max_run

    def walk(self, buf: bytes, pos: int, frame: int, last_time: float, fmt: tuple,
             expect: dict, seen_ports: set | None) -> tuple:
        ports, max_run, end = self.ports, self.max_run, len(buf)
        key, seq_next, total = None, 0, 0
        pieces: list = []
        ends: list = []
        times: list = []
        frames: list = []
        if fmt[0] == 0:
            _, big, units, linktype = fmt
        else:
            big, interfaces = fmt[1], fmt[2]
        order = ">" if big else "<"
        record, block, u32 = (struct.Struct(order + f) for f in ("IIII", "IIIIII", "I"))
        while True:
            if fmt[0] == 0:
                if end - pos < 16:
                    break
                sec, frac, caplen, _ = record.unpack_from(buf, pos)
                if caplen > _MAX_RECORD or end - pos - 16 < caplen:
                    break
                start = pos + 16
                stop = nxt = start + caplen
                time = sec + frac / units
            else:  # an Enhanced Packet Block of the current section (§4.3)
                if end - pos < 32:
                    break
                btype, length, iface_id, hi, lo, caplen = block.unpack_from(buf, pos)
                if btype != 6 or length < 32 or length % 4 or length > _MAX_RECORD \
                        or end - pos < length or iface_id >= len(interfaces):
                    break
                if u32.unpack_from(buf, pos + length - 4)[0] != length \
                        or 28 + caplen > length - 4:
                    break
                iface = interfaces[iface_id]
                seconds, rest = divmod((hi << 32) | lo, iface.units)
                time = iface.ts_offset + seconds + rest / iface.units
                linktype = iface.linktype
                start = pos + 28
                stop, nxt = start + caplen, pos + length
            tcp = _tcp_header(linktype, buf, start, stop)
            if tcp is not None:
                src, dst, sport, dport, seq, _ack, flags, at, to, lost = tcp
                if seen_ports is not None:
                    seen_ports.add(sport)
                    seen_ports.add(dport)
                if sport in ports or dport in ports:
                    if flags & (_SYN | _FIN | _RST) or lost:
                        break
                    if flags & _ACK and expect.get((dst, dport, src, sport)) == -1:
                        break
                    if to > at:
                        if key is None:
                            if expect.get((src, sport, dst, dport), -1) != seq:
                                break
                            key = (src, sport, dst, dport)
                        elif seq != seq_next or key != (src, sport, dst, dport):
                            break
                        pieces.append(buf[at:to])
                        total += to - at
                        seq_next = (seq + to - at) & _MASK32
                        ends.append(total)
                        times.append(time)
                        frames.append(frame + 1)
            frame, last_time, pos = frame + 1, time, nxt
            if total >= max_run:
                break
        data = b"".join(pieces) if key is not None else None
        return pos, frame, last_time, key, data, ends, times, frames


def reassemble_tcp(path_or_fileobj, ports, consumer_factory, gaps: list,
                   frame_of=lambda item: item.frame, seen_ports: set | None = None) -> Iterator:
    """Reassemble every TCP direction touching ``ports`` and yield, in packet
    order, what the consumers' ``feed`` return.

    ``consumer_factory(src, dst, mid_stream)`` makes the consumer of one
    direction of one connection (``mid_stream``: no SYN was seen); a consumer
    has ``feed(data, time, frame) -> list``, ``jump(nbytes)`` (bytes never
    captured) and ``stop(reason) -> list``, and may have ``feed_run`` (see
    ``_Framer``).  Lost stream bytes go to ``gaps``.
    Items finished at the end of the capture come last, ordered by ``frame_of``.
    ``seen_ports``, when given, collects the ports of every TCP segment.

    Runs of packets that only append to a stream are taken by the record walk
    (``_Walker``: the C twin when built); every other packet goes through
    ``_Capture.next_packet``, ``_tcp_segment`` and ``_segment``.
    """
    ports = frozenset((ports,) if isinstance(ports, int) else ports)
    streams: dict[tuple, _Stream] = {}
    expect: dict[tuple, int] = {}   # stream key -> _Stream.expected()
    with contextlib.ExitStack() as stack:
        cap = _Capture(path_or_fileobj, stack)
        with cap.errors():
            if not cap.start():
                return
            walk = _Walker(ports, _MAX_RUN).walk
            while True:
                pos = cap.pos
                cap.pos, cap.frame, cap.last_time, key, data, ends, times, frames = walk(
                    cap.buf, pos, cap.frame, cap.last_time, cap.fmt, expect, seen_ports)
                if key is not None:
                    stream = streams[key]
                    out = stream.add_run(data, ends, times, frames)
                    expect[key] = stream.expected()
                    yield from out
                if cap.pos != pos:
                    continue
                packet = cap.next_packet()
                if packet is None:
                    break
                seg = _tcp_segment(packet.linktype, packet.data)
                if seg is None:
                    continue
                if seen_ports is not None:
                    seen_ports.add(seg.sport)
                    seen_ports.add(seg.dport)
                if seg.sport in ports or seg.dport in ports:
                    out = _segment(streams, seg, packet.time, packet.frame, consumer_factory,
                                   gaps)
                    src, sport, dst, dport = seg.key
                    for k in (seg.key, (dst, dport, src, sport)):
                        stream = streams.get(k)
                        if stream is not None:
                            expect[k] = stream.expected()
                    yield from out
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
    are listed in ``skipped``. ``path`` may also be a binary file object, or the
    capture's bytes (read in place, without a copy).
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


# The record walk's twins, chosen as the codec's are (``bgpevpn._impl``).
_pcap_c = _impl.extension("_pcap_c")
_Walker = _pcap_c.Walker if _pcap_c is not None else _PyWalker
