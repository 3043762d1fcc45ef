"""The ``bgpevpn`` command line."""
from __future__ import annotations

import argparse
import json
import sys

from . import __version__, wire
from .constants import HEADER_LEN, MARKER, MAX_EXTENDED_MESSAGE_LEN
from .context import Context
from .errors import BGPError
from .heuristics import guess_context
from .show import format_message

EXIT_OK, EXIT_SKIPPED, EXIT_UNUSABLE = 0, 1, 2

_CAPTURE_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                  b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def _read_input(args) -> bytes:
    if args.hex:
        text = args.file if args.file != "-" else sys.stdin.read()
        try:
            return bytes.fromhex("".join(text.split()).replace(":", ""))
        except ValueError as e:
            raise _Unusable(f"--hex: not a hex string ({e})") from None
    if args.file == "-":
        return sys.stdin.buffer.read()
    try:
        with open(args.file, "rb") as f:
            return f.read()
    except OSError as e:
        raise _Unusable(f"cannot read {args.file}: {e.strerror}") from None


class _Unusable(Exception):
    pass


def _decompress(data: bytes) -> bytes:
    import bz2
    import gzip
    import lzma
    try:
        if data.startswith(b"\x1f\x8b"):
            return gzip.decompress(data)
        if data.startswith(b"BZh"):
            return bz2.decompress(data)
        if data.startswith(b"\xfd7zXZ\x00"):
            return lzma.decompress(data)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
        raise _Unusable(f"damaged compressed input: {e}") from None
    return data


class _Decoder:
    """Decodes the messages of each flow (direction) with the context learnt
    from the OPENs seen, or guessed per message when there were none."""

    def __init__(self, out, as_json: bool):
        self.out = out
        self.as_json = as_json
        self.opens: dict = {}
        self.counts: dict = {}
        self.errors = 0
        self.skipped = 0

    def context_for(self, src, dst, data):
        mine, theirs = self.opens.get((src, dst)), self.opens.get((dst, src))
        if mine is not None:
            ctx = Context.negotiated(mine, theirs)
            if len(data) > 4096 and not ctx.extended_message:
                ctx = Context(ctx.four_octet_as, ctx.add_path, True)
            return ctx, False
        return guess_context(data)

    def message(self, data: bytes, src=None, dst=None, time=None, where=None):
        ctx, guessed = self.context_for(src, dst, data)
        meta = {}
        if time is not None:
            meta["time"] = time
        if src is not None:
            meta["src"], meta["dst"] = src, dst
        if guessed:
            meta["context_guessed"] = True
        try:
            msg = wire.decode_message(data, ctx)
        except BGPError as e:
            self.errors += 1
            if e.offset is None and where is not None:
                e.offset = where
            partial = getattr(e, "update", None)
            self._emit_error(e, meta, partial)
            return
        if msg.type == "OPEN":
            self.opens[(src, dst)] = msg
        self.counts[msg.type] = self.counts.get(msg.type, 0) + 1
        if self.as_json:
            d = dict(meta)
            d.update(msg.to_dict())
            self.out.write(json.dumps(d) + "\n")
        else:
            self.out.write(_prefix(meta) + format_message(msg) + "\n")

    def _emit_error(self, err, meta, partial):
        if self.as_json:
            d = dict(meta)
            d["type"] = "ERROR"
            d.update(err.to_dict())
            if partial is not None:
                d["message"] = partial.to_dict()
            self.out.write(json.dumps(d) + "\n")
        else:
            self.out.write(_prefix(meta) + f"ERROR {err}\n")
            if partial is not None:
                self.out.write("  (decoded despite the error) " + format_message(partial)
                               .replace("\n", "\n  ") + "\n")

    def gap(self, reason: str, offset, nbytes, src=None, dst=None):
        self.skipped += 1
        meta = {"src": src, "dst": dst} if src is not None else {}
        if self.as_json:
            d = dict(meta)
            d.update(type="SKIPPED", reason=reason, offset=offset, length=nbytes)
            self.out.write(json.dumps(d) + "\n")
        else:
            self.out.write(_prefix(meta) + f"SKIPPED {nbytes} octets at offset {offset}: "
                           f"{reason}\n")

    def summary(self) -> str:
        parts = [f"{n} {t}" for t, n in sorted(self.counts.items())]
        return (f"summary: {sum(self.counts.values())} messages ({', '.join(parts) or 'none'}), "
                f"{self.errors} malformed, {self.skipped} skipped")


def _prefix(meta) -> str:
    out = ""
    if "time" in meta:
        out += f"{meta['time']:.6f} "
    if "src" in meta and meta["src"] is not None:
        out += f"{meta['src']} > {meta['dst']} "
    if meta.get("context_guessed"):
        out += "(context guessed) "
    return out


def _decode_stream(buf: bytes, dec: _Decoder) -> None:
    """A raw stream: messages back to back; a bad header resynchronises on
    the next marker (reported as skipped)."""
    pos, end = 0, len(buf)
    while pos < end:
        if end - pos < HEADER_LEN:
            dec.gap("truncated message at end of input", pos, end - pos)
            return
        try:
            length, _ = wire.check_header(buf, pos, MAX_EXTENDED_MESSAGE_LEN)
        except BGPError as e:
            nxt = buf.find(MARKER, pos + 1)
            nxt = end if nxt < 0 else nxt
            dec.gap(f"not a BGP message header ({e.reason})", pos, nxt - pos)
            pos = nxt
            continue
        if end - pos < length:
            dec.gap("truncated message at end of input", pos, end - pos)
            return
        dec.message(buf[pos:pos + length], where=pos)
        pos += length


def _decode_capture(path_or_data, dec: _Decoder, ports) -> None:
    import io

    from .pcap import BgpCaptureReader, CaptureError
    src = io.BytesIO(path_or_data) if isinstance(path_or_data, bytes) else path_or_data
    reader = BgpCaptureReader(src, ports=ports)
    try:
        for m in reader:
            dec.message(m.data, m.src, m.dst, m.time)
    except CaptureError as e:
        raise _Unusable(str(e)) from None
    for g in reader.gaps:
        dec.gap("bytes missing from the capture (lost segment)", g.offset, g.length, g.src, g.dst)
    for src_, dst_, offset, nbytes, reason in reader.skipped:
        dec.gap(reason, offset, nbytes, src_, dst_)


def cmd_decode(args) -> int:
    try:
        data = _decompress(_read_input(args))
    except _Unusable as e:
        print(f"bgpevpn decode: {e}", file=sys.stderr)
        return EXIT_UNUSABLE
    dec = _Decoder(sys.stdout, args.json)
    try:
        if data[:4] in _CAPTURE_MAGIC:
            _decode_capture(data, dec, tuple(args.port))
        elif data[:16] == MARKER:
            _decode_stream(data, dec)
        elif not data:
            raise _Unusable("empty input")
        else:
            raise _Unusable("not a BGP message stream, pcap or pcapng "
                            f"(starts with {data[:8].hex()})")
    except _Unusable as e:
        print(f"bgpevpn decode: {e}", file=sys.stderr)
        return EXIT_UNUSABLE
    except BrokenPipeError:
        return EXIT_OK
    print(dec.summary(), file=sys.stderr)
    return EXIT_SKIPPED if dec.errors or dec.skipped else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bgpevpn", description="BGP and EVPN tools.")
    p.add_argument("--version", action="version", version=f"bgpevpn {__version__} "
                   f"(codec: {wire.IMPLEMENTATION})")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("decode", help="decode BGP messages from a stream or capture",
                       description="Decode a raw BGP message stream (what a socket delivers "
                       "after the TCP handshake), a pcap or pcapng capture (optionally "
                       "gzip/bzip2/xz compressed), '-' for stdin, or a hex string with --hex.")
    d.add_argument("file", help="input file, '-' for stdin, or the hex string with --hex")
    d.add_argument("--hex", action="store_true", help="the input is a hex string")
    d.add_argument("--json", action="store_true", help="one JSON object per message per line")
    d.add_argument("--port", type=int, action="append", default=None,
                   help="TCP port of BGP in captures (default 179; repeatable)")
    d.set_defaults(func=cmd_decode)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "port", 1) is None:
        args.port = [179]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
