"""bgpevpn: a BGP and EVPN library (RFC 4271, 4760, 7432, 8365).

The wire codec has two twins with identical results: a Cython one (fast)
and a pure-Python one (the reference); ``IMPLEMENTATION`` says which is in
use ("c" or "py"), ``BGPEVPN_NO_EXTENSIONS=1`` forces Python.
"""
from __future__ import annotations

from ._impl import IMPLEMENTATION
from .attributes import (Aggregator, Aigp, As4Aggregator, As4Path, AsPath, AsPathSegment,
                         AtomicAggregate, Attributes, ClusterList, Communities, ExtCommunities,
                         LargeCommunities, LocalPref, Med, MpReachNlri, MpUnreachNlri, NextHop,
                         Origin, OriginatorId, Otc, PathAttribute, PmsiTunnel, UnknownAttribute)
from .constants import (AttrType, Afi, CapabilityCode, ErrorAction, ErrorCode, EvpnRouteType,
                        MessageType, Safi, TunnelType)
from .context import Context
from .errors import (BGPError, MessageHeaderError, OpenMessageError, RouteRefreshMessageError,
                     UpdateMessageError, ValueParseError)
from .messages import (Capability, Keepalive, Message, Notification, Open, RouteRefresh,
                       UnknownMessage, Update)
from .routes import (AddPathEvpnRoute, EthernetAutoDiscoveryRoute, EthernetSegmentRoute,
                     EvpnRoute, InclusiveMulticastRoute, IpPrefixRoute, Ipv4Prefix,
                     Ipv4PrefixAddPath, Ipv6Prefix, Ipv6PrefixAddPath, LeaveSynchRoute,
                     MacIpRoute, MembershipReportSynchRoute, RawEvpnRoute, RawNlri, Route,
                     SelectiveMulticastRoute)
from .values import (Esi, ExtCommunity, Mac, RouteDistinguisher, auto_route_target, label_kind,
                     label_mpls, label_value, label_vni, parse_auto_route_target)
from .wire import (MessageReader, decode_columns, decode_message, decode_messages, encode_message, end_of_rib,
                   pack_updates, split_messages)

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_") and name not in (
    "annotations", "attributes", "constants", "context", "errors", "messages", "routes",
    "values", "wire")]
