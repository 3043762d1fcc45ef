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


def _addpath_update(n):
    """One UPDATE announcing n raw EVPN routes (type 11, empty) with path ids."""
    import struct
    nlri = b"".join(struct.pack("!I", i) + bytes([11, 0]) for i in range(n))
    v = struct.pack("!HBB", 25, 70, 4) + bytes([192, 0, 2, 1]) + b"\x00" + nlri
    attrs = bytes([0x40, 1, 1, 0, 0x40, 2, 0, 0x90, 14]) + struct.pack("!H", len(v)) + v
    body = struct.pack("!HH", 0, len(attrs)) + attrs
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body


ADD_PATH = Context(extended_message=True, add_path=frozenset({(25, 70)}))


def test_interrupt_in_the_add_path_rows_propagates(codec, monkeypatch):
    """A KeyboardInterrupt (or MemoryError) raised while the ADD-PATH rows
    are built leaves decode_columns as itself: the C twin once kept a work
    item for rows it never got and read past its list (a crash)."""
    data = _addpath_update(3) * 2
    assert len(codec.decode_columns(data, ADD_PATH)) == 6
    assert codec.decode_columns(data, ADD_PATH) == bgpevpn._wire_py.decode_columns(data, ADD_PATH)

    def interrupted(*args):
        raise KeyboardInterrupt("while the rows are built")
    monkeypatch.setattr(bgpevpn._wire_py, "_add_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        codec.decode_columns(data, ADD_PATH)


def test_add_path_columns_pickle_and_subclasses_survive(codec):
    data = _addpath_update(5)
    cols = codec.decode_columns(data, ADD_PATH)
    assert list(cols.path_id) == [0, 1, 2, 3, 4]
    back = pickle.loads(pickle.dumps(cols))
    assert back == cols
    mine = MyColumns(b"")
    assert type(pickle.loads(pickle.dumps(mine))) is MyColumns


class MyColumns(EvpnColumns):
    """A user's subclass (module level: pickle finds classes by name)."""
    __slots__ = ()


def test_pickled_columns_carry_their_machine_format():
    """The pickle holds array.arrays (their format travels with them), not
    raw native-endian bytes."""
    cols = EvpnColumns(b"")
    cols.set_columns({**{n: [] for n in COLUMN_TYPECODES},
                      **{n: [0x0102030405060708 if COLUMN_TYPECODES[n] == "Q" else 1]
                         for n in COLUMN_TYPECODES}})
    reduced = cols.__reduce__()[1]
    assert all(isinstance(a, array) for a in reduced[2].values())
    assert pickle.loads(pickle.dumps(cols)).rd[0] == 0x0102030405060708
