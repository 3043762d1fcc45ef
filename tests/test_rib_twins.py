"""The RIB's update loops: the C twin (bgpevpn.rib._update_c) against the
Python twin (bgpevpn.rib._update_py), differentially.

Two Ribs, one on each twin, are given the same random sequences of
announcements, withdrawals, graceful-restart and session-down operations
from several sources (overlapping routes, duplicates inside a batch, routes
that are equal as RIB keys but different objects, withdrawals of unknown
routes, attribute sets that make the decision process choose); every
returned change list and the tables after every step must be the same,
object for object.
"""
import gc
import random

import pytest

from bgpevpn import (AsPath, Attributes, ExtCommunities, ExtCommunity, Ipv4Prefix, LocalPref,
                     MacIpRoute, Med, Origin)
from bgpevpn.rib import BestPathChanged, Path, Rib, Source, _update_py, route_target_filter
from bgpevpn.rib import rib as rib_module

c_twin = pytest.importorskip("bgpevpn.rib._update_c", reason="the C twin is not built")

EVPN = (25, 70)
V4 = (1, 1)
SOURCES = [Source("a", "192.0.2.1", "192.0.2.1", 65000, client=True),
           Source("b", "192.0.2.2", "192.0.2.2", 65000, client=True),
           Source("c", "192.0.2.3", "192.0.2.3", 65000),
           Source("e", "198.51.100.1", "198.51.100.1", 65001, ebgp=True)]
ATTRS = [Attributes([Origin(0), AsPath([]), LocalPref(100)]),
         Attributes([Origin(0), AsPath([]), LocalPref(200)]),
         Attributes([Origin(0), AsPath([(2, (65010, 65011))]), LocalPref(100), Med(5)]),
         Attributes([Origin(1), AsPath([(2, (65010,))]), LocalPref(100), Med(1)]),
         Attributes([Origin(0), AsPath([]), LocalPref(100),
                     ExtCommunities([ExtCommunity.mac_mobility(3),
                                     ExtCommunity("target:65000:100")])]),
         Attributes([Origin(0), AsPath([]), LocalPref(100),
                     ExtCommunities([ExtCommunity.mac_mobility(0, True)])])]
NEXT_HOPS = [b"\xc0\x00\x02\x01", b"\xc0\x00\x02\x02"]


class PyRib(Rib):
    _loops = _update_py


class CRib(Rib):
    _loops = c_twin


def evpn_routes(n=40):
    # labels differ between copies: equal RIB keys (RFC 7432 §7.2), other objects
    return [MacIpRoute.build("192.0.2.1:2", f"50:54:33:00:00:{i:02x}", None, (100 + k,))
            for k in range(2) for i in range(n)]


def v4_routes(n=20):
    return [Ipv4Prefix.build(f"10.{i >> 8}.{i & 255}.0/24") for i in range(n)]


def path_form(p):
    if p is None:
        return None
    assert type(p) in (_update_py.Path, c_twin.Path)
    return (id(p.route), id(p.attrs), p.source, p.next_hop)


def change_form(c):
    assert type(c) in (_update_py.BestPathChanged, c_twin.BestPathChanged)
    return (c.family, id(c.route), c.kind, path_form(c.old), path_form(c.new))


def table_form(rib):
    adj = {(s.name, fam): {id(r): path_form(p) for r, p in routes.items()}
           for s, fams in rib.adj_in.items() for fam, routes in fams.items()}
    loc = {fam: {id(r): path_form(p) for r, p in t.items()} for fam, t in rib.loc.items()}
    cands = {fam: {id(r): [path_form(p) for p in lst] for r, lst in t.items()}
             for fam, t in rib._cands.items()}
    stale = {(s.name, fam): sorted(id(r) for r in st) for (s, fam), st in rib._stale.items()}
    return adj, loc, cands, stale


def random_ops(rng, steps):
    pools = {EVPN: evpn_routes(), V4: v4_routes()}
    for _ in range(steps):
        fam = rng.choice((EVPN, EVPN, V4))
        pool = pools[fam]
        src = rng.choice(SOURCES)
        op = rng.random()
        if op < 0.04:
            yield ("mark_stale", src, fam)
        elif op < 0.08:
            yield ("flush_stale", src, fam)
        elif op < 0.10:
            yield ("drop_source", src, rng.choice((fam, None)))
        else:
            ann = [rng.choice(pool) for _ in range(rng.randrange(0, 30))]
            wd = [rng.choice(pool) for _ in range(rng.randrange(0, 12))] if op < 0.5 else []
            yield ("update", src, fam, ann, wd, rng.choice(ATTRS), rng.choice(NEXT_HOPS))


def twin_of(rib):
    """Which twin's Path every path of the Rib is (None when it holds none)."""
    kinds = {type(p) for fams in rib.adj_in.values() for t in fams.values() for p in t.values()}
    assert len(kinds) <= 1
    return kinds.pop() if kinds else None


def run_both(ops, **kw):
    ribs = (PyRib(**kw), CRib(**kw))
    for op in ops:
        outs = [getattr(r, op[0])(*op[1:]) for r in ribs]
        if isinstance(outs[0], list):
            assert [change_form(c) for c in outs[0]] == [change_form(c) for c in outs[1]], op
            assert twin_of(ribs[0]) in (None, _update_py.Path)
            assert twin_of(ribs[1]) in (None, c_twin.Path)
            assert all(type(c) is _update_py.BestPathChanged for c in outs[0])
            assert all(type(c) is c_twin.BestPathChanged for c in outs[1])
        else:
            assert outs[0] == outs[1]
        assert table_form(ribs[0]) == table_form(ribs[1]), op
    return ribs


@pytest.mark.parametrize("seed", range(12))
def test_random_sequences_same_changes_and_tables(seed):
    ribs = run_both(list(random_ops(random.Random(seed), 300)))
    assert ribs[1].count() == ribs[0].count()


@pytest.mark.parametrize("seed", range(4))
def test_random_sequences_with_an_import_policy(seed):
    # announcements go through the policy loop, withdrawals through the twins
    run_both(list(random_ops(random.Random(100 + seed), 200)),
             import_policy=route_target_filter(["target:65000:100"]))


def test_bulk_load_and_withdraw_of_one_source():
    """The benchmark's case: batches over the GC-pause threshold, new keys,
    then every route withdrawn."""
    src = SOURCES[0]
    routes = [MacIpRoute.build("192.0.2.1:2", f"50:54:{i >> 16:02x}:{(i >> 8) & 255:02x}:"
                               f"{i & 255:02x}:01", None, (100,)) for i in range(3000)]
    ops = [("update", src, EVPN, routes[i:i + 600], (), ATTRS[i // 600 % 2], NEXT_HOPS[0])
           for i in range(0, 3000, 600)]
    ops += [("update", src, EVPN, (), routes[i:i + 700]) for i in range(0, 3000, 700)]
    _, c = run_both(ops)
    assert c.count(EVPN) == 0 and not c.adj_in[src][EVPN]


def test_c_twin_paths_and_changes_are_unseen_by_the_collector():
    rib = CRib()
    r = evpn_routes(3)[:3]   # three different keys
    ch = rib.update(SOURCES[0], EVPN, r, (), ATTRS[0], NEXT_HOPS[0])
    assert ch and all(not gc.is_tracked(c) for c in ch)
    assert all(not gc.is_tracked(p) for p in rib.best(EVPN).values())
    p = rib.best(EVPN)[r[0]]
    assert type(p) is c_twin.Path and not gc.is_tracked(c_twin.Path(1, 2, 3, 4))
    assert type(ch[0]) is c_twin.BestPathChanged
    assert ch[0] == _update_py.BestPathChanged(EVPN, r[0], "added", None, p)
    # equal to the Python twin's NamedTuple with the same fields
    assert p == _update_py.Path(r[0], rib.intern(ATTRS[0]), SOURCES[0], NEXT_HOPS[0])
    assert p.route is r[0] and p.source is SOURCES[0] and p._replace(next_hop=b"x")[3] == b"x"
    # the tables (route -> Path dicts) are left untracked too
    assert not gc.is_tracked(rib.loc[EVPN]) and not gc.is_tracked(rib.adj_in[SOURCES[0]][EVPN])
    wd = rib.update(SOURCES[0], EVPN, (), r)
    assert [c.kind for c in wd] == ["withdrawn"] * 3 and not gc.is_tracked(wd[0])
    assert not gc.is_tracked(rib.loc[EVPN])
    del p, ch, wd
    gc.collect()


def test_c_twin_frees_what_it_makes():
    """Untracked, the paths are still freed by reference counting."""
    import weakref

    class Route:   # a weak-referenceable route, its own RIB key
        pass
    routes = [Route() for _ in range(50)]
    refs = [weakref.ref(r) for r in routes]
    rib = CRib()
    rib.update(SOURCES[0], V4, routes, (), ATTRS[0], NEXT_HOPS[0])
    rib.update(SOURCES[1], V4, routes[:10], (), ATTRS[1], NEXT_HOPS[1])
    rib.drop_source(SOURCES[0])
    rib.drop_source(SOURCES[1])
    del routes
    assert all(ref() is None for ref in refs)


def test_c_path_behaves_as_the_namedtuple():
    import copy
    import pickle
    CP, NP = c_twin.Path, _update_py.Path
    src = SOURCES[1]
    c, n = CP(b"r", ATTRS[0], src, b"nh"), NP(b"r", ATTRS[0], src, b"nh")
    assert c == n and n == c and (c != n) is False and hash(c) == hash(n)
    assert c == tuple(n) and tuple(c) == tuple(n) and list(c) == list(n) and len(c) == 4
    assert c[0] == b"r" and c[-1] == b"nh" and c[1:3] == n[1:3]
    route, attrs, source, next_hop = c
    assert (route, attrs, source, next_hop) == (c.route, c.attrs, c.source, c.next_hop)
    assert repr(c) == repr(n) == "Path(b'r' from b)"
    assert CP._fields == NP._fields and c._asdict() == n._asdict()
    assert c._replace(next_hop=b"x") == n._replace(next_hop=b"x")
    assert type(c._replace(attrs=None)) is CP and CP._make(n) == c
    assert CP(route=1, attrs=2, source=3, next_hop=4) == (1, 2, 3, 4)
    assert c.index(src) == n.index(src) == 2 and c.count(b"r") == 1
    assert (CP(1, 2, 3, 4) < CP(1, 2, 3, 5)) == (NP(1, 2, 3, 4) < NP(1, 2, 3, 5))
    assert pickle.loads(pickle.dumps(CP(1, 2, "s", b"n"))) == (1, 2, "s", b"n")
    assert copy.copy(c) == c and copy.deepcopy(CP(1, 2, 3, b"n")) == (1, 2, 3, b"n")
    with pytest.raises(AttributeError):
        c.route = 1
    with pytest.raises(ValueError):
        c._replace(nope=1)
    with pytest.raises(TypeError):
        CP(1, 2, 3)
    assert CP.__match_args__ == NP.__match_args__   # positional patterns (3.10+)


def test_c_change_behaves_as_the_namedtuple():
    CC, NC = c_twin.BestPathChanged, _update_py.BestPathChanged
    p = c_twin.Path(b"r", ATTRS[0], SOURCES[0], b"nh")
    c, n = CC(EVPN, b"r", "changed", None, p), NC(EVPN, b"r", "changed", None, p)
    assert c == n and n == c and hash(c) == hash(n) and tuple(c) == tuple(n)
    family, route, kind, old, new = c
    assert (family, route, kind, old, new) == (c.family, c.route, c.kind, c.old, c.new)
    assert repr(c) == repr(n) and CC._fields == NC._fields and c._asdict() == n._asdict()
    assert c._replace(kind="added") == n._replace(kind="added") and c[2] == "changed"
    assert not gc.is_tracked(c)


def test_twin_in_use_follows_the_build():
    assert Path is rib_module.update_loops.Path
    assert BestPathChanged is rib_module.update_loops.BestPathChanged
    assert rib_module.update_loops.IMPLEMENTATION in ("c", "py")
    assert Rib._loops is rib_module.update_loops
    from bgpevpn import _impl
    if not _impl.NO_EXTENSIONS:
        assert rib_module.update_loops is c_twin


@pytest.mark.parametrize("rib_class", [PyRib, CRib])
def test_bulk_update_pauses_the_collector_and_restores_it(rib_class):
    seen = []

    class Spy(list):
        def __len__(self):   # read by Rib.update before the batch runs
            return list.__len__(self)

        def __iter__(self):
            seen.append(gc.isenabled())
            return list.__iter__(self)

    rib = rib_class()
    big = Spy(v4_routes(600))
    rib.update(SOURCES[0], V4, big, (), ATTRS[0], NEXT_HOPS[0])
    assert seen == [False] and gc.isenabled()
    rib.update(SOURCES[0], V4, Spy(v4_routes(3)), (), ATTRS[0], NEXT_HOPS[0])
    assert seen == [False, True] and gc.isenabled()
    with pytest.raises(TypeError):   # an unhashable route: the collector is still restored
        rib.update(SOURCES[0], V4, [[]] * 600, (), ATTRS[0], NEXT_HOPS[0])
    assert gc.isenabled()
    gc.disable()
    try:   # a collector the caller disabled stays disabled
        rib.update(SOURCES[0], V4, (), v4_routes(600))
        assert not gc.isenabled()
    finally:
        gc.enable()
