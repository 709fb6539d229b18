"""An immutable, validated routing problem.

Everything is an integer: distances in metres, times in seconds from the
start of the planning day, loads in kg (benchmarks may scale their own units,
e.g. DIMACS distances x 10). Compartments are named by opaque strings; the
optimizer never knows what a "category" means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

DAY_S = 24 * 3600
#: matrices whose entries all stay below this are kept as int32, half the memory of a
#: large day's matrices; a sum of legs then overflows int32 only past 64 legs of the
#: largest entry (2,147 km of legs of 33,554 km). Larger entries (the planning room's
#: "unreachable", 1e8 m) keep the matrix int64.
INT32_BELOW = 2**25


class ProblemError(ValueError):
    """Raised when a Problem is inconsistent (bad index, negative time, ...)."""


def _frozen_map(m: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType({str(k): int(v) for k, v in m.items()})


@dataclass(frozen=True, slots=True)
class Client:
    """A place to collect from, once (the solver may split an oversized demand)."""

    location: int
    demand: Mapping[str, int]
    service_s: int = 0
    tw_start_s: int = 0
    tw_end_s: int = DAY_S
    #: cost of leaving the client unserved; None lets the solver pick a large one
    penalty: int | None = None
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "demand", _frozen_map(self.demand))


@dataclass(frozen=True, slots=True)
class Facility:
    """A place where vehicles unload (reload node of a multi-trip route)."""

    location: int
    accepts: frozenset[str]
    open_s: int = 0
    close_s: int = DAY_S
    unload_s: int = 0
    #: total units this facility may take in the day, over all vehicles
    daily_capacity: int | None = None
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "accepts", frozenset(self.accepts))


@dataclass(frozen=True, slots=True)
class Vehicle:
    start_location: int
    end_location: int
    #: compartment -> capacity in units; a vehicle only serves clients whose
    #: demand keys are all among its compartments
    capacities: Mapping[str, int]
    shift_start_s: int = 0
    shift_end_s: int = DAY_S
    break_s: int = 0
    #: window in which the break must START
    break_earliest_s: int | None = None
    break_latest_s: int | None = None
    fixed_cost: int = 0
    #: objective weight of distance: cost per km (so 1.0 means cost = km)
    cost_per_km: float = 1.0
    #: total units the vehicle may collect in the day over all trips (Kim)
    max_collected: int | None = None
    #: maximum client visits in the day (Kim)
    max_stops: int | None = None
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "capacities", _frozen_map(self.capacities))

    @property
    def has_break(self) -> bool:
        return self.break_s > 0


def _compact(matrix: object) -> np.ndarray:
    """``matrix`` as integers: int32 when every entry is in ``[0, INT32_BELOW)``."""
    arr = np.asarray(matrix, dtype=np.int64)
    if arr.size and arr.min() >= 0 and arr.max() < INT32_BELOW:
        return arr.astype(np.int32)
    return arr


@dataclass(frozen=True)
class Problem:
    distance_m: np.ndarray
    duration_s: np.ndarray
    clients: tuple[Client, ...]
    vehicles: tuple[Vehicle, ...]
    facilities: tuple[Facility, ...] = ()
    #: facilities are needed only when vehicles must end empty
    end_empty: bool = True
    name: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        dist = _compact(self.distance_m)
        dur = _compact(self.duration_s)
        dist.setflags(write=False)
        dur.setflags(write=False)
        object.__setattr__(self, "distance_m", dist)
        object.__setattr__(self, "duration_s", dur)
        object.__setattr__(self, "clients", tuple(self.clients))
        object.__setattr__(self, "vehicles", tuple(self.vehicles))
        object.__setattr__(self, "facilities", tuple(self.facilities))
        self._validate()

    @property
    def num_locations(self) -> int:
        return int(self.distance_m.shape[0])

    @property
    def categories(self) -> frozenset[str]:
        cats: set[str] = set()
        for c in self.clients:
            cats.update(c.demand)
        for v in self.vehicles:
            cats.update(v.capacities)
        return frozenset(cats)

    def _validate(self) -> None:
        n = self.num_locations
        for name, m in (("distance_m", self.distance_m), ("duration_s", self.duration_s)):
            if m.ndim != 2 or m.shape != (n, n):
                raise ProblemError(f"{name} must be a square matrix, got {m.shape}")
            if (m < 0).any():
                raise ProblemError(f"{name} has negative entries")
        self._check_places()

    def _check_places(self) -> None:
        """Everything but the matrices: a CityProblem, whose matrices are lazy, runs
        only this."""
        n = self.num_locations
        if not self.vehicles:
            raise ProblemError("no vehicles")

        def loc(i: int, what: str) -> None:
            if not 0 <= i < n:
                raise ProblemError(f"{what}: location {i} out of range 0..{n - 1}")

        for k, c in enumerate(self.clients):
            loc(c.location, f"client {k}")
            if c.tw_start_s > c.tw_end_s:
                raise ProblemError(f"client {k}: time window start after end")
            if c.service_s < 0 or any(v < 0 for v in c.demand.values()):
                raise ProblemError(f"client {k}: negative service time or demand")
        for k, f in enumerate(self.facilities):
            loc(f.location, f"facility {k}")
            if f.open_s > f.close_s:
                raise ProblemError(f"facility {k}: opens after it closes")
        for k, v in enumerate(self.vehicles):
            loc(v.start_location, f"vehicle {k} start")
            loc(v.end_location, f"vehicle {k} end")
            if v.shift_start_s > v.shift_end_s:
                raise ProblemError(f"vehicle {k}: shift starts after it ends")
            if any(cap < 0 for cap in v.capacities.values()):
                raise ProblemError(f"vehicle {k}: negative capacity")
            if v.has_break and (v.break_earliest_s is None or v.break_latest_s is None):
                raise ProblemError(f"vehicle {k}: break without a window")
