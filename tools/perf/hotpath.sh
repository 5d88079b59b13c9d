#!/usr/bin/env bash
# The hot path (issue #18): a cached Patient read through the facade, with
# authentication on, against a bare net/http handler writing the same bytes
# (tools/perf/bareserve), both driven by wrk in one run on this machine.
#
#   tools/perf/hotpath.sh [duration] [connections]     (defaults 10s 32)
#
# Runs bare, facade, bare, facade and prints each run's requests/s and
# latency percentiles, then the ratios of the medians. Both are sent the
# same request, bearer token included (the bare handler ignores it): what
# differs is what each does with it. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${1:-10s}"
CONN="${2:-32}"
THREADS="${THREADS:-2}"
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)" >&2; exit 1; }
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
go build -o "$tmp/" ./cmd/facade ./cmd/token ./tools/perf/bareserve

free_port() {
  local p
  for _ in $(seq 100); do
    p=$((10000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port" >&2; exit 1
}

fport="$(free_port)"
# One caller's token carries the whole load, as in tools/perf/bench.sh.
env PDS_CACHE_TTL=60s FACADE_MAX_IN_FLIGHT_PER_CALLER=1024 "$tmp/facade" -addr "127.0.0.1:$fport" -quiet >"$tmp/facade.log" 2>&1 &
pids+=($!)
tok="$("$tmp/token" -url "http://127.0.0.1:$fport" -wait 60s)"
url="http://127.0.0.1:$fport/fhir/Patient/9000000009"
curl -sf -D "$tmp/headers" -o "$tmp/body" -H "Authorization: Bearer $tok" "$url"
etag="$(awk 'tolower($1)=="etag:"{sub(/\r$/,""); $1=""; sub(/^ /,""); print}' "$tmp/headers")"
ctype="$(awk 'tolower($1)=="content-type:"{sub(/\r$/,""); $1=""; sub(/^ /,""); print}' "$tmp/headers")"
bport="$(free_port)"
"$tmp/bareserve" -addr "127.0.0.1:$bport" -body "$tmp/body" -etag "$etag" -content-type "$ctype" >"$tmp/bare.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$bport/" && break; sleep 0.1; done
echo "body: $(wc -c <"$tmp/body") bytes, ETag $etag; wrk -t$THREADS -c$CONN -d$DUR; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); load $(cut -d' ' -f1-3 /proc/loadavg)"

# run NAME URL [header]: one wrk run; prints "NAME rps p50 p99" in ms.
run() {
  local out
  if [ -n "${3:-}" ]; then out="$(wrk -t"$THREADS" -c"$CONN" -d"$DUR" --latency -H "$3" "$2")"
  else out="$(wrk -t"$THREADS" -c"$CONN" -d"$DUR" --latency "$2")"; fi
  if echo "$out" | grep -q "Non-2xx"; then echo "$1: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p99
  rps="$(echo "$out" | awk '/Requests\/sec/{print $2}')"
  p50="$(echo "$out" | awk '$1=="50%"{print $2}')"
  p99="$(echo "$out" | awk '$1=="99%"{print $2}')"
  echo "$1 $rps $(ms "$p50") $(ms "$p99")"
}
# ms converts wrk's 812.00us / 1.20ms / 1.02s to milliseconds.
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} }'; }

# Warm both (connections, caches, the facade's JIT-free but GC-tuned heap).
wrk -t"$THREADS" -c"$CONN" -d3s -H "Authorization: Bearer $tok" "http://127.0.0.1:$bport/" >/dev/null
wrk -t"$THREADS" -c"$CONN" -d3s -H "Authorization: Bearer $tok" "$url" >/dev/null
results="$tmp/results"
for i in 1 2; do
  run bare "http://127.0.0.1:$bport/" "Authorization: Bearer $tok" | tee -a "$results"
  run facade "$url" "Authorization: Bearer $tok" | tee -a "$results"
done
awk '
  { rps[$1]=rps[$1]" "$2; p50[$1]=p50[$1]" "$3; p99[$1]=p99[$1]" "$4 }
  function med(s,   a,n,i,j,t){ n=split(s,a," "); for(i=2;i<=n;i++) for(j=i;j>1 && a[j-1]+0>a[j]+0;j--){t=a[j];a[j]=a[j-1];a[j-1]=t}; return n%2 ? a[(n+1)/2] : (a[n/2]+a[n/2+1])/2 }
  END {
    fb=med(rps["facade"]); bb=med(rps["bare"])
    printf "median throughput: facade %.0f req/s, bare %.0f req/s, ratio %.2f\n", fb, bb, fb/bb
    printf "median p50: facade %.3f ms, bare %.3f ms; median p99: facade %.3f ms, bare %.3f ms, ratio %.2f\n", med(p50["facade"]), med(p50["bare"]), med(p99["facade"]), med(p99["bare"]), med(p99["facade"])/med(p99["bare"])
  }' "$results"
