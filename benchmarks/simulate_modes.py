"""Schedule versus demand-driven collection over the demo year (docs/benchmarks.md).

Usage: python benchmarks/simulate_modes.py sqlite:///simdemo/wasteroute.db [seconds]
(the database of `wasteroute demo --out simdemo --time-limit 0`). Prints JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from logistics.demand.simulate import simulate
from logistics.persistence.db import session_scope


def main() -> None:
    url = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    with session_scope(url) as s:
        out = simulate(s, dt.date(2020, 1, 1), dt.date(2020, 12, 31),
                       km_days=[dt.date(2020, m, 15) for m in (2, 4, 6, 8, 10, 12)],
                       time_limit_s=seconds)
    sys.stdout.write(json.dumps(out, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
