"""`make bench`: one table, every figure next to the platform's own ceiling measured in the
same run on the same machine, so the ratio holds on a busy or slow machine.

    .venv/bin/python bench/run_all.py [--seed-items 1000000] [--backlog 50000]
                                      [--rate 200] [--seconds 60] [--page-requests 100]

Each part runs in its own process (a fresh Django per database): bench/routing_load.py on
the bench database (ingest, drain, steady load, classification, memory), then bench/pages.py
on the seeded store (switchboard_load; seeded with `seed_load` first if smaller than
--seed-items). Throughput ratios are figure / ceiling; latency and memory ratios are
figure / floor (how many times the bare platform's cost).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import percentile  # noqa: E402


def _run(script: str, *args: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / script), *args, "--json", out.name],
            cwd=ROOT,
            check=True,
        )
        return json.loads(Path(out.name).read_text())


def _p(values: list[float], *ps: int) -> str:
    return "/".join(f"{percentile(values, p):.0f}" for p in ps) + " ms"


def rows(load: dict, pages: dict, *, rate: float, seconds: float) -> list[tuple]:
    """(figure, measured, ceiling, ratio, target, met) for the table."""
    single, minimal = load["single"], load["minimal"]
    single_ratio = single["rate"] / minimal["rate"]
    bulk_ratio = load["bulk"]["api"] / load["bulk"]["bulk_create"]
    steady, noop = load["steady"], load["noop_ms"]
    steady_p95 = percentile(steady["ms"], 95) if steady["ms"] else float("inf")
    drains = {d["workers"]: d["items"] / d["seconds"] for d in load["drains"]}
    backlog = load["drains"][0]["items"]
    classify = {int(k): v for k, v in load["classify"].items()}
    floor_page = percentile(pages["minimal page"], 95)
    rss = load["rss"]

    def met(ok: bool) -> str:
        return "yes" if ok else "**no**"

    table = [
        (
            "single-post ingest (4 clients)",
            f"{single['rate']:,.0f} req/s, p50/p99 {_p(single['ms'], 50, 99)}",
            f"minimal DRF create: {minimal['rate']:,.0f} req/s, {_p(minimal['ms'], 50, 99)}",
            f"{single_ratio:.0%}",
            "≥ 70%",
            met(single_ratio >= 0.7),
        ),
        (
            "bulk ingest (lists of 500)",
            f"{load['bulk']['api']:,.0f} items/s",
            f"raw bulk_create: {load['bulk']['bulk_create']:,.0f} items/s",
            f"{bulk_ratio:.0%}",
            "≥ 50%",
            met(bulk_ratio >= 0.5),
        ),
        (
            f"POST to routed, {rate:.0f} posts/s for {seconds:.0f} s "
            f"(lists of {steady['per_request']}), p50/p95/p99",
            _p(steady["ms"], 50, 95, 99)
            + (f", {steady['missing']} not routed" if steady["missing"] else ""),
            f"no-op Celery task, same broker/worker/rate: {_p(noop, 50, 95, 99)}",
            f"{steady_p95 / percentile(noop, 95):.1f}× floor (p95)",
            "p95 < 1 s",
            met(steady_p95 < 1000 and not steady["missing"]),
        ),
    ]
    for workers in sorted(drains):
        table.append(
            (
                f"drain of a {backlog:,}-item backlog, {workers} worker process(es)",
                f"{drains[workers]:,.0f} items/s",
                f"classifier alone, {workers} process(es): {classify[workers]:,.0f} items/s",
                f"{drains[workers] / classify[workers]:.0%}",
                "≥ 1,000 items/s" if workers == 2 else "—",
                met(drains[workers] >= 1000) if workers == 2 else "—",
            )
        )
    table.append(
        (
            "classification, 1 process (batches of 200)",
            f"{classify[1]:,.0f} items/s",
            f"feature hashing alone: {load['hashing']:,.0f} items/s",
            f"{classify[1] / load['hashing']:.0%}",
            "—",
            "—",
        )
    )
    # Issue #13's target: the queue page's p95 within 15x the floor's, in the same run.
    page_targets = {"queue page": 15.0}
    for name in ("queue page", "dashboard overview", "department dashboard", "item page"):
        p95 = percentile(pages[name], 95)
        target = page_targets.get(name)
        table.append(
            (
                f"{name} p95, 1,000,000 items",
                f"{p95:.0f} ms",
                f"minimal logged-in page: {floor_page:.1f} ms",
                f"{p95 / floor_page:.1f}× floor",
                f"≤ {target:.0f}× floor" if target else "—",
                ("yes" if p95 / floor_page <= target else "no") if target else "—",
            )
        )
    for name, processes in (("web (gunicorn worker)", rss["web"][1:]), ("worker", rss["worker"])):
        table.append(
            (
                f"{name} memory, largest process",
                f"{max(processes):.0f} MB",
                f"fresh process after django.setup(): {rss['floor']:.0f} MB",
                f"{max(processes) / rss['floor']:.1f}× floor",
                "—",
                "—",
            )
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed-items", type=int, default=1_000_000)
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--page-requests", type=int, default=100)
    args = parser.parse_args()
    load = _run(
        "routing_load.py",
        f"--backlog={args.backlog}",
        f"--rate={args.rate}",
        f"--seconds={args.seconds}",
    )
    pages = _run("pages.py", f"--seed-items={args.seed_items}", f"--requests={args.page_requests}")
    table = rows(load, pages, rate=args.rate, seconds=args.seconds)
    header = ("figure", "measured", "ceiling (same run)", "ratio", "target", "met")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in table:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
