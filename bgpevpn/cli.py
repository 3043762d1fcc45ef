"""The ``bgpevpn`` command line: ``decode`` and ``evpn``."""
from __future__ import annotations

import argparse
from collections import Counter
import json
import sys
import time

from . import __version__, wire
from .constants import family_name
from .show import format_message

EXIT_OK, EXIT_SKIPPED, EXIT_UNUSABLE = 0, 1, 2

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
    """Turns ``bgpevpn.capture`` items into output lines and keeps the closing
    summary."""

    def __init__(self, out, as_json: bool = False, style: str = "plain", flt=None,
                 quiet: bool = False, on_message=None):
        self.out = out
        self.as_json = as_json
        self.style = style
        self.flt = flt
        self.quiet = quiet
        self.on_message = on_message
        self.counts: dict = {}
        self.routes: dict = {}
        self.errors = 0
        self.skipped = 0
        self.gaps = 0
        self.guessed = 0
        self._class_keys: dict = {}

    def item(self, it) -> None:
        self.guessed += it.context_guessed
        if it.kind == "message" and self.quiet and self.on_message is None:
            self.decoded(it.message, None)   # summary only: no per-message metadata
            return
        meta = it.meta()
        if it.kind == "message":
            self.decoded(it.message, meta)
        elif it.kind == "error":
            self.error(it.message, meta)
        elif it.kind == "record":
            self.record(it.origin.upper(), meta, it.message)
        else:
            self.gap(it.reason, it.offset, it.length, it.src, it.dst, lost=it.kind == "gap")

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
            if not routes:
                continue
            # count by class (one route class per family and EVPN route type)
            # and name the keys once per class, not once per route
            for cls, n in Counter(map(type, routes)).items():
                if cls.__name__ in ("RawEvpnRoute", "AddPathEvpnRoute", "RawNlri"):
                    # these classes span several types or families: per route
                    for r in routes:
                        if type(r) is cls:
                            self._add_count(_route_key(r), kind, 1)
                    continue
                key = self._class_keys.get(cls)
                if key is None:
                    key = self._class_keys[cls] = _route_key(
                        next(x for x in routes if type(x) is cls))
                self._add_count(key, kind, n)

    def _add_count(self, key, kind, n) -> None:
        c = self.routes.setdefault(key, {"announced": 0, "withdrawn": 0})
        c[kind] += n

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


def _route_key(r) -> str:
    """Summary key of a route: its family, and the route type for EVPN."""
    fam = family_name(r.afi, r.safi)
    rt = getattr(r, "route_type", None) if r.afi == 25 else None
    return f"{fam} type {rt}" if rt is not None else fam


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


def _run_decoder(args, dec: Decoder) -> int:
    from .capture import SourceError, decompress, detect, read_mrt, read_pcap, read_stream
    try:
        data = decompress(_read_input(args))
        kind = detect(data)
    except SourceError as e:
        raise Unusable(str(e)) from None
    progress = Progress(len(data), not args.json)
    items = read_pcap(data, args.port, args.bmp_port) if kind == "pcap" else \
        read_stream(data) if kind == "stream" else read_mrt(data)
    n = 0
    try:
        for it in items:
            dec.item(it)
            n += 1
            if n % 256 == 0:
                progress.update(_progress_pos(it, n, len(data)))
    except SourceError as e:
        raise Unusable(str(e)) from None
    finally:
        progress.done()
    return EXIT_OK if dec.clean else EXIT_SKIPPED


def _progress_pos(it, n, total) -> int:
    off = getattr(it.message, "offset", None) if it.kind == "error" else it.offset
    return off if isinstance(off, int) else min(total, n * 100)


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


class _DaemonExit(Exception):
    """A daemon command cannot go on: its message, exit status 2."""


def _daemon_config(prog: str, args, load_config, config_error):
    """The daemon's configuration (None without --config) and its status
    socket (--socket, else the configuration's [status] socket)."""
    cfg = None
    if args.config:
        try:
            cfg = load_config(args.config)
        except config_error as e:
            raise _DaemonExit(f"{prog}: {e}") from None
    return cfg, args.socket or (cfg or {}).get("status", {}).get("socket")


def _daemon_run(prog: str, args, daemon) -> int:
    """Run ``daemon.run()`` until SIGTERM/SIGINT, logging at --log-level."""
    import asyncio
    import logging
    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pyroute2").setLevel(logging.WARNING)   # one line per netlink message
    try:
        asyncio.run(daemon.run())
    except (OSError, RuntimeError) as e:
        raise _DaemonExit(f"{prog}: {e}") from None
    return EXIT_OK


def _daemon_query(prog: str, sock, command: str, what: str):
    import asyncio

    from .daemon import query
    if not sock:
        raise _DaemonExit(f"{prog}: give --socket or a --config with [status] socket")
    try:
        return asyncio.run(query(sock, command))
    except (OSError, ValueError) as e:
        raise _DaemonExit(f"{prog}: cannot reach the {what} at {sock}: {e}") from None


def _daemon_command(fn):
    """``fn(args)`` of a daemon command, with _DaemonExit as a message and exit 2."""
    def run(args) -> int:
        try:
            return fn(args)
        except _DaemonExit as e:
            print(e, file=sys.stderr)
            return EXIT_UNUSABLE
    return run


def _print_peers(peers) -> None:
    """The sessions of a daemon's status, like FRR's ``show bgp summary``."""
    print(f"{'Neighbor':<40} {'AS':>8} {'State':<12} {'Up':>10} {'Routes':>8}")
    for p in peers:
        up = f"{p['uptime']:.0f}s" if p["uptime"] is not None else "-"
        print(f"{p['address']:<40} {str(p['peer_as'] or '-'):>8} {p['state']:<12} {up:>10} "
              f"{p['routes_received']:>8}")


@_daemon_command
def cmd_rr(args) -> int:
    from .rr import ConfigError, RouteReflectorDaemon, load_config
    cfg, sock = _daemon_config("bgpevpn rr", args, load_config, ConfigError)
    if args.action == "run":
        if cfg is None:
            raise _DaemonExit("bgpevpn rr: --config is needed to run the route reflector")
        return _daemon_run("bgpevpn rr", args, RouteReflectorDaemon(cfg, args.config))
    command = "status" if args.action == "status" else \
        f"routes {'json' if args.json else args.format}"
    body = _daemon_query("bgpevpn rr", sock, command, "route reflector")
    if args.json:
        print(json.dumps(body, indent=2))
    elif args.action == "status":
        print(f"AS {body['asn']} router id {body['router_id']} cluster {body['cluster_id']} "
              f"up {body['uptime']}s; Loc-RIB {body['loc_rib']}")
        _print_peers(body["peers"])
    else:
        for line in body:
            print(line)
    return EXIT_OK


@_daemon_command
def cmd_vtep(args) -> int:
    from .vtep import ConfigError, VtepAgent, load_config
    cfg, sock = _daemon_config("bgpevpn vtep", args, load_config, ConfigError)
    if args.action == "run":
        if cfg is None:
            raise _DaemonExit("bgpevpn vtep: --config is needed to run the agent")
        if args.keep_state:
            cfg["evpn"]["keep_state"] = True
        if args.rt:
            cfg["evpn"]["rt"] = args.rt
        return _daemon_run("bgpevpn vtep", args, VtepAgent(cfg))
    body = _daemon_query("bgpevpn vtep", sock, "status", "agent")
    if args.vni:
        body["vnis"] = [v for v in body["vnis"] if v["vni"] in args.vni]
    if args.json:
        print(json.dumps(body, indent=2))
        return EXIT_OK
    print(f"VTEP {body['source']} AS {body['asn']} router id {body['router_id']}, "
          f"up {body['uptime']:.0f}s, {'synchronised' if body['synchronised'] else 'synchronising'}"
          f", {body['routes_advertised']} routes advertised")
    _print_peers(body["peers"])
    print()
    print(f"{'VNI':<9} {'VxLAN IF':<16} {'Bridge':<16} {'RD':<22} {'# MACs':>7} "
          f"{'# Remote VTEPs':>15}")
    for v in body["vnis"]:
        print(f"{v['vni']:<9} {v['device']:<16} {v['bridge']:<16} {v['rd']:<22} "
              f"{v['local_macs'] + v['remote_macs']:>7} {len(v['flood']):>15}")
    for v in body["vnis"]:
        print(f"\nVNI {v['vni']}: export {' '.join(v['export_rts'])}, import "
              f"{' '.join(v['import_rts'])}{', ARP suppression' if v['arp_suppression'] else ''}")
        print(f"  Flood list: {' '.join(v['flood']) or '-'}")
        print(f"  {'MAC':<19} {'Type':<7} {'Intf/Remote VTEP':<40} {'Seq':>4} {'Sticky':<6} IPs")
        for m in v["macs"]:
            where = m["port"] if m["type"] == "local" else m["vtep"]
            print(f"  {m['mac']:<19} {m['type']:<7} {where:<40} {m['seq']:>4} "
                  f"{'yes' if m['sticky'] else 'no':<6} {' '.join(m['ips']) or '-'}")
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

    v = sub.add_parser("vtep", help="VTEP agent: EVPN for Linux VXLAN devices, its status",
                       description="bgpevpn vtep --config FILE runs the VTEP agent (advertises "
                       "local VNIs and MACs, programs remote ones into the kernel); "
                       "bgpevpn vtep status asks a running one.")
    v.add_argument("action", nargs="?", choices=("run", "status"), default="run")
    v.add_argument("--config", help="TOML configuration (see docs/vtep.md)")
    v.add_argument("--socket", help="status socket of a running agent")
    v.add_argument("--vni", type=int, action="append", help="status: only this VNI (repeatable)")
    v.add_argument("--json", action="store_true", help="JSON output")
    v.add_argument("--rt", choices=("frr", "rfc8365"),
                   help="auto route targets: AS:VNI like FRR, or RFC 8365 §5.1.2.1 "
                   "(overrides [evpn] rt)")
    v.add_argument("--keep-state", action="store_true",
                   help="on stop, keep kernel entries and routes (graceful restart)")
    v.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    v.set_defaults(func=cmd_vtep)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "port", 1) is None:
        args.port = [179]
    if getattr(args, "bmp_port", 1) is None:
        from .bmp import DEFAULT_PORTS
        args.bmp_port = list(DEFAULT_PORTS)
    try:
        return args.func(args)
    except BrokenPipeError:
        # the reader went away (| head): stop quietly, as Unix tools do
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
