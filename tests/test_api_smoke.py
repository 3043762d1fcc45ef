"""The top-level API promised by the README works end to end."""
import bgpevpn
from bgpevpn import (Context, ExtCommunities, ExtCommunity, LocalPref, MacIpRoute, Origin,
                     AsPath)


def test_implementation_is_named():
    assert bgpevpn.IMPLEMENTATION in ("c", "py")


def test_build_pack_decode_evpn_type2():
    ctx = Context(extended_message=True)
    routes = [MacIpRoute.build("203.0.113.1:2", f"50:54:33:00:00:{i:02x}", None, (100,))
              for i in range(3)]
    attrs = [Origin(0), AsPath([]), LocalPref(100),
             ExtCommunities([ExtCommunity("target:65000:100"), ExtCommunity.encapsulation(8)])]
    wire = bgpevpn.pack_updates(routes, attrs, "203.0.113.1", ctx)
    assert len(wire) == 1
    (msg,) = bgpevpn.decode_messages(wire[0], ctx)
    assert msg.type == "UPDATE"
    assert msg.announced == routes
    d = msg.to_dict()
    assert d["announced"][0]["mac"] == "50:54:33:00:00:00"
    assert d["announced"][0]["labels"] == [100]
    assert d["announced"][0]["next_hop"] == "203.0.113.1"
    assert d["attributes"]["extended_communities"] == ["target:65000:100", "encapsulation:vxlan"]
    assert msg.encode(ctx) == wire[0]
