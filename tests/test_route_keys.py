"""EVPN route keys, hashes and equality: what the C twin installs on the
route classes (key, __hash__/__eq__ and the type slots behind dict lookups)
gives what the Python definitions in routes.py give (``_py_key``, kept by
the C twin as the reference), for every route type, valid or odd layouts."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bgpevpn
from bgpevpn.routes import EvpnRoute, MacIpRoute

import strategies as S

pytestmark = pytest.mark.skipif(bgpevpn.IMPLEMENTATION != "c", reason="C twin not loaded")


def reference_key(route) -> bytes:
    for cls in type(route).__mro__:
        if "_py_key" in cls.__dict__:
            return cls.__dict__["_py_key"].fget(route)
    raise AssertionError(f"no reference key for {type(route).__name__}")


@given(S.evpn_routes, S.evpn_routes)
def test_key_hash_and_equality_match_the_python_definitions(a, b):
    assert a.key == reference_key(a)
    assert hash(a) == hash(reference_key(a))
    same = reference_key(a) == reference_key(b)
    assert (a == b) is same and (a != b) is (not same)
    d = {a: "a"}
    assert (b in d) is same        # the type slot, not the Python-level __hash__/__eq__
    assert a.__eq__(1) is NotImplemented and (a == 1) is False


def test_labels_and_esi_are_not_part_of_the_key():
    a = MacIpRoute.build("192.0.2.1:2", "02:00:00:00:00:01", None, (100,))
    b = MacIpRoute.build("192.0.2.1:2", "02:00:00:00:00:01", None, (200,), esi="00:11:22:33:44:55:66:77:88:99")
    c = MacIpRoute.build("192.0.2.1:2", "02:00:00:00:00:01", "10.0.0.1", (100,))
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert a != c and c not in {a: 1}
    assert isinstance(a, EvpnRoute)


@given(st.binary(min_size=0, max_size=3))
def test_short_raw_routes_hash_consistently(tail):
    r = bgpevpn.RawEvpnRoute(bytes([9, len(tail)]) + tail) if hasattr(bgpevpn, "RawEvpnRoute") \
        else None
    if r is not None:
        assert hash(r) == hash(reference_key(r))


def test_add_path_route_copies_and_pickles():
    """AddPathEvpnRoute made without __init__ (pickle, copy) no longer
    recurses in __getattr__ looking for its own unset slots."""
    import copy
    import pickle
    from bgpevpn.routes import AddPathEvpnRoute, MacIpRoute
    r = AddPathEvpnRoute(7, MacIpRoute.build("192.0.2.1:7", "02:00:00:00:00:01", labels=(100,)))
    for back in (pickle.loads(pickle.dumps(r)), copy.copy(r), copy.deepcopy(r)):
        assert back == r and back.path_id == 7 and back.mac == r.mac
    with pytest.raises(AttributeError):
        AddPathEvpnRoute.__new__(AddPathEvpnRoute).route


def test_route_made_from_already_hashed_bytes_hashes_by_its_key():
    """bytes.__new__(cls, data) copies data's cached hash into the new
    object: the C hash must not take that for the route's own."""
    mac = MacIpRoute.build("192.0.2.1:7", "02:00:00:00:00:01", ip="10.0.0.1", labels=(100,))
    data = bytes(mac)
    hash(data)                                   # caches the octets' hash in data
    r = MacIpRoute(data)
    other = MacIpRoute.build("192.0.2.1:7", "02:00:00:00:00:01", ip="10.0.0.1", labels=(200,))
    assert r == mac == other and hash(r) == hash(mac) == hash(other) == hash(mac.key)
    assert r in {mac} and other in {r}


@pytest.mark.parametrize("n", [258, 261, 264, 265, 600, 70000])
def test_routes_longer_than_any_on_the_wire_key_and_hash(n):
    """A route built by hand may be longer than the 257 octets of a wire
    route: its key goes to the heap (this crashed the C key functions)."""
    from bgpevpn.routes import LeaveSynchRoute, RawEvpnRoute, SelectiveMulticastRoute
    for t, cls in ((2, MacIpRoute), (6, SelectiveMulticastRoute), (8, LeaveSynchRoute),
                   (9, RawEvpnRoute), (11, RawEvpnRoute)):
        r = cls(bytes([t, 0]) + bytes(range(256)) * (n // 256) + bytes(n % 256))
        twin = cls(bytes(r))
        assert r.key == reference_key(r) and hash(r) == hash(reference_key(r))
        assert r == twin and {r: 1}[twin] == 1 and r.__eq__(twin) is True
        for other in (cls(bytes(r)[:-10] + b"\x01" * 10), cls(bytes(r)[:12] + b"\x01" + bytes(r)[13:])):
            assert (r == other) is (reference_key(r) == reference_key(other))


def _key_classes():
    from bgpevpn import routes
    classes = [c for c in vars(routes).values()
               if isinstance(c, type) and issubclass(c, EvpnRoute)]
    mine = type("Mine", (MacIpRoute,), {"__slots__": ()})      # a user's subclass
    return classes + [mine]


def _outcome(f):
    try:
        return ("value", f())
    except Exception as exc:                     # noqa: BLE001 - the outcome is compared
        return ("raises", type(exc))


@given(st.sampled_from(_key_classes()), st.binary(max_size=70),
       st.one_of(st.none(), st.binary(max_size=70)), st.integers(0, 69))
def test_any_octets_in_any_class_key_as_the_python_definitions(cls, a, b, at):
    """A route made by hand from any octets, valid layout or not, keys,
    hashes and compares as the class's Python key property slices it
    (IndexError included)."""
    if b is None:            # often equal keys: one octet changed, maybe outside the key
        b = a[:at] + bytes([(a[at] + 1) & 255]) + a[at + 1:] if at < len(a) else a
    ra, rb = cls(a), cls(b)
    assert _outcome(lambda: ra.key) == _outcome(lambda: reference_key(ra))
    assert _outcome(lambda: hash(ra)) == _outcome(lambda: hash(reference_key(ra)))
    assert _outcome(lambda: ra == rb) == _outcome(lambda: reference_key(ra) == reference_key(rb))
    assert _outcome(lambda: ra != rb) == _outcome(lambda: reference_key(ra) != reference_key(rb))
