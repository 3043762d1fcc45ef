"""Protocol numbers with their RFC names: the one place each fact lives.

Every codec, renderer and test takes its numbers from here.  Names follow the
IANA registries (lower-case, hyphenated in JSON via ``json_name``).
"""
from __future__ import annotations

from enum import IntEnum

#: RFC 4271 §4.1: 16 octets of all ones.
MARKER = b"\xff" * 16
HEADER_LEN = 19
#: RFC 4271 §4.1 maximum, and RFC 8654 §3 once extended message is negotiated.
MAX_MESSAGE_LEN = 4096
MAX_EXTENDED_MESSAGE_LEN = 65535
BGP_VERSION = 4
#: RFC 6793 §9: the 2-octet stand-in for a 4-octet AS.
AS_TRANS = 23456


class MessageType(IntEnum):
    """RFC 4271 §4.1, RFC 2918 §3."""
    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


#: JSON/type names of the messages (RFC spelling with a hyphen).
MESSAGE_TYPE_NAMES = {
    MessageType.OPEN: "OPEN",
    MessageType.UPDATE: "UPDATE",
    MessageType.NOTIFICATION: "NOTIFICATION",
    MessageType.KEEPALIVE: "KEEPALIVE",
    MessageType.ROUTE_REFRESH: "ROUTE-REFRESH",
}


class Afi(IntEnum):
    """IANA Address Family Numbers used by BGP."""
    IPV4 = 1
    IPV6 = 2
    L2VPN = 25


class Safi(IntEnum):
    """IANA SAFI values."""
    UNICAST = 1
    MULTICAST = 2
    LABELED_UNICAST = 4
    EVPN = 70
    MPLS_VPN = 128
    RTC = 132
    FLOWSPEC = 133
    FLOWSPEC_VPN = 134


AFI_NAMES = {Afi.IPV4: "ipv4", Afi.IPV6: "ipv6", Afi.L2VPN: "l2vpn"}
SAFI_NAMES = {
    Safi.UNICAST: "unicast", Safi.MULTICAST: "multicast",
    Safi.LABELED_UNICAST: "labeled-unicast", Safi.EVPN: "evpn",
    Safi.MPLS_VPN: "mpls-vpn", Safi.RTC: "rtc", Safi.FLOWSPEC: "flowspec",
    Safi.FLOWSPEC_VPN: "flowspec-vpn",
}


class OptParamType(IntEnum):
    """RFC 5492 §4: optional parameter 2 carries capabilities; RFC 9072 uses 255."""
    CAPABILITIES = 2
    EXTENDED_LENGTH = 255


class CapabilityCode(IntEnum):
    """IANA Capability Codes."""
    MULTIPROTOCOL = 1          # RFC 4760
    ROUTE_REFRESH = 2          # RFC 2918
    EXTENDED_NEXTHOP = 5       # RFC 8950
    EXTENDED_MESSAGE = 6       # RFC 8654
    ROLE = 9                   # RFC 9234
    GRACEFUL_RESTART = 64      # RFC 4724
    FOUR_OCTET_AS = 65         # RFC 6793
    ADD_PATH = 69              # RFC 7911
    ENHANCED_ROUTE_REFRESH = 70  # RFC 7313
    LONG_LIVED_GRACEFUL_RESTART = 71  # RFC 9494
    FQDN = 73                  # draft-walton-bgp-hostname-capability
    ROUTE_REFRESH_CISCO = 128  # pre-standard route refresh


CAPABILITY_NAMES = {
    CapabilityCode.MULTIPROTOCOL: "multiprotocol",
    CapabilityCode.ROUTE_REFRESH: "route-refresh",
    CapabilityCode.EXTENDED_NEXTHOP: "extended-nexthop",
    CapabilityCode.EXTENDED_MESSAGE: "extended-message",
    CapabilityCode.ROLE: "role",
    CapabilityCode.GRACEFUL_RESTART: "graceful-restart",
    CapabilityCode.FOUR_OCTET_AS: "four-octet-as",
    CapabilityCode.ADD_PATH: "add-path",
    CapabilityCode.ENHANCED_ROUTE_REFRESH: "enhanced-route-refresh",
    CapabilityCode.LONG_LIVED_GRACEFUL_RESTART: "long-lived-graceful-restart",
    CapabilityCode.FQDN: "fqdn",
    CapabilityCode.ROUTE_REFRESH_CISCO: "route-refresh-cisco",
}

#: RFC 9234 §4.2 BGP Role values.
ROLE_NAMES = {0: "provider", 1: "rs", 2: "rs-client", 3: "customer", 4: "peer"}

#: RFC 7911 §4 Send/Receive field.
ADD_PATH_MODE_NAMES = {1: "receive", 2: "send", 3: "both"}


class AttrFlag(IntEnum):
    """RFC 4271 §4.3 attribute flags."""
    OPTIONAL = 0x80
    TRANSITIVE = 0x40
    PARTIAL = 0x20
    EXTENDED_LENGTH = 0x10


class AttrType(IntEnum):
    """IANA BGP Path Attributes."""
    ORIGIN = 1
    AS_PATH = 2
    NEXT_HOP = 3
    MULTI_EXIT_DISC = 4
    LOCAL_PREF = 5
    ATOMIC_AGGREGATE = 6
    AGGREGATOR = 7
    COMMUNITIES = 8            # RFC 1997
    ORIGINATOR_ID = 9          # RFC 4456
    CLUSTER_LIST = 10          # RFC 4456
    MP_REACH_NLRI = 14         # RFC 4760
    MP_UNREACH_NLRI = 15       # RFC 4760
    EXTENDED_COMMUNITIES = 16  # RFC 4360
    AS4_PATH = 17              # RFC 6793
    AS4_AGGREGATOR = 18        # RFC 6793
    PMSI_TUNNEL = 22           # RFC 6514
    AIGP = 26                  # RFC 7311
    LARGE_COMMUNITY = 32       # RFC 8092
    OTC = 35                   # RFC 9234


#: JSON keys of decoded attributes (docs/json-schema.md).
ATTR_NAMES = {
    AttrType.ORIGIN: "origin", AttrType.AS_PATH: "as_path",
    AttrType.NEXT_HOP: "next_hop", AttrType.MULTI_EXIT_DISC: "med",
    AttrType.LOCAL_PREF: "local_pref", AttrType.ATOMIC_AGGREGATE: "atomic_aggregate",
    AttrType.AGGREGATOR: "aggregator", AttrType.COMMUNITIES: "communities",
    AttrType.ORIGINATOR_ID: "originator_id", AttrType.CLUSTER_LIST: "cluster_list",
    AttrType.MP_REACH_NLRI: "mp_reach_nlri", AttrType.MP_UNREACH_NLRI: "mp_unreach_nlri",
    AttrType.EXTENDED_COMMUNITIES: "extended_communities",
    AttrType.AS4_PATH: "as4_path", AttrType.AS4_AGGREGATOR: "as4_aggregator",
    AttrType.PMSI_TUNNEL: "pmsi_tunnel", AttrType.AIGP: "aigp",
    AttrType.LARGE_COMMUNITY: "large_communities", AttrType.OTC: "otc",
}

#: Flags a well-behaved sender uses for each known attribute (RFC 4271 §5, each
#: attribute's RFC); the encoder's default and RFC 7606 §3(c)'s check.
ATTR_DEFAULT_FLAGS = {
    AttrType.ORIGIN: 0x40, AttrType.AS_PATH: 0x40, AttrType.NEXT_HOP: 0x40,
    AttrType.MULTI_EXIT_DISC: 0x80, AttrType.LOCAL_PREF: 0x40,
    AttrType.ATOMIC_AGGREGATE: 0x40, AttrType.AGGREGATOR: 0xC0,
    AttrType.COMMUNITIES: 0xC0, AttrType.ORIGINATOR_ID: 0x80,
    AttrType.CLUSTER_LIST: 0x80, AttrType.MP_REACH_NLRI: 0x80,
    AttrType.MP_UNREACH_NLRI: 0x80, AttrType.EXTENDED_COMMUNITIES: 0xC0,
    AttrType.AS4_PATH: 0xC0, AttrType.AS4_AGGREGATOR: 0xC0,
    AttrType.PMSI_TUNNEL: 0xC0, AttrType.AIGP: 0x80,
    AttrType.LARGE_COMMUNITY: 0xC0, AttrType.OTC: 0xC0,
}


class Origin(IntEnum):
    """RFC 4271 §4.3 ORIGIN values."""
    IGP = 0
    EGP = 1
    INCOMPLETE = 2


ORIGIN_NAMES = {Origin.IGP: "igp", Origin.EGP: "egp", Origin.INCOMPLETE: "incomplete"}


class AsPathSegmentType(IntEnum):
    """RFC 4271 §4.3, RFC 5065 §3 segment types."""
    AS_SET = 1
    AS_SEQUENCE = 2
    AS_CONFED_SEQUENCE = 3
    AS_CONFED_SET = 4


AS_PATH_SEGMENT_NAMES = {
    AsPathSegmentType.AS_SET: "as-set", AsPathSegmentType.AS_SEQUENCE: "as-sequence",
    AsPathSegmentType.AS_CONFED_SEQUENCE: "confed-sequence",
    AsPathSegmentType.AS_CONFED_SET: "confed-set",
}


class EvpnRouteType(IntEnum):
    """IANA EVPN Route Types (RFC 7432 §7, RFC 9136, RFC 9251, RFC 9572)."""
    ETHERNET_AUTO_DISCOVERY = 1
    MAC_IP_ADVERTISEMENT = 2
    INCLUSIVE_MULTICAST_ETHERNET_TAG = 3
    ETHERNET_SEGMENT = 4
    IP_PREFIX = 5
    SELECTIVE_MULTICAST_ETHERNET_TAG = 6
    MULTICAST_MEMBERSHIP_REPORT_SYNCH = 7
    MULTICAST_LEAVE_SYNCH = 8
    PER_REGION_I_PMSI_AD = 9
    S_PMSI_AD = 10
    LEAF_AD = 11


class EsiType(IntEnum):
    """RFC 7432 §5 Ethernet Segment Identifier types."""
    ARBITRARY = 0
    LACP = 1
    L2_BRIDGE = 2
    MAC_BASED = 3
    ROUTER_ID = 4
    AS_BASED = 5


class TunnelType(IntEnum):
    """IANA BGP Tunnel Encapsulation Attribute Tunnel Types (RFC 9012, RFC 8365)."""
    L2TPV3 = 1
    GRE = 2
    IP_IN_IP = 7
    VXLAN = 8
    NVGRE = 9
    MPLS = 10
    MPLS_IN_GRE = 11
    VXLAN_GPE = 12
    MPLS_IN_UDP = 13
    GENEVE = 19


TUNNEL_TYPE_NAMES = {
    TunnelType.L2TPV3: "l2tpv3", TunnelType.GRE: "gre", TunnelType.IP_IN_IP: "ip-in-ip",
    TunnelType.VXLAN: "vxlan", TunnelType.NVGRE: "nvgre", TunnelType.MPLS: "mpls",
    TunnelType.MPLS_IN_GRE: "mpls-in-gre", TunnelType.VXLAN_GPE: "vxlan-gpe",
    TunnelType.MPLS_IN_UDP: "mpls-in-udp", TunnelType.GENEVE: "geneve",
}

#: RFC 8365 §5.1.3: with these encapsulations the 3-octet label field is a 24-bit VNI/VSID.
VNI_TUNNEL_TYPES = frozenset({TunnelType.VXLAN, TunnelType.NVGRE, TunnelType.VXLAN_GPE,
                              TunnelType.GENEVE})


class PmsiTunnelType(IntEnum):
    """IANA P-Multicast Service Interface Tunnel (PMSI Tunnel) Tunnel Types (RFC 6514 §5)."""
    NO_TUNNEL_INFO = 0
    RSVP_TE_P2MP = 1
    MLDP_P2MP = 2
    PIM_SSM = 3
    PIM_SM = 4
    BIDIR_PIM = 5
    INGRESS_REPLICATION = 6
    MLDP_MP2MP = 7


PMSI_TUNNEL_TYPE_NAMES = {
    0: "no-tunnel-info", 1: "rsvp-te-p2mp", 2: "mldp-p2mp", 3: "pim-ssm", 4: "pim-sm",
    5: "bidir-pim", 6: "ingress-replication", 7: "mldp-mp2mp",
}


class ExtCommType(IntEnum):
    """IANA extended community high-order type octets used here (RFC 4360, 5668, 7153)."""
    TRANSITIVE_TWO_OCTET_AS = 0x00
    TRANSITIVE_IPV4 = 0x01
    TRANSITIVE_FOUR_OCTET_AS = 0x02
    TRANSITIVE_OPAQUE = 0x03
    EVPN = 0x06


class ExtCommSubtype(IntEnum):
    """Subtypes (per type) used here."""
    ROUTE_TARGET = 0x02        # types 0x00, 0x01, 0x02 (RFC 4360 §3, RFC 5668)
    ROUTE_ORIGIN = 0x03        # types 0x00, 0x01, 0x02
    ENCAPSULATION = 0x0C       # type 0x03 (RFC 9012 §4.1)
    DEFAULT_GATEWAY = 0x0D     # type 0x03 (RFC 7432 §7.8)
    MAC_MOBILITY = 0x00        # type 0x06 (RFC 7432 §7.7)
    ESI_LABEL = 0x01           # type 0x06 (RFC 7432 §7.5)
    ES_IMPORT_RT = 0x02        # type 0x06 (RFC 7432 §7.6)
    ROUTERS_MAC = 0x03         # type 0x06 (RFC 9135 §8.1)
    LAYER2_ATTRIBUTES = 0x04   # type 0x06 (RFC 8214 §3.1)
    DF_ELECTION = 0x06         # type 0x06 (RFC 8584 §2.2)
    ARP_ND = 0x08              # type 0x06 (RFC 9047 §3)


class Rfc8365ServiceType(IntEnum):
    """RFC 8365 §5.1.2.1 'Type' field of an auto-derived route target."""
    VID = 0
    VXLAN = 1
    NVGRE = 2
    I_SID = 3
    EVI = 4
    DUAL_VID = 5


class RouteRefreshSubtype(IntEnum):
    """RFC 7313 §3.2 Message Subtype (the former Reserved octet)."""
    NORMAL = 0
    BORR = 1
    EORR = 2


ROUTE_REFRESH_SUBTYPE_NAMES = {0: "normal", 1: "borr", 2: "eorr"}


class ErrorCode(IntEnum):
    """RFC 4271 §4.5 NOTIFICATION error codes, RFC 7313 §5 code 7."""
    MESSAGE_HEADER_ERROR = 1
    OPEN_MESSAGE_ERROR = 2
    UPDATE_MESSAGE_ERROR = 3
    HOLD_TIMER_EXPIRED = 4
    FSM_ERROR = 5
    CEASE = 6
    ROUTE_REFRESH_MESSAGE_ERROR = 7


ERROR_CODE_NAMES = {
    1: "message-header-error", 2: "open-message-error", 3: "update-message-error",
    4: "hold-timer-expired", 5: "fsm-error", 6: "cease",
    7: "route-refresh-message-error",
}

#: IANA subcode registries per code (RFC 4271 §6, RFC 4486, RFC 5492, RFC 6608,
#: RFC 7313, RFC 8538, RFC 9234, RFC 9384).
ERROR_SUBCODE_NAMES = {
    1: {0: "unspecific", 1: "connection-not-synchronized", 2: "bad-message-length",
        3: "bad-message-type"},
    2: {0: "unspecific", 1: "unsupported-version-number", 2: "bad-peer-as", 3: "bad-bgp-identifier",
        4: "unsupported-optional-parameter", 5: "authentication-failure",
        6: "unacceptable-hold-time", 7: "unsupported-capability",
        8: "deprecated-8", 9: "deprecated-9", 10: "deprecated-10",
        11: "role-mismatch"},
    3: {0: "unspecific", 1: "malformed-attribute-list", 2: "unrecognized-well-known-attribute",
        3: "missing-well-known-attribute", 4: "attribute-flags-error",
        5: "attribute-length-error", 6: "invalid-origin-attribute",
        7: "as-routing-loop", 8: "invalid-next-hop-attribute",
        9: "optional-attribute-error", 10: "invalid-network-field",
        11: "malformed-as-path"},
    4: {},
    5: {0: "unspecified-error", 1: "unexpected-message-in-opensent",
        2: "unexpected-message-in-openconfirm", 3: "unexpected-message-in-established"},
    6: {0: "unspecific", 1: "maximum-number-of-prefixes-reached", 2: "administrative-shutdown",
        3: "peer-de-configured", 4: "administrative-reset", 5: "connection-rejected",
        6: "other-configuration-change", 7: "connection-collision-resolution",
        8: "out-of-resources", 9: "hard-reset", 10: "bfd-down"},
    7: {0: "unspecific", 1: "invalid-message-length"},
}


class ErrorAction(IntEnum):
    """What RFC 7606 §2 says to do with a malformed UPDATE (and, for other
    messages, RFC 4271 §6's session reset).  Ordered by severity."""
    ATTRIBUTE_DISCARD = 1
    TREAT_AS_WITHDRAW = 2
    AFI_SAFI_DISABLE = 3
    SESSION_RESET = 4


ERROR_ACTION_NAMES = {
    ErrorAction.ATTRIBUTE_DISCARD: "attribute-discard",
    ErrorAction.TREAT_AS_WITHDRAW: "treat-as-withdraw",
    ErrorAction.AFI_SAFI_DISABLE: "afi-safi-disable",
    ErrorAction.SESSION_RESET: "session-reset",
}


def afi_name(afi: int):
    """JSON name of an AFI, or the integer itself."""
    return AFI_NAMES.get(afi, afi)


def safi_name(safi: int):
    """JSON name of a SAFI, or the integer itself."""
    return SAFI_NAMES.get(safi, safi)


def family_name(afi: int, safi: int) -> str:
    """``"l2vpn/evpn"``, ``"1/99"``: the family notation of docs/json-schema.md."""
    return f"{afi_name(afi)}/{safi_name(safi)}"
