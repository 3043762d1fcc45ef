"""The BGP finite state machine of RFC 4271 §8 as one table.

``TRANSITIONS[(state, input)]`` gives the action a ``Session`` runs and the
state each outcome of that action leads to.  ``Session._fire`` is the only
code that changes ``Session.state``, and it does so only from this table,
so the table is the whole behaviour; a test sweeps every (state, input).
"""
from __future__ import annotations

from enum import Enum


class State(str, Enum):
    """RFC 4271 §8.2.2 states."""
    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"


class Input(str, Enum):
    """RFC 4271 §8.1 events (administrative, timer, TCP and message events)."""
    MANUAL_START = "ManualStart"                         # event 1
    MANUAL_STOP = "ManualStop"                           # event 2
    AUTOMATIC_START = "AutomaticStart"                   # event 3 (idle hold timer)
    CONNECT_RETRY_EXPIRES = "ConnectRetryTimer_Expires"  # event 9
    HOLD_EXPIRES = "HoldTimer_Expires"                   # event 10
    KEEPALIVE_TIMER_EXPIRES = "KeepaliveTimer_Expires"   # event 11
    TCP_CONNECTED = "TcpConnectionConfirmed"             # events 16/17
    TCP_FAILS = "TcpConnectionFails"                     # event 18
    BGP_OPEN = "BGPOpen"                                 # event 19
    BGP_HEADER_ERR = "BGPHeaderErr"                      # event 21
    BGP_OPEN_MSG_ERR = "BGPOpenMsgErr"                   # event 22
    OPEN_COLLISION_DUMP = "OpenCollisionDump"            # event 23
    NOTIF_MSG = "NotifMsg"                               # events 24/25
    KEEPALIVE_MSG = "KeepAliveMsg"                       # event 26
    UPDATE_MSG = "UpdateMsg"                             # events 27/28 (errors inside)
    ROUTE_REFRESH_MSG = "RouteRefreshMsg"                # RFC 2918
    UNKNOWN_MSG = "UnknownMsg"                           # a type RFC 4271 §6.1 rejects (1/3)


S, I = State, Input

# (state, input) -> (action, {outcome: next state}); the outcome "ok" is the
# usual one.  Inputs a state does not list run "ignore" (timers of other
# states cannot fire: each state arms only its own).
TRANSITIONS = {
    (S.IDLE, I.MANUAL_START): ("start", {"ok": S.CONNECT, "passive": S.ACTIVE}),
    (S.IDLE, I.AUTOMATIC_START): ("start", {"ok": S.CONNECT, "passive": S.ACTIVE}),
    (S.IDLE, I.MANUAL_STOP): ("manual_stop_idle", {"ok": S.IDLE}),

    (S.CONNECT, I.MANUAL_STOP): ("manual_stop", {"ok": S.IDLE}),
    (S.CONNECT, I.CONNECT_RETRY_EXPIRES): ("retry_connect", {"ok": S.CONNECT}),
    (S.CONNECT, I.TCP_CONNECTED): ("send_open", {"ok": S.OPEN_SENT}),
    (S.CONNECT, I.TCP_FAILS): ("connect_failed", {"ok": S.ACTIVE}),

    (S.ACTIVE, I.MANUAL_STOP): ("manual_stop", {"ok": S.IDLE}),
    (S.ACTIVE, I.CONNECT_RETRY_EXPIRES): ("retry_connect", {"ok": S.CONNECT}),
    (S.ACTIVE, I.TCP_CONNECTED): ("send_open", {"ok": S.OPEN_SENT}),
    (S.ACTIVE, I.TCP_FAILS): ("connect_failed", {"ok": S.ACTIVE}),

    (S.OPEN_SENT, I.MANUAL_STOP): ("manual_stop", {"ok": S.IDLE}),
    (S.OPEN_SENT, I.HOLD_EXPIRES): ("hold_expired", {"ok": S.IDLE}),
    (S.OPEN_SENT, I.TCP_FAILS): ("connection_failed", {"ok": S.ACTIVE}),
    (S.OPEN_SENT, I.BGP_OPEN): ("receive_open", {"ok": S.OPEN_CONFIRM, "error": S.IDLE}),
    (S.OPEN_SENT, I.BGP_HEADER_ERR): ("message_error", {"ok": S.IDLE}),
    (S.OPEN_SENT, I.BGP_OPEN_MSG_ERR): ("message_error", {"ok": S.IDLE}),
    (S.OPEN_SENT, I.OPEN_COLLISION_DUMP): ("collision_dump", {"ok": S.IDLE}),
    (S.OPEN_SENT, I.NOTIF_MSG): ("receive_notification", {"ok": S.IDLE}),
    (S.OPEN_SENT, I.KEEPALIVE_MSG): ("fsm_error", {"ok": S.IDLE}),
    (S.OPEN_SENT, I.UPDATE_MSG): ("fsm_error", {"ok": S.IDLE}),
    (S.OPEN_SENT, I.ROUTE_REFRESH_MSG): ("fsm_error", {"ok": S.IDLE}),
    (S.OPEN_SENT, I.UNKNOWN_MSG): ("bad_message_type", {"ok": S.IDLE}),

    (S.OPEN_CONFIRM, I.MANUAL_STOP): ("manual_stop", {"ok": S.IDLE}),
    (S.OPEN_CONFIRM, I.HOLD_EXPIRES): ("hold_expired", {"ok": S.IDLE}),
    (S.OPEN_CONFIRM, I.KEEPALIVE_TIMER_EXPIRES): ("send_keepalive", {"ok": S.OPEN_CONFIRM}),
    (S.OPEN_CONFIRM, I.TCP_FAILS): ("connection_failed", {"ok": S.IDLE}),
    (S.OPEN_CONFIRM, I.BGP_OPEN): ("fsm_error", {"ok": S.IDLE}),
    (S.OPEN_CONFIRM, I.BGP_HEADER_ERR): ("message_error", {"ok": S.IDLE}),
    (S.OPEN_CONFIRM, I.BGP_OPEN_MSG_ERR): ("fsm_error", {"ok": S.IDLE}),  # §8.2.2 event 22
    (S.OPEN_CONFIRM, I.OPEN_COLLISION_DUMP): ("collision_dump", {"ok": S.IDLE}),
    (S.OPEN_CONFIRM, I.NOTIF_MSG): ("receive_notification", {"ok": S.IDLE}),
    (S.OPEN_CONFIRM, I.KEEPALIVE_MSG): ("establish", {"ok": S.ESTABLISHED}),
    (S.OPEN_CONFIRM, I.UPDATE_MSG): ("fsm_error", {"ok": S.IDLE}),
    (S.OPEN_CONFIRM, I.ROUTE_REFRESH_MSG): ("fsm_error", {"ok": S.IDLE}),
    (S.OPEN_CONFIRM, I.UNKNOWN_MSG): ("bad_message_type", {"ok": S.IDLE}),

    (S.ESTABLISHED, I.MANUAL_STOP): ("manual_stop", {"ok": S.IDLE}),
    (S.ESTABLISHED, I.HOLD_EXPIRES): ("hold_expired", {"ok": S.IDLE}),
    (S.ESTABLISHED, I.KEEPALIVE_TIMER_EXPIRES): ("send_keepalive", {"ok": S.ESTABLISHED}),
    (S.ESTABLISHED, I.TCP_FAILS): ("connection_failed", {"ok": S.IDLE}),
    (S.ESTABLISHED, I.BGP_OPEN): ("fsm_error", {"ok": S.IDLE}),
    (S.ESTABLISHED, I.BGP_HEADER_ERR): ("message_error", {"ok": S.IDLE}),
    (S.ESTABLISHED, I.BGP_OPEN_MSG_ERR): ("fsm_error", {"ok": S.IDLE}),   # §8.2.2 event 22
    (S.ESTABLISHED, I.OPEN_COLLISION_DUMP): ("collision_dump", {"ok": S.IDLE}),
    (S.ESTABLISHED, I.NOTIF_MSG): ("receive_notification", {"ok": S.IDLE}),
    (S.ESTABLISHED, I.KEEPALIVE_MSG): ("receive_keepalive", {"ok": S.ESTABLISHED}),
    (S.ESTABLISHED, I.UPDATE_MSG): ("receive_update", {"ok": S.ESTABLISHED, "error": S.IDLE}),
    (S.ESTABLISHED, I.ROUTE_REFRESH_MSG): ("receive_route_refresh", {"ok": S.ESTABLISHED}),
    (S.ESTABLISHED, I.UNKNOWN_MSG): ("bad_message_type", {"ok": S.IDLE}),
}

# Idle, Connect and Active have no connection, so no message inputs: a
# Session has no reader then and receive_data ignores bytes (§8.2.2 Idle).


def lookup(state: State, inp: Input):
    """(action, outcomes) for a pair; unlisted pairs are ignored in place."""
    return TRANSITIONS.get((state, inp), ("ignore", {"ok": state}))
