"""Readers for public routing benchmarks, producing an optimizer :class:`Problem`.

Families and their conventions (see ``../shared/benchmarks/README.md``):

``solomon`` / ``homberger``
    VRPLIB ``.vrp`` (CVRPTW). DIMACS rule: every arc is ``floor(10 * euclid) / 10``,
    travel time equals distance, objective is distance only. The Problem holds
    every distance and time scaled x10, so all of it is an exact integer.
``cvrp``
    CVRPLIB X instances: ``EUC_2D`` (Euclidean rounded to the nearest integer), no
    time windows, fleet effectively unbounded.
``kim``
    Kim, Kim & Sahoo (2006) WCVRPTW ``*_stop.txt``: Manhattan distance on feet
    coordinates, travel time = miles * 3600 / speed, disposal facilities that
    accept everything, a 3600 s break starting 11:00-12:00, a daily volume cap and a
    stop limit per vehicle, vehicles return empty. Volumes are scaled x100.

Node numbering: the location index of the Problem equals the 0-based node index
of the file (VRPLIB node id minus 1, Kim row number), so client numbers in ``.sol``
files are location indices.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optimizer.problem import Client, Facility, Problem, Vehicle

FAMILIES = ("solomon", "homberger", "cvrp", "kim")

#: folder name under the shared benchmark root, per family
FAMILY_DIRS = {
    "solomon": "solomon_100",
    "homberger": "homberger",
    "cvrp": "cvrplib_x",
    "kim": "kim_wcvrptw",
}

#: the one compartment name used by the single-commodity benchmarks
LOAD = "load"

#: Kim volumes are given with up to two decimals; the Problem counts 1/100 yd3
KIM_VOLUME_SCALE = 100
FEET_PER_MILE = 5280.0
METRES_PER_FOOT = 0.3048
#: DIMACS distances and times are held x10 in the Problem
DIMACS_SCALE = 10

NODE_DEPOT = 0
NODE_CLIENT = 1
NODE_FACILITY = 2


class InstanceError(ValueError):
    """Raised when an instance or solution file cannot be read."""


@dataclass(frozen=True)
class Instance:
    """Raw benchmark data, in the file's own units, indexed by 0-based node.

    Times are seconds from midnight for ``kim`` and the file's time units for the
    VRPLIB families; loads are the file's units (yd3 for ``kim``).
    """

    name: str
    family: str
    coords: np.ndarray
    node_type: np.ndarray
    demand: np.ndarray
    tw_start: np.ndarray
    tw_end: np.ndarray
    service: np.ndarray
    capacity: float
    #: fleet size written in the file (VRPLIB ``VEHICLES``); None = unbounded
    max_vehicles: int | None = None
    #: kim only
    day_cap: float | None = None
    max_stops: int | None = None
    break_s: int = 0
    break_earliest_s: int = 11 * 3600
    break_latest_s: int = 12 * 3600
    speed_mph: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return int(self.coords.shape[0])

    @property
    def depot(self) -> int:
        return int(np.flatnonzero(self.node_type == NODE_DEPOT)[0])

    @property
    def client_nodes(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.node_type == NODE_CLIENT)]

    @property
    def facility_nodes(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.node_type == NODE_FACILITY)]

    def problem(self, num_vehicles: int | None = None, fixed_cost: int = 0) -> Problem:
        """The instance as an optimizer Problem (see the module docstring for units)."""
        if self.family in ("solomon", "homberger"):
            return _dimacs_problem(self, num_vehicles, fixed_cost)
        if self.family == "cvrp":
            return _cvrp_problem(self, num_vehicles, fixed_cost)
        if self.family == "kim":
            return _kim_problem(self, num_vehicles, fixed_cost)
        raise InstanceError(f"unknown family {self.family!r}")


# --------------------------------------------------------------------------- matrices


def euclid(coords: np.ndarray) -> np.ndarray:
    diff = coords[:, None, :] - coords[None, :, :]
    return np.asarray(np.sqrt((diff.astype(np.float64) ** 2).sum(axis=2)))


def dimacs_matrix_x10(coords: np.ndarray) -> np.ndarray:
    """DIMACS distances x10 as exact integers: floor(10 * euclid)."""
    d = np.floor(10.0 * euclid(coords) + 1e-9).astype(np.int64)
    np.fill_diagonal(d, 0)
    return d


def nint_matrix(coords: np.ndarray) -> np.ndarray:
    """TSPLIB EUC_2D: Euclidean distance rounded to the nearest integer."""
    d = np.floor(euclid(coords) + 0.5).astype(np.int64)
    np.fill_diagonal(d, 0)
    return d


def manhattan_feet(coords: np.ndarray) -> np.ndarray:
    diff = np.abs(coords[:, None, :] - coords[None, :, :])
    return np.asarray(diff.sum(axis=2), dtype=np.float64)


def kim_miles(inst: Instance) -> np.ndarray:
    return manhattan_feet(inst.coords) / FEET_PER_MILE


def kim_travel_s(inst: Instance) -> np.ndarray:
    """Exact (float) travel times in seconds: miles * 3600 / speed."""
    return kim_miles(inst) * 3600.0 / inst.speed_mph


# --------------------------------------------------------------------------- VRPLIB


def _family_of(path: Path) -> str:
    parent = path.parent.name
    for fam, folder in FAMILY_DIRS.items():
        if parent == folder:
            return fam
    if path.suffix == ".txt":
        return "kim"
    if path.name.startswith("X-"):
        return "cvrp"
    if re.match(r"^(C|R|RC)\d_\d+_\d+", path.stem):
        return "homberger"
    return "solomon"


def read_vrplib(path: str | Path, family: str | None = None) -> Instance:
    """Read a Solomon/Homberger CVRPTW or a CVRPLIB X ``.vrp`` file."""
    import vrplib  # local: only benchmark code needs it

    p = Path(path)
    fam = family or _family_of(p)
    try:
        raw = vrplib.read_instance(str(p), compute_edge_weights=False)
    except Exception as exc:  # vrplib raises a zoo of errors
        raise InstanceError(f"{p}: cannot read VRPLIB instance ({exc})") from exc
    coords = np.asarray(raw["node_coord"], dtype=np.float64)
    n = coords.shape[0]
    depots = [int(d) for d in np.atleast_1d(raw.get("depot", [0]))]
    node_type = np.full(n, NODE_CLIENT, dtype=np.int64)
    node_type[depots] = NODE_DEPOT
    if depots != [0]:
        raise InstanceError(f"{p}: expected the depot at node 1, got {depots}")
    demand = np.asarray(raw.get("demand", np.zeros(n)), dtype=np.float64)
    if "time_window" in raw:
        tw = np.asarray(raw["time_window"], dtype=np.float64)
        tw_start, tw_end = tw[:, 0], tw[:, 1]
    else:
        tw_start = np.zeros(n)
        tw_end = np.full(n, np.inf)
    st = raw.get("service_time", 0)
    service = np.full(n, float(st)) if np.ndim(st) == 0 else np.asarray(st, dtype=np.float64)
    service = service.copy()
    service[node_type == NODE_DEPOT] = 0.0
    vehicles = raw.get("vehicles")
    return Instance(
        name=str(raw.get("name", p.stem)).strip(),
        family=fam,
        coords=coords,
        node_type=node_type,
        demand=demand,
        tw_start=tw_start,
        tw_end=tw_end,
        service=service,
        capacity=float(raw["capacity"]),
        max_vehicles=int(vehicles) if vehicles is not None else None,
        extra={"path": str(p)},
    )


def _dimacs_problem(inst: Instance, num_vehicles: int | None, fixed_cost: int) -> Problem:
    s = DIMACS_SCALE
    dist = dimacs_matrix_x10(inst.coords)
    dep = inst.depot
    clients = tuple(
        Client(
            location=i,
            demand={LOAD: int(inst.demand[i])},
            service_s=int(round(inst.service[i] * s)),
            tw_start_s=int(round(inst.tw_start[i] * s)),
            tw_end_s=int(round(inst.tw_end[i] * s)),
            label=str(i),
        )
        for i in inst.client_nodes
    )
    k = num_vehicles or inst.max_vehicles or len(clients)
    vehicle = Vehicle(
        start_location=dep,
        end_location=dep,
        capacities={LOAD: int(inst.capacity)},
        shift_start_s=int(round(inst.tw_start[dep] * s)),
        shift_end_s=int(round(inst.tw_end[dep] * s)),
        fixed_cost=fixed_cost,
    )
    return Problem(
        distance_m=dist,
        duration_s=dist,
        clients=clients,
        vehicles=tuple(vehicle for _ in range(k)),
        end_empty=False,
        name=inst.name,
        extra={"family": inst.family, "cost_scale": s, "coords": inst.coords.tolist()},
    )


def _cvrp_fleet(inst: Instance) -> int:
    m = re.search(r"-k(\d+)", inst.name)
    k = int(m.group(1)) if m else 0
    lb = math.ceil(float(inst.demand.sum()) / inst.capacity)
    k = max(k, lb)
    return k + max(3, k // 5)


def _cvrp_problem(inst: Instance, num_vehicles: int | None, fixed_cost: int) -> Problem:
    dist = nint_matrix(inst.coords)
    dep = inst.depot
    clients = tuple(
        Client(location=i, demand={LOAD: int(inst.demand[i])}, label=str(i))
        for i in inst.client_nodes
    )
    k = num_vehicles or _cvrp_fleet(inst)
    vehicle = Vehicle(
        start_location=dep,
        end_location=dep,
        capacities={LOAD: int(inst.capacity)},
        fixed_cost=fixed_cost,
    )
    return Problem(
        distance_m=dist,
        duration_s=np.zeros_like(dist),
        clients=clients,
        vehicles=tuple(vehicle for _ in range(k)),
        end_empty=False,
        name=inst.name,
        extra={"family": "cvrp", "cost_scale": 1, "coords": inst.coords.tolist()},
    )


# --------------------------------------------------------------------------- Kim


def _hhmm(text: str) -> int:
    v = int(float(text))
    return (v // 100) * 3600 + (v % 100) * 60


def read_kim(path: str | Path) -> Instance:
    """Read a Kim et al. WCVRPTW ``*_stop.txt`` file (CRLF, 5 header lines)."""
    p = Path(path)
    lines = p.read_text(encoding="latin-1").splitlines()
    if len(lines) < 8:
        raise InstanceError(f"{p}: too short for a Kim instance")

    def head(i: int) -> float:
        try:
            return float(lines[i].split("//")[0].split()[0])
        except (IndexError, ValueError) as exc:
            raise InstanceError(f"{p}:{i + 1}: bad header value") from exc

    capacity, day_cap, max_stops, break_s, speed = (head(i) for i in range(5))
    rows: list[list[str]] = []
    for lineno, line in enumerate(lines[6:], start=7):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 8:
            raise InstanceError(f"{p}:{lineno}: expected 8 columns, got {len(parts)}")
        rows.append(parts[:8])
    n = len(rows)
    coords = np.array([[float(r[1]), float(r[2])] for r in rows])
    node_type = np.array([int(r[7]) for r in rows], dtype=np.int64)
    if int((node_type == NODE_DEPOT).sum()) != 1 or node_type[0] != NODE_DEPOT:
        raise InstanceError(f"{p}: expected exactly one depot, in the first row")
    tw_start = np.array([float(_hhmm(r[3])) for r in rows])
    tw_end = np.array([float(_hhmm(r[4])) for r in rows])
    service = np.array([float(r[5]) for r in rows])
    demand = np.array([float(r[6]) for r in rows])
    demand[node_type != NODE_CLIENT] = 0.0
    return Instance(
        name=p.name.removesuffix(".txt"),
        family="kim",
        coords=coords,
        node_type=node_type,
        demand=demand,
        tw_start=tw_start,
        tw_end=tw_end,
        service=service,
        capacity=capacity,
        max_vehicles=None,
        day_cap=day_cap,
        max_stops=int(max_stops),
        break_s=int(break_s),
        speed_mph=speed,
        extra={"path": str(p), "stop_ids": [r[0] for r in rows], "rows": n},
    )


def kim_fleet(inst: Instance) -> int:
    """A fleet size that is never binding in practice but keeps the model small."""
    load = float(inst.demand.sum())
    assert inst.day_cap is not None
    lb_load = math.ceil(load / inst.day_cap)
    dep = inst.depot
    day = float(inst.tw_end[dep] - inst.tw_start[dep]) - inst.break_s
    lb_time = math.ceil(float(inst.service[inst.node_type == NODE_CLIENT].sum()) / max(day, 1.0))
    lb_stops = math.ceil(len(inst.client_nodes) / max(inst.max_stops or 1, 1))
    lb = max(lb_load, lb_time, lb_stops, 1)
    # distance-only engines happily use many short routes (a first run with
    # 2 * lb + 3 vehicles made the fleet binding on 277_stop and 804_stop)
    n = len(inst.client_nodes)
    return min(n, max(2 * lb + 3, math.ceil(n / 15)))


def _kim_problem(inst: Instance, num_vehicles: int | None, fixed_cost: int) -> Problem:
    sc = KIM_VOLUME_SCALE
    feet = manhattan_feet(inst.coords)
    dist = np.rint(feet * METRES_PER_FOOT).astype(np.int64)
    # ceil: a schedule the solver finds feasible stays feasible with exact float times
    dur = np.ceil(kim_travel_s(inst) - 1e-9).astype(np.int64)
    dep = inst.depot
    clients = tuple(
        Client(
            location=i,
            demand={LOAD: int(round(inst.demand[i] * sc))},
            service_s=int(round(inst.service[i])),
            tw_start_s=int(inst.tw_start[i]),
            tw_end_s=int(inst.tw_end[i]),
            label=str(inst.extra["stop_ids"][i]) if "stop_ids" in inst.extra else str(i),  # type: ignore[index]
        )
        for i in inst.client_nodes
    )
    facilities = tuple(
        Facility(
            location=i,
            accepts=frozenset({LOAD}),
            open_s=int(inst.tw_start[i]),
            # Kim's window bounds the start of service; a Facility's close_s bounds its end
            close_s=int(inst.tw_end[i]) + int(round(inst.service[i])),
            unload_s=int(round(inst.service[i])),
            label=str(i),
        )
        for i in inst.facility_nodes
    )
    assert inst.day_cap is not None
    vehicle = Vehicle(
        start_location=dep,
        end_location=dep,
        capacities={LOAD: int(round(inst.capacity * sc))},
        shift_start_s=int(inst.tw_start[dep]),
        shift_end_s=int(inst.tw_end[dep]),
        break_s=inst.break_s,
        break_earliest_s=inst.break_earliest_s,
        break_latest_s=inst.break_latest_s,
        fixed_cost=fixed_cost,
        max_collected=int(round(inst.day_cap * sc)),
        max_stops=inst.max_stops,
    )
    k = num_vehicles or kim_fleet(inst)
    return Problem(
        distance_m=dist,
        duration_s=dur,
        clients=clients,
        vehicles=tuple(vehicle for _ in range(k)),
        facilities=facilities,
        end_empty=True,
        name=inst.name,
        extra={
            "family": "kim",
            "fleet_unbounded": True,
            "volume_scale": sc,
            "coords": (inst.coords * METRES_PER_FOOT).tolist(),
        },
    )


# --------------------------------------------------------------------------- generic


def read_instance(path: str | Path, family: str | None = None) -> Instance:
    p = Path(path)
    fam = family or _family_of(p)
    if fam == "kim":
        return read_kim(p)
    return read_vrplib(p, fam)


def load_problem(path: str | Path, family: str | None = None) -> Problem:
    return read_instance(path, family).problem()


def family_dir(instances_dir: str | Path, family: str) -> Path:
    """The folder holding ``family``: either ``instances_dir`` itself or its subfolder."""
    if family not in FAMILIES:
        raise InstanceError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    root = Path(instances_dir)
    sub = root / FAMILY_DIRS[family]
    return sub if sub.is_dir() else root


def instance_paths(
    instances_dir: str | Path, family: str, only: Sequence[str] | None = None
) -> list[Path]:
    """Instance files of a family, sorted by name; ``only`` filters by instance name."""
    d = family_dir(instances_dir, family)
    pattern = "*_stop.txt" if family == "kim" else "*.vrp"
    paths = sorted(d.glob(pattern), key=_natural_key)
    if only:
        wanted = {o.strip().removesuffix(".vrp").removesuffix(".txt") for o in only if o.strip()}
        names = {p.name.removesuffix(".txt").removesuffix(".vrp") for p in paths}
        missing = wanted - names
        if missing:
            raise InstanceError(f"no such instance in {d}: {', '.join(sorted(missing))}")
        paths = [p for p in paths if p.name.removesuffix(".txt").removesuffix(".vrp") in wanted]
    return paths


def _natural_key(p: Path) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


# --------------------------------------------------------------------------- solutions


@dataclass(frozen=True)
class SolFile:
    routes: list[list[int]]
    cost: float | None


def read_sol(path: str | Path) -> SolFile:
    """Read a VRPLIB ``.sol`` file: ``Route #k: c1 c2 ...`` lines and ``Cost X``."""
    routes: list[list[int]] = []
    cost: float | None = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if s.lower().startswith("route"):
            _, _, rest = s.partition(":")
            routes.append([int(t) for t in rest.split()])
        elif s.lower().startswith("cost"):
            cost = float(s.split()[1])
    return SolFile(routes=routes, cost=cost)


def write_sol(path: str | Path, routes: Sequence[Sequence[int]], cost: float) -> None:
    lines = [f"Route #{k}: {' '.join(str(c) for c in r)}" for k, r in enumerate(routes, 1)]
    lines.append(f"Cost {cost:g}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Bks:
    instance: str
    #: the yardstick for gaps (DIMACS distance, CVRP rounded cost); None for kim
    cost: float | None
    vehicles: int | None
    #: other published figures (kim: distance in miles, vehicles, method, status)
    info: dict[str, str]


def read_bks(instances_dir: str | Path, family: str) -> dict[str, Bks]:
    """The family's ``bks.csv`` as {instance: Bks}."""
    path = family_dir(instances_dir, family) / "bks.csv"
    if not path.exists():
        return {}
    out: dict[str, Bks] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            name = row["instance"]
            if family in ("solomon", "homberger"):
                cost = _num(row.get("bks_distance_dimacs"))
                veh = _int(row.get("bks_dimacs_vehicles"))
            elif family == "cvrp":
                cost = _num(row.get("bks_cost_rounded_int"))
                veh = _int(row.get("bks_routes"))
            else:
                if name == "ALL":
                    continue
                cost = None
                veh = _int(row.get("vehicles"))
            out[name] = Bks(instance=name, cost=cost, vehicles=veh, info=dict(row))
    return out


def _num(s: str | None) -> float | None:
    try:
        return float(s) if s not in (None, "") else None
    except ValueError:
        return None


def _int(s: str | None) -> int | None:
    v = _num(s)
    return int(v) if v is not None else None
