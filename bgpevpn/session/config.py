"""Configuration of one BGP session (what the local speaker offers)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..constants import CapabilityCode
from ..messages import Capability, Open


@dataclass(frozen=True)
class GracefulRestartConfig:
    """RFC 4724 §3: ``restart_time`` we ask peers to wait for us;
    ``restarting`` sets the R bit (we are coming back from a restart);
    ``preserved`` families whose forwarding we kept (F bit)."""
    restart_time: int = 120
    restarting: bool = False
    preserved: tuple = ()
    stale_time: int = 360  # how long we keep a restarting peer's routes at most


@dataclass(frozen=True)
class SessionConfig:
    """One peer's settings.

    ``peer_as`` None accepts any AS (dynamic neighbours); ``families`` are
    (afi, safi) pairs offered with the multiprotocol capability (RFC 4760);
    ``add_path`` maps a family to 1 receive / 2 send / 3 both (RFC 7911);
    ``required_capabilities`` are capability codes the peer must offer, or
    the session is refused with 2/7 (RFC 5492 §5).
    """
    local_as: int
    router_id: str
    peer_as: Optional[int] = None
    hold_time: int = 90
    connect_retry_time: float = 30.0
    open_hold_time: float = 240.0     # RFC 4271 §8.2.2: a large hold time before the OPEN arrives
    families: tuple = ((25, 70),)
    passive: bool = False
    four_octet_as: bool = True
    route_refresh: bool = True
    enhanced_route_refresh: bool = True
    extended_message: bool = True
    add_path: tuple = ()              # ((afi, safi, mode), ...)
    graceful_restart: Optional[GracefulRestartConfig] = None
    hostname: Optional[str] = None
    domain: str = ""
    required_capabilities: tuple = ()
    extra_capabilities: tuple = ()
    description: str = ""

    def __post_init__(self):
        if self.hold_time != 0 and self.hold_time < 3:
            raise ValueError("hold time is 0 or at least 3 seconds (RFC 4271 §4.2)")

    def capabilities(self) -> list:
        """The capabilities our OPEN carries, in the order FRR sends them."""
        caps = [Capability.multiprotocol(a, s) for a, s in self.families]
        if self.route_refresh:
            caps += [Capability(CapabilityCode.ROUTE_REFRESH_CISCO), Capability.route_refresh()]
        if self.enhanced_route_refresh:
            caps.append(Capability.enhanced_route_refresh())
        if self.four_octet_as:
            caps.append(Capability.four_octet_as(self.local_as))
        if self.extended_message:
            caps.append(Capability.extended_message())
        if self.add_path:
            caps.append(Capability.add_path(self.add_path))
        if self.hostname:
            caps.append(Capability.fqdn(self.hostname, self.domain))
        gr = self.graceful_restart
        if gr is not None:
            fams = [(a, s, 0x80 if (a, s) in gr.preserved else 0) for a, s in self.families]
            caps.append(Capability.graceful_restart(gr.restart_time, fams,
                                                    0x8 if gr.restarting else 0))
        caps += list(self.extra_capabilities)
        return caps

    def open_message(self) -> Open:
        if not self.four_octet_as and self.local_as > 0xFFFF:
            raise ValueError("a 4-octet AS needs the four-octet-as capability")
        return Open.build(self.local_as, self.hold_time, self.router_id, self.capabilities()) \
            if self.four_octet_as else Open(self.local_as, self.hold_time, self.router_id,
                                            self.capabilities())


