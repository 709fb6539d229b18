"""Synthetic but realistic routing days, for benchmarks and tests.

:func:`generate_county_day` builds a one-day, multi-compartment, multi-trip problem
the size of a county: clients clustered around a few towns, 2 to 4 compartment
categories with very different volumes, vehicles with one or two compartments,
facilities that open for part of the day and accept only some categories, client
time windows, service times, breaks, and integer matrices from the straight line
x 1.3 at 25 km/h. Nothing here knows what is being collected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optimizer.problem import Client, Facility, Problem, Vehicle

H = 3600
DETOUR = 1.3
SPEED_KMH = 25.0


@dataclass(frozen=True)
class _VehicleKind:
    capacities: dict[str, int]
    #: categories whose volume this kind is meant to carry (for fleet sizing)
    serves: tuple[str, ...]


def _categories(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def generate_county_day(
    n_clients: int,
    seed: int = 0,
    *,
    n_categories: int | None = None,
    area_km: float = 40.0,
    n_towns: int | None = None,
    n_depots: int | None = None,
    window_share: float = 0.3,
    break_s: int = 1800,
    fleet_slack: float = 1.3,
    penalty: int = 1_000_000,
    fixed_cost: int = 20_000,
) -> Problem:
    """A synthetic day with ``n_clients`` clients (deterministic for a given seed).

    Locations: depots first, then facilities, then one location per client.
    ``problem.extra["coords"]`` holds ``(x_m, y_m)`` per location. Every client has
    a ``penalty`` (so an engine may leave it out, with a reason) and one category.
    """
    if n_clients < 1:
        raise ValueError("n_clients must be positive")
    rng = np.random.default_rng(seed)
    n_cat = n_categories if n_categories is not None else int(rng.integers(2, 5))
    if not 2 <= n_cat <= 4:
        raise ValueError("n_categories must be 2, 3 or 4")
    cats = _categories(n_cat)
    side = area_km * 1000.0
    n_towns = n_towns or max(3, n_clients // 60)
    n_depots = n_depots or (1 if n_clients < 800 else 2)

    # towns: centres inside the area, a few big and many small
    centres = rng.uniform(0.1 * side, 0.9 * side, size=(n_towns, 2))
    weights = rng.pareto(1.5, size=n_towns) + 1.0
    weights /= weights.sum()
    spread = rng.uniform(400.0, 1800.0, size=n_towns)
    town = rng.choice(n_towns, size=n_clients, p=weights)
    pts = centres[town] + rng.normal(size=(n_clients, 2)) * spread[town, None]
    scatter = rng.random(n_clients) < 0.1
    pts[scatter] = rng.uniform(0, side, size=(int(scatter.sum()), 2))
    pts = np.clip(pts, 0, side)

    # depots near the biggest towns, facilities spread out
    big = np.argsort(-weights)
    depots = centres[big[:n_depots]] + rng.normal(size=(n_depots, 2)) * 500
    fac_specs = _facility_specs(cats, rng)
    fac_xy = rng.uniform(0.15 * side, 0.85 * side, size=(len(fac_specs), 2))
    coords = np.vstack([depots, fac_xy, pts])
    n_loc = coords.shape[0]

    diff = coords[:, None, :] - coords[None, :, :]
    straight = np.sqrt((diff**2).sum(axis=2))
    dist = np.rint(straight * DETOUR).astype(np.int64)
    dur = np.rint(dist / (SPEED_KMH / 3.6)).astype(np.int64)

    facilities = tuple(
        Facility(
            location=n_depots + k,
            accepts=frozenset(acc),
            open_s=o,
            close_s=c,
            unload_s=u,
            label=f"F{k}",
        )
        for k, (acc, o, c, u) in enumerate(fac_specs)
    )

    # clients: one category each; the first category is the bulk stream
    shares = np.array([0.6, 0.25, 0.1, 0.05][:n_cat])
    shares /= shares.sum()
    cat_idx = rng.choice(n_cat, size=n_clients, p=shares)
    scale = np.array([350.0, 150.0, 60.0, 20.0])[:n_cat]
    amount = np.maximum(5, np.rint(rng.lognormal(0.0, 0.6, size=n_clients) * scale[cat_idx]))
    service = (120 + amount * 0.6).astype(np.int64)
    clients = []
    for i in range(n_clients):
        tw_s, tw_e = 5 * H, 15 * H
        if rng.random() < window_share:
            if rng.random() < 0.6:
                start = int(rng.integers(5, 9)) * H
            else:
                start = int(rng.integers(10, 13)) * H
            tw_s, tw_e = start, start + int(rng.integers(2, 5)) * H
        clients.append(
            Client(
                location=n_depots + len(facilities) + i,
                demand={cats[cat_idx[i]]: int(amount[i])},
                service_s=int(service[i]),
                tw_start_s=tw_s,
                tw_end_s=tw_e,
                penalty=penalty,
                label=f"P{i}",
            )
        )

    # fleet: vehicle kinds by category, sized from volume and working time
    kinds = _vehicle_kinds(cats)
    vehicles: list[Vehicle] = []
    for kind in kinds:
        vol = float(sum(amount[cat_idx == cats.index(c)].sum() for c in kind.serves))
        cap = sum(kind.capacities[c] for c in kind.serves)
        n_serv = int(sum((cat_idx == cats.index(c)).sum() for c in kind.serves))
        work = float(sum(service[cat_idx == cats.index(c)].sum() for c in kind.serves))
        # time: service + about 6 min driving per client + 1 h per trip to a facility,
        # over 7.5 h of work per vehicle
        trips = vol / cap
        need = max(vol / (cap * 3.0), (work + 360.0 * n_serv + trips * H) / (7.5 * H))
        count = max(1, math.ceil(need * fleet_slack) + 1)
        for j in range(count):
            start = 5 * H if j % 2 == 0 else 6 * H
            depot = j % n_depots
            vehicles.append(
                Vehicle(
                    start_location=depot,
                    end_location=depot,
                    capacities=kind.capacities,
                    shift_start_s=start,
                    shift_end_s=start + 9 * H,
                    break_s=break_s,
                    break_earliest_s=start + 4 * H if break_s else None,
                    break_latest_s=start + 6 * H if break_s else None,
                    fixed_cost=fixed_cost,
                    label=f"V{len(vehicles)}",
                )
            )

    return Problem(
        distance_m=dist,
        duration_s=dur,
        clients=tuple(clients),
        vehicles=tuple(vehicles),
        facilities=facilities,
        end_empty=True,
        name=f"county-{n_clients}-s{seed}",
        extra={
            "coords": coords.tolist(),
            "generator": "generate_county_day",
            "seed": seed,
            "n_locations": n_loc,
            "detour_factor": DETOUR,
            "speed_kmh": SPEED_KMH,
        },
    )


def _facility_specs(
    cats: list[str], rng: np.random.Generator
) -> list[tuple[set[str], int, int, int]]:
    """(accepts, open_s, close_s, unload_s) per facility; every category is covered."""
    c = cats
    specs: list[tuple[set[str], int, int, int]] = [
        ({c[0]}, 0, 24 * H, 600),  # the big plant, open round the clock
        ({c[0], c[1]}, 5 * H, 20 * H, 900),  # a station taking the two main streams
        ({c[1]}, 7 * H, 17 * H, 600),
    ]
    if len(c) >= 3:
        specs.append(({c[1], c[2]}, 8 * H, 16 * H, 600))
    if len(c) >= 4:
        specs.append(({c[3]}, 8 * H, 17 * H, 900))
        specs.append(({c[0], c[3]}, 6 * H, 18 * H, 900))
    # a second bulk plant in another part of the area
    specs.append(({c[0]}, 4 * H, 22 * H, 600))
    return specs


def _vehicle_kinds(cats: list[str]) -> list[_VehicleKind]:
    c = cats
    kinds = [_VehicleKind({c[0]: 5000}, (c[0],))]
    if len(c) == 2:
        kinds.append(_VehicleKind({c[0]: 1500, c[1]: 2000}, (c[1],)))
    elif len(c) == 3:
        kinds.append(_VehicleKind({c[1]: 2000, c[2]: 800}, (c[1], c[2])))
    else:
        kinds.append(_VehicleKind({c[1]: 2000, c[2]: 800}, (c[1], c[2])))
        kinds.append(_VehicleKind({c[0]: 2500, c[3]: 400}, (c[3],)))
    return kinds
