#!/usr/bin/env bash
# report_test.sh: the gomem-report page, end to end. Runs a program with gctrace, the
# event trace and the heap profile on, turns the three files into one HTML page with
# tools/gomem-report, checks the page is self-contained, then loads it in headless
# Chromium and checks that every chart and table was drawn (the page's script sets
# data-charts-drawn on <body>). Exits 77 (skipped) when python3 or chromium is absent.
# Usage: report_test.sh <program> <gomem-report> <workdir>
set -euo pipefail
prog=$1 tool=$2 work=$3
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
GODEBUG=gctrace=1 GOMEMTRACE="$work/trace.json" GOMEMPROFILE="$work/heap.pb.gz" \
    GOMEMPROFILERATE=4096 "$prog" >"$work/stdout.txt" 2>"$work/gctrace.log"
python3 "$tool" --trace "$work/trace.json" --gctrace "$work/gctrace.log" \
    --profile "$work/heap.pb.gz" -o "$work/report.html" --title "gomem report test"
page="$work/report.html"
# self-contained: no script, stylesheet, image or font fetched from anywhere
if grep -Eqi '<(script|link|img|iframe)[^>]+(src|href)=|@import|url\(' "$page"; then
    echo "FAIL: the page references external resources"; exit 1
fi
grep -q 'data-charts-drawn="0"' "$page" || { echo "FAIL: no drawing marker"; exit 1; }

browser=""
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null; then browser=$b; break; fi
done
[ -n "$browser" ] || { echo "SKIP: chromium not installed (apt-get install chromium)"; exit 77; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
       --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile")
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$page" >"$work/dom.html" 2>"$work/chromium.log"
fail=0
grep -q 'data-charts-drawn="4"' "$work/dom.html" || { echo "FAIL: not all 4 charts were drawn"; fail=1; }
n=$(grep -o '<polyline' "$work/dom.html" | wc -l)
[ "$n" -ge 3 ] || { echo "FAIL: heap chart has $n series (want >= 3)"; fail=1; }
n=$(grep -o 'class="gcbar"' "$work/dom.html" | wc -l)
[ "$n" -ge 2 ] || { echo "FAIL: GC chart has $n bars"; fail=1; }
grep -q '<th>occupancy</th>' "$work/dom.html" || { echo "FAIL: no size-class table"; fail=1; }
grep -q 'allocation site' "$work/dom.html" || { echo "FAIL: no allocation-site table"; fail=1; }
timeout 120 "$browser" "${flags[@]}" --hide-scrollbars --window-size=1000,1900 \
    --screenshot="$work/report.png" "file://$page" >/dev/null 2>&1 || true
[ $fail -eq 0 ] && echo "report drawn: $work/report.html (screenshot $work/report.png)"
exit $fail
