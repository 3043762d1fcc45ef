"""ExaBGP decoding the same 1,000,000-route stream (information, CPU time).

Skipped unless ``exabgp`` 4.x or 5.x is installed (``pip install exabgp``;
run.sh does not install it).  ExaBGP is pure Python; this measures its
UPDATE parser on our stream with the least of its API a caller needs:

* logging initialised from ExaBGP's default environment
  (``log.init(getenv())``, as ``exabgp decode`` does: debug logging off);
* a ``Negotiated(Neighbor())`` with the L2VPN/EVPN family, four-octet AS and
  extended message (RFC 8654) set, as after an OPEN exchange;
* the stream framed with ``struct`` (marker not checked: as the bare loop),
  every UPDATE body given to ``Update.unpack_message(body, Direction.IN,
  negotiated)``, and ``len(update.nlris)`` counted (the End-of-RIB comes
  back as an ``EOR``, not counted).

ExaBGP caches the last attribute block it parsed (``negotiated.cached_wire``);
the stream repeats an attribute block only between the type-3 and type-2
UPDATEs of a group, so it helps little here.  The round is long (~15 s), so
2 rounds.  Compare routes/s with ``decode_messages [py]`` of the codec
benchmarks (the same stream, the same run).
"""
from __future__ import annotations

import struct

import pytest

from benchutil import PARAMS, record

ROUNDS = 2


@pytest.fixture(scope="module")
def exa():
    exabgp = pytest.importorskip("exabgp", reason="ExaBGP is not installed")
    from exabgp.version import version
    if not version.split(".")[0] in ("4", "5"):
        pytest.skip(f"ExaBGP {version}: only 4.x and 5.x are measured")
    from exabgp.bgp.message.direction import Direction
    from exabgp.bgp.message.open.capability.extended import ExtendedMessage
    from exabgp.bgp.message.open.capability.negotiated import Negotiated
    from exabgp.bgp.message.update import EOR, Update
    from exabgp.bgp.neighbor import Neighbor
    from exabgp.environment import getenv
    from exabgp.logger import log
    from exabgp.protocol.family import AFI, SAFI
    log.init(getenv())
    neg = Negotiated(Neighbor())
    neg.families = [(AFI.l2vpn, SAFI.evpn)]
    neg.asn4 = True
    neg.msg_size = ExtendedMessage.EXTENDED_SIZE
    return {"version": version, "Update": Update, "IN": Direction.IN, "neg": neg,
            "EOR": EOR, "module": exabgp}


def exabgp_decode(data: bytes, exa) -> tuple:
    """(updates, routes, type-2 routes) of the stream through ExaBGP."""
    unpack = exa["Update"].unpack_message
    IN, neg, eor = exa["IN"], exa["neg"], exa["EOR"]
    u16 = struct.Struct("!H").unpack_from
    pos, end = 0, len(data)
    updates = routes = 0
    last = None
    while pos < end:
        length = u16(data, pos + 16)[0]
        if data[pos + 18] == 2:
            last = unpack(data[pos + 19:pos + length], IN, neg)
            if type(last) is not eor:        # an End-of-RIB carries a pseudo-NLRI
                routes += len(last.nlris)
            updates += 1
        pos += length
    return updates, routes, last


@pytest.mark.benchmark(group="exabgp")
def test_exabgp_update_unpack(benchmark, evpn_stream, exa):
    res = benchmark.pedantic(lambda: exabgp_decode(evpn_stream.data, exa), rounds=ROUNDS)
    updates, routes, _ = res
    # what it decoded (outside the timing): the first type-2 NLRI as ExaBGP prints it
    length = struct.unpack_from("!H", evpn_stream.data, 16)[0]
    nxt = struct.unpack_from("!H", evpn_stream.data, length + 16)[0]
    u = exa["Update"].unpack_message(evpn_stream.data[length + 19:length + nxt], exa["IN"],
                                     exa["neg"])
    record(benchmark, "exabgp_decode", "exabgp", routes, PARAMS.expected_routes,
           exabgp_version=exa["version"], updates=updates, sample_nlri=str(u.nlris[1]),
           sample_nlri_class=type(u.nlris[1]).__name__)
