"""Our side of an interop session, run inside a network namespace.

Started by ``tests/interop/helpers.py`` as
``ip netns exec <ns> <sys.executable> -u agent.py '<json config>'`` with the
same ``bgpevpn`` the tests import (its parent directory is put on
PYTHONPATH).  It runs one ``bgpevpn.aio.Speaker`` with one configured peer
and talks JSON lines:

* stdout: ``{"event": "<EventClass>", ...}`` for every session event, and
  ``{"reply": <id>, "ok": true|false, ...}`` for every command;
* stdin: ``{"id": <id>, "cmd": "announce"|"withdraw"|"eor"|"close"|"state"}``.

It exits when stdin closes (after stopping the speaker).
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys
import traceback

import bgpevpn
from bgpevpn import (
    AsPath,
    ExtCommunities,
    ExtCommunity,
    InclusiveMulticastRoute,
    LocalPref,
    MacIpRoute,
    Med,
    Origin,
    PmsiTunnel,
)
from bgpevpn.aio import Speaker
from bgpevpn.attributes import format_next_hop
from bgpevpn.session import GracefulRestartConfig
from bgpevpn.session import events as ev


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, default=_default, sort_keys=True) + "\n")
    sys.stdout.flush()


def _default(o):
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).hex()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def notification_dict(n) -> dict | None:
    if n is None:
        return None
    return {"code": n.code, "subcode": n.subcode, "data": n.data.hex(),
            "shutdown_message": n.shutdown_message}


def event_dict(event) -> dict:
    d = {"event": type(event).__name__}
    if isinstance(event, ev.StateChanged):
        d.update(old=event.old, new=event.new, cause=event.cause)
    elif isinstance(event, ev.OpenReceived):
        op = event.open
        d.update(asn=op.asn, hold_time=op.hold_time, bgp_id=op.bgp_id,
                 capabilities=[c.code for c in op.capabilities])
    elif isinstance(event, ev.SessionEstablished):
        n = event.negotiated
        d.update(hold_time=n.hold_time, families=sorted(list(f) for f in n.families),
                 four_octet_as=n.four_octet_as, extended_message=n.extended_message,
                 route_refresh=n.route_refresh, peer_as=n.peer_as, peer_id=n.peer_id,
                 peer_graceful_restart=None if n.peer_graceful_restart is None else {
                     "restart_time": n.peer_graceful_restart["restart_time"],
                     "restarting": n.peer_graceful_restart["restarting"],
                     "families": [[a, s, f] for (a, s), f in
                                  sorted(n.peer_graceful_restart["families"].items())]},
                 capabilities=[c.code for c in n.capabilities])
    elif isinstance(event, ev.UpdateReceived):
        nh = None
        if event.next_hop is not None:
            nh = event.next_hop if isinstance(event.next_hop, str) \
                else format_next_hop(bytes(event.next_hop))[0]
        d.update(announced=[r.to_dict() for r in event.announced],
                 withdrawn=[r.to_dict() for r in event.withdrawn],
                 attributes=event.attributes.to_dict(), next_hop=nh,
                 error=None if event.error is None else str(event.error),
                 discarded=list(event.discarded))
    elif isinstance(event, ev.EndOfRibReceived):
        d.update(family=list(event.family))
    elif isinstance(event, ev.RouteRefreshReceived):
        d.update(family=list(event.family), subtype=event.subtype)
    elif isinstance(event, ev.FamilyDisabled):
        d.update(family=list(event.family), error=str(event.error))
    elif isinstance(event, (ev.NotificationReceived, ev.NotificationSent)):
        d.update(notification_dict(event.notification))
    elif isinstance(event, ev.SessionDown):
        d.update(reason=event.reason, notification=notification_dict(event.notification),
                 was_established=event.was_established)
    elif isinstance(event, ev.PeerRestarting):
        d.update(families=[list(f) for f in event.families], restart_time=event.restart_time)
    elif isinstance(event, ev.StaleRoutesFlushed):
        d.update(family=list(event.family), reason=event.reason)
    return d


def build_route(spec: dict):
    t = spec["type"]
    if t == 2:
        return MacIpRoute.build(spec["rd"], spec["mac"], spec.get("ip"),
                                tuple(spec.get("labels", (0,))), spec.get("esi"),
                                spec.get("ethernet_tag", 0))
    if t == 3:
        return InclusiveMulticastRoute.build(spec["rd"], spec["originator_ip"],
                                             spec.get("ethernet_tag", 0))
    raise ValueError(f"route type {t} not supported by the agent")


def build_attrs(spec: dict) -> list:
    attrs = [Origin(spec.get("origin", 0)),
             AsPath([(t, tuple(a)) for t, a in spec.get("as_path", [])])]
    if spec.get("med") is not None:
        attrs.append(Med(spec["med"]))
    if spec.get("local_pref") is not None:
        attrs.append(LocalPref(spec["local_pref"]))
    if spec.get("ext_communities"):
        attrs.append(ExtCommunities([ExtCommunity(c) for c in spec["ext_communities"]]))
    p = spec.get("pmsi")
    if p is not None:
        import ipaddress
        attrs.append(PmsiTunnel((p.get("flags", 0), p["type"], p["label"],
                                 ipaddress.ip_address(p["endpoint"]).packed)))
    return attrs


async def main(cfg: dict) -> None:
    logging.basicConfig(level=logging.DEBUG if cfg.get("debug") else logging.INFO,
                        stream=sys.stderr,
                        format="%(asctime)s.%(msecs)03d %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    loop = asyncio.get_running_loop()
    session = {}
    for key in ("hold_time", "connect_retry_time", "hostname"):
        if cfg.get(key) is not None:
            session[key] = cfg[key]
    gr = cfg.get("graceful_restart")
    if gr is not None:
        session["graceful_restart"] = GracefulRestartConfig(
            restart_time=gr.get("restart_time", 120),
            preserved=tuple(tuple(f) for f in gr.get("preserved", [])),
            stale_time=gr.get("stale_time", 360))
    speaker = Speaker(cfg["local_as"], cfg["router_id"], listen=tuple(cfg.get("listen", ())),
                      port=cfg.get("port", 179))
    peer = speaker.add_peer(cfg["peer"], peer_as=cfg.get("peer_as"),
                            mode=cfg.get("mode", "both"),
                            on_event=lambda p, e: emit(event_dict(e)), **session)
    await speaker.start()
    emit({"event": "AgentReady", "bgpevpn": bgpevpn.__file__,
          "implementation": bgpevpn.IMPLEMENTATION})

    async def handle(req: dict):
        cmd = req["cmd"]
        if cmd == "announce":
            routes = [build_route(r) for r in req["routes"]]
            attrs = build_attrs(req.get("attrs", {}))
            n = await peer.send_routes(routes, attrs, req["next_hop"])
            return {"messages": n}
        if cmd == "withdraw":
            n = await peer.send_withdraw([build_route(r) for r in req["routes"]])
            return {"messages": n}
        if cmd == "eor":
            fams = req.get("families")
            await peer.send_end_of_rib([tuple(f) for f in fams] if fams else None)
            return {}
        if cmd == "close":
            await asyncio.wait_for(speaker.close(req.get("message", "")), 15)
            return {}
        if cmd == "state":
            return {"state": peer.state.value}
        raise ValueError(f"unknown command {cmd!r}")

    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        try:
            result = await handle(req)
            emit({"reply": req.get("id"), "ok": True, **(result or {})})
        except Exception as e:   # report, keep running
            emit({"reply": req.get("id"), "ok": False, "error": f"{type(e).__name__}: {e}",
                  "traceback": traceback.format_exc()})
    try:
        await asyncio.wait_for(speaker.close("interop test finished"), 10)
    except Exception:
        pass


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
