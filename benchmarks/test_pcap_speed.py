"""pcap decode speed (pytest-benchmark, pedantic mode, CPU time).

The issue: ``bgpevpn decode --summary FILE`` on a pcap of 1,000,000 EVPN
type-2 routes (~40 MB, TCP segments of 1,448 octets) at >= 5,000,000
routes/s with the C twin.

The pcap is written by ``pcapwriter.py`` from generate.py's stream (cached
beside it): Ethernet/IPv4/TCP, three-way handshake, both OPENs and
KEEPALIVEs, the stream in 1,448-octet segments with consecutive sequence
numbers, an ACK every two segments, FINs; 38,516 packets, 39.9 MB.

* ``test_pcap_baseline_walk``: ``baseline.pcap_walk`` + ``frame_only``, a
  pure-Python walk of the records and Ethernet/IPv4/TCP headers joining the
  port-179 payloads in file order (no reassembly, no decoding): the
  normaliser check_targets.py divides by;
* ``test_pcap_decode_summary``: ``bgpevpn.cli.main(["decode", "--summary",
  path])`` (stdout captured), the C twin (``bgpevpn.wire``), as the command
  line runs it: the target;
* information: the same capture without the OPENs (the context is guessed
  per message), ``BgpCaptureReader`` alone (packets to messages), and
  ``BgpCaptureReader`` + ``bgpevpn._wire_c.decode_message`` per message
  (the library path without the CLI's per-route summary counting).
"""
from __future__ import annotations

import contextlib
import io
import re

import pytest

import baseline
import pcapwriter
from benchutil import PARAMS, record

ROUNDS = 5


@pytest.fixture(scope="module")
def pcap_path():
    return pcapwriter.cached_pcap(PARAMS, verbose=True)


@pytest.fixture(scope="module")
def pcap_noopen_path():
    return pcapwriter.cached_pcap(PARAMS, with_open=False, verbose=True)


@pytest.fixture(scope="module")
def c_wire():
    pytest.importorskip("bgpevpn._wire_c", reason="the C twin is not built")
    from bgpevpn import wire
    if wire.IMPLEMENTATION != "c":
        pytest.skip("bgpevpn.wire is not the C twin (BGPEVPN_NO_EXTENSIONS?)")
    return wire


def _summary_routes(text: str) -> int:
    return sum(int(n) for n in re.findall(r"(\d+) announced", text))


def _cli(path) -> tuple:
    from bgpevpn import cli
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["decode", "--summary", str(path)])
    return status, out.getvalue()


def _meta(path) -> dict:
    import json
    return json.loads(path.with_suffix(".json").read_text())


@pytest.mark.benchmark(group="pcap")
def test_pcap_baseline_walk(benchmark, pcap_path):
    """Pure-Python pcap walk + payload join + message framing (no decoding)."""
    raw = pcap_path.read_bytes()
    n = benchmark.pedantic(lambda: baseline.frame_only(baseline.pcap_walk(raw)),
                           rounds=ROUNDS)
    m = _meta(pcap_path)
    # one direction (to port 179): the sender's OPEN and KEEPALIVE, then the stream
    record(benchmark, "pcap_base_walk", None, m["stream_meta"]["routes"], PARAMS.expected_routes,
           messages=n, expected_messages=m["stream_meta"]["messages"] + 2,
           baseline_version=baseline.EXTRA_BASELINE_VERSION)


@pytest.mark.benchmark(group="pcap")
def test_pcap_decode_summary(benchmark, pcap_path, c_wire):
    """bgpevpn decode --summary PCAP through cli.main (C twin)."""
    res = benchmark.pedantic(lambda: _cli(pcap_path), rounds=ROUNDS)
    status, text = res
    m = _meta(pcap_path)
    record(benchmark, "pcap_decode", "c", _summary_routes(text), PARAMS.expected_routes,
           exit_status=status, summary=text.strip(), file_bytes=m["file_bytes"],
           packets=m["packets"], mss=m["mss"])


@pytest.mark.benchmark(group="pcap")
def test_pcap_decode_summary_no_open(benchmark, pcap_noopen_path, c_wire):
    """The same capture without the OPEN exchange: the CLI guesses the
    context of every UPDATE (information)."""
    status, text = benchmark.pedantic(lambda: _cli(pcap_noopen_path), rounds=3)
    record(benchmark, "pcap_decode_no_open", "c", _summary_routes(text), PARAMS.expected_routes,
           exit_status=status, summary=text.strip())


@pytest.mark.benchmark(group="pcap")
def test_pcap_reader_only(benchmark, pcap_path):
    """BgpCaptureReader over the file: packets -> reassembled BGP messages,
    no decoding (information: the pcap.py share)."""
    from bgpevpn.pcap import BgpCaptureReader

    def run():
        return [m for m in BgpCaptureReader(str(pcap_path))]
    msgs = benchmark.pedantic(run, rounds=ROUNDS)
    m = _meta(pcap_path)
    record(benchmark, "pcap_reader", None, m["stream_meta"]["routes"], PARAMS.expected_routes,
           messages=len(msgs), expected_messages=m["stream_meta"]["messages"] + 4)


@pytest.mark.benchmark(group="pcap")
def test_pcap_reader_decode(benchmark, pcap_path, c_wire):
    """BgpCaptureReader + C decode_message per message, counting announced
    routes with len() (information: the library path without the CLI)."""
    from bgpevpn import _wire_c as c
    from bgpevpn.pcap import BgpCaptureReader
    ctx = pcapwriter.generate.context_for()

    def run():
        n = 0
        for m in BgpCaptureReader(str(pcap_path)):
            msg = c.decode_message(m.data, ctx)
            if msg.type == "UPDATE":
                n += len(msg.announced)
        return n
    n = benchmark.pedantic(run, rounds=ROUNDS)
    record(benchmark, "pcap_reader_decode", "c", n, PARAMS.expected_routes)
