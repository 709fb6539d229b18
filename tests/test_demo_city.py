"""`wasteroute demo --scale city`: the demo city, its files as a bureau writes them, and
their import. A small city (``city:300``) goes through the CLI and the real importer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from logistics.cli import app
from logistics.demo.city import DISTRICTS, generate_city
from logistics.demo.export import FILE_NAMES
from logistics.persistence import models as m
from logistics.persistence.db import session_scope


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)


def test_each_district_has_its_depots_facilities_and_fleet() -> None:
    city = generate_city(seed=3, points=600)
    assert len(city.points) == 600
    assert (city.points["days"] == "daily").all()
    districts = city.points["point_id"].str[1]
    assert districts.nunique() == len(DISTRICTS)
    for d in sorted(districts.unique()):
        cats = set(city.points.loc[districts == d, "category"])
        fleet = city.vehicles[city.vehicles["vehicle_id"].str[1] == d]
        carried = {c.split(":")[0] for c in fleet["compartments"]}
        assert cats <= carried, d
        depots = set(city.depots.loc[city.depots["depot_id"].str[1] == d, "depot_id"])
        assert len(depots) >= 2 and set(fleet["depot_id"]) <= depots
        facs = city.facilities[city.facilities["facility_id"].str[1] == d]
        accepted = {k for a in facs["accepts"] for k in a}
        assert cats <= accepted, d
    # deterministic per seed, another seed another city
    again = generate_city(seed=3, points=600)
    assert again.points.equals(city.points) and again.vehicles.equals(city.vehicles)
    other = generate_city(seed=4, points=600)
    assert not other.points[["_lon", "_lat"]].equals(city.points[["_lon", "_lat"]])


def test_demo_city_files_and_import(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "city"
    res = CliRunner().invoke(app, ["demo", "--scale", "city:300", "--out", str(out),
                                   "--time-limit", "0", "--db", db_url])
    assert res.exit_code == 0, res.output
    data = out / "data"
    assert sorted(p.name for p in data.iterdir()) == sorted(FILE_NAMES.values())
    points = _read_csv(data / "points.csv")
    assert list(points.columns)[:4] == ["点位编号", "名称", "社区编号", "经度"]
    assert len(points) == 300
    assert set(points["类别"]) <= {"其他垃圾", "厨余垃圾", "可回收物", "有害垃圾"}
    assert (points["坐标系"] == "gcj02").any()
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).select_from(m.Point)) == 300
        towns = set(s.scalars(select(m.Community.town)))
        assert towns == {d.name for d in DISTRICTS}
        assert s.scalar(select(func.count()).select_from(m.CollectionRecord)) == 300


@pytest.mark.parametrize("scale", ["town", "city:abc", "city:5", "9"])
def test_a_bad_scale_is_a_clear_error(scale: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["demo", "--scale", scale, "--out", str(tmp_path / "x"),
                                   "--time-limit", "0"])
    assert res.exit_code == 2, res.output
    assert "--scale" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x").exists()
