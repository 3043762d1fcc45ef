"""bgpevpn.capture.read: one iterator over streams, pcaps (BGP and BMP) and MRT."""
from pathlib import Path

import pytest

import bgpevpn
from bgpevpn import capture

PCAPS = Path(__file__).resolve().parent.parent / "pcaps"


def kinds(items):
    out = {}
    for it in items:
        key = it.kind if it.kind != "message" else it.message.type
        out[key] = out.get(key, 0) + 1
    return out


def test_pcap_bgp_flows_and_contexts():
    items = list(capture.read(PCAPS / "junos-vmx-vs-frr-rfc5549-notification.pcap"))
    assert kinds(items) == {"OPEN": 18, "UPDATE": 21, "NOTIFICATION": 9, "KEEPALIVE": 12}
    # every message after an OPEN of its flow was decoded with the learnt context
    seen_open = set()
    for it in items:
        if it.message.type == "OPEN":
            seen_open.add((it.src, it.dst))
        elif (it.src, it.dst) in seen_open:
            assert not it.context_guessed
    assert all(" > " in it.flow for it in items)


def test_bmp_capture_gives_route_monitoring_updates_and_records():
    items = list(capture.read(PCAPS / "bmp-srv6-evpn-rt1-vpnv4-vpnv6.pcap"))
    k = kinds(items)
    assert k["UPDATE"] == 143 and k["record"] == 2 + 4 + 7
    evpn = [r for it in items if it.kind == "message"
            for r in it.message.announced if r.afi == 25]
    assert len(evpn) == 2 and {r.ethernet_tag for r in evpn} == {513}
    assert all(it.origin == "bmp" and it.peer for it in items if it.kind != "skipped")


def test_mrt_updates_with_peers():
    items = list(capture.read(PCAPS / "mrt-ryu-updates-2016-as4-v4v6.bz2"))
    assert kinds(items) == {"UPDATE": 2623}
    assert all(it.origin == "mrt" and it.peer for it in items)


def test_raw_stream_bytes_and_resync():
    ka = bgpevpn.Keepalive().encode()
    data = ka + b"junk" + ka
    items = list(capture.read(data))
    assert [it.kind for it in items] == ["message", "skipped", "message"]
    assert items[1].offset == 19 and items[1].length == 4


def test_unusable_input_is_a_source_error():
    with pytest.raises(capture.SourceError):
        list(capture.read(b"hello world, not BGP"))
    with pytest.raises(capture.SourceError):
        list(capture.read("/nonexistent/file.pcap"))
