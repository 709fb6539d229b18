"""The result of a solve: routes of visits, unassigned clients with reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

VisitKind = Literal["start", "client", "facility", "break", "end"]


class Reason(StrEnum):
    """Why a client was not served. Values are part of the plan document."""

    NO_VEHICLE_FOR_CATEGORY = "no_vehicle_for_category"
    TIME_WINDOW_UNREACHABLE = "time_window_unreachable"
    CAPACITY = "capacity"
    FACILITY_CLOSED = "facility_closed"
    NOT_ENOUGH_VEHICLES = "not_enough_vehicles"


def _fm(m: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(m))


@dataclass(frozen=True, slots=True)
class Visit:
    kind: VisitKind
    #: client index (kind "client") or facility index (kind "facility"), else None
    index: int | None
    #: location index into the matrices; None for a break
    location: int | None
    arrival_s: int
    start_s: int
    departure_s: int
    #: units collected at this visit (clients; a split client has several visits)
    amount: Mapping[str, int] = field(default_factory=dict)
    #: load per compartment after the visit
    load_after: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _fm(self.amount))
        object.__setattr__(self, "load_after", _fm(self.load_after))


@dataclass(frozen=True, slots=True)
class Route:
    vehicle: int
    visits: tuple[Visit, ...]
    distance_m: int
    duration_s: int

    @property
    def client_visits(self) -> list[Visit]:
        return [v for v in self.visits if v.kind == "client"]


@dataclass(frozen=True, slots=True)
class Unassigned:
    client: int
    amount: Mapping[str, int]
    reason: Reason

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _fm(self.amount))


@dataclass(frozen=True)
class Solution:
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    engine: str = "ortools"
    wall_s: float = 0.0
    objective: int = 0
    #: free-form solver statistics (strategy used, phases, ...)
    stats: Mapping[str, object] = field(default_factory=dict)

    @property
    def distance_m(self) -> int:
        return sum(r.distance_m for r in self.routes)

    @property
    def vehicles_used(self) -> int:
        return sum(1 for r in self.routes if r.client_visits)
