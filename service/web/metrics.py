"""Prometheus metrics, kept in-process and written in the text exposition format.

A dependency-free registry is enough for counters and one latency histogram; queue depth
and age are read from PostgreSQL at scrape time, so every replica reports the same truth.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Final

LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return "{" + inner + "}" if inner else ""


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._help: dict[str, str] = {}
        self._hist: dict[tuple[tuple[str, str], ...], list[float]] = {}
        self._hist_sum: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)

    def inc(self, name: str, help_text: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._help[name] = help_text
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + amount

    def observe_request(self, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            counts = self._hist.setdefault(key, [0.0] * (len(LATENCY_BUCKETS) + 1))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self._hist_sum[key] += seconds

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
                lines += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(series.items())]
            name = "replyguard_http_request_duration_seconds"
            lines += [f"# HELP {name} Time to answer HTTP requests.", f"# TYPE {name} histogram"]
            for key, counts in sorted(self._hist.items()):
                for bound, count in zip(LATENCY_BUCKETS, counts, strict=False):
                    lines.append(f"{name}_bucket{_labels((*key, ('le', f'{bound:g}')))} {count:g}")
                lines.append(f"{name}_bucket{_labels((*key, ('le', '+Inf')))} {counts[-1]:g}")
                lines.append(f"{name}_sum{_labels(key)} {self._hist_sum[key]:g}")
                lines.append(f"{name}_count{_labels(key)} {counts[-1]:g}")
        for gname, (help_text, value) in sorted(gauges.items()):
            lines += [f"# HELP {gname} {help_text}", f"# TYPE {gname} gauge", f"{gname} {value:g}"]
        return "\n".join(lines) + "\n"
