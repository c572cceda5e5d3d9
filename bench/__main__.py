"""Run the benchmarks: `python -m bench [NAME ...] [--database sqlite|postgresql]` (all by default).

Names: booking, mixed, slots, export, dashboard, outbox. BENCH_SCALE (default 1.0) scales the
national data; the results go to bench/results/ as Markdown and JSON.
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback

from . import dashboard, export_csv, load, outbox_smtp, slot_search
from .common import DATABASES, Result, machine_info, pg_available, write_results

BENCHMARKS = {
    "booking": load.run_booking,
    "mixed": load.run_mixed,
    "slots": slot_search.run,
    "export": export_csv.run,
    "dashboard": dashboard.run,
    "outbox": outbox_smtp.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS) + " (default: all)")
    parser.add_argument("--database", choices=DATABASES, action="append")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    machine = machine_info()
    print(f"{machine['cores']} cores ({machine['cpu']}), Python {machine['python']}, SQLite {machine['sqlite']}, "
          f"PostgreSQL {machine['postgresql']}; load average {machine['load average (1, 5, 15 min)']}", flush=True)
    databases = args.database or [d for d in DATABASES if d == "sqlite" or pg_available()]
    results: list[Result] = []
    for name in args.names or list(BENCHMARKS):
        for database in databases:
            print(f"\n== {name} on {database}", flush=True)
            started = time.perf_counter()
            try:
                result = BENCHMARKS[name](database)
            except Exception:  # one broken benchmark must not lose the others' results
                traceback.print_exc()
                result = Result(name, database)
                result.check("ran", target="completes", value="failed: see the output", passed=False)
            result.notes.append(f"took {time.perf_counter() - started:.0f} s")
            print(result.report(), flush=True)
            results.append(result)
    machine["load average after (1, 5, 15 min)"] = machine_info()["load average (1, 5, 15 min)"]
    path = write_results(results, machine=machine)
    failed = [f"{r.name} ({r.database}): {c.name}" for r in results for c in r.checks if not c.passed]
    print(f"\nResults: {path}")
    print("Targets missed:" if failed else "Every target met.", *failed, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
