"""Route objects without the GC header, from their own allocator
(bgpevpn/_routemem_c.pyx, bgpevpn/_slab.h): what a user can observe of them
stays the same, only their size, tracking and memory change."""
import gc
import glob
import importlib
import os
import pickle
import subprocess
import sys
import weakref

import pytest

import bgpevpn
from bgpevpn import routes
from bgpevpn.context import Context

GC_FLAG = 1 << 14
ROUTE_CLASSES = [c for c in vars(routes).values()
                 if isinstance(c, type) and issubclass(c, routes.Route)]


def _built():
    here = os.path.dirname(routes.__file__)
    return glob.glob(os.path.join(here, "_routemem_c*.so")) + glob.glob(os.path.join(here, "_routemem_c*.pyd"))


@pytest.fixture(scope="module")
def routemem():
    if os.environ.get("BGPEVPN_NO_EXTENSIONS"):
        pytest.skip("BGPEVPN_NO_EXTENSIONS: pure Python on purpose")
    try:
        return importlib.import_module("bgpevpn._routemem_c")
    except ImportError as exc:
        if _built():
            pytest.fail(f"bgpevpn._routemem_c was built but does not import: {exc!r}")
        pytest.skip("bgpevpn._routemem_c was never built")


def _samples():
    ctx = Context(extended_message=True)
    mac = routes.MacIpRoute.build("192.0.2.1:7", "02:00:00:00:00:01", ip="10.0.0.1", labels=(100,))
    imet = routes.InclusiveMulticastRoute.build("192.0.2.1:7", "192.0.2.1", ethernet_tag=100)
    pfx = routes.Ipv4Prefix.build("10.1.0.0/16")
    return ctx, [mac, imet, pfx]


def test_every_route_class_is_plain(routemem):
    assert len(ROUTE_CLASSES) >= 16
    for cls in ROUTE_CLASSES:
        assert not cls.__flags__ & GC_FLAG, cls


def test_plain_routes_behave_as_before(routemem, codec):
    ctx, (mac, imet, pfx) = _samples()
    for r in (mac, imet, pfx):
        assert sys.getsizeof(r) == sys.getsizeof(bytes(r)) and not gc.is_tracked(r)
        assert pickle.loads(pickle.dumps(r)) == r and type(pickle.loads(pickle.dumps(r))) is type(r)
        with pytest.raises(TypeError):
            weakref.ref(r)
    data = b"".join(codec.pack_updates([mac, imet], [bgpevpn.attributes.Origin(0),
                                                    bgpevpn.attributes.AsPath([])],
                                       "192.0.2.1", ctx))
    got = [r for m in codec.decode_messages(data, ctx) for r in m.attributes.mp_reach.routes]
    assert got == [mac, imet] and [type(r) for r in got] == [type(mac), type(imet)]
    assert all(sys.getsizeof(r) == sys.getsizeof(bytes(r)) for r in got)
    assert {mac: 1}[got[0]] == 1 and hash(got[0]) == hash(mac)


def test_user_subclasses_and_mass_freeing(routemem):
    class Tagged(routes.MacIpRoute):
        pass
    ctx, (mac, _, _) = _samples()
    t = Tagged(bytes(mac))
    assert t == mac and t.mac == mac.mac and gc.is_tracked(t)       # an ordinary class
    many = [routes.MacIpRoute(bytes(mac)) for _ in range(200000)]
    many += [Tagged(bytes(mac)) for _ in range(1000)]
    del many
    gc.collect()


def test_plain_instances_refuses_other_layouts(routemem):
    class WithDict(bytes):
        pass

    class WithSlot:
        __slots__ = ("x",)

    class OfGcBase(list):
        __slots__ = ()
    for cls in (WithDict, WithSlot, OfGcBase, bytes, int):
        assert routemem.plain_instances(cls) is False
        assert cls is int or cls is bytes or cls.__flags__ & GC_FLAG


def _run(code, expect=("ok",), drop=(), **env):
    """Run ``code`` in a fresh interpreter with ``env`` added to the
    environment and the variables in ``drop`` removed; its output (one of
    ``expect``) when it exits 0."""
    env = dict(os.environ, **env)
    for name in drop:
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(routes.__file__)))
    assert out.returncode == 0 and out.stdout.strip() in expect, out.stdout + out.stderr
    return out.stdout.strip()


def test_pure_python_build_keeps_the_header():
    """BGPEVPN_NO_EXTENSIONS=1: no extension at all, the classes as Python makes them."""
    code = ("import sys, gc; from bgpevpn import routes; "
            "assert 'bgpevpn._routemem_c' not in sys.modules; "
            "assert routes.MacIpRoute.__flags__ & (1 << 14); print('ok')")
    # BGPEVPN_REQUIRE_EXTENSIONS: set by the wheel tests and tools/asan.sh
    _run(code, drop=("BGPEVPN_REQUIRE_EXTENSIONS",), BGPEVPN_NO_EXTENSIONS="1")


# --- the route slab (bgpevpn/_slab.h) ------------------------------------------------

@pytest.fixture()
def slab(routemem):
    if not routemem.slab_stats()["built"]:
        pytest.skip("this build has no route slab (not 64-bit Linux, or AddressSanitizer)")
    return routemem


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_every_route_class_allocates_from_the_slab(slab, codec):
    ctx, samples = _samples()
    before = slab.slab_stats()["blocks"]
    made = [cls(b"\x02\x00") for cls in ROUTE_CLASSES]          # tp_new of each class
    made += [pickle.loads(pickle.dumps(r)) for r in samples]    # the Python twin's way
    attrs = [bgpevpn.attributes.Origin(0), bgpevpn.attributes.AsPath([])]
    data = b"".join(codec.pack_updates(samples[:2], attrs, "192.0.2.1", ctx))
    made += [r for m in codec.decode_messages(data, ctx) for r in m.attributes.mp_reach.routes]
    assert slab.slab_stats()["blocks"] - before == len(made) == len(ROUTE_CLASSES) + 5
    del made
    assert slab.slab_stats()["blocks"] == before


def test_slab_blocks_hold_their_contents_through_mixed_lifetimes(slab):
    """Objects of every size class and beyond (pymalloc serves those) made
    and freed in random order: each keeps its octets, the counts agree,
    and when all are gone every page is back."""
    import random
    rnd = random.Random(7)
    base = slab.slab_stats()
    max_len = slab.slab_stats()["max_block"] - sys.getsizeof(b"")   # largest slab object
    alive = {}
    for i in range(200_000):
        if alive and rnd.random() < 0.45:
            k = rnd.choice(list(alive)) if len(alive) < 64 else rnd.randrange(i)
            r = alive.pop(k, None)
            if r is not None:
                assert bytes(r) == bytes([k & 255]) * len(r)
            continue
        n = rnd.choice((rnd.randrange(0, 60), rnd.randrange(0, max_len + 1),
                        rnd.randrange(max_len - 8, max_len + 300)))
        alive[i] = routes.Route(bytes([i & 255]) * n)
        if i % 50_000 == 0:
            slab.slab_check()
    slab.slab_check()
    st = slab.slab_stats()
    in_slab = [r for r in alive.values() if len(r) <= max_len]
    assert st["blocks"] - base["blocks"] == len(in_slab)
    assert st["block_bytes"] - base["block_bytes"] == sum(
        (sys.getsizeof(r) + 7) // 8 * 8 for r in in_slab)   # 8-octet steps, no sentinel
    for k, r in alive.items():
        assert bytes(r) == bytes([k & 255]) * len(r)
    del alive, in_slab, r
    slab.slab_check()
    st = slab.slab_stats()
    assert (st["blocks"], st["pages"], st["block_bytes"]) == (
        base["blocks"], base["pages"], base["block_bytes"])


def test_slab_gives_memory_back(slab):
    """A million routes freed: their chunks go back to the kernel but one."""
    gc.collect()
    mac = routes.MacIpRoute.build("192.0.2.1:7", "02:00:00:00:00:01", ip="10.0.0.1",
                                  labels=(100,))
    raw = bytes(mac)
    start = slab.slab_stats()
    many = [routes.MacIpRoute(raw) for _ in range(1_000_000)]
    full = _rss()
    st = slab.slab_stats()
    assert st["block_bytes"] - start["block_bytes"] == 72 * 1_000_000    # 33 + 39 octets
    assert st["chunks"] - start["chunks"] <= 72 * 1_000_000 // (2 << 20) + 2
    del many
    st = slab.slab_stats()
    assert st["chunks"] <= start["chunks"] + 1 and st["released_chunks"] >= 30
    if not os.environ.get("PYTHONMALLOC"):
        assert full - _rss() > 60_000_000            # of 72 MB of routes, 8 MB of list


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_slab_after_fork(slab):
    """A child frees its parent's routes and makes new ones in the same slab."""
    many = [routes.MacIpRoute(b"\x02" + bytes(range(38))) for _ in range(50_000)]
    pid = os.fork()
    if pid == 0:                                  # pragma: no cover - child
        ok = all(bytes(r) == bytes(many[0]) for r in many)
        del many[::2]
        more = [routes.Route(bytes(n)) for n in range(400) for _ in range(50)]
        ok = ok and all(len(r) == n for r, n in zip(more[::50], range(400)))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert all(bytes(r) == bytes(many[0]) for r in many)


def test_class_assignment_between_allocators_is_refused(slab):
    """A user subclass allocates with pymalloc: CPython refuses to switch an
    object to a class whose deallocator differs, so a block is always freed
    by the allocator that made it."""
    class Tagged(routes.MacIpRoute):
        __slots__ = ()
    ctx, (mac, imet, _) = _samples()
    r = routes.MacIpRoute(bytes(mac))
    t = Tagged(bytes(mac))
    with pytest.raises(TypeError):
        r.__class__ = Tagged
    with pytest.raises(TypeError):
        t.__class__ = routes.MacIpRoute
    r.__class__ = routes.RawEvpnRoute             # slab class to slab class: allowed
    assert type(r) is routes.RawEvpnRoute and bytes(r) == bytes(mac)
    del r, t


def test_slab_instances_refuses_other_layouts(routemem):
    class Plain(bytes):
        __slots__ = ()
    for cls in (Plain, bytes, int, list):          # Plain still has its GC flag
        assert routemem.slab_instances(cls) is False


def test_no_slab_switch_keeps_pymalloc(routemem):
    """BGPEVPN_NO_SLAB=1: routes stay plain but come from pymalloc, where
    tracemalloc sees them."""
    code = ("import tracemalloc, sys; tracemalloc.start(); from bgpevpn import routes, _routemem_c; "
            "rs = [routes.Route(bytes(40)) for _ in range(1000)]; "
            "assert not routes.Route.__flags__ & (1 << 14); "
            "assert _routemem_c.slab_stats()['blocks'] == 0; "
            "assert tracemalloc.get_traced_memory()[0] > 70000; print('ok')")
    _run(code, BGPEVPN_NO_SLAB="1")


def test_slab_keeps_chunks_it_cannot_give_back(slab):
    """Under mlockall MADV_DONTNEED is refused: the emptied chunks stay
    (their memory is not zero, so nothing may be handed out as zeroed)."""
    code = """if True:
        import ctypes, sys
        from bgpevpn import routes, _routemem_c as m
        if ctypes.CDLL(None, use_errno=True).mlockall(3) != 0:
            print("skip"); sys.exit(0)
        rs = [routes.Route(bytes([7]) * 39) for _ in range(100_000)]   # ~4 chunks
        del rs
        st = m.slab_stats()
        assert st["released_chunks"] == 0 and st["chunks"] >= 3, st
        rs = [routes.Route(bytes(n % 300)) for n in range(100_000)]
        m.slab_check()
        assert all(bytes(r) == bytes(n % 300) for n, r in enumerate(rs))
        print("ok")
    """
    if _run(code, expect=("ok", "skip")) == "skip":
        pytest.skip("mlockall refused here")


def test_slab_reservation_follows_the_address_space_limit(slab):
    """Under RLIMIT_AS the reservation takes a quarter of the limit, and the
    rest of the process can still use the remainder."""
    code = """if True:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
        from bgpevpn import routes, _routemem_c as m
        r = routes.Route(b"x")
        assert 0 < m.slab_stats()["reserved"] <= 2 << 30, m.slab_stats()
        big = bytearray(4 << 30)
        del big
        print("ok")
    """
    _run(code)
