"""Tests for bgpevpn.mrt (RFC 6396, RFC 8050).

Expected values for the real files were checked against ``bgpdump -m`` (Debian
bgpdump 1.6.2): every announcement and withdrawal line of both files (peer,
prefix, AS path, origin, next hop, LOCAL_PREF, MED, communities, atomic
aggregate, aggregator) matches what these tests decode; the values below were
copied from its output by hand.
"""
from __future__ import annotations

import bz2
import collections
import io
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bgpevpn
from bgpevpn import mrt as mrt_module
from bgpevpn.attributes import (
    AsPath,
    Communities,
    ExtCommunities,
    LocalPref,
    Med,
    MpReachNlri,
    Origin,
)
from bgpevpn.constants import AttrType
from bgpevpn.mrt import (
    Bgp4mpMessage,
    Bgp4mpStateChange,
    MrtError,
    MrtWriter,
    PeerIndexTable,
    RibDumpEntry,
    RibEntry,
    RibGeneric,
    RibRecord,
    TableDumpRecord,
    UnknownRecord,
    decode_mrt_record,
    decode_rib_attributes,
    encode_rib_attributes,
    iter_mrt,
    read_mrt,
)
from bgpevpn.values import ExtCommunity

PCAPS = Path(__file__).parent.parent / "pcaps"
RIB = PCAPS / "mrt-ryu-rib-2016-pick.bz2"
UPDATES = PCAPS / "mrt-ryu-updates-2016-as4-v4v6.bz2"

ATTRS = [Origin(0), AsPath([(2, (65001, 4200000000))]), Med(5), LocalPref(100),
         Communities(((65001 << 16) | 7,))]
EVPN_ATTRS = [Origin(0), AsPath([(2, (65001,))]),
              ExtCommunities([ExtCommunity.route_target(65000, 1), ExtCommunity.encapsulation(8)])]


@pytest.fixture
def twin(codec, monkeypatch):
    """Run the MRT layer over one codec twin (``py`` or ``c``)."""
    monkeypatch.setattr(mrt_module, "wire", codec)
    return codec


def dicts(records) -> list:
    return [json.dumps(r.to_dict(), sort_keys=True) for r in records]


def write(records_or_fn) -> bytes:
    out = io.BytesIO()
    writer = MrtWriter(out)
    if callable(records_or_fn):
        records_or_fn(writer)
    else:
        for record in records_or_fn:
            writer.write(record)
    return out.getvalue()


def read_bytes(data: bytes, strict: bool = True) -> list:
    return list(read_mrt(io.BytesIO(data), strict))


# --- the real files ----------------------------------------------------------------------

def test_rib_file(twin):
    records = list(read_mrt(RIB))
    assert [type(r) for r in records] == [PeerIndexTable, RibRecord, RibRecord]
    table = records[0]
    assert (table.collector_id, table.view_name, len(table.peers)) == ("202.249.2.166", "", 7)
    assert table.peers[3] == ("202.249.2.86", "202.249.2.86", 7500, 2)
    assert table.peers[5].address == "2001:200:0:fe00::9c4:11"
    # bgpdump: TABLE_DUMP2|1477958400|B|202.249.2.86|7500|1.0.4.0/24|7500 2516 4637 1221
    # 38803 56203|IGP|202.249.2.110|0|0||NAG||  (ORIGINATED: 09/21/16 08:40:58 UTC)
    first = records[1]
    assert (first.timestamp, first.sequence, first.prefix) == (1477958400, 0, "1.0.4.0/24")
    assert [(e.peer.address, e.peer.asn) for e in first.entries] == [
        ("202.249.2.86", 7500), ("202.249.2.169", 2497)]
    entry = first.entries[0]
    assert entry.originated_time == 1474447258
    assert entry.attributes.as_path[0].asns == (7500, 2516, 4637, 1221, 38803, 56203)
    assert entry.next_hop == ("202.249.2.110", None)
    assert entry.attributes.origin == 0 and entry.errors == []
    assert records[2].prefix == "1.0.5.0/24" and records[2].sequence == 1
    assert records[2].entries[1].next_hop == ("202.249.2.169", None)
    assert [r.prefix for r in first.routes()] == ["1.0.4.0/24"] * 2


def test_updates_file(twin):
    records = list(read_mrt(UPDATES))
    assert len(records) == 2623
    assert {(r.type_name, r.subtype_name) for r in records} == {("BGP4MP", "MESSAGE_AS4")}
    assert all(r.error is None and r.message.type == "UPDATE" for r in records)
    peers = collections.Counter((r.peer_ip, r.peer_as, r.local_ip, r.local_as) for r in records)
    assert peers == {("202.249.2.169", 2497, "202.249.2.166", 6447): 999,
                     ("202.249.2.86", 7500, "202.249.2.166", 6447): 883,
                     ("2001:200:0:fe00::9d4:0", 2516, "2001:200:0:fe00::192f:0", 6447): 371,
                     ("2001:200:0:fe00::9c4:11", 2500, "2001:200:0:fe00::192f:0", 6447): 370}
    announced = collections.Counter(r.afi for rec in records for r in rec.message.announced)
    withdrawn = collections.Counter(r.afi for rec in records for r in rec.message.withdrawn)
    # bgpdump -m: 5762 lines = 4427 + 952 "A" and 303 + 80 "W"
    assert announced == {1: 4427, 2: 952}
    assert withdrawn == {1: 303, 2: 80}
    assert (records[0].timestamp, records[-1].timestamp) == (1477958402, 1477959294)


def test_updates_file_fields_checked_with_bgpdump(twin):
    records = list(read_mrt(UPDATES))
    # BGP4MP|1477958402|A|2001:200:0:fe00::9c4:11|2500|2001:df0:eb::/48|2500 38635|IGP|
    # 2001:200:0:fe00::9c4:11|0|0|2500:2500|NAG||
    first = records[0].message
    route = first.announced[0]
    assert route.prefix == "2001:df0:eb::/48"
    assert first.next_hop_of(route)[0] == "2001:200:0:fe00::9c4:11"
    assert first.attributes.as_path[0].asns == (2500, 38635)
    assert first.to_dict()["attributes"]["communities"] == ["2500:2500"]
    # BGP4MP|1477958409|A|202.249.2.86|7500|125.76.96.0/19|7500 4713 2914 4809|IGP|
    # 202.249.2.131|0|0||AG|4809 59.43.2.79|
    second = records[1]
    assert (second.timestamp, second.peer_ip, second.peer_as) == (1477958409, "202.249.2.86",
                                                                  7500)
    msg = second.message
    assert msg.announced[0].prefix == "125.76.96.0/19"
    assert msg.attributes.next_hop == "202.249.2.131"
    assert msg.attributes[AttrType.AGGREGATOR].value == (4809, "59.43.2.79")
    assert AttrType.ATOMIC_AGGREGATE in msg.attributes
    # BGP4MP|1477958409|W|202.249.2.86|7500|203.30.65.0/24
    assert records[2].message.withdrawn[0].prefix == "203.30.65.0/24"


@pytest.mark.parametrize("path", [RIB, UPDATES], ids=lambda p: p.name)
def test_real_files_round_trip_byte_for_byte(path, twin):
    with bz2.open(path) as f:
        original = f.read()
    records = list(read_mrt(path))
    written = write(records)
    assert written == original
    assert dicts(read_bytes(written)) == dicts(records)


def test_iter_mrt_tuples():
    items = list(iter_mrt(RIB))
    assert items[0][:2] == (1477958400.0, "collector 202.249.2.166")
    assert items[1][1] == "202.249.2.86 AS7500, 202.249.2.169 AS2497"
    first_update = next(iter_mrt(UPDATES))
    assert first_update[1] == "2001:200:0:fe00::9c4:11 AS2500"


@pytest.mark.skipif(shutil.which("bgpdump") is None, reason="bgpdump is not installed")
@pytest.mark.parametrize("path", [RIB, UPDATES], ids=lambda p: p.name)
def test_every_line_agrees_with_bgpdump(path):
    ours = "".join(line + "\n" for line in bgpdump_lines(read_mrt(path)))
    theirs = subprocess.run(["bgpdump", "-q", "-m", str(path)], capture_output=True,
                            text=True, check=True).stdout
    assert ours == theirs


def bgpdump_lines(records):
    """``bgpdump -m`` lines rendered from our decode (announcements, withdrawals, RIB)."""
    def tail(attrs, nh):
        ap = " ".join(("{" + ",".join(map(str, s.asns)) + "}") if s.type == 1
                      else " ".join(map(str, s.asns)) for s in attrs.as_path or ())
        agg = attrs.get(AttrType.AGGREGATOR)
        return "|".join([ap, {0: "IGP", 1: "EGP", 2: "INCOMPLETE"}[attrs.origin], nh,
                         str(attrs.local_pref or 0), str(attrs.med or 0),
                         " ".join(f"{c >> 16}:{c & 0xFFFF}" for c in attrs.communities),
                         "AG" if AttrType.ATOMIC_AGGREGATE in attrs else "NAG",
                         f"{agg.value[0]} {agg.value[1]}" if agg else ""]) + "|"
    for rec in records:
        if isinstance(rec, Bgp4mpMessage):
            head = f"BGP4MP|{rec.seconds}"
            for r in rec.message.withdrawn:
                yield f"{head}|W|{rec.peer_ip}|{rec.peer_as}|{r.prefix}"
            for r in rec.message.announced:
                nh = rec.message.next_hop_of(r)[0]
                yield f"{head}|A|{rec.peer_ip}|{rec.peer_as}|{r.prefix}|" + \
                    tail(rec.message.attributes, nh)
        elif isinstance(rec, RibRecord):
            for e in rec.entries:
                yield (f"TABLE_DUMP2|{rec.seconds}|B|{e.peer.address}|{e.peer.asn}|"
                       f"{rec.prefix}|" + tail(e.attributes, e.next_hop[0]))


# --- writing BGP4MP ---------------------------------------------------------------------

def v4_update(path_id=None, four=True):
    ctx = bgpevpn.Context(four_octet_as=four, add_path=frozenset({(1, 1)})
                          if path_id is not None else frozenset())
    attrs = ATTRS if four else [Origin(0), AsPath([(2, (65001, 23456))])]
    return bgpevpn.pack_updates([bgpevpn.Ipv4Prefix.build("10.1.0.0/16", path_id=path_id)],
                                attrs, next_hop="192.0.2.1", ctx=ctx)[0]


@pytest.mark.parametrize("as4, local, addpath, subtype", [
    (False, False, False, "MESSAGE"), (True, False, False, "MESSAGE_AS4"),
    (False, True, False, "MESSAGE_LOCAL"), (True, True, False, "MESSAGE_AS4_LOCAL"),
    (False, False, True, "MESSAGE_ADDPATH"), (True, False, True, "MESSAGE_AS4_ADDPATH"),
    (False, True, True, "MESSAGE_LOCAL_ADDPATH"), (True, True, True, "MESSAGE_AS4_LOCAL_ADDPATH"),
])
def test_bgp4mp_message_subtypes(as4, local, addpath, subtype, twin):
    pdu = v4_update(7 if addpath else None, four=as4)
    data = write(lambda w: w.write_bgp4mp_message(1700000001, 4200000000 if as4 else 65001,
                                                  65000, "192.0.2.1", "192.0.2.2", pdu,
                                                  as4=as4, addpath=addpath, local=local))
    (record,) = read_bytes(data)
    assert record.subtype_name == subtype and record.mrt_type == 16
    assert (record.as4, record.local, record.addpath) == (as4, local, addpath)
    assert record.peer_as == (4200000000 if as4 else 65001)
    assert record.error is None
    route = record.message.announced[0]
    assert route.prefix == "10.1.0.0/16"
    assert route.path_id == (7 if addpath else None)
    expected = (65001, 4200000000) if as4 else (65001, 23456)
    assert record.message.attributes.as_path[0].asns == expected
    assert record.encode() == data


def test_bgp4mp_et_keeps_microseconds_and_ipv6():
    pdu = bgpevpn.pack_updates([bgpevpn.Ipv6Prefix.build("2001:db8:1::/48")], ATTRS,
                               next_hop="2001:db8::1")[0]
    data = write(lambda w: w.write_bgp4mp_message(1700000001.25, 65002, 65000, "2001:db8::1",
                                                  "2001:db8::2", pdu, et=True))
    (record,) = read_bytes(data)
    assert (record.type_name, record.seconds, record.microseconds) == ("BGP4MP_ET",
                                                                       1700000001, 250000)
    assert record.timestamp == 1700000001.25
    assert struct.unpack_from("!I", data, 8)[0] == len(data) - 12   # length counts the µs
    assert record.afi == 2 and record.message.announced[0].prefix == "2001:db8:1::/48"


def test_bgp4mp_message_object_is_encoded_for_its_subtype():
    msg = bgpevpn.decode_message(v4_update(path_id=5), bgpevpn.Context(
        add_path=frozenset({(1, 1)})))
    (record,) = read_bytes(write(lambda w: w.write_bgp4mp_message(
        1, 65001, 65000, "192.0.2.1", "192.0.2.2", msg, addpath=True)))
    assert record.message.announced[0].path_id == 5


def test_state_change_records():
    def fill(w):
        w.write_state_change(1700000000, 65001, 65000, "192.0.2.1", "192.0.2.2", 5, 6)
        w.write_state_change(1700000000.5, 65001, 65000, "2001:db8::1", "2001:db8::2", 6, 1,
                             as4=False, et=True)
    first, second = read_bytes(write(fill))
    assert isinstance(first, Bgp4mpStateChange) and first.subtype_name == "STATE_CHANGE_AS4"
    assert first.to_dict()["old_state"] == "open-confirm"
    assert first.to_dict()["new_state"] == "established"
    assert (second.subtype_name, second.type_name, second.microseconds) == \
        ("STATE_CHANGE", "BGP4MP_ET", 500000)
    assert second.to_dict()["new_state"] == "idle"


def test_bgp_error_inside_a_message_is_kept():
    pdu = bytearray(v4_update())
    pdu[-3] = 40                                   # NLRI prefix length 40
    (record,) = read_bytes(write(lambda w: w.write_bgp4mp_message(
        1, 65001, 65000, "192.0.2.1", "192.0.2.2", bytes(pdu))))
    assert isinstance(record.error, bgpevpn.BGPError)
    assert record.to_dict()["bgp_error"]["code"] == 3


# --- writing TABLE_DUMP_V2 --------------------------------------------------------------

def rib_routes():
    rd = "65000:1"
    return [
        RibDumpEntry(bgpevpn.Ipv4Prefix.build("10.1.0.0/16"), ATTRS, "192.0.2.1", 65001,
                     "1.1.1.1", "192.0.2.1", 1699999999),
        RibDumpEntry(bgpevpn.Ipv4Prefix.build("10.1.0.0/16"), ATTRS, "2001:db8::9", 4200000000,
                     "9.9.9.9", "192.0.2.9", 1699999990),
        RibDumpEntry(bgpevpn.Ipv6Prefix.build("2001:db8:1::/48"), ATTRS, "192.0.2.1", 65001,
                     "1.1.1.1", "2001:db8::1,fe80::1"),
        RibDumpEntry(bgpevpn.MacIpRoute.build(rd, "00:11:22:33:44:55", "10.0.0.5",
                                              labels=(1000,)),
                     EVPN_ATTRS, "192.0.2.1", 65001, "1.1.1.1", "192.0.2.1"),
        RibDumpEntry(bgpevpn.MacIpRoute.build(rd, "00:11:22:33:44:66", labels=(1000, 2000)),
                     EVPN_ATTRS, "192.0.2.1", 65001, "1.1.1.1", "2001:db8::1"),
        RibDumpEntry(bgpevpn.InclusiveMulticastRoute.build(rd, "192.0.2.1"), EVPN_ATTRS,
                     "192.0.2.1", 65001, "1.1.1.1", "192.0.2.1"),
        RibDumpEntry(bgpevpn.IpPrefixRoute.build(rd, "10.20.0.0/24", label=5000), EVPN_ATTRS,
                     "192.0.2.1", 65001, "1.1.1.1", "192.0.2.1"),
    ]


def test_dump_rib_unicast_and_evpn(twin):
    data = write(lambda w: w.dump_rib(rib_routes(), time=1700000100, collector_id="10.0.0.1",
                                      view_name="main"))
    records = read_bytes(data)
    assert [r.subtype_name for r in records] == [
        "PEER_INDEX_TABLE", "RIB_IPV4_UNICAST", "RIB_IPV6_UNICAST"] + ["RIB_GENERIC"] * 4
    table = records[0]
    assert [(p.address, p.asn, p.peer_type) for p in table.peers] == [
        ("192.0.2.1", 65001, 2), ("2001:db8::9", 4200000000, 3)]
    v4 = records[1]
    assert [(e.peer.asn, e.next_hop[0], e.originated_time) for e in v4.entries] == [
        (65001, "192.0.2.1", 1699999999), (4200000000, "192.0.2.9", 1699999990)]
    assert v4.entries[0].attributes.as_path[0].asns == (65001, 4200000000)
    assert records[2].entries[0].next_hop == ("2001:db8::1", "fe80::1")
    evpn = records[3:]
    assert [r.sequence for r in evpn] == [2, 3, 4, 5]
    expected = [e.route for e in rib_routes()[3:]]
    assert [r.routes for r in evpn] == [[route] for route in expected]
    assert [bytes(r.routes[0]) for r in evpn] == [bytes(route) for route in expected]
    mac = evpn[0].routes[0]
    assert (str(mac.mac), str(mac.ip), mac.labels) == ("00:11:22:33:44:55", "10.0.0.5", (1000,))
    entry = evpn[1].entries[0]
    assert entry.next_hop == ("2001:db8::1", None) and entry.errors == []
    assert entry.attributes.route_targets[0] == ExtCommunity.route_target(65000, 1)
    # RFC 6396 §4.3.4: the MP_REACH_NLRI holds the next hop length and next hop only
    walked = mrt_module._walk_attributes(entry.attr_data)
    (mp,) = [w for w in walked if w[1] == AttrType.MP_REACH_NLRI]
    assert entry.attr_data[mp[2]:mp[3]] == b"\x10" + bytes.fromhex("20010db8" + "00" * 11 + "01")
    assert write(records) == data                           # read -> write is identical


def test_dump_rib_is_read_by_bgpdump_when_installed(tmp_path):
    if shutil.which("bgpdump") is None:
        pytest.skip("bgpdump is not installed")
    path = tmp_path / "rib.mrt"
    with MrtWriter.open(path) as w:
        w.dump_rib(rib_routes()[:3], time=1700000100)
    out = subprocess.run(["bgpdump", "-q", "-m", str(path)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == [
        ("TABLE_DUMP2|1700000100|B|192.0.2.1|65001|10.1.0.0/16|65001 4200000000|IGP|"
         "192.0.2.1|100|5|65001:7|NAG||"),
        ("TABLE_DUMP2|1700000100|B|2001:db8::9|4200000000|10.1.0.0/16|65001 4200000000|IGP|"
         "192.0.2.9|100|5|65001:7|NAG||"),
        ("TABLE_DUMP2|1700000100|B|192.0.2.1|65001|2001:db8:1::/48|65001 4200000000|IGP|"
         "2001:db8::1|100|5|65001:7|NAG||")]


def test_rib_addpath_subtypes(twin):
    rd = "65000:1"
    evpn = bgpevpn.AddPathEvpnRoute(9, bgpevpn.MacIpRoute.build(rd, "00:11:22:33:44:55"))
    routes = [
        RibDumpEntry(bgpevpn.Ipv4Prefix.build("10.9.0.0/16", path_id=3), ATTRS, "192.0.2.1",
                     65001, "1.1.1.1", "192.0.2.1"),
        RibDumpEntry(bgpevpn.Ipv6Prefix.build("2001:db8::/32", path_id=4), ATTRS, "192.0.2.1",
                     65001, "1.1.1.1", "2001:db8::1"),
        RibDumpEntry(evpn, EVPN_ATTRS, "192.0.2.1", 65001, "1.1.1.1", "192.0.2.1"),
    ]
    records = read_bytes(write(lambda w: w.dump_rib(routes)))
    assert [r.subtype_name for r in records[1:]] == [
        "RIB_IPV4_UNICAST_ADDPATH", "RIB_IPV6_UNICAST_ADDPATH", "RIB_GENERIC_ADDPATH"]
    assert records[1].entries[0].path_id == 3
    assert records[1].routes()[0] == bgpevpn.Ipv4Prefix.build("10.9.0.0/16", path_id=3)
    assert records[2].entries[0].path_id == 4
    generic = records[3]
    # RFC 8050 §4.2: the path identifier heads the NLRI, entries are not redefined
    assert generic.nlri[:4] == b"\x00\x00\x00\x09" and not generic.path_id_in_entries
    assert generic.routes == [evpn] and generic.routes[0].path_id == 9
    assert generic.entries[0].path_id is None


def test_gobgp_compatible_rib(twin):
    """GoBGP writes and reads MP_REACH_NLRI whole and RIB_GENERIC_ADDPATH path ids per
    entry (its mrt.go deviates from RFC 6396 §4.3.4 / RFC 8050 §4.2); both read back."""
    evpn = bgpevpn.AddPathEvpnRoute(9, bgpevpn.MacIpRoute.build("65000:1", "00:11:22:33:44:55"))
    routes = rib_routes()[2:4] + [RibDumpEntry(evpn, EVPN_ATTRS, "192.0.2.1", 65001)]
    records = read_bytes(write(lambda w: w.dump_rib(routes, gobgp_compat=True)))
    v6 = records[1].entries[0]
    (mp,) = [w for w in mrt_module._walk_attributes(v6.attr_data) if w[1] == 14]
    assert v6.attr_data[mp[2]:mp[2] + 4] == b"\x00\x02\x01\x20"   # AFI 2, SAFI 1, NH 32
    assert v6.next_hop == ("2001:db8::1", "fe80::1")
    assert records[2].entries[0].next_hop == ("192.0.2.1", None)
    generic = records[3]
    assert generic.path_id_in_entries and generic.entries[0].path_id == 9
    assert generic.routes == [evpn.route]


def test_write_rib_entry_with_a_prefix_string_and_multicast():
    entry = RibEntry.build(0, ATTRS, "192.0.2.1")
    data = write(lambda w: w.write_rib_entry(5, 1, "10.0.0.0/8", [entry], safi=2))
    (record,) = read_bytes(data)
    assert (record.subtype_name, record.prefix, record.safi) == ("RIB_IPV4_MULTICAST",
                                                                "10.0.0.0/8", 2)
    assert record.entries[0].next_hop == ("192.0.2.1", None)


def test_two_octet_attributes_become_four_octet_in_rib_entries():
    """An AS_PATH decoded from a BGP4MP_MESSAGE keeps its 2-octet ``raw``; the RIB
    entry must carry 4-octet AS numbers (RFC 6396 §4.3.4)."""
    msg = bgpevpn.decode_message(v4_update(four=False), bgpevpn.Context(four_octet_as=False))
    entry = RibEntry.build(0, msg.attributes)
    assert entry.errors == []
    assert entry.attributes.as_path[0].asns == (65001, 23456)
    assert entry.next_hop == ("192.0.2.1", None)


def test_encode_rib_attributes_places_mp_reach_by_code():
    data = encode_rib_attributes(EVPN_ATTRS, "192.0.2.1", 25, 70)
    codes = [w[1] for w in mrt_module._walk_attributes(data)]
    assert codes == [1, 2, 14, 16]
    attrs, errors = decode_rib_attributes(data, 25, 70)
    assert errors == [] and isinstance(attrs[AttrType.MP_REACH_NLRI], MpReachNlri)


def test_peer_index_table_round_trip():
    table = PeerIndexTable(7, "10.0.0.1", "view \u00e9", [("1.1.1.1", "192.0.2.1", 1),
                                                          ("2.2.2.2", "2001:db8::2", 70000)])
    (back,) = read_bytes(write([table]))
    assert back.view_name == "view \u00e9"
    assert back.peers == table.peers
    assert back.to_dict()["peers"][1] == {"bgp_id": "2.2.2.2", "address": "2001:db8::2",
                                          "as": 70000, "as4": True}


def test_table_dump_v1_record():
    attrs = bytes([0x40, 1, 1, 0, 0x40, 2, 4, 2, 1, 0xFD, 0xE9, 0x40, 3, 4, 192, 0, 2, 1])
    body = (struct.pack("!HH", 0, 3) + bytes([10, 0, 0, 0, 8, 1]) + struct.pack("!I", 99)
            + bytes([192, 0, 2, 1]) + struct.pack("!HH", 65001, len(attrs)) + attrs)
    data = struct.pack("!IHHI", 1000, 12, 1, len(body)) + body
    (record,) = read_bytes(data)
    assert isinstance(record, TableDumpRecord)
    assert (record.prefix, record.peer_as, record.sequence) == ("10.0.0.0/8", 65001, 3)
    assert record.attributes.as_path[0].asns == (65001,)
    assert record.encode() == data


def test_unknown_types_are_kept_raw():
    data = write(lambda w: (w.write_raw(5, 48, 1, b"ospf"), w.write_raw(6, 13, 7, b"geo"),
                            w.write_raw(7, 16, 3, b"snap"), w.write_raw(8, 33, 1, b"isis",
                                                                        et=True)))
    records = read_bytes(data)
    assert all(isinstance(r, UnknownRecord) for r in records)
    assert [r.data for r in records] == [b"ospf", b"geo", b"snap", b"isis"]
    assert records[3].microseconds == 0
    assert write(records) == data


def test_rib_generic_unknown_family_keeps_the_rest():
    body = struct.pack("!IHB", 1, 1, 73) + b"\x01\x02\x03"
    data = struct.pack("!IHHI", 0, 13, 6, len(body)) + body
    (record,) = read_bytes(data)
    assert isinstance(record, RibGeneric) and record.rest == b"\x01\x02\x03"
    assert record.entries == [] and record.encode() == data


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".mrt"])
def test_compressed_files(tmp_path, suffix):
    path = tmp_path / ("rib" + suffix)
    with MrtWriter.open(path) as w:
        w.dump_rib(rib_routes(), time=3)
    assert dicts(read_mrt(path)) == dicts(read_bytes(write(lambda w: w.dump_rib(rib_routes(),
                                                                                time=3))))


def test_bmp_capture_saved_as_bgp4mp():
    """Route Monitoring UPDATEs of a BMP capture written as BGP4MP and read back."""
    from bgpevpn.bmp import RouteMonitoring, iter_bmp_capture
    rms = [m for _, _, m in iter_bmp_capture(PCAPS / "junos-vmx-bmp-evpn-rt5-vpnv4-v6.pcap",
                                             10179) if isinstance(m, RouteMonitoring)]

    def fill(w):
        for m in rms:
            w.write_bgp4mp_message(m.peer.timestamp, m.peer.asn, 65000, m.peer.address,
                                   "::" if ":" in m.peer.address else "0.0.0.0", m.data,
                                   as4=m.context.four_octet_as, addpath=bool(m.context.add_path))
    records = read_bytes(write(fill))
    assert len(records) == 34
    assert [r.message.to_dict() for r in records] == [m.bgp.to_dict() for m in rms]
    assert sum(r.addpath for r in records) == 3    # 192.0.2.5: End-of-RIB, announce, withdraw


# --- malformed input ------------------------------------------------------------------------

def good_records() -> bytes:
    return write(lambda w: w.dump_rib(rib_routes()[:4], time=9))


@pytest.mark.parametrize("data, reason, offset", [
    (b"\x00" * 7, "record header truncated to 7 octets", 0),
    (struct.pack("!IHHI", 0, 16, 4, 100) + b"x" * 10, "record of length 100 truncated", 0),
    (struct.pack("!IHHI", 0, 17, 4, 2) + b"xx", "microsecond timestamp needs 4 octets", 12),
    (struct.pack("!IHHI", 0, 16, 4, 12) + struct.pack("!IIHH", 1, 2, 0, 3),
     "BGP4MP address family 3", 22),
    (struct.pack("!IHHI", 0, 16, 4, 14) + struct.pack("!IIHH", 1, 2, 0, 1) + b"\x01\x02",
     "BGP4MP peer and local addresses needs 8 octets", 24),
    (struct.pack("!IHHI", 0, 16, 5, 25) + struct.pack("!IIHH", 1, 2, 0, 1) + bytes(8)
     + b"\x00\x01\x00\x02\x00", "after the BGP4MP states", 36),
    (struct.pack("!IHHI", 0, 13, 1, 8) + bytes(4) + b"\x00\x09\x00\x00",
     "view name and peer count", 18),
    (struct.pack("!IHHI", 0, 13, 1, 9) + bytes(4) + b"\x00\x00\x00\x01\x02",
     "peer entry 0 needs 12 octets", 21),
    (struct.pack("!IHHI", 0, 13, 2, 5) + b"\x00\x00\x00\x00\x21", "prefix length 33", 16),
    (struct.pack("!IHHI", 0, 13, 2, 7) + b"\x00\x00\x00\x00\x18\x0a\x00", "RIB prefix", 17),
    (struct.pack("!IHHI", 0, 13, 2, 11) + b"\x00\x00\x00\x00\x08\x0a\x00\x01" + b"\x00\x00\x00",
     "RIB entry 0 header needs 8 octets", 20),
    (struct.pack("!IHHI", 0, 13, 2, 18) + b"\x00\x00\x00\x00\x08\x0a\x00\x01"
     + b"\x00\x00\x00\x00\x00\x00\x00\x09\x40\x01", "RIB entry 0 attributes needs 9", 28),
    (struct.pack("!IHHI", 0, 13, 2, 9) + b"\x00\x00\x00\x00\x08\x0a\x00\x00\xff",
     "1 octets after the 0 RIB entries", 20),
    (struct.pack("!IHHI", 0, 13, 6, 9) + b"\x00\x00\x00\x00\x00\x19\x46\x02\x30",
     "RIB_GENERIC NLRI of AFI 25 SAFI 70 needs 50", 19),
])
def test_malformed_records_raise_mrt_error(data, reason, offset):
    with pytest.raises(MrtError) as info:
        read_bytes(data)
    assert reason in info.value.reason
    assert info.value.offset == offset
    assert isinstance(info.value, ValueError)


def test_malformed_record_offset_counts_earlier_records():
    good = good_records()
    bad = struct.pack("!IHHI", 0, 13, 2, 5) + b"\x00\x00\x00\x00\x21"
    with pytest.raises(MrtError) as info:
        read_bytes(good + bad)
    assert info.value.offset == len(good) + 16


def test_malformed_evpn_nlri_in_rib_generic():
    nlri = b"\x02\x05" + bytes(5)                 # a MAC/IP route cannot be 5 octets
    body = struct.pack("!IHB", 0, 25, 70) + nlri + b"\x00\x00"
    with pytest.raises(MrtError, match="RIB_GENERIC NLRI"):
        decode_mrt_record(struct.pack("!IHHI", 0, 13, 6, len(body)) + body)


def test_non_strict_reader_goes_on():
    good = good_records()
    bad = struct.pack("!IHHI", 0, 13, 2, 5) + b"\x00\x00\x00\x00\x21"
    records = read_bytes(bad + good, strict=False)
    assert isinstance(records[0], UnknownRecord) and isinstance(records[0].error, MrtError)
    assert records[0].to_dict()["error"]["offset"] == 16
    assert len(records) == 1 + 4


def test_every_truncation_raises_mrt_error():
    data = good_records()
    for cut in range(1, len(data)):
        try:
            read_bytes(data[:cut])
        except MrtError:
            continue
        # a cut on a record boundary is a shorter, valid file
        assert cut in boundaries(data)


def boundaries(data: bytes) -> set:
    out, pos = set(), 0
    while pos < len(data):
        pos += 12 + struct.unpack_from("!I", data, pos + 8)[0]
        out.add(pos)
    return out


def test_corrupt_compressed_file(tmp_path):
    path = tmp_path / "x.bz2"
    raw = bz2.compress(good_records())
    path.write_bytes(raw[:20] + b"\x00" * 10 + raw[30:])
    with pytest.raises(MrtError):
        list(read_mrt(path))


def test_rib_entry_attribute_errors_are_listed_not_raised():
    entry = RibEntry(0, 0, bytes([0x40, 1, 1, 9]))          # ORIGIN 9 is undefined
    assert entry.attributes.origin is None
    assert [e.code for e in entry.errors] == [3]
    broken = RibEntry(0, 0, bytes([0x40, 1, 5, 0]))         # overruns the attributes
    assert len(broken.attributes) == 0 and broken.errors[0].code == 3
    assert "errors" in broken.to_dict()


@given(st.binary(max_size=200), st.sampled_from([(16, 4), (16, 5), (16, 9), (17, 1), (13, 1),
                                                 (13, 2), (13, 4), (13, 6), (13, 10),
                                                 (13, 12), (12, 1), (12, 2)]))
def test_random_bodies_only_raise_mrt_error(body, kind):
    data = struct.pack("!IHHI", 0, kind[0], kind[1], len(body)) + body
    try:
        record = decode_mrt_record(data)
    except MrtError:
        return
    json.dumps(record.to_dict())
    assert record.encode() == data
