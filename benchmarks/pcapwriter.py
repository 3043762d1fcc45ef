"""Write a BGP byte stream as a classic pcap of one TCP connection (benchmarks only).

What a capture taken on the receiving speaker of a fresh session looks like
(LINKTYPE_ETHERNET, microsecond timestamps, draft-ietf-opsawg-pcap):

* the three-way handshake (SYN, SYN-ACK, ACK; MSS option 1460 on the SYNs),
* both OPENs (RFC 4271 §4.2; four-octet AS, L2VPN/EVPN multiprotocol and
  extended message, so the reader learns the context instead of guessing)
  and both KEEPALIVEs, each in its own segment,
* the stream from the sender cut into segments of ``mss`` octets (1,448: an
  Ethernet MTU of 1,500 with TCP timestamps), ACK|PSH, consecutive sequence
  numbers; the receiver ACKs every ``ack_every`` data segments (delayed ACK),
* FIN/ACK in both directions.

IPv4 header checksums and TCP checksums are computed (the one's-complement
sum of 16-bit words is the big-endian integer modulo 0xFFFF).  Nothing is
lost, duplicated or reordered: this is the fast path of a reader.

    python benchmarks/pcapwriter.py STREAM.bgp OUT.pcap [--no-open] [--mss 1448]
    python benchmarks/pcapwriter.py --cached          # the pcap of the 1M-route stream
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import generate  # noqa: E402  (puts the repository root on sys.path)

#: Bump when the layout of the written pcap changes (part of the cache key).
WRITER_VERSION = 1

SENDER = ("192.0.2.1", 40179, "02:00:00:00:00:01", 65000, "192.0.2.1")
RECEIVER = ("192.0.2.2", 179, "02:00:00:00:00:02", 65000, "192.0.2.2")
MSS = 1448

_FIN, _SYN, _PSH, _ACK = 0x01, 0x02, 0x08, 0x10


def _csum(data: bytes) -> int:
    """Internet checksum (RFC 1071) of ``data``."""
    if len(data) & 1:
        data += b"\x00"
    s = int.from_bytes(data, "big") % 0xFFFF
    if s == 0 and any(data):
        s = 0xFFFF
    return ~s & 0xFFFF


def _ip4(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def open_messages(extended: bool = True) -> tuple:
    """The sender's and the receiver's OPEN, as bgpevpn's Session would send them."""
    from bgpevpn import wire
    from bgpevpn.session import SessionConfig
    out = []
    for _addr, _port, _mac_, asn, rid in (SENDER, RECEIVER):
        cfg = SessionConfig(local_as=asn, router_id=rid, peer_as=65000, families=((25, 70),),
                            extended_message=extended)
        out.append(wire.encode_message(cfg.open_message()))
    return tuple(out)


KEEPALIVE = b"\xff" * 16 + b"\x00\x13\x04"


class _Writer:
    def __init__(self, f, t0: float = 1_764_000_000.0):
        self.f = f
        self.t = t0
        self.packets = 0
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

    def frame(self, a, b, seq: int, ack: int, flags: int, payload: bytes = b"",
              options: bytes = b"", dt: float = 0.000_010) -> None:
        src_ip, dst_ip = _ip4(a[0]), _ip4(b[0])
        off = (20 + len(options)) // 4
        tcp = struct.pack("!HHIIBBHHH", a[1], b[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                          off << 4, flags, 65535, 0, 0) + options
        pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        c = _csum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        total = 20 + len(tcp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, self.packets & 0xFFFF, 0x4000, 64, 6,
                         0, src_ip, dst_ip)
        ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
        eth = _mac(b[2]) + _mac(a[2]) + b"\x08\x00"
        frame = eth + ip + tcp + payload
        self.t += dt
        sec = int(self.t)
        usec = int(round((self.t - sec) * 1e6))
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        self.f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
        self.f.write(frame)
        self.packets += 1


def write_pcap(stream: bytes, out, mss: int = MSS, with_open: bool = True,
               ack_every: int = 2) -> dict:
    """Write ``stream`` (whole BGP messages, sender -> receiver) as a pcap to the
    binary file ``out``; returns counts."""
    w = _Writer(out)
    s, r = SENDER, RECEIVER
    s_isn, r_isn = 0x1000_0000, 0xF000_0000     # the receiver's wraps: exercises 32-bit sequence space
    mss_opt = struct.pack("!BBH", 2, 4, 1460)
    w.frame(s, r, s_isn, 0, _SYN, options=mss_opt)
    w.frame(r, s, r_isn, s_isn + 1, _SYN | _ACK, options=mss_opt)
    w.frame(s, r, s_isn + 1, r_isn + 1, _ACK)
    s_seq, r_seq = s_isn + 1, r_isn + 1
    if with_open:
        s_open, r_open = open_messages()
        w.frame(s, r, s_seq, r_seq, _PSH | _ACK, s_open)
        s_seq += len(s_open)
        w.frame(r, s, r_seq, s_seq, _PSH | _ACK, r_open)
        r_seq += len(r_open)
        w.frame(s, r, s_seq, r_seq, _PSH | _ACK, KEEPALIVE)
        s_seq += len(KEEPALIVE)
        w.frame(r, s, r_seq, s_seq, _PSH | _ACK, KEEPALIVE)
        r_seq += len(KEEPALIVE)
    data_segments = 0
    mv = memoryview(stream)
    for pos in range(0, len(stream), mss):
        chunk = bytes(mv[pos:pos + mss])
        w.frame(s, r, s_seq, r_seq, _PSH | _ACK, chunk, dt=0.000_001)
        s_seq += len(chunk)
        data_segments += 1
        if ack_every and data_segments % ack_every == 0:
            w.frame(r, s, r_seq, s_seq, _ACK, dt=0.000_001)
    w.frame(r, s, r_seq, s_seq, _ACK)
    w.frame(s, r, s_seq, r_seq, _FIN | _ACK)
    w.frame(r, s, r_seq, s_seq + 1, _FIN | _ACK)
    w.frame(s, r, s_seq + 1, r_seq + 1, _ACK)
    return {"packets": w.packets, "data_segments": data_segments, "mss": mss,
            "stream_bytes": len(stream), "with_open": with_open}


def cached_pcap(params: generate.StreamParams | None = None, with_open: bool = True,
                mss: int = MSS, verbose: bool = False) -> Path:
    """The pcap of the cached stream for ``params`` (written when missing); a
    ``.json`` beside it holds the counts."""
    params = params or generate.StreamParams()
    stream_path = generate.cached_stream(params, verbose=verbose)
    tag = f"-w{WRITER_VERSION}-mss{mss}{'' if with_open else '-noopen'}"
    path = stream_path.with_name(stream_path.stem + tag + ".pcap")
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path
    t0 = time.perf_counter()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        info = write_pcap(stream_path.read_bytes(), f, mss=mss, with_open=with_open)
    os.replace(tmp, path)
    info.update(file_bytes=path.stat().st_size, stream=stream_path.name,
                write_seconds=round(time.perf_counter() - t0, 2),
                stream_meta=generate.load_meta(stream_path))
    tmp = meta.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, meta)
    if verbose:
        print(f"wrote {path} in {info['write_seconds']} s", file=sys.stderr)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stream", nargs="?", help="raw BGP stream (concatenated messages)")
    ap.add_argument("output", nargs="?", help="pcap to write")
    ap.add_argument("--mss", type=int, default=MSS)
    ap.add_argument("--no-open", action="store_true", help="no OPEN/KEEPALIVE exchange")
    ap.add_argument("--cached", action="store_true",
                    help="the pcap of the cached stream of generate.py (BGPEVPN_BENCH_ROUTES)")
    a = ap.parse_args(argv)
    if a.cached:
        routes = int(os.environ.get("BGPEVPN_BENCH_ROUTES", "1000000"))
        print(cached_pcap(generate.StreamParams(routes=routes), with_open=not a.no_open,
                          mss=a.mss, verbose=True))
        return 0
    if not (a.stream and a.output):
        ap.error("give STREAM and OUTPUT, or --cached")
    with open(a.output, "wb") as f:
        info = write_pcap(Path(a.stream).read_bytes(), f, mss=a.mss, with_open=not a.no_open)
    print(json.dumps(info), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
