"""Sans-IO BGP session: FSM (RFC 4271 §8), capability negotiation, timers."""
from .config import GracefulRestartConfig, SessionConfig
from .events import (EndOfRibReceived, Event, FamilyDisabled, Negotiated, NotificationReceived,
                     NotificationSent, OpenReceived, PeerRestarting, RouteRefreshReceived,
                     SessionDown, SessionEstablished, StaleRoutesFlushed, StateChanged,
                     UpdateReceived)
from .fsm import TRANSITIONS, Input, State
from .session import Session, SessionError, collision_keeps_existing

__all__ = ["GracefulRestartConfig", "SessionConfig", "Event", "StateChanged", "OpenReceived",
           "SessionEstablished", "UpdateReceived", "EndOfRibReceived", "RouteRefreshReceived",
           "FamilyDisabled", "NotificationReceived", "NotificationSent", "SessionDown",
           "PeerRestarting", "StaleRoutesFlushed", "Negotiated", "TRANSITIONS", "Input", "State",
           "Session", "SessionError", "collision_keeps_existing"]
