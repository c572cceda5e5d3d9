"""What every benchmark shares: timing, percentiles, results, machine facts, cached databases."""
from __future__ import annotations

import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", ROOT / "bench" / ".data"))  # gitignored cache
RESULTS_DIR = ROOT / "bench" / "results"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASES = ("sqlite", "postgresql")
GENERATOR_VERSION = 2  # bump when a generator changes, so cached databases are made again


# ---- measuring


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linear between the closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def timed(action: Callable[[], object], *, runs: int, warmup: int = 1) -> list[float]:
    """Seconds per run of `action`, after `warmup` unmeasured runs."""
    for _ in range(warmup):
        action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


# ---- results


@dataclass
class Check:
    """A target from the issue and whether this run met it."""

    name: str
    target: str
    value: str
    passed: bool


@dataclass
class Result:
    name: str
    database: str
    rows: list[dict[str, object]] = field(default_factory=list)  # the measured figures, one dict per line
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, *, target: str, value: str, passed: bool) -> None:
        self.checks.append(Check(name, target, value, passed))

    def table(self) -> str:
        """The rows as a Markdown table."""
        if not self.rows:
            return ""
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in self.rows]
        return "\n".join(lines)

    def report(self) -> str:
        out = [f"### {self.name} ({self.database})", "", self.table(), ""]
        out += [f"- {'PASS' if c.passed else 'FAIL'} {c.name}: {c.value} (target {c.target})" for c in self.checks]
        out += [f"- note: {n}" for n in self.notes]
        return "\n".join(out) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def write_results(results: list[Result], *, machine: dict[str, str], path: Path | None = None) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = path or RESULTS_DIR / f"results-{stamp}"
    path.with_suffix(".json").write_text(json.dumps(
        {"machine": machine, "results": [asdict(r) for r in results]}, indent=2, default=str))
    lines = ["# Benchmark results", "", *(f"- {k}: {v}" for k, v in machine.items()), ""]
    lines += [r.report() for r in results]
    path.with_suffix(".md").write_text("\n".join(lines))
    return path.with_suffix(".md")


# ---- the machine


def machine_info() -> dict[str, str]:
    cpu = "?"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = match.group(1).strip() if match else cpu
    except OSError:
        pass
    info = {"cores": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "load average (1, 5, 15 min)": " ".join(
                f"{x:.2f}" for x in os.getloadavg())}
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error:
        info["postgresql"] = "not reachable"
    return info


# ---- databases


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def pg_url(name: str) -> str:
    """SQLAlchemy URL of a database on the benchmark's PostgreSQL server."""
    return PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"


def pg_libpq_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def pg_exists(name: str) -> bool:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def pg_drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_create(name: str, *, template: str | None = None) -> None:
    pg_drop(name)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


@dataclass(frozen=True)
class CachedDatabase:
    """A generated database kept between runs: a SQLite file or a PostgreSQL database."""

    kind: str  # sqlite or postgresql
    name: str  # e.g. national-v1-s1.0

    @property
    def path(self) -> Path:
        return DATA_DIR / f"{self.name}.db"

    @property
    def pg_name(self) -> str:
        return "bench_" + re.sub(r"[^a-z0-9]+", "_", self.name.lower())

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}" if self.kind == "sqlite" else pg_url(self.pg_name)

    def exists(self) -> bool:
        if self.kind == "sqlite":
            return self.path.exists()
        return pg_exists(self.pg_name)

    def create_empty(self) -> str:
        """A new, empty database under a temporary name; `publish` makes it the cached one."""
        if self.kind == "sqlite":
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{partial}{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{partial}"
        pg_create(self.pg_name + "_partial")
        return pg_url(self.pg_name + "_partial")

    def publish(self) -> None:
        """Only a complete generation becomes the cached database (an interrupted one is made again)."""
        if self.kind == "sqlite":
            partial = self.path.with_suffix(".partial")
            with sqlite3.connect(partial) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            partial.replace(self.path)
            for suffix in ("-wal", "-shm"):
                Path(f"{partial}{suffix}").unlink(missing_ok=True)
            return
        pg_drop(self.pg_name)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{self.pg_name}_partial" RENAME TO "{self.pg_name}"')

    @contextmanager
    def copy(self, label: str) -> Iterator[str]:
        """A throw-away copy for a benchmark that writes (bookings, outbox); its URL."""
        if self.kind == "sqlite":
            target = DATA_DIR / f"{self.name}-{label}.db"
            subprocess.run(["cp", "--reflink=auto", str(self.path), str(target)], check=True)
            try:
                yield f"sqlite:///{target}"
            finally:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{target}{suffix}").unlink(missing_ok=True)
            return
        name = f"{self.pg_name}_{label}"
        pg_create(name, template=self.pg_name)
        try:
            yield pg_url(name)
        finally:
            pg_drop(name)


def cached(kind: str, name: str, generate: Callable[[str], None], *, log: Callable[[str], None] = print,
           ) -> CachedDatabase:
    """The cached database `name`, generating it first (with `generate(url)`) when it is missing, and
    brought to the current schema by the app's migrations (generators build it with them too)."""
    from scheduler.db import make_engine
    from scheduler.migrate import upgrade_database

    database = CachedDatabase(kind, f"{name}-v{GENERATOR_VERSION}")
    if not database.exists():
        log(f"generating {database.name} on {kind} (cached for later runs)...")
        started = time.perf_counter()
        url = database.create_empty()
        generate(url)
        database.publish()
        log(f"  done in {time.perf_counter() - started:.0f} s")
    engine = make_engine(database.url)
    try:
        upgrade_database(engine)  # a newer app version's migrations, as a production database gets them
    finally:
        engine.dispose()
    return database
