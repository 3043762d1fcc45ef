"""Realistic EVPN UPDATE streams for the benchmarks, built with bgpevpn's own encoder.

The stream is what one FRR speaker receives from another FRR speaker (or a route
reflector) holding ``routes`` type-2 MAC routes learnt on ``vteps`` VTEPs in ``vnis``
VNIs (see /work/shared/interop-lab.md, "On the wire"):

* extended message negotiated (RFC 8654): UPDATEs up to 65,535 octets;
  ``max_size=4096`` gives the stream a non-extended peer receives;
* one attribute set per (VTEP, VNI): ORIGIN igp, AS_PATH empty (iBGP),
  LOCAL_PREF 100, extended communities RT ``65000:VNI`` (2-octet AS) +
  encapsulation VXLAN, MP_REACH_NLRI next hop = the VTEP address;
* type 2 (RFC 7432 §7.2): RD type 1 ``VTEP:index``, ESI 0, Ethernet tag 0, a
  unique MAC, no IP for even-numbered routes and an IPv4 address for odd-numbered
  ones (MAC+IP routes), one label = the VNI as 24 bits (RFC 8365 §5.1.3);
* one type 3 (RFC 7432 §7.3) per (VTEP, VNI) in its own UPDATE, with the same
  attributes plus PMSI tunnel (flags 0, type 6 ingress replication, label VNI,
  endpoint VTEP);
* an EVPN End-of-RIB (RFC 4724) at the end (``end_of_rib=False`` drops it).

Every UPDATE is produced by ``bgpevpn.pack_updates`` (routes from
``MacIpRoute.build`` / ``InclusiveMulticastRoute.build``).  The output is
deterministic for a given set of parameters (MACs come from a seeded bijection,
so they are unique and look random).

Module use::

    from generate import generate_stream, context_for
    data = generate_stream(1000)                 # bytes
    msgs = bgpevpn.decode_messages(data, context_for())

Script use (writes a raw BGP stream: concatenated messages, no OPEN)::

    python benchmarks/generate.py --routes 1000000 -o /tmp/evpn.bgp
    python benchmarks/generate.py --routes 1000000 --max-size 4096 -o /tmp/evpn-4k.bgp
    python benchmarks/generate.py --cached      # print the cache path (generate if missing)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
# Measure the checkout this file lives in (``python benchmarks/generate.py`` puts
# benchmarks/ first on sys.path, not the repository root).
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))
if str(_HERE) not in sys.path:
    sys.path.append(str(_HERE))     # for ``baseline``

import bgpevpn  # noqa: E402
from bgpevpn import (AsPath, Context, ExtCommunities, ExtCommunity,  # noqa: E402
                     InclusiveMulticastRoute, LocalPref, MacIpRoute, Origin, PmsiTunnel,
                     RouteDistinguisher)

#: Bump when the layout of the generated stream changes (part of the cache key).
GENERATOR_VERSION = 1

EXTENDED = 65535
NON_EXTENDED = 4096
#: VTEP loopbacks come from 198.18.0.0/15 (RFC 2544 benchmarking range).
VTEP_BASE = 0xC6120001
#: Host IPv4 addresses come from 10.0.0.0/8, one per MAC+IP route.
HOST_BASE = 0x0A000001
MAC_BITS = 40           # the low 40 bits are scrambled; the first octet is 0x02 (locally administered)


@dataclass(frozen=True)
class StreamParams:
    routes: int = 1_000_000     # type-2 routes
    vnis: int = 100
    vteps: int = 10
    max_size: int = EXTENDED    # 65535 (RFC 8654 negotiated) or 4096
    seed: int = 1
    vni_base: int = 100         # first VNI (FRR's interop lab uses VNI 100)
    asn: int = 65000            # iBGP AS; RT = asn:VNI
    end_of_rib: bool = True

    def __post_init__(self):
        if self.max_size not in (EXTENDED, NON_EXTENDED):
            raise ValueError("max_size is 65535 (extended message) or 4096")
        if self.routes < 0 or self.vnis < 1 or self.vteps < 1:
            raise ValueError("routes >= 0, vnis >= 1, vteps >= 1")
        if self.vteps > 2 ** 17 - 2:
            raise ValueError("at most 131070 VTEPs (198.18.0.0/15)")
        if (self.routes + 1) // 2 > 2 ** 24 - 2:
            raise ValueError("at most 2**24 - 2 MAC+IP routes (10.0.0.0/8)")
        if self.routes > 2 ** MAC_BITS:
            raise ValueError("too many routes for unique MACs")
        if self.vni_base + self.vnis - 1 > 0xFFFFFF:
            raise ValueError("VNIs are 24-bit")

    @property
    def groups(self) -> int:
        return self.vnis * self.vteps

    @property
    def expected_type2(self) -> int:
        return self.routes

    @property
    def expected_type3(self) -> int:
        return self.groups

    @property
    def expected_routes(self) -> int:
        """Every announced NLRI in the stream (type 2 + type 3)."""
        return self.routes + self.groups

    def key(self) -> str:
        """Cache key: the parameters, the generator and the encoder sources."""
        h = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        h.update(str(GENERATOR_VERSION).encode())
        h.update(Path(__file__).read_bytes())
        pkg = Path(bgpevpn.__file__).parent
        for name in ("_wire_py.py", "routes.py", "attributes.py", "values.py", "constants.py",
                     "context.py"):
            p = pkg / name
            if p.exists():
                h.update(p.read_bytes())
        return h.hexdigest()[:16]


def context_for(max_size: int = EXTENDED) -> Context:
    """The negotiated context to decode (and encode) a stream of this size."""
    return Context(four_octet_as=True, extended_message=max_size > NON_EXTENDED)


def vtep_address(t: int) -> bytes:
    return (VTEP_BASE + t).to_bytes(4, "big")


def _ntoa(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


@dataclass
class Group:
    """One (VTEP, VNI): its attribute sets, next hop and routes."""
    vtep: str
    vni: int
    attributes: list       # for the type-2 routes
    attributes_t3: list    # the same + PMSI tunnel
    type3: object
    type2: list


def iter_groups(params: StreamParams):
    """Yield a ``Group`` per (VTEP, VNI), VTEP-major, with the type-2 routes
    spread evenly (the first ``routes % groups`` groups get one more)."""
    rng = random.Random(params.seed)
    mask = (1 << MAC_BITS) - 1
    mul = rng.randrange(1 << MAC_BITS) | 1          # odd: x -> x*mul+add is a bijection
    add = rng.randrange(1 << MAC_BITS)
    mac_prefix = 0x02 << MAC_BITS
    base, extra = divmod(params.routes, params.groups)
    i = 0                  # global type-2 index (MAC and host IP come from it)
    g = 0
    for t in range(params.vteps):
        nh = vtep_address(t)
        vtep = _ntoa(nh)
        for v in range(params.vnis):
            vni = params.vni_base + v
            # FRR's auto RD: router-id:<internal VNI index> (VNI 100 -> :2 in the lab)
            rd = RouteDistinguisher(f"{vtep}:{v + 1}")
            common = [Origin(0), AsPath([]), LocalPref(100),
                      ExtCommunities([ExtCommunity.route_target(params.asn, vni),
                                      ExtCommunity.encapsulation(8)])]
            t3 = InclusiveMulticastRoute.build(rd, nh)
            attrs_t3 = common + [PmsiTunnel((0, 6, vni, nh))]
            n = base + (1 if g < extra else 0)
            labels = (vni,)
            routes = []
            append = routes.append
            for _ in range(n):
                mac = (mac_prefix | ((i * mul + add) & mask)).to_bytes(6, "big")
                ip = (HOST_BASE + (i >> 1)).to_bytes(4, "big") if i & 1 else None
                append(MacIpRoute.build(rd, mac, ip, labels))
                i += 1
            yield Group(vtep, vni, common, attrs_t3, t3, routes)
            g += 1


def pack_group(group: Group, ctx: Context, pack=None) -> list:
    """The UPDATEs of one group: the type 3 first, then the type 2s."""
    pack = pack or bgpevpn.pack_updates
    out = pack([group.type3], group.attributes_t3, group.vtep, ctx)
    if group.type2:
        out += pack(group.type2, group.attributes, group.vtep, ctx)
    return out


def generate_messages(params: StreamParams) -> list:
    ctx = context_for(params.max_size)
    out = []
    for group in iter_groups(params):
        out += pack_group(group, ctx)
    if params.end_of_rib:
        out.append(bgpevpn.end_of_rib(25, 70))
    return out


def generate_stream(n_routes: int = 1_000_000, vnis: int = 100, vteps: int = 10,
                    max_size: int = EXTENDED, seed: int = 1, **kw) -> bytes:
    """The raw stream (concatenated BGP messages) for these parameters."""
    params = StreamParams(routes=n_routes, vnis=vnis, vteps=vteps, max_size=max_size,
                          seed=seed, **kw)
    return b"".join(generate_messages(params))


# --- cache ---------------------------------------------------------------------------

def cache_dir() -> Path:
    d = Path(os.environ.get("BGPEVPN_BENCH_CACHE")
             or Path(tempfile.gettempdir()) / "bgpevpn-bench")
    d.mkdir(parents=True, exist_ok=True)
    return d


def cached_stream(params: StreamParams | None = None, verbose: bool = False) -> Path:
    """The path of the stream for ``params`` in the cache, generated (and
    checked) when missing; a ``.json`` file beside it holds its statistics."""
    params = params or StreamParams()
    d = cache_dir()
    path = d / f"evpn-{params.routes}r-{params.vnis}v-{params.vteps}t-{params.max_size}-" \
               f"s{params.seed}-{params.key()}.bgp"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path
    t0 = time.perf_counter()
    data = b"".join(generate_messages(params))
    elapsed = time.perf_counter() - t0
    stats = stream_stats(data)
    if stats["routes"] != params.expected_routes:
        raise RuntimeError(f"generated {stats['routes']} routes, expected "
                           f"{params.expected_routes}")
    stats.update(params=asdict(params), generate_seconds=round(elapsed, 2),
                 bgpevpn=bgpevpn.__file__)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    tmp = meta.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(stats, indent=1))
    os.replace(tmp, meta)
    if verbose:
        print(f"generated {path} in {elapsed:.1f} s", file=sys.stderr)
    return path


def load_meta(path: Path) -> dict:
    return json.loads(Path(path).with_suffix(".json").read_text())


def stream_stats(data: bytes) -> dict:
    """Messages, sizes and NLRI counts of a stream (walked without bgpevpn)."""
    from baseline import walk_stats
    return walk_stats(data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--routes", type=int, default=1_000_000, help="type-2 routes (1000000)")
    ap.add_argument("--vnis", type=int, default=100)
    ap.add_argument("--vteps", type=int, default=10)
    ap.add_argument("--max-size", type=int, default=EXTENDED, choices=(EXTENDED, NON_EXTENDED),
                    help="65535 with RFC 8654 extended message (default), 4096 without")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-end-of-rib", action="store_true")
    ap.add_argument("-o", "--output", help="write the raw stream here ('-' = stdout)")
    ap.add_argument("--cached", action="store_true",
                    help="use the cache (generate if missing) and print the cached path")
    a = ap.parse_args(argv)
    params = StreamParams(routes=a.routes, vnis=a.vnis, vteps=a.vteps, max_size=a.max_size,
                          seed=a.seed, end_of_rib=not a.no_end_of_rib)
    if a.cached or not a.output:
        path = cached_stream(params, verbose=True)
        stats = load_meta(path)
        if a.output:
            data = path.read_bytes()
        else:
            print(path)
    else:
        t0 = time.perf_counter()
        data = b"".join(generate_messages(params))
        stats = stream_stats(data)
        stats["generate_seconds"] = round(time.perf_counter() - t0, 2)
    if a.output == "-":
        sys.stdout.buffer.write(data)
    elif a.output:
        Path(a.output).write_bytes(data)
    summary = {k: stats[k] for k in ("bytes", "messages", "updates", "routes", "type2", "type3",
                                     "max_message", "max_nlri_per_update",
                                     "mean_nlri_per_route_update") if k in stats}
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
