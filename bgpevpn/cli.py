"""The ``bgpevpn`` command line: ``decode`` and ``evpn``."""
from __future__ import annotations

import argparse
import io
import json
import sys
import time

from . import __version__, wire
from .constants import HEADER_LEN, MARKER, MAX_EXTENDED_MESSAGE_LEN, family_name
from .context import Context
from .errors import BGPError
from .heuristics import guess_context
from .show import format_message

EXIT_OK, EXIT_SKIPPED, EXIT_UNUSABLE = 0, 1, 2

_CAPTURE_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                  b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")


class Unusable(Exception):
    """The input cannot be read at all (exit status 2)."""


def _read_input(args) -> bytes:
    if args.hex:
        text = args.file if args.file != "-" else sys.stdin.read()
        try:
            return bytes.fromhex("".join(text.split()).replace(":", ""))
        except ValueError as e:
            raise Unusable(f"--hex: not a hex string ({e})") from None
    if args.file == "-":
        return sys.stdin.buffer.read()
    try:
        with open(args.file, "rb") as f:
            return f.read()
    except OSError as e:
        raise Unusable(f"cannot read {args.file}: {e.strerror}") from None


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
        raise Unusable(f"damaged compressed input: {e}") from None
    return data


# --- filters ------------------------------------------------------------------

class RouteFilter:
    """--route-type, --rd, --mac, --vni: which routes (and so which UPDATEs)
    are shown; --type and --peer select messages."""

    def __init__(self, args):
        self.types = {t.upper() for t in (args.type or [])}
        self.route_types = set(args.route_type or [])
        self.rds = set(args.rd or [])
        self.macs = {m.lower() for m in (args.mac or [])}
        self.vnis = set(args.vni or [])
        self.peers = set(args.peer or [])
        self.on_routes = bool(self.route_types or self.rds or self.macs or self.vnis)

    def message_ok(self, msg_type: str, src, dst) -> bool:
        if self.types and msg_type not in self.types:
            return False
        if self.peers:
            hosts = {_host(src), _host(dst), src, dst}
            if not hosts & self.peers:
                return False
        return True

    def route_ok(self, route, attributes=None) -> bool:
        r = getattr(route, "route", route)
        if self.route_types and getattr(r, "route_type", None) not in self.route_types:
            return False
        if self.rds and str(getattr(r, "rd", None)) not in self.rds:
            return False
        if self.macs and str(getattr(r, "mac", "")).lower() not in self.macs:
            return False
        if self.vnis:
            from .evpn import route_vni
            if getattr(r, "afi", 0) != 25 or route_vni(r, attributes)[0] not in self.vnis:
                return False
        return True


def _host(addr):
    if addr is None:
        return None
    h = addr.rsplit(":", 1)[0]
    return h.strip("[]")


# --- decoding with per-flow context -----------------------------------------------

class Decoder:
    """Decodes the messages of each flow (direction) with the context learnt
    from the OPENs seen, or guessed per message when there were none, and
    keeps the closing summary."""

    def __init__(self, out, as_json: bool = False, style: str = "plain", flt=None,
                 quiet: bool = False, on_message=None):
        self.out = out
        self.as_json = as_json
        self.style = style
        self.flt = flt
        self.quiet = quiet
        self.on_message = on_message
        self.opens: dict = {}
        self.counts: dict = {}
        self.routes: dict = {}
        self.errors = 0
        self.skipped = 0
        self.gaps = 0
        self.guessed = 0

    def context_for(self, src, dst, data):
        mine, theirs = self.opens.get((src, dst)), self.opens.get((dst, src))
        if mine is not None:
            ctx = Context.negotiated(mine, theirs)
            if len(data) > 4096 and not ctx.extended_message:
                ctx = Context(ctx.four_octet_as, ctx.add_path, True)
            return ctx, False
        return guess_context(data)

    def message(self, data: bytes, src=None, dst=None, time_=None, where=None, ctx=None):
        guessed = False
        if ctx is None:
            ctx, guessed = self.context_for(src, dst, data)
        self.guessed += guessed
        meta = {}
        if time_ is not None:
            meta["time"] = time_
        if src is not None:
            meta["src"], meta["dst"] = src, dst
        if guessed:
            meta["context_guessed"] = True
        try:
            msg = wire.decode_message(data, ctx)
        except BGPError as e:
            if e.offset is None and where is not None:
                e.offset = where
            self.error(e, meta)
            return
        if msg.type == "OPEN":
            self.opens[(src, dst)] = msg
        self.decoded(msg, meta)

    def error(self, err, meta) -> None:
        """A message that did not decode (``err.update`` when RFC 7606 left one)."""
        self.errors += 1
        if not self.quiet:
            self._emit_error(err, meta, getattr(err, "update", None))

    def decoded(self, msg, meta) -> None:
        """A decoded BGP message, from any source."""
        self.counts[msg.type] = self.counts.get(msg.type, 0) + 1
        if msg.type == "UPDATE":
            self._count_routes(msg)
        if self.on_message is not None:
            self.on_message(msg, meta)
        if self.quiet:
            return
        self.emit(msg, meta)

    def record(self, kind: str, meta, obj) -> None:
        """A non-BGP record of an MRT file or BMP stream (peer up, statistics,
        RIB entries ...): counted, and shown unless filters select routes."""
        key = f"{kind} {type(obj).__name__}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.quiet or (self.flt is not None and (self.flt.on_routes or self.flt.types)):
            return
        if self.as_json:
            d = dict(meta)
            d["type"] = kind
            d.update(obj.to_dict())
            self.out.write(json.dumps(d, default=str) + "\n")
        else:
            self.out.write(_prefix(meta) + f"{kind} {type(obj).__name__} "
                           + _short(obj.to_dict()) + "\n")

    def _count_routes(self, msg) -> None:
        for kind, routes in (("announced", msg.announced), ("withdrawn", msg.withdrawn)):
            for r in routes:
                fam = family_name(r.afi, r.safi)
                rt = getattr(r, "route_type", None)
                key = f"{fam} type {rt}" if rt is not None and r.afi == 25 else fam
                c = self.routes.setdefault(key, {"announced": 0, "withdrawn": 0})
                c[kind] += 1

    def emit(self, msg, meta) -> None:
        flt = self.flt
        keep = None
        if flt is not None:
            if not flt.message_ok(msg.type, meta.get("src"), meta.get("dst")):
                return
            if flt.on_routes:
                if msg.type != "UPDATE":
                    return
                attrs = msg.attributes

                def keep(r, _a=attrs):
                    return flt.route_ok(r, _a)
                if not any(keep(r) for r in msg.announced + msg.withdrawn):
                    return
        if self.as_json:
            d = dict(meta)
            d.update(msg.to_dict())
            if keep is not None:
                d["announced"] = [rd for r, rd in zip(msg.announced, d["announced"]) if keep(r)]
                d["withdrawn"] = [rd for r, rd in zip(msg.withdrawn, d["withdrawn"]) if keep(r)]
            self.out.write(json.dumps(d) + "\n")
        else:
            self.out.write(_prefix(meta) + format_message(msg, self.style, keep) + "\n")

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
                self.out.write("  (decoded despite the error) "
                               + format_message(partial, self.style).replace("\n", "\n  ")
                               + "\n")

    def gap(self, reason: str, offset, nbytes, src=None, dst=None, lost: bool = False):
        if lost:
            self.gaps += 1
        else:
            self.skipped += 1
        if self.quiet:
            return
        meta = {"src": src, "dst": dst} if src is not None else {}
        if self.as_json:
            d = dict(meta)
            d.update(type="GAP" if lost else "SKIPPED", reason=reason, offset=offset,
                     length=nbytes)
            self.out.write(json.dumps(d) + "\n")
        else:
            self.out.write(_prefix(meta) + f"{'GAP' if lost else 'SKIPPED'} {nbytes} octets at "
                           f"offset {offset}: {reason}\n")

    def summary_dict(self) -> dict:
        return {"messages": dict(sorted(self.counts.items())),
                "total": sum(self.counts.values()), "routes": dict(sorted(self.routes.items())),
                "malformed": self.errors, "skipped": self.skipped, "gaps": self.gaps,
                "context_guessed": self.guessed}

    def summary(self) -> str:
        parts = [f"{n} {t}" for t, n in sorted(self.counts.items())]
        routes = "; ".join(f"{k}: {v['announced']} announced, {v['withdrawn']} withdrawn"
                           for k, v in sorted(self.routes.items()))
        text = (f"summary: {sum(self.counts.values())} messages ({', '.join(parts) or 'none'}), "
                f"{self.errors} malformed, {self.skipped} skipped, {self.gaps} gaps")
        if routes:
            text += f"\nroutes: {routes}"
        if self.guessed:
            text += f"\n{self.guessed} messages decoded with a guessed context (no OPEN seen)"
        return text

    @property
    def clean(self) -> bool:
        return not (self.errors or self.skipped or self.gaps)


def _short(d: dict) -> str:
    """A one-line summary of a record's dict (scalars only)."""
    parts = []
    for k, v in d.items():
        if isinstance(v, (str, int, float)) and k not in ("type",):
            parts.append(f"{k}={v}")
    return " ".join(parts[:12])


def _prefix(meta) -> str:
    out = ""
    if "time" in meta:
        out += f"{meta['time']:.6f} "
    if meta.get("src") is not None:
        out += f"{meta['src']} > {meta['dst']} "
    if meta.get("peer") is not None:
        out += f"[{meta['peer']}] "
    if meta.get("context_guessed"):
        out += "(context guessed) "
    return out


class Progress:
    """A progress bar on stderr, only when it is a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.total = max(total, 1)
        self.enabled = enabled and sys.stderr.isatty()
        self.last = 0.0

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * 40)
        sys.stderr.write(f"\r[{bar:<40}] {frac * 100:5.1f}%")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 50 + "\r")


def decode_stream(buf: bytes, dec: Decoder, progress=None) -> None:
    """A raw stream: messages back to back; a bad header resynchronises on
    the next marker (reported as skipped)."""
    pos, end = 0, len(buf)
    while pos < end:
        if progress is not None:
            progress.update(pos)
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


def decode_capture(data: bytes, dec: Decoder, ports, progress=None) -> None:
    from .pcap import BgpCaptureReader, CaptureError
    reader = BgpCaptureReader(io.BytesIO(data), ports=ports)
    n = 0
    try:
        for m in reader:
            dec.message(m.data, m.src, m.dst, m.time)
            n += len(m.data)
            if progress is not None:
                progress.update(n)
    except CaptureError as e:
        if not dec.counts and not dec.errors:
            raise Unusable(str(e)) from None
        dec.gap(f"capture damaged: {e}", None, 0)
    for g in reader.gaps:
        dec.gap("bytes missing from the capture (lost segment)", g.offset, g.length, g.src,
                g.dst, lost=True)
    for s in reader.skipped:
        dec.gap(s[4], s[2], s[3], s[0], s[1])


_MRT_TYPES = {11, 12, 13, 16, 17, 32, 33, 48, 49}


def _looks_like_mrt(data: bytes) -> bool:
    """RFC 6396 §2 common header: timestamp, type, subtype, length."""
    if len(data) < 12:
        return False
    mtype = (data[4] << 8) | data[5]
    length = int.from_bytes(data[8:12], "big")
    return mtype in _MRT_TYPES and 12 + length <= len(data)


def decode_mrt(data: bytes, dec: Decoder, progress=None) -> None:
    from .mrt import MrtError, MrtReader
    try:
        for rec in MrtReader(io.BytesIO(data), strict=False):
            meta = {"time": rec.timestamp, "peer": rec.describe()}
            msg = getattr(rec, "message", None)
            err = getattr(rec, "error", None)
            if msg is not None:
                dec.decoded(msg, meta)
            elif isinstance(err, BGPError):
                dec.error(err, meta)
            else:
                dec.record("MRT", meta, rec)
    except MrtError as e:
        if not dec.counts and not dec.errors:
            raise Unusable(str(e)) from None
        dec.gap(f"MRT file damaged: {e.reason}", e.offset, 0)


def decode_bmp(data: bytes, dec: Decoder, ports) -> None:
    """BMP (RFC 7854) carried in a capture: Route Monitoring UPDATEs are
    decoded like any other BGP message, the rest shown as BMP records."""
    from .bmp import BmpCaptureReader, RouteMonitoring
    from .pcap import CaptureError
    reader = BmpCaptureReader(io.BytesIO(data), ports=ports)
    try:
        for item in reader:
            t, desc, msg = item[0], item[1], item[2]
            meta = {"time": t, "peer": desc}
            if isinstance(msg, RouteMonitoring):
                if msg.bgp is not None and msg.error is None:
                    dec.decoded(msg.bgp, meta)
                elif msg.error is not None:
                    dec.error(msg.error, meta)
                continue
            dec.record("BMP", meta, msg)
    except CaptureError:
        return   # the BGP pass reported the damage already
    for s in reader.skipped:
        dec.gap(s[4], s[2], s[3], s[0], s[1])


def _run_decoder(args, dec: Decoder) -> int:
    data = _decompress(_read_input(args))
    if not data:
        raise Unusable("empty input")
    progress = Progress(len(data), not args.json)
    try:
        if data[:4] in _CAPTURE_MAGIC:
            decode_capture(data, dec, tuple(args.port), progress)
            decode_bmp(data, dec, tuple(args.bmp_port))
        elif data[:16] == MARKER:
            decode_stream(data, dec, progress)
        elif _looks_like_mrt(data):
            decode_mrt(data, dec, progress)
        else:
            raise Unusable("not a BGP message stream, pcap, pcapng or MRT file "
                           f"(starts with {data[:8].hex()})")
    finally:
        progress.done()
    return EXIT_OK if dec.clean else EXIT_SKIPPED


def cmd_decode(args) -> int:
    dec = Decoder(sys.stdout, args.json, args.format, RouteFilter(args), quiet=args.summary)
    try:
        status = _run_decoder(args, dec)
    except Unusable as e:
        print(f"bgpevpn decode: {e}", file=sys.stderr)
        return EXIT_UNUSABLE
    except BrokenPipeError:
        return EXIT_OK
    if args.summary:
        if args.json:
            print(json.dumps(dec.summary_dict()))
        else:
            print(dec.summary())
    else:
        print(dec.summary(), file=sys.stderr)
    return status


def cmd_evpn(args) -> int:
    from .evpn import EvpnTable
    table = EvpnTable()

    def on_message(msg, meta):
        if msg.type == "UPDATE":
            table.apply_update(msg, meta.get("src") or meta.get("peer"))
    dec = Decoder(sys.stdout, False, quiet=True, on_message=on_message)
    args.hex = getattr(args, "hex", False)
    try:
        status = _run_decoder(args, dec)
    except Unusable as e:
        print(f"bgpevpn evpn: {e}", file=sys.stderr)
        return EXIT_UNUSABLE
    view = table.to_dict()
    if args.vni:
        view = {k: v for k, v in view.items() if v["vni"] in set(args.vni)}
    if args.json:
        print(json.dumps({"vnis": list(view.values()), "summary": dec.summary_dict()}))
    else:
        _print_evpn(view)
        print(dec.summary(), file=sys.stderr)
    return status


def _print_evpn(view: dict) -> None:
    """Like FRR's ``show evpn vni`` then ``show evpn mac vni``."""
    if not view:
        print("no EVPN type 2 or type 3 routes with a VNI")
        return
    print(f"{'VNI':<10} {'#MACs':>6} {'#Remote VTEPs':>14}  VNI read from")
    for v in view.values():
        hows = sorted({e['vni_from'] for e in v['flood'] + v['macs']})
        print(f"{v['vni']:<10} {len(v['macs']):>6} {len(v['flood']):>14}  {', '.join(hows)}")
    for v in view.values():
        print(f"\nVNI {v['vni']}")
        print("  flood list (bridge fdb 00:00:00:00:00:00 dst ...):")
        for f in v["flood"]:
            print(f"    {f['vtep']:<40} rd {f['rd']}")
        print(f"  {'MAC':<19} {'VTEP':<40} {'Seq':>4} {'Sticky':<6} IPs")
        for m in v["macs"]:
            print(f"  {m['mac']:<19} {str(m['vtep']):<40} {m['seq']:>4} "
                  f"{'yes' if m['sticky'] else 'no':<6} {' '.join(m['ips']) or '-'}")


def cmd_rr(args) -> int:
    import asyncio
    import logging

    from .rr import ConfigError, RouteReflectorDaemon, load_config, query
    sock = args.socket
    cfg = None
    if args.config:
        try:
            cfg = load_config(args.config)
        except ConfigError as e:
            print(f"bgpevpn rr: {e}", file=sys.stderr)
            return EXIT_UNUSABLE
        sock = sock or cfg.get("status", {}).get("socket")
    if args.action == "run":
        if cfg is None:
            print("bgpevpn rr: --config is needed to run the route reflector", file=sys.stderr)
            return EXIT_UNUSABLE
        logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        try:
            asyncio.run(RouteReflectorDaemon(cfg, args.config).run())
        except OSError as e:
            print(f"bgpevpn rr: {e}", file=sys.stderr)
            return EXIT_UNUSABLE
        return EXIT_OK
    if not sock:
        print("bgpevpn rr: give --socket or a --config with [status] socket", file=sys.stderr)
        return EXIT_UNUSABLE
    command = "status" if args.action == "status" else \
        f"routes {'json' if args.json else args.format}"
    try:
        body = asyncio.run(query(sock, command))
    except (OSError, ValueError) as e:
        print(f"bgpevpn rr: cannot reach the route reflector at {sock}: {e}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        print(json.dumps(body, indent=2))
    elif args.action == "status":
        print(f"AS {body['asn']} router id {body['router_id']} cluster {body['cluster_id']} "
              f"up {body['uptime']}s; Loc-RIB {body['loc_rib']}")
        print(f"{'Neighbor':<40} {'AS':>8} {'State':<12} {'Up':>10} {'Routes':>8}")
        for p in body["peers"]:
            up = f"{p['uptime']:.0f}s" if p["uptime"] is not None else "-"
            print(f"{p['address']:<40} {str(p['peer_as'] or '-'):>8} {p['state']:<12} {up:>10} "
                  f"{p['routes_received']:>8}")
    else:
        for line in body:
            print(line)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bgpevpn", description="BGP and EVPN tools.")
    p.add_argument("--version", action="version", version=f"bgpevpn {__version__} "
                   f"(codec: {wire.IMPLEMENTATION})")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("file", help="input file, '-' for stdin, or the hex string with --hex")
        sp.add_argument("--port", type=int, action="append", default=None,
                        help="TCP port of BGP in captures (default 179; repeatable)")
        sp.add_argument("--json", action="store_true", help="JSON output")
        sp.add_argument("--bmp-port", type=int, action="append", default=None,
                        help="TCP port of BMP in captures (default 1790, 10179, 11019, 5000)")

    d = sub.add_parser("decode", help="decode BGP messages from a stream or capture",
                       description="Decode a raw BGP message stream (what a socket delivers "
                       "after the TCP handshake), a pcap or pcapng capture with BGP or BMP "
                       "sessions, an MRT file (all optionally gzip/bzip2/xz compressed), "
                       "'-' for stdin, or a hex string with --hex.")
    common(d)
    d.add_argument("--hex", action="store_true", help="the input is a hex string")
    d.add_argument("--format", choices=("plain", "frr", "gobgp", "junos"), default="plain",
                   help="route notation (default plain)")
    d.add_argument("--type", action="append", metavar="TYPE",
                   help="only messages of this type (OPEN, UPDATE, ...; repeatable)")
    d.add_argument("--route-type", type=int, action="append", metavar="N",
                   help="only EVPN routes of this type (repeatable)")
    d.add_argument("--rd", action="append", help="only routes with this RD (repeatable)")
    d.add_argument("--mac", action="append", help="only routes for this MAC (repeatable)")
    d.add_argument("--vni", type=int, action="append", help="only routes of this VNI")
    d.add_argument("--peer", action="append", help="only messages from or to this address")
    d.add_argument("--summary", action="store_true",
                   help="print only the closing summary (to stdout)")
    d.set_defaults(func=cmd_decode)

    e = sub.add_parser("evpn", help="what a VTEP would program from a capture's EVPN routes",
                       description="Replay the EVPN routes of a capture or stream and print, "
                       "per VNI, the flood list (type 3) and the MAC -> VTEP table (type 2), "
                       "like FRR's show evpn vni / show evpn mac vni.")
    common(e)
    e.add_argument("--vni", type=int, action="append", help="only this VNI (repeatable)")
    e.set_defaults(func=cmd_evpn, hex=False)

    r = sub.add_parser("rr", help="route reflector daemon, its status and routes",
                       description="bgpevpn rr --config FILE runs the route reflector; "
                       "bgpevpn rr status / bgpevpn rr routes ask a running one.")
    r.add_argument("action", nargs="?", choices=("run", "status", "routes"), default="run")
    r.add_argument("--config", help="TOML configuration (see docs/rr.md)")
    r.add_argument("--socket", help="status socket of a running route reflector")
    r.add_argument("--format", choices=("frr", "gobgp", "junos"), default="frr",
                   help="route notation for routes (default frr)")
    r.add_argument("--json", action="store_true", help="JSON output")
    r.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    r.set_defaults(func=cmd_rr)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "port", 1) is None:
        args.port = [179]
    if getattr(args, "bmp_port", 1) is None:
        from .bmp import DEFAULT_PORTS
        args.bmp_port = list(DEFAULT_PORTS)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
