"""decode_columns' result (bgpevpn.columns.EvpnColumns) as a user holds it:
typed memoryviews over one storage block, row accessors, equality,
pickling; run against both codec twins (``codec`` fixture)."""
import os
import pickle
import sys
from array import array

import pytest

import bgpevpn
from bgpevpn import columns
from bgpevpn.columns import COLUMN_TYPECODES, NO_LABEL, WITHDRAWN, EvpnColumns
from bgpevpn.context import Context
from bgpevpn.routes import InclusiveMulticastRoute, MacIpRoute

CTX = Context(extended_message=True)


def _stream(codec, n=300):
    """n type-2 routes (every other one with an IPv4 address) in UPDATEs
    of two attribute sets, then the first 10 withdrawn."""
    routes = []
    for i in range(n):
        ip = f"10.0.{i // 250}.{i % 250 + 1}" if i % 2 else None
        routes.append(MacIpRoute.build("192.0.2.1:7", f"02:00:00:00:{i >> 8:02x}:{i & 0xff:02x}",
                                       ip=ip, labels=(100 + i % 3,), ethernet_tag=i % 5))
    attrs = [bgpevpn.attributes.Origin(0), bgpevpn.attributes.AsPath([])]
    half = n // 2
    msgs = codec.pack_updates(routes[:half], attrs, "192.0.2.1", CTX)
    msgs += codec.pack_updates(routes[half:], attrs, "192.0.2.2", CTX)
    msgs += codec.pack_updates(routes[:10], [], None, CTX, withdraw=True)
    return routes, b"".join(msgs)


def test_columns_are_typed_views_of_one_storage(codec):
    routes, data = _stream(codec)
    cols = codec.decode_columns(data, CTX)
    assert len(cols) == len(routes) + 10
    bases = set()
    for name, code in COLUMN_TYPECODES.items():
        col = getattr(cols, name)
        assert isinstance(col, memoryview) and col.format == code, name
        assert len(col) == len(cols) and col.itemsize == array(code).itemsize
        bases.add(id(col.obj))
    assert len(bases) == 1        # one block behind all of them
    # rows in wire order: the announcements, then the withdrawals
    for i, r in enumerate(routes):
        assert cols.route(i) == r and type(cols.route(i)) is MacIpRoute
        assert cols.route_type[i] == 2
        assert cols.mac[i] == int.from_bytes(r.mac, "big")
        assert cols.ethernet_tag[i] == r.ethernet_tag
        assert cols.label1[i] == 100 + i % 3 and cols.label2[i] == NO_LABEL
        assert cols.ip(i) == (bytes(r.ip.packed) if r.ip is not None else b"")
        assert cols.attr_index[i] == (0 if i < len(routes) // 2 else 1)
        assert cols.rd[i] == int.from_bytes(bytes(r)[2:10], "big")
        assert cols.buffer[cols.offset[i]:cols.offset[i] + len(r)] == bytes(r)
    assert list(cols.attr_index[len(routes):]) == [WITHDRAWN] * 10
    assert [nh for _, nh in cols.attribute_sets] == [bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])]


def test_columns_equal_across_twins_and_pickle(codec):
    _, data = _stream(codec)
    cols = codec.decode_columns(data, CTX)
    assert cols == bgpevpn._wire_py.decode_columns(data, CTX)
    back = pickle.loads(pickle.dumps(cols))
    assert back == cols and back.buffer == cols.buffer
    assert [getattr(back, n).format for n in COLUMN_TYPECODES] == list(COLUMN_TYPECODES.values())
    assert len(EvpnColumns(b"")) == 0 and EvpnColumns(b"") != cols


def test_columns_keep_their_storage_alive(codec):
    _, data = _stream(codec)
    mac = codec.decode_columns(data, CTX).mac     # the EvpnColumns is gone
    assert len(mac) == 310 and mac[1] == 0x020000000001 and mac.tolist()[:3] == [
        0x020000000000, 0x020000000001, 0x020000000002]


def test_numpy_reads_columns_without_a_copy(codec):
    np = pytest.importorskip("numpy")
    _, data = _stream(codec)
    cols = codec.decode_columns(data, CTX)
    mac = np.asarray(cols.mac)
    assert mac.dtype == np.uint64 and mac.tolist() == cols.mac.tolist()
    assert np.shares_memory(mac, np.asarray(cols.rd)) is False


def test_layout_keeps_each_column_aligned():
    for capacity in (0, 1, 7, 1000, 1001000):
        starts, size = columns.column_layout(capacity)
        spans = sorted((start, start + capacity * columns.ITEMSIZES[COLUMN_TYPECODES[n]])
                       for n, start in starts.items())
        assert all(start % columns.COLUMN_ALIGN == 0 for start, _ in spans)
        assert all(e <= s2 for (_, e), (s2, _) in zip(spans, spans[1:])) and spans[-1][1] <= size


def test_view_storage_refuses_a_storage_too_small():
    cols = EvpnColumns(b"")
    _, size = columns.column_layout(10)
    with pytest.raises(ValueError, match="cannot hold"):
        cols.view_storage(bytearray(size - 1), 10, 10)
    with pytest.raises(ValueError, match="cannot hold"):
        cols.view_storage(bytearray(size), 10, 11)
    with pytest.raises(ValueError, match="rows"):
        cols.set_columns({**{n: [] for n in COLUMN_TYPECODES}, "mac": [1]})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.skipif(bool(os.environ.get("PYTHONMALLOC")) or "asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="resident memory is another allocator's (PYTHONMALLOC, AddressSanitizer)")
def test_c_twin_gives_back_the_room_it_did_not_use():
    """The C twin reserves rows for routes of 33 octets; routes of 54
    (IPv6, two labels) leave a third of that room unused, which it gives
    back: the columns hold little more resident memory than their 47
    octets a row (with transparent huge pages, keeping the room would show
    as ~60 octets a row)."""
    C = pytest.importorskip("bgpevpn._wire_c")
    n = 400000
    routes = [MacIpRoute.build("192.0.2.1:7", (0x020000000000 + i).to_bytes(6, "big"),
                               ip=f"2001:db8::{i >> 16:x}:{i & 0xffff:x}", labels=(100, 200)) for i in range(n)]
    data = b"".join(C.pack_updates(routes, [], None, CTX, withdraw=True))
    del routes

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    before = rss()
    cols = C.decode_columns(data, CTX)
    grown = rss() - before
    assert len(cols) == n and cols.label2[n - 1] == 200
    assert grown < n * 47 * 1.08 + (1 << 20), grown / n
