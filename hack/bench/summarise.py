#!/usr/bin/env python3
"""Summarises scale.py results: medians per N over the successful runs, as Markdown.

Usage: summarise.py DIR [DIR...]   (every DIR/*/result.json is read)
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def metric_sum(metrics: dict[str, float], name: str, **labels: str) -> float:
    total = 0.0
    for key, value in metrics.items():
        base, _, rest = key.partition("{")
        if base in (name, name + "_total") and all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


def med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def spread(values: list[float], digits: int = 2) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return fmt(m, digits)
    return f"{fmt(m, digits)} ({fmt(min(values), digits)}-{fmt(max(values), digits)})"


def main() -> int:
    results = []
    for d in sys.argv[1:]:
        for f in sorted(Path(d).glob("*/result.json")):
            r = json.loads(f.read_text())
            r["_file"] = str(f)
            results.append(r)
    if not results:
        print("no results")
        return 1
    failed = [r for r in results if "error" in r]
    ok = [r for r in results if "error" not in r and "converge_s" in r]
    sizes = sorted({r["n"] for r in ok})
    if not sizes:
        print(f"no completed measurement among {len(results)} result(s)")
        for r in results:
            print(f"- N={r['n']} {r['_file']}: {r.get('error') or 'no measurement (skeleton check?)'}")
        return 1

    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn, digits: int = 2) -> None:
        cells = []
        for n in sizes:
            vals = []
            for r in ok:
                if r["n"] != n:
                    continue
                try:
                    vals.append(fn(r))
                except (KeyError, ZeroDivisionError, TypeError):
                    vals.append(None)
            cells.append(spread(vals, digits))
        rows.append((label, cells))

    per = lambda r, v: v / r["n"]
    row("runs", lambda r: sum(1 for x in ok if x["n"] == r["n"]))
    row("create N policies (SSA, s)", lambda r: r["create_policies_s"])
    row("all Ready after controller start (s)", lambda r: r["converge_s"])
    row("  of which: start to first S3 request (s)", lambda r: r["startup_to_first_s3_request_s"])
    row("  of which: first S3 request to all Ready (s)", lambda r: r["first_s3_request_to_all_ready_s"])
    row("lower bound N*(GET+PUT)/concurrency, nominal latency (s)", lambda r: r["bound_nominal_s"])
    row("ratio to nominal bound", lambda r: r["ratio_nominal"])
    row("lower bound: measured S3 wait time / concurrency (s)", lambda r: r["bound_measured_s"])
    row("ratio to measured bound", lambda r: r["ratio_measured"])
    row("S3 GET p50 seen by controller, initial sync (ms)", lambda r: r["initial_s3_latency_ms"]["total"]["get"]["p50"])
    row("S3 PUT p50 seen by controller, initial sync (ms)", lambda r: r["initial_s3_latency_ms"]["total"]["put"]["p50"])
    row("S3 GET p90 seen by controller, initial sync (ms)", lambda r: r["initial_s3_latency_ms"]["total"]["get"]["p90"])
    row("moto service time p50, GET (ms)", lambda r: r["initial_s3_latency_ms"]["upstream"]["get"]["p50"])
    row("max S3 requests in flight", lambda r: r["initial_s3_latency_ms"]["max_in_flight"])
    row("initial sync: S3 GET per policy", lambda r: per(r, r["initial_s3"].get("get", 0)))
    row("initial sync: S3 PUT per policy", lambda r: per(r, r["initial_s3"].get("put", 0)))
    row("initial sync: S3 DELETE/other per policy",
        lambda r: per(r, r["initial_s3"].get("delete", 0) + r["initial_s3"].get("other", 0)))
    row("initial sync: reconciles per policy", lambda r: per(r, r["reconciles_initial"]))
    row("initial sync: mean reconcile duration (ms)",
        lambda r: 1000 * metric_sum(r["initial_metrics"], "bucketcors_reconcile_duration_seconds_sum")
        / metric_sum(r["initial_metrics"], "bucketcors_reconcile_duration_seconds_count"))
    row("initial sync: mean S3 wait per policy, GET + PUT (ms)",
        lambda r: sum(v["sum"] for v in r["initial_s3_latency_ms"]["total"].values()) / r["n"])
    row("initial sync: status patches per policy",
        lambda r: per(r, metric_sum(r["initial_metrics"], "bucketcors_status_patches_total")))
    row("initial sync: API requests per policy", lambda r: per(r, r["audit_initial"]["total"]))
    row("initial sync: API requests per reconcile", lambda r: r["api_requests_per_reconcile_initial"])
    row("initial sync: controller CPU (s)", lambda r: r["initial_cpu"]["controller"])
    row("initial sync: etcd CPU (s)", lambda r: r["initial_cpu"]["etcd"])
    row("initial sync: kube-apiserver CPU (s)", lambda r: r["initial_cpu"]["kube-apiserver"])
    row("initial sync: moto CPU (s)", lambda r: r["initial_cpu"]["moto"])
    row("initial sync: s3proxy CPU (s)", lambda r: r["initial_cpu"]["s3proxy"])
    row("initial sync: machine busy (% of 2 cores, all processes)", lambda r: r["initial_cpu"]["machine_busy_pct"])
    row("steady window (s)", lambda r: r["steady_window_s"], 0)
    row("steady: S3 GET per policy per interval", lambda r: r["steady_gets_per_policy_per_interval"], 3)
    row("steady: S3 PUT", lambda r: r["steady_s3"].get("put", 0))
    row("steady: S3 DELETE + other", lambda r: r["steady_s3"].get("delete", 0) + r["steady_s3"].get("other", 0))
    row("steady: status patches", lambda r: metric_sum(r["steady_metrics"], "bucketcors_status_patches_total"))
    row("steady: CORS writes", lambda r: metric_sum(r["steady_metrics"], "bucketcors_cors_writes_total"))
    row("steady: API requests per reconcile", lambda r: r.get("api_requests_per_reconcile_steady", 0), 3)
    row("steady: reconciles per policy per interval",
        lambda r: r["reconciles_steady"] * r["interval_s"] / (r["n"] * r["steady_window_s"]), 3)
    row("steady: controller CPU per policy per interval (ms)",
        lambda r: 1000 * r["steady_controller_cpu_s"] * r["interval_s"] / (r["n"] * r["steady_window_s"]), 3)
    row("controller peak RSS, VmHWM (MiB)", lambda r: r["final_usage"]["hwm_kb"] / 1024)
    row("controller RSS after steady window (MiB)", lambda r: r["steady_usage"]["rss_kb"] / 1024)
    row("repair after out-of-band change: median (s)", lambda r: r["repair"]["median_s"])
    row("repair: max (s)", lambda r: r["repair"]["max_s"])
    row("repair: repaired / changed", lambda r: r["repair"]["repaired"] / r["repair"]["changed"])
    row("repair bound: interval x 1.1 (s)", lambda r: r["repair"]["bound_s"])

    print("| measure | " + " | ".join(f"N = {n:,}" for n in sizes) + " |")
    print("| --- | " + " | ".join("---" for _ in sizes) + " |")
    for label, cells in rows:
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print("Cells: median over runs (min-max when more than one run).")

    # Memory per policy: least-squares slope of median peak RSS over N.
    pts = []
    for n in sizes:
        hwm = med([r["final_usage"]["hwm_kb"] * 1024 for r in ok if r["n"] == n])
        rss = med([r["steady_usage"]["rss_kb"] * 1024 for r in ok if r["n"] == n])
        pts.append((n, hwm, rss))
    if len(pts) >= 2:
        print()
        for label, idx in (("peak RSS (VmHWM)", 1), ("RSS after the steady window", 2)):
            xs, ys = [p[0] for p in pts], [p[idx] for p in pts]
            mx, my = statistics.mean(xs), statistics.mean(ys)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
            pairs = ", ".join(
                f"{a[0]:,}->{b[0]:,}: {(b[idx] - a[idx]) / (b[0] - a[0]):,.0f} B" for a, b in zip(pts, pts[1:]))
            print(f"- {label}: {slope:,.0f} bytes per policy (least-squares slope over N); between sizes: {pairs}; "
                  f"intercept {(my - slope * mx) / 2**20:.1f} MiB")
    if failed:
        print()
        print(f"Failed runs ({len(failed)}):")
        for r in failed:
            print(f"- N={r['n']} {r['_file']}: {r['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
