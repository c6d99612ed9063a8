#!/usr/bin/env python3
"""bench/overhead_summary.py: medians from the CSV files of bench/overhead.sh.

    python3 bench/overhead_summary.py results/overhead-*.csv

Interleaved runs: per configuration, the median of user+sys CPU seconds, of wall seconds
and of the cycle count, each with its change against off and the range of off's runs;
then CPU time fitted as (a per-configuration constant) + b x cycles, which compares the
configurations at the same number of cycles (the GC CPU limiter makes the count depend
on wall time, so on the machine's load). Paired runs: the median of each pair's ratio.
"""
import csv
import statistics as st
import sys

CFGS = ["off", "profile", "trace"]


def cpu(r):
    return float(r["user_s"]) + float(r["sys_s"])


def wall(r):
    return float(r["wall_s"])


def cycles(r):
    return float(r["gc_count"] or 0)


def solve(a):
    """Gauss-Jordan elimination on the augmented matrix a (n rows, n+1 columns)."""
    n = len(a)
    for i in range(n):
        p = max(range(i, n), key=lambda k: abs(a[k][i]))
        a[i], a[p] = a[p], a[i]
        for k in range(n):
            if k != i:
                f = a[k][i] / a[i][i]
                a[k] = [x - f * y for x, y in zip(a[k], a[i])]
    return [a[i][n] / a[i][i] for i in range(n)]


def interleaved(rows):
    by = {c: [r for r in rows if r["config"] == c] for c in CFGS}
    print("runs per configuration: " + ", ".join(f"{c} {len(by[c])}" for c in CFGS))
    for name, f in (("cpu s", cpu), ("wall s", wall), ("cycles", cycles)):
        base = st.median(f(r) for r in by["off"])
        cells = [f"{c} {st.median(f(r) for r in by[c]):.2f} "
                 f"({(st.median(f(r) for r in by[c]) / base - 1) * 100:+.1f}%)" for c in CFGS]
        lo, hi = min(f(r) for r in by["off"]), max(f(r) for r in by["off"])
        print(f"  {name:7s} " + "  ".join(cells) + f"   off ranges {lo:.2f}..{hi:.2f}")
    x = [[1.0 if r["config"] == c else 0.0 for c in CFGS] + [cycles(r)] for r in rows]
    y = [cpu(r) for r in rows]
    if len({cycles(r) for r in rows}) < 2:
        return
    n = len(x[0])
    a = [[sum(xr[i] * xr[j] for xr in x) for j in range(n)] + [sum(xr[i] * yr for xr, yr in zip(x, y))]
         for i in range(n)]
    coef = solve(a)
    mean = st.mean(cycles(r) for r in rows)
    base = coef[0] + coef[-1] * mean
    res = [yr - sum(p * q for p, q in zip(xr, coef)) for xr, yr in zip(x, y)]
    sd = (sum(e * e for e in res) / max(1, len(res) - n)) ** 0.5
    cells = [f"{c} {coef[i] + coef[-1] * mean:.2f} ({(coef[i] + coef[-1] * mean) / base * 100 - 100:+.1f}%)"
             for i, c in enumerate(CFGS)]
    print(f"  cpu s at {mean:.0f} cycles (fit, {coef[-1]:.3f} s/cycle, residual sd {sd:.2f} s): "
          + "  ".join(cells))


def paired(rows):
    for x in ("profile", "trace"):
        ratios = []
        for rnd in sorted({int(r["round"]) for r in rows}):
            p = {r["config"]: r for r in rows if int(r["round"]) == rnd and r["pair"] == x}
            if "off" in p and x in p:
                ratios.append((cpu(p[x]) / cpu(p["off"]), wall(p[x]) / wall(p["off"]),
                               cycles(p["off"]) == cycles(p[x])))
        if not ratios:
            continue
        c = [r[0] for r in ratios]
        w = [r[1] for r in ratios]
        same = [r[0] for r in ratios if r[2]]
        print(f"  {x:7s} / off, {len(c)} pairs: cpu {st.median(c):.3f} ({min(c):.3f}..{max(c):.3f}), "
              f"wall {st.median(w):.3f} ({min(w):.3f}..{max(w):.3f})"
              + (f"; {len(same)} pairs with equal cycle counts: cpu {st.median(same):.3f}" if same else ""))


for path in sys.argv[1:]:
    with open(path) as fh:
        # runs that failed (status fail(N); older files have no status) are left out
        rows = [r for r in csv.DictReader(fh) if r["wall_s"] and r.get("status", "ok") == "ok"]
    print(path)
    if any(r["pair"] not in ("-", "") for r in rows):
        paired(rows)
    else:
        interleaved(rows)
