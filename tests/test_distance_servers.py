"""OsrmTable and ValhallaMatrix against tiny real HTTP servers on 127.0.0.1.

The servers answer the documented JSON shapes:

- OSRM ``GET /table/v1/{profile}/{lon,lat;...}?sources=..&destinations=..&annotations=distance,duration``
  -> ``{"code": "Ok", "durations": [[s]], "distances": [[m]], "sources": [...],
  "destinations": [...]}``; errors ``{"code": "TooBig", "message": ...}`` with HTTP 400;
  ``null`` where no route exists.
- Valhalla ``POST /sources_to_targets`` with ``{"sources": [{"lat", "lon"}], "targets": [...],
  "costing": "auto", "units": "kilometers"}`` -> verbose
  ``{"sources_to_targets": [[{"distance": km, "time": s, "from_index", "to_index"}]],
  "units": "kilometers"}`` or concise ``{"sources_to_targets": {"distances": [[km]],
  "durations": [[s]]}}``; errors ``{"error_code": 171, "error": ..., "status_code": 400}``.

Their "road" is 1.5 x the great circle plus 100 m when heading east, so answers are
asymmetric and every value can be checked.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pytest

from optimizer.distance import (
    DistanceServiceError,
    OsrmTable,
    ValhallaMatrix,
    from_spec,
    haversine_m,
)

POINTS = [
    (113.9760, 34.7190), (113.9900, 34.7300), (114.0100, 34.7000), (113.8500, 34.6200),
    (114.1800, 34.8100), (113.9300, 34.7500), (114.0500, 34.6600),
]


def fake_road(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """(metres, seconds) the fake servers report from a to b."""
    if a == b:
        return 0.0, 0.0
    m = Handler.scale * float(haversine_m(a[0], a[1], b[0], b[1])) + (100.0 if b[0] > a[0] else 0.0)
    return m, m / 10.0


def expected() -> tuple[np.ndarray, np.ndarray]:
    n = len(POINTS)
    d = np.zeros((n, n), dtype=np.int64)
    t = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            m, s = fake_road(POINTS[i], POINTS[j])
            d[i, j], t[i, j] = int(np.ceil(m - 1e-9)), int(np.ceil(s - 1e-9))
    return d, t


class Handler(BaseHTTPRequestHandler):
    scale: ClassVar[float] = 1.5  # road metres per great-circle metre
    max_table: ClassVar[int] = 9  # largest sources x destinations answered
    valhalla_concise: ClassVar[bool] = False
    unroutable: ClassVar[tuple[float, float] | None] = None  # a point nothing reaches
    requests: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        url = urlsplit(self.path)  # not urlparse: it cuts ";params" off the path
        type(self).requests.append(url.path)
        parts = url.path.split("/")
        if len(parts) != 5 or parts[1:3] != ["table", "v1"]:
            self._send(400, {"code": "InvalidUrl", "message": "URL string malformed"})
            return
        coords = [tuple(float(x) for x in c.split(",")) for c in unquote(parts[4]).split(";")]
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if q.get("annotations") != "distance,duration":
            self._send(400, {"code": "InvalidOptions", "message": "annotations"})
            return
        src = [int(i) for i in q["sources"].split(";")] if "sources" in q else range(len(coords))
        dst = ([int(i) for i in q["destinations"].split(";")] if "destinations" in q
               else range(len(coords)))
        if len(src) * len(dst) > self.max_table:
            self._send(400, {"code": "TooBig", "message": "Too many table coordinates"})
            return
        dist: list[list[float | None]] = []
        dur: list[list[float | None]] = []
        for i in src:
            drow: list[float | None] = []
            trow: list[float | None] = []
            for j in dst:
                a, b = coords[i], coords[j]
                if self.unroutable is not None and a != b and self.unroutable in (a, b):
                    drow.append(None)
                    trow.append(None)
                    continue
                m, s = fake_road(a, b)  # type: ignore[arg-type]
                drow.append(round(m, 1))
                trow.append(round(s, 1))
            dist.append(drow)
            dur.append(trow)

        def waypoint(k: int) -> dict[str, Any]:
            return {"hint": "x", "distance": 0.0, "name": "", "location": list(coords[k])}

        self._send(200, {"code": "Ok", "distances": dist, "durations": dur,
                         "sources": [waypoint(i) for i in src],
                         "destinations": [waypoint(j) for j in dst]})

    def do_POST(self) -> None:
        type(self).requests.append(self.path)
        length = int(self.headers.get("Content-Length", 0))
        req = json.loads(self.rfile.read(length))
        if self.path != "/sources_to_targets":
            self._send(404, {"error_code": 106, "error": "Try any of: '/sources_to_targets'",
                             "status_code": 404, "status": "Not Found"})
            return
        sources = [(s["lon"], s["lat"]) for s in req["sources"]]
        targets = [(t["lon"], t["lat"]) for t in req["targets"]]
        if len(sources) * len(targets) > self.max_table:
            self._send(400, {"error_code": 154,
                             "error": "Path distance exceeds the max distance limit",
                             "status_code": 400, "status": "Bad Request"})
            return
        assert req["units"] == "kilometers" and req["costing"] == "auto"
        cells = [[fake_road(a, b) for b in targets] for a in sources]
        if self.valhalla_concise:
            body: dict[str, Any] = {"sources_to_targets": {
                "distances": [[round(m / 1000, 4) for m, _ in row] for row in cells],
                "durations": [[round(s) for _, s in row] for row in cells]}}
        else:
            body = {"sources_to_targets": [
                [{"distance": round(m / 1000, 4), "time": round(s), "from_index": i,
                  "to_index": j} for j, (m, s) in enumerate(row)]
                for i, row in enumerate(cells)]}
        body["units"] = "kilometers"
        self._send(200, body)


@pytest.fixture
def server() -> Iterator[str]:
    Handler.scale = 1.5
    Handler.max_table = 9
    Handler.valhalla_concise = False
    Handler.unroutable = None
    Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_osrm_table_in_chunks(server: str) -> None:
    model = OsrmTable(server, chunk_size=3)
    dist, dur = model.matrices(POINTS)
    exp_d, exp_t = expected()
    # OSRM answers to 0.1 m / 0.1 s; we round up, so at most one unit apart
    assert np.abs(dist - exp_d).max() <= 1
    assert np.abs(dur - exp_t).max() <= 1
    assert dist[0, 2] > dist[2, 0]  # heading east costs 100 m more: rows are sources
    assert dist.dtype == np.int64 and (np.diag(dist) == 0).all()
    # 7 points in blocks of 3 -> 3 x 3 requests, all to the table service of the profile
    assert len(Handler.requests) == 9
    assert all(p.startswith("/table/v1/driving/") for p in Handler.requests)


def test_osrm_too_big_table_is_a_clear_error(server: str) -> None:
    with pytest.raises(DistanceServiceError, match="TooBig: Too many table coordinates") as err:
        OsrmTable(server, chunk_size=10).matrices(POINTS)
    assert "chunk=N" in str(err.value)


def test_osrm_no_route_is_reported(server: str) -> None:
    Handler.unroutable = POINTS[4]
    with pytest.raises(DistanceServiceError, match="no route"):
        OsrmTable(server, chunk_size=3).matrices(POINTS)


def test_valhalla_verbose_answer(server: str) -> None:
    model = from_spec(f"valhalla:{server},chunk=3")
    dist, dur = model.matrices(POINTS)
    exp_d, exp_t = expected()
    # Valhalla answers km to 3-4 decimals and whole seconds
    assert np.abs(dist - exp_d).max() <= 1
    assert np.abs(dur - exp_t).max() <= 1
    assert dist[0, 2] > dist[2, 0]
    assert Handler.requests.count("/sources_to_targets") == 9


def test_valhalla_concise_answer(server: str) -> None:
    Handler.valhalla_concise = True
    dist, dur = ValhallaMatrix(server, chunk_size=3).matrices(POINTS)
    exp_d, exp_t = expected()
    assert np.abs(dist - exp_d).max() <= 1
    assert np.abs(dur - exp_t).max() <= 1


def test_valhalla_error_answer(server: str) -> None:
    with pytest.raises(DistanceServiceError, match="max distance"):
        ValhallaMatrix(server, chunk_size=50).matrices(POINTS)


@pytest.mark.parametrize("kind", ["osrm", "valhalla"])
def test_unreachable_server_is_a_domain_error(kind: str, closed_port_url: str) -> None:
    model = from_spec(f"{kind}:{closed_port_url}")
    with pytest.raises(DistanceServiceError) as err:
        model.matrices(POINTS[:3])
    assert "unreachable" in str(err.value) and closed_port_url in str(err.value)
    # raised "from None": the CLI can print the one line without a chained traceback
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_wrong_service_answers_are_errors(server: str) -> None:
    # a client pointed at a path that is not the service gets a readable error
    with pytest.raises(DistanceServiceError, match="HTTP 404"):
        ValhallaMatrix(server + "/nothing-here").matrices(POINTS[:2])


@pytest.mark.parametrize("kind", ["osrm", "valhalla"])
def test_servers_never_go_below_the_straight_line(kind: str, server: str) -> None:
    # a server whose "roads" are half the great circle (bad data) is corrected upwards
    Handler.scale = 0.5
    dist, _ = from_spec(f"{kind}:{server},chunk=3").matrices(POINTS)
    lon = np.array([p[0] for p in POINTS])
    lat = np.array([p[1] for p in POINTS])
    straight = haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    assert (dist >= straight).all()
    assert (dist - straight < 1.0).all()  # westward legs: exactly the line, rounded up
