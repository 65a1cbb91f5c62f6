"""What ``/metrics`` costs in the web process: one render, and the counting on every request.

Compares ``service.web.metrics`` as it is with the same module at a git revision (by default
the last one before it moved to ``prometheus_client``), loaded from ``git show``, on the
same series: 20 routes x 2 methods x 3 statuses, 5 sites, 11 database gauges. Rounds
alternate between the two; medians are printed. The database reads of a scrape are not
here (they are the same queries before and after).

    python bench/metrics.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import timeit
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "28f53be"  # service/web/metrics.py hand-written, before prometheus_client
GAUGES = {f"replyguard_gauge_{i}": ("A gauge read from the database.", float(i)) for i in range(11)}


def load_baseline(revision: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:service/web/metrics.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("baseline_metrics")
    sys.modules[module.__name__] = module  # dataclasses and annotations look it up
    exec(compile(source, f"{revision}:service/web/metrics.py", "exec"), module.__dict__)
    return module


def count_request(metrics: Any, method: str, route: str, status: str) -> None:
    """One request's counting, through whichever API the module has."""
    if hasattr(metrics, "inc"):  # the hand-written registry
        metrics.observe_request(0.012, method=method, route=route)
        metrics.inc(
            "replyguard_http_requests_total",
            "HTTP requests.",
            method=method,
            route=route,
            status=status,
        )
    else:
        metrics.request_duration.labels(method, route).observe(0.012)
        metrics.http_requests.labels(method, route, status).inc()


def count_site(metrics: Any, site: str) -> None:
    if hasattr(metrics, "inc"):
        metrics.inc("replyguard_comments_accepted_total", "Accepted.", site=site)
        metrics.inc("replyguard_comments_rate_limited_total", "Refused.", site=site)
    else:
        metrics.comments_accepted.labels(site).inc()
        metrics.comments_rate_limited.labels(site).inc()


def filled(module: types.ModuleType) -> Any:
    metrics = module.Metrics()
    for r in range(20):
        for method in ("GET", "POST"):
            for status in ("200", "202", "404"):
                count_request(metrics, method, f"/v1/route{r}", status)
    for s in range(5):
        count_site(metrics, f"site{s}")
    return metrics


def render(metrics: Any) -> bytes:
    out = metrics.render(GAUGES)
    return bytes(out[0]) if isinstance(out, tuple) else str(out).encode()


def measure(module: types.ModuleType) -> tuple[float, float, int]:
    """Microseconds per render, per request counted, and the exposition's size in bytes."""
    metrics = filled(module)
    renders = 300
    per_render = timeit.timeit(lambda: render(metrics), number=renders) / renders
    requests = 20_000
    per_request = (
        timeit.timeit(lambda: count_request(metrics, "GET", "/v1/route3", "200"), number=requests)
        / requests
    )
    return per_render * 1e6, per_request * 1e6, len(render(metrics))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from service.web import metrics as current

    baseline = load_baseline(args.baseline)
    results: dict[str, list[tuple[float, float, int]]] = {"baseline": [], "current": []}
    for _ in range(args.rounds):
        results["baseline"].append(measure(baseline))
        results["current"].append(measure(current))
    print(f"{'':10} {'render (us)':>12} {'per request (us)':>17} {'bytes':>7}")
    for name, rows in results.items():
        render_us = statistics.median(r[0] for r in rows)
        request_us = statistics.median(r[1] for r in rows)
        print(f"{name:10} {render_us:12.0f} {request_us:17.2f} {rows[0][2]:7d}")


if __name__ == "__main__":
    main()
