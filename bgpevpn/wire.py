"""Facade over the chosen codec twin (see ``_impl``): import codec functions
from here.  Both twins stay importable as ``bgpevpn._wire_py`` and
``bgpevpn._wire_c`` for comparison."""
from __future__ import annotations

from ._impl import IMPLEMENTATION, codec

check_header = codec.check_header
split_messages = codec.split_messages
decode_messages = codec.decode_messages
decode_message = codec.decode_message
decode_frame = codec.decode_frame
MessageReader = codec.MessageReader
decode_update = codec.decode_update
decode_attributes = codec.decode_attributes
decode_nlri = codec.decode_nlri
decode_prefixes = codec.decode_prefixes
decode_evpn_nlri = codec.decode_evpn_nlri
encode_message = codec.encode_message
encode_attribute = codec.encode_attribute
pack_updates = codec.pack_updates
end_of_rib = codec.end_of_rib
next_hop_bytes = codec.next_hop_bytes
decode_columns = codec.decode_columns

__all__ = ["IMPLEMENTATION", "check_header", "split_messages", "decode_messages",
           "decode_message", "decode_frame", "MessageReader", "decode_update",
           "decode_attributes", "decode_nlri", "decode_prefixes", "decode_evpn_nlri",
           "encode_message", "encode_attribute", "pack_updates", "end_of_rib",
           "next_hop_bytes", "decode_columns"]
