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

# Bad inputs: one line on stderr naming the file, exit 1, never a traceback. A trace
# cut short (its process killed) is read up to its last complete event, with a warning.
bad="$work/bad" && mkdir -p "$bad"
: >"$bad/empty"
sz=$(stat -c %s "$work/heap.pb.gz")
head -c $((sz / 2)) "$work/heap.pb.gz" >"$bad/half.pb.gz"
gzip -dc "$work/heap.pb.gz" >"$bad/raw.pb" # (no pipe into head: pipefail and SIGPIPE)
head -c $(($(stat -c %s "$bad/raw.pb") / 2)) "$bad/raw.pb" | gzip >"$bad/inner.pb.gz"
head -c 4096 /dev/urandom >"$bad/random.bin"
echo '{"other": 1}' >"$bad/object.json"
printf '\x30\x01' >"$bad/wiretype.pb" # the string table's field as a number
expect_bad() { # expect_bad WHAT ARGS...: exit 1 with one line on stderr, no page
    local what=$1 rc=0
    shift
    python3 "$tool" -o "$bad/out.html" "$@" >/dev/null 2>"$bad/err.txt" || rc=$?
    if [ "$rc" != 1 ] || [ "$(wc -l <"$bad/err.txt")" != 1 ] || grep -q Traceback "$bad/err.txt" ||
        ! grep -q '^gomem-report: ' "$bad/err.txt"; then
        echo "FAIL: $what: exit $rc, stderr:"; cat "$bad/err.txt"; exit 1
    fi
}
for f in empty half.pb.gz inner.pb.gz random.bin wiretype.pb missing; do
    expect_bad "profile $f" --profile "$bad/$f"
done
for f in empty random.bin object.json missing; do
    expect_bad "trace $f" --trace "$bad/$f"
done
expect_bad "unwritable output" --trace "$work/trace.json" -o /nonexistent-dir/x.html
n=$(wc -l <"$work/trace.json")
head -n $((n / 2)) "$work/trace.json" | head -c -7 >"$bad/cut.json" # ends mid-event
python3 "$tool" --trace "$bad/cut.json" -o "$bad/cut.html" >/dev/null 2>"$bad/err.txt" ||
    { echo "FAIL: a trace cut short was not read:"; cat "$bad/err.txt"; exit 1; }
grep -q 'incomplete trace' "$bad/err.txt" || { echo "FAIL: no warning for a cut trace"; exit 1; }

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
