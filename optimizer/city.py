"""A large day without a full matrix: :class:`CityProblem`.

A :class:`CityProblem` is a :class:`~optimizer.problem.Problem` whose two matrices
are :class:`~optimizer.distance.lazy.LazyMatrix` objects: the points and the
distance model, entries computed when read. Everything that reads a Problem by
legs (``Solution.check``, the independent checker, the plan document's legs) works
on it unchanged; the solve cuts it into regions, each with a dense matrix of its
own (:mod:`optimizer.regions`). Memory grows with the points, not their square.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from optimizer.distance.base import DistanceModel, LonLat
from optimizer.distance.lazy import LazyMatrix, lazy_pair
from optimizer.problem import Client, Facility, Problem, ProblemError, Vehicle


@dataclass(frozen=True)
class CityProblem(Problem):
    """A Problem whose matrices are computed when read (see the module docstring)."""

    def __post_init__(self) -> None:
        if not isinstance(self.distance_m, LazyMatrix) or not isinstance(
                self.duration_s, LazyMatrix):
            raise ProblemError("a CityProblem takes LazyMatrix matrices (use city_problem)")
        object.__setattr__(self, "clients", tuple(self.clients))
        object.__setattr__(self, "vehicles", tuple(self.vehicles))
        object.__setattr__(self, "facilities", tuple(self.facilities))
        self._check_places()

    @property
    def points(self) -> np.ndarray:
        """(lon, lat) of every location, WGS-84 degrees."""
        return self.lazy_distance.points

    @property
    def model(self) -> DistanceModel:
        return self.lazy_distance.model

    @property
    def lazy_distance(self) -> LazyMatrix:
        return cast(LazyMatrix, self.distance_m)

    @property
    def lazy_duration(self) -> LazyMatrix:
        return cast(LazyMatrix, self.duration_s)


def city_problem(points: Sequence[LonLat] | np.ndarray, model: DistanceModel, *,
                 clients: Sequence[Client], vehicles: Sequence[Vehicle],
                 facilities: Sequence[Facility] = (), end_empty: bool = True, name: str = "",
                 extra: Mapping[str, object] | None = None) -> CityProblem:
    """A CityProblem over ``points`` (lon, lat) measured by ``model``."""
    dist, dur = lazy_pair(points, model)
    return CityProblem(distance_m=cast(np.ndarray, dist), duration_s=cast(np.ndarray, dur),
                       clients=tuple(clients), vehicles=tuple(vehicles),
                       facilities=tuple(facilities), end_empty=end_empty, name=name,
                       extra=dict(extra or {}))


__all__ = ["CityProblem", "city_problem"]
