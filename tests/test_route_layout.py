"""Route objects without the GC header (bgpevpn/_nogc_c.pyx): what a user
can observe of them stays the same, only their size and tracking change."""
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
    return glob.glob(os.path.join(here, "_nogc_c*.so")) + glob.glob(os.path.join(here, "_nogc_c*.pyd"))


@pytest.fixture(scope="module")
def nogc():
    if os.environ.get("BGPEVPN_NO_EXTENSIONS"):
        pytest.skip("BGPEVPN_NO_EXTENSIONS: pure Python on purpose")
    try:
        return importlib.import_module("bgpevpn._nogc_c")
    except ImportError as exc:
        if _built():
            pytest.fail(f"bgpevpn._nogc_c was built but does not import: {exc!r}")
        pytest.skip("bgpevpn._nogc_c was never built")


def _samples():
    ctx = Context(extended_message=True)
    mac = routes.MacIpRoute.build("192.0.2.1:7", "02:00:00:00:00:01", ip="10.0.0.1", labels=(100,))
    imet = routes.InclusiveMulticastRoute.build("192.0.2.1:7", "192.0.2.1", ethernet_tag=100)
    pfx = routes.Ipv4Prefix.build("10.1.0.0/16")
    return ctx, [mac, imet, pfx]


def test_every_route_class_is_plain(nogc):
    assert len(ROUTE_CLASSES) >= 16
    for cls in ROUTE_CLASSES:
        assert not cls.__flags__ & GC_FLAG, cls


def test_plain_routes_behave_as_before(nogc, codec):
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


def test_user_subclasses_and_mass_freeing(nogc):
    class Tagged(routes.MacIpRoute):
        pass
    ctx, (mac, _, _) = _samples()
    t = Tagged(bytes(mac))
    assert t == mac and t.mac == mac.mac and gc.is_tracked(t)       # an ordinary class
    many = [routes.MacIpRoute(bytes(mac)) for _ in range(200000)]
    many += [Tagged(bytes(mac)) for _ in range(1000)]
    del many
    gc.collect()


def test_plain_instances_refuses_other_layouts(nogc):
    class WithDict(bytes):
        pass

    class WithSlot:
        __slots__ = ("x",)

    class OfGcBase(list):
        __slots__ = ()
    for cls in (WithDict, WithSlot, OfGcBase, bytes, int):
        assert nogc.plain_instances(cls) is False
        assert cls is int or cls is bytes or cls.__flags__ & GC_FLAG


def test_pure_python_build_keeps_the_header():
    """BGPEVPN_NO_EXTENSIONS=1: no extension at all, the classes as Python makes them."""
    code = ("import sys, gc; from bgpevpn import routes; "
            "assert 'bgpevpn._nogc_c' not in sys.modules; "
            "assert routes.MacIpRoute.__flags__ & (1 << 14); print('ok')")
    env = dict(os.environ, BGPEVPN_NO_EXTENSIONS="1")
    env.pop("BGPEVPN_REQUIRE_EXTENSIONS", None)     # set by the wheel tests and tools/asan.sh
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(routes.__file__)))
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
