"""One iterator over BGP messages from any source: raw streams, pcap/pcapng
captures of BGP and BMP sessions, and MRT files (optionally compressed).

    for item in bgpevpn.capture.read("session.pcapng"):
        if item.kind == "message":
            print(item.time, item.flow, item.message.type)

Each ``Item`` has ``kind``: ``message`` (a decoded BGP message), ``error`` (a
``BGPError``; ``error.update`` holds what RFC 7606 still lets through),
``record`` (a BMP or MRT record that is not a BGP message: peer up,
statistics, RIB entries, ...), ``gap`` (bytes missing from a capture) or
``skipped`` (bytes that were not BGP).  ``flow`` is ``"src > dst"`` for
captures and the BMP/MRT peer description otherwise.

The decode context of each flow (4-octet AS, ADD-PATH, extended message) is
learnt from the OPENs seen in that flow; without them it is guessed per
message (``bgpevpn.heuristics``) and ``context_guessed`` says so.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
from typing import Iterator, NamedTuple, Optional

from . import wire
from .constants import HEADER_LEN, MARKER, MAX_EXTENDED_MESSAGE_LEN
from .context import Context
from .errors import BGPError
from .heuristics import guess_context

CAPTURE_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                 b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")
_MRT_TYPES = {11, 12, 13, 16, 17, 32, 33, 48, 49}


class SourceError(ValueError):
    """The input cannot be read at all (not BGP, damaged compression, ...)."""


class Item(NamedTuple):
    kind: str                      # message | error | record | gap | skipped
    time: Optional[float]
    src: Optional[str]
    dst: Optional[str]
    peer: Optional[str]            # BMP / MRT peer description
    message: object = None         # the BGP message, the BGPError or the record
    context_guessed: bool = False
    offset: Optional[int] = None   # gap / skipped: stream offset
    length: int = 0                # gap / skipped: octets
    reason: str = ""
    origin: str = "bgp"            # bgp | bmp | mrt: where the item came from

    @property
    def flow(self) -> Optional[str]:
        if self.src is not None:
            return f"{self.src} > {self.dst}"
        return self.peer

    @property
    def error(self):
        return self.message if self.kind == "error" else None

    def meta(self) -> dict:
        """time/src/dst/peer/context_guessed for JSON output."""
        d = {}
        if self.time is not None:
            d["time"] = self.time
        if self.src is not None:
            d["src"], d["dst"] = self.src, self.dst
        if self.peer is not None:
            d["peer"] = self.peer
        if self.context_guessed:
            d["context_guessed"] = True
        return d


def decompress(data: bytes) -> bytes:
    try:
        if data.startswith(b"\x1f\x8b"):
            return gzip.decompress(data)
        if data.startswith(b"BZh"):
            return bz2.decompress(data)
        if data.startswith(b"\xfd7zXZ\x00"):
            return lzma.decompress(data)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
        raise SourceError(f"damaged compressed input: {e}") from None
    return data


def looks_like_mrt(data: bytes) -> bool:
    """RFC 6396 §2 common header: timestamp, type, subtype, length."""
    if len(data) < 12:
        return False
    mtype = (data[4] << 8) | data[5]
    return mtype in _MRT_TYPES and 12 + int.from_bytes(data[8:12], "big") <= len(data)


def detect(data: bytes) -> str:
    """``pcap``, ``stream`` or ``mrt`` (after decompression); SourceError otherwise."""
    if data[:4] in CAPTURE_MAGIC:
        return "pcap"
    if data[:16] == MARKER:
        return "stream"
    if looks_like_mrt(data):
        return "mrt"
    if not data:
        raise SourceError("empty input")
    raise SourceError("not a BGP message stream, pcap, pcapng or MRT file "
                      f"(starts with {data[:8].hex()})")


class FlowContexts:
    """Per-direction decode contexts learnt from the OPENs of a capture."""

    def __init__(self):
        self.opens: dict = {}
        self._contexts: dict = {}   # (src, dst) -> Context, until an OPEN changes it

    def context(self, src, dst):
        ctx = self._contexts.get((src, dst))
        if ctx is None:
            mine = self.opens.get((src, dst))
            if mine is None:
                return None
            ctx = self._contexts[(src, dst)] = Context.negotiated(mine,
                                                                  self.opens.get((dst, src)))
        return ctx

    def decode(self, data: bytes, src=None, dst=None):
        """(message or BGPError, context_guessed)."""
        ctx = self.context(src, dst)
        if ctx is not None:
            if len(data) > 4096 and not ctx.extended_message:
                ctx = Context(ctx.four_octet_as, ctx.add_path, True)
            guessed = False
        else:
            ctx, guessed = guess_context(data)
        try:
            msg = wire.decode_message(data, ctx)
        except BGPError as e:
            return e, guessed
        if msg.type == "OPEN":
            self.opens[(src, dst)] = msg
            self._contexts.pop((src, dst), None)
            self._contexts.pop((dst, src), None)
        return msg, guessed


def _bgp_item(flows: FlowContexts, data, time=None, src=None, dst=None, offset=None) -> Item:
    msg, guessed = flows.decode(data, src, dst)
    if isinstance(msg, BGPError):
        if msg.offset is None and offset is not None:
            msg.offset = offset
        return Item("error", time, src, dst, None, msg, guessed)
    return Item("message", time, src, dst, None, msg, guessed)


def read_stream(data: bytes) -> Iterator[Item]:
    """A raw stream: messages back to back; a bad header resynchronises on
    the next marker (reported as skipped)."""
    flows = FlowContexts()
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < HEADER_LEN:
            yield Item("skipped", None, None, None, None, offset=pos, length=end - pos,
                       reason="truncated message at end of input")
            return
        try:
            length, _ = wire.check_header(data, pos, MAX_EXTENDED_MESSAGE_LEN)
        except BGPError as e:
            nxt = data.find(MARKER, pos + 1)
            nxt = end if nxt < 0 else nxt
            yield Item("skipped", None, None, None, None, offset=pos, length=nxt - pos,
                       reason=f"not a BGP message header ({e.reason})")
            pos = nxt
            continue
        if end - pos < length:
            yield Item("skipped", None, None, None, None, offset=pos, length=end - pos,
                       reason="truncated message at end of input")
            return
        yield _bgp_item(flows, data[pos:pos + length], offset=pos)
        pos += length


def read_pcap(data: bytes, ports=(179,), bmp_ports=None) -> Iterator[Item]:
    """BGP sessions on ``ports``, then BMP sessions on ``bmp_ports``."""
    from .pcap import BgpCaptureReader, CaptureError
    reader = BgpCaptureReader(data, ports=tuple(ports))   # records read in place
    flows = FlowContexts()
    any_item = False
    try:
        for m in reader:
            any_item = True
            yield _bgp_item(flows, m.data, m.time, m.src, m.dst)
    except CaptureError as e:
        if not any_item:
            raise SourceError(str(e)) from None
        yield Item("skipped", None, None, None, None, reason=f"capture damaged: {e}")
    for g in reader.gaps:
        yield Item("gap", None, g.src, g.dst, None, offset=g.offset, length=g.length,
                   reason="bytes missing from the capture (lost segment)")
    for s in reader.skipped:
        yield Item("skipped", None, s[0], s[1], None, offset=s[2], length=s[3], reason=s[4])
    if bmp_ports is None:
        from .bmp import DEFAULT_PORTS as bmp_ports
    if reader.seen_ports & set(bmp_ports):   # a second pass only when BMP was captured
        yield from read_bmp(data, bmp_ports)


def read_bmp(data: bytes, ports) -> Iterator[Item]:
    """BMP (RFC 7854, RFC 9069) in a capture: Route Monitoring UPDATEs as
    messages (decoded with each monitored peer's context), the rest as records."""
    from .bmp import BmpCaptureReader, RouteMonitoring
    from .pcap import CaptureError
    reader = BmpCaptureReader(data, ports=tuple(ports))
    try:
        for entry in reader:
            t, desc, msg = entry[0], entry[1], entry[2]
            if isinstance(msg, RouteMonitoring):
                if msg.error is not None:
                    yield Item("error", t, None, None, desc, msg.error,
                               msg.context_source == "guessed", origin="bmp")
                elif msg.bgp is not None:
                    yield Item("message", t, None, None, desc, msg.bgp,
                               msg.context_source == "guessed", origin="bmp")
                continue
            yield Item("record", t, None, None, desc, msg, origin="bmp")
    except CaptureError:
        return   # the BGP pass over the same capture reported the damage
    for s in reader.skipped:
        yield Item("skipped", None, s[0], s[1], None, offset=s[2], length=s[3], reason=s[4])


def read_mrt(data: bytes) -> Iterator[Item]:
    """MRT (RFC 6396, RFC 8050): BGP4MP messages, the rest as records."""
    from .mrt import MrtError, MrtReader
    any_item = False
    try:
        for rec in MrtReader(io.BytesIO(data), strict=False):
            any_item = True
            msg = getattr(rec, "message", None)
            err = getattr(rec, "error", None)
            desc = rec.describe()
            if msg is not None:
                yield Item("message", rec.timestamp, None, None, desc, msg, origin="mrt")
            elif isinstance(err, BGPError):
                yield Item("error", rec.timestamp, None, None, desc, err, origin="mrt")
            else:
                yield Item("record", rec.timestamp, None, None, desc, rec, origin="mrt")
    except MrtError as e:
        if not any_item:
            raise SourceError(str(e)) from None
        yield Item("skipped", None, None, None, None, offset=e.offset,
                   reason=f"MRT file damaged: {e.reason}")


def read(source, ports=(179,), bmp_ports=None) -> Iterator[Item]:
    """Items from a path, a binary file object or bytes, whatever the format."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read()
    else:
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as e:
            raise SourceError(f"cannot read {source}: {e.strerror}") from None
    data = decompress(data)
    kind = detect(data)
    if kind == "pcap":
        return read_pcap(data, ports, bmp_ports)
    if kind == "stream":
        return read_stream(data)
    return read_mrt(data)


__all__ = ["Item", "SourceError", "FlowContexts", "read", "read_stream", "read_pcap",
           "read_bmp", "read_mrt", "detect", "decompress"]
