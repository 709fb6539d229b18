"""generate_county_day: deterministic synthetic days with every rule in play."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.generate import generate_county_day


def test_same_seed_same_day_other_seed_other_day() -> None:
    a = generate_county_day(60, seed=3)
    b = generate_county_day(60, seed=3)
    c = generate_county_day(60, seed=4)
    assert np.array_equal(a.distance_m, b.distance_m) and a.clients == b.clients
    assert not np.array_equal(a.distance_m, c.distance_m)


@pytest.mark.parametrize("n_cat", [2, 3, 4])
def test_structure(n_cat: int) -> None:
    p = generate_county_day(200, seed=1, n_categories=n_cat)
    assert len(p.clients) == 200 and len(p.categories) == n_cat
    coords = np.asarray(p.extra["coords"])
    assert coords.shape == (p.num_locations, 2)
    # straight line x 1.3, 25 km/h
    straight = np.hypot(*(coords[7] - coords[42]))
    assert p.distance_m[7, 42] == round(1.3 * straight)
    assert p.duration_s[7, 42] == round(p.distance_m[7, 42] / (25 / 3.6))
    assert p.end_empty
    # every category: some vehicle carries it and some facility takes it
    for cat in p.categories:
        assert any(cat in v.capacities for v in p.vehicles)
        assert any(cat in f.accepts for f in p.facilities)
    # facilities accept subsets and keep hours; some vehicles have two compartments
    assert any(len(f.accepts) < n_cat for f in p.facilities)
    assert any(f.open_s > 0 or f.close_s < 24 * 3600 for f in p.facilities)
    assert any(len(v.capacities) > 1 for v in p.vehicles)
    assert all(v.has_break for v in p.vehicles)
    windows = [c for c in p.clients if c.tw_end_s - c.tw_start_s < 6 * 3600]
    assert 0 < len(windows) < len(p.clients)
    assert all(c.penalty is not None and len(c.demand) == 1 for c in p.clients)


def test_clients_cluster() -> None:
    p = generate_county_day(400, seed=2)
    xy = np.asarray(p.extra["coords"])[-400:]
    # nearest-neighbour distances are far below what uniform points would give
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    uniform_nn = 0.5 * 40_000 / np.sqrt(400)
    assert np.median(d.min(axis=1)) < 0.5 * uniform_nn


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate_county_day(0)
    with pytest.raises(ValueError):
        generate_county_day(10, n_categories=5)
