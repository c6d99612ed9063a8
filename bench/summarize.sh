#!/usr/bin/env bash
# bench/summarize.sh: the table of bench/run.sh, from one of its CSV files.
#
#   bash bench/summarize.sh bench/results/<stamp>.csv
#
# For every (workload, back-end): the median over the runs that passed of wall time, peak
# RSS, GC count, longest pause and 99th-percentile pause, and the ratios of time, RSS and
# longest pause to gomem's. Then the targets, each marked met or MISSED.
set -u
[ $# -eq 1 ] || { echo "usage: summarize.sh results.csv" >&2; exit 2; }

awk -F, '
function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) {           # insertion sort, numeric
        t = a[i] + 0
        for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
        a[j + 1] = t
    }
    if (n % 2) return a[(n + 1) / 2] + 0
    return (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { if (v != "" && v != "n/a") vals[key] = vals[key] " " v }
function fmt(v, f) { return v == "" ? "n/a" : sprintf(f, v) }
function ratio(x, y) { return (x == "" || y == "" || y == 0) ? "-" : sprintf("%.2f", x / y) }
NR == 1 { next }
{
    k = $4 SUBSEP $5
    if (!(k in seen)) {
        seen[k] = 1
        if (!($4 in bseen)) { bseen[$4] = 1; benches[++nb] = $4 }
        if (!($5 in kseen)) { kseen[$5] = 1; backends[++nk] = $5 }
    }
    runs[k]++
    if ($6 != "ok") { fails[k]++; next }
    add("t" SUBSEP k, $7); add("r" SUBSEP k, $9 / 1024); add("g" SUBSEP k, $10)
    add("m" SUBSEP k, $11); add("p" SUBSEP k, $13)
}
END {
    for (i = 1; i <= nb; i++) for (j = 1; j <= nk; j++) {
        k = benches[i] SUBSEP backends[j]
        T[k] = median(vals["t" SUBSEP k]); R[k] = median(vals["r" SUBSEP k])
        G[k] = median(vals["g" SUBSEP k]); M[k] = median(vals["m" SUBSEP k])
        P[k] = median(vals["p" SUBSEP k])
    }
    printf "%-17s %-9s %5s %9s %9s %6s %10s %10s %8s %8s %8s\n", "bench", "backend", "ok", \
        "time_s", "rss_MiB", "gc", "maxpause", "p99pause", "t/gomem", "rss/gm", "pz/gm"
    for (i = 1; i <= nb; i++) {
        g = benches[i] SUBSEP "gomem"
        for (j = 1; j <= nk; j++) {
            k = benches[i] SUBSEP backends[j]
            if (!(k in seen)) continue
            printf "%-17s %-9s %2d/%-2d %9s %9s %6s %10s %10s %8s %8s %8s\n", benches[i], \
                backends[j], runs[k] - fails[k], runs[k], fmt(T[k], "%.3f"), fmt(R[k], "%.1f"), \
                fmt(G[k], "%d"), fmt(M[k], "%.2f"), fmt(P[k], "%.2f"), ratio(T[k], T[g]), \
                ratio(R[k], R[g]), ratio(M[k], M[g])
        }
    }
    print ""
    print "targets (gomem / peer, medians of this run):"
    target("binarytrees19", "time", T, "boehm", 0.75)
    target("binarytrees19", "peak RSS", R, "boehm", 0.8)
    target("gcbench", "time", T, "boehm", 0.75)
    target("gcbench", "peak RSS", R, "boehm", 0.8)
    target("churn", "time", T, "jemalloc", 1.5)
    target("pause256", "longest pause", M, "boehm", 0.7)
}
function target(b, what, A, peer, limit,   g, p, r) {
    g = A[b SUBSEP "gomem"]; p = A[b SUBSEP peer]
    if (g == "" || p == "" || p == 0) {
        printf "  %-14s %-14s <= %.2fx %-8s  not measured\n", b, what, limit, peer
        return
    }
    r = g / p
    printf "  %-14s %-14s <= %.2fx %-8s  %6.2fx  %s\n", b, what, limit, peer, r, \
        r <= limit ? "met" : "MISSED"
}
' "$1"
