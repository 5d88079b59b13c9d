#!/usr/bin/env bash
# The load report of docs/performance.md, measured in one run on loopback.
#
#   tools/perf/bench.sh [run-duration] [sweep-point-duration]     (defaults 3s 2s)
#
# Starts every backend simulator in one process (tools/perf/perfsim) and, each
# in its own process, the facade (cmd/facade) pointed at them: one as
# configured by default for these loopback backends (no backend cache), one
# with the PDS cache on (PDS_CACHE_TTL=60s), one with the PDS cache on and
# authentication off, and one as the first with GOMEMLIMIT=150MiB. Then, with tools/perf/loadgen, the facade and the simulators
# directly, in the same run:
#
#   1. closed loop, 1 and $C requests in flight: Patient read (cache hit,
#      miss), AllergyIntolerance search, Flag search, Patient/$summary, each
#      next to the backend calls it makes sent straight to the simulators
#      (with the CPU time the facade, or the simulators, used per request);
#   2. $summary with every simulator answering after 20 ms, next to the
#      slowest backend's calls (SCR's DocumentReference → Bundle) and PDS;
#   3. open-loop sweeps of the offered rate (0.25× … 2× the saturation rate
#      a closed-loop probe measures; at most 128 in flight): the knee; then
#      2× the saturation rate with up to 1,000 in flight: overload;
#   4. 1,000 concurrent connections, with the facade's VmRSS/VmHWM;
#   5. CPU and allocation profiles of the facade under load
#      (tools/perf/pproffacade: cmd/facade plus net/http/pprof on loopback).
#
# Writes docs/perf/*.csv (one row per run), *.png (latency and throughput
# against load), profile-*.txt (raw profiles in raw/, not committed), meta.txt
# and results.md (the tables and every target of issue 8, met or not). Everything listens on 127.0.0.1 only;
# every process it starts is stopped on exit (and exits by itself after
# 20 minutes in any case); the whole run takes about 4 minutes with the
# defaults. OUT=dir writes elsewhere; BENCH_C sets the closed-loop
# concurrency (32); SUMMARY_DUR each run of step 2 (6s); STEPS="1 2 3 4 5"
# chooses the steps to run.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR="${1:-3s}"
SWEEP_DUR="${2:-2s}"
C="${BENCH_C:-32}"
DUR20="${SUMMARY_DUR:-6s}" # each run of step 2: ~45 ms a request, so enough samples for a p99
OUT="${OUT:-docs/perf}"
RATES="rate=0.25x,0.5x,0.75x,1x,1.5x,2x"
STEPS=" ${STEPS:-1 2 3 4 5} "
step() { [[ "$STEPS" == *" $1 "* ]]; }

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
log() { printf '\n== %s\n' "$*" >&2; }

mkdir -p "$OUT"
rm -f "$OUT"/compare.csv "$OUT"/knee-*.csv "$OUT"/overload.csv "$OUT"/rss.csv "$OUT"/knee-*.png "$OUT"/profile-*.txt

log "build"
go build -o "$tmp/" ./cmd/facade ./tools/perf/loadgen ./cmd/token ./tools/perf/perfsim ./tools/perf/pproffacade ./tools/perf/perfreport ./tools/perf/nullfanout
LG="$tmp/loadgen"

{
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "args=$DUR $SWEEP_DUR"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "dirty=$(git status --porcelain 2>/dev/null | grep -cv '^??' || true) files"
  echo "go=$(go env GOVERSION)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "nproc=$(nproc)"
  echo "kernel=Linux $(uname -r)"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/meta.txt"
sed -i 's/^dirty=0 files$/dirty=/' "$OUT/meta.txt"

# free_port prints a loopback TCP port nobody listens on, below the
# ephemeral range (where the clients' own 1,000 connections take theirs).
EPHEMERAL_LO="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((10000 + RANDOM % (EPHEMERAL_LO - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port" >&2; exit 1
}

# wait_ready URL LOG waits (at most 20 s) until url answers.
wait_ready() {
  for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$1 never answered; its log:" >&2; cat "$2" >&2; exit 1
}

log "simulators"
"$tmp/perfsim" -env "$tmp/sims.env" -lifetime 20m >"$tmp/perfsim.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/sims.env" ] && break; sleep 0.1; done
set -a; . "$tmp/sims.env"; set +a

# start_facade NAME [VAR=value …]: the facade in its own process; sets
# <NAME>_URL, <NAME>_PID and <NAME>_AUTH (an Authorization header).
start_facade() {
  local name="$1"; shift
  local port; port="$(free_port)"
  # The load comes from one token: its share of the slots is the whole
  # bound here, as many users' would be (the per-caller share is a quarter).
  env FACADE_MAX_IN_FLIGHT_PER_CALLER=1024 "$@" "$tmp/facade" -addr "127.0.0.1:$port" -quiet >"$tmp/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_ready "http://127.0.0.1:$port/healthz" "$tmp/$name.log"
  # Every backend must be perfsim's: an embedded sandbox would share the
  # facade's process and its memory.
  if grep -q '"sandbox":"embedded"' "$tmp/$name.log"; then
    echo "facade $name started an embedded sandbox: a backend is missing from perfsim's -env" >&2; exit 1
  fi
  local auth="X-Auth: none"
  if tok="$("$tmp/token" -url "http://127.0.0.1:$port" 2>/dev/null)"; then auth="Authorization: Bearer $tok"; fi
  printf -v "${name}_URL" '%s' "http://127.0.0.1:$port/fhir"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_AUTH" '%s' "$auth"
}

log "facades"
start_facade FA                                   # loopback defaults: no backend cache
start_facade FB PDS_CACHE_TTL=60s                 # PDS cache on
start_facade FC PDS_CACHE_TTL=60s FACADE_AUTH=off # PDS cache on, no token to verify
start_facade FD GOMEMLIMIT=150MiB                 # as FA, with a soft memory limit for the GC
echo "rss_idle_kb=$(awk '/VmRSS/{print $2}' "/proc/$FA_PID/status")" >> "$OUT/meta.txt"

# The calls each facade request makes, straight to the simulators, with
# every header any of them needs (each ignores the others').
DH=(-H "Authorization: Bearer bench" -H "X-Request-ID: 6f1c0f4e-7e1b-4a51-9c34-1d2a3b4c5d6e"
    -H "TraceID: 0b6d7c9e-3c8a-4e7b-9f5d-2a1b3c4d5e6f" -H "IsUnscheduledAccessEvent: false"
    -H "NHSD-End-User-Organisation-ODS: Y05868" -H "NHSD-Session-URID: 555254240100")
NHS="https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9000000009"
RA_CAT="https%3A%2F%2Ffhir.nhs.uk%2FSTU3%2FCodeSystem%2FRARecord-FlagCategory-1%7CNRAF"
PDS_READ="$PDS_BASE_URL/Patient/9000000009"
SCR_DOCREF="$SCR_BASE_URL/DocumentReference?patient=$NHS&type=http%3A%2F%2Fsnomed.info%2Fsct%7C196981000000101&_sort=date&_count=1"
SCR_BUNDLE="$SCR_BASE_URL/Bundle?composition.identifier=FA60BE64-1F34-11EB-A2A8-000C29A364EB&composition.subject%3APatient.identifier=$NHS"
RA_FLAGS="$RA_BASE_URL/Flag?category=$RA_CAT&patient=9000000009&status=active"
RA_CONSENT="$RA_BASE_URL/Consent?category=$RA_CAT&patient=9000000009&status=active"
CPIS_Q="$CPIS_BASE_URL/CareTeam?patient%3Aidentifier=$NHS"
FGM_Q="$FGM_BASE_URL/Flag?patient%3Aidentifier=$NHS"
NRL_Q="$NRL_BASE_URL/DocumentReference?subject%3Aidentifier=$NHS"
# The Immunisation History API answers one data store per call: a $summary
# asks COVID19, FLU and HPV at once.
IMMS_Q="$IMMS_BASE_URL/Immunization?_include=Immunization%3Apatient&patient.identifier=$NHS"
IMMS_CALLS=("$IMMS_Q&immunization.target=COVID19" "$IMMS_Q&immunization.target=FLU" "$IMMS_Q&immunization.target=HPV")
OVM_Q="$OVM_BASE_URL/status?nhs-number=9000000009"
FLAG_CALLS=("$RA_FLAGS" "$RA_CONSENT" "$CPIS_Q" "$FGM_Q" "$OVM_Q")
SUMMARY_CALLS=("$PDS_READ" "$SCR_DOCREF" "$SCR_BUNDLE" "$NRL_Q" "${FLAG_CALLS[@]}" "${IMMS_CALLS[@]}")
OTHER_CALLS=("$PDS_READ" "$NRL_Q" "${FLAG_CALLS[@]}" "${IMMS_CALLS[@]}") # a $summary's calls besides SCR

for u in "${SUMMARY_CALLS[@]}"; do
  code="$(curl -s -o /dev/null -w '%{http_code}' "${DH[@]}" "$u")"
  [ "$code" = 200 ] || { echo "direct call answered $code: $u" >&2; exit 1; }
done
for f in FA FB FC FD; do
  url="${f}_URL"; auth="${f}_AUTH"
  code="$(curl -s -o /dev/null -w '%{http_code}' -H "${!auth}" "${!url}/Patient/9000000009/\$summary")"
  [ "$code" = 200 ] || { echo "facade $f answered $code" >&2; exit 1; }
done

# lg LABEL CSV loadgen-args…: one run, one CSV row, one line of output.
lg() {
  local label="$1" csv="$2"; shift 2
  "$LG" -label "$label" -csv "$csv" -json "$@" | awk -v l="$label" '{
    match($0, /"ok_rps":[0-9.]+/); r = substr($0, RSTART+9, RLENGTH-9)
    match($0, /"p50":[0-9.]+/); p50 = substr($0, RSTART+6, RLENGTH-6)
    match($0, /"p99":[0-9.]+/); p99 = substr($0, RSTART+6, RLENGTH-6)
    match($0, /"concurrency":[0-9]+/); c = substr($0, RSTART+14, RLENGTH-14)
    match($0, /"requests":[0-9]+/); n = substr($0, RSTART+11, RLENGTH-11)
    cpu = ""
    if (match($0, /"pid_cpu_s":[0-9.e-]+/) && n > 0) cpu = sprintf("  cpu %.3f ms/req", 1000 * substr($0, RSTART+12, RLENGTH-12) / n)
    printf "%-38s c=%-4s %8.0f ok/s  p50 %7.2f ms  p99 %7.2f ms%s\n", l, c, r, p50, p99, cpu }' >&2
}
CMP="$OUT/compare.csv"

if step 1; then
log "1. facade vs simulators direct, closed loop, $DUR per run"
for c in 1 "$C"; do
  lg patient/pds-direct "$CMP" -c "$c" -d "$DUR" -pid "$PERFSIM_PID" "${DH[@]}" "$PDS_READ"
  lg patient-hit/facade "$CMP" -c "$c" -d "$DUR" -pid "$FB_PID" -H "$FB_AUTH" "$FB_URL/Patient/9000000009"
  lg patient-hit/facade-auth-off "$CMP" -c "$c" -d "$DUR" -pid "$FC_PID" "$FC_URL/Patient/9000000009"
  lg patient-miss/facade "$CMP" -c "$c" -d "$DUR" -pid "$FA_PID" -H "$FA_AUTH" "$FA_URL/Patient/9000000009"
  lg allergy/scr-direct-sequence "$CMP" -c "$c" -d "$DUR" -pid "$PERFSIM_PID" -seq "${DH[@]}" "$SCR_DOCREF" "$SCR_BUNDLE"
  lg allergy/facade "$CMP" -c "$c" -d "$DUR" -pid "$FA_PID" -H "$FA_AUTH" "$FA_URL/AllergyIntolerance?patient=9000000009"
  lg flag/direct-sequence "$CMP" -c "$c" -d "$DUR" -pid "$PERFSIM_PID" -seq "${DH[@]}" "${FLAG_CALLS[@]}"
  lg flag/facade "$CMP" -c "$c" -d "$DUR" -pid "$FA_PID" -H "$FA_AUTH" "$FA_URL/Flag?patient=9000000009"
  lg summary/direct-sequence "$CMP" -c "$c" -d "$DUR" -pid "$PERFSIM_PID" -seq "${DH[@]}" "${SUMMARY_CALLS[@]}"
  lg summary/facade "$CMP" -c "$c" -d "$DUR" -pid "$FA_PID" -H "$FA_AUTH" "$FA_URL/Patient/9000000009/\$summary"
done
fi

if step 2; then
log "2. \$summary with every simulator at 20 ms, 1 and 8 in flight, $DUR20 per run"
curl -sf "$PERFSIM_CONTROL/delay?d=20ms" >/dev/null
# The control: the same fan-out (the SCR chain beside the other calls) by a
# server that does nothing else, so facade − null-fanout is the facade's
# own work and null-fanout − the chain is what fanning out costs here.
"$tmp/nullfanout" -ready "$tmp/nullfanout.addr" -lifetime 20m "${DH[@]}" -chain "$SCR_DOCREF,$SCR_BUNDLE" "${OTHER_CALLS[@]}" >"$tmp/nullfanout.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/nullfanout.addr" ] && break; sleep 0.1; done
NULLFANOUT_URL="http://$(cat "$tmp/nullfanout.addr")/"
for c in 1 8; do
  lg summary-20ms/pds-direct "$CMP" -c "$c" -d "$DUR20" -pid "$PERFSIM_PID" "${DH[@]}" "$PDS_READ"
  lg summary-20ms/scr-chain-direct "$CMP" -c "$c" -d "$DUR20" -pid "$PERFSIM_PID" -seq "${DH[@]}" "$SCR_DOCREF" "$SCR_BUNDLE"
  # The slowest backend as a $summary's fan-out loads the simulators: the
  # SCR chain while the summary's other calls run beside it, about as many
  # at once as the facade makes (c × 11 calls × 20 of every 45 ms ≈ 5c).
  "$LG" -c "$((5 * c))" -d 10m "${DH[@]}" "${OTHER_CALLS[@]}" >/dev/null 2>&1 &
  beside=$!
  pids+=("$beside")
  sleep 0.5
  lg summary-20ms/scr-chain-direct-beside-fanout "$CMP" -c "$c" -d "$DUR20" -pid "$PERFSIM_PID" -seq "${DH[@]}" "$SCR_DOCREF" "$SCR_BUNDLE"
  kill "$beside" 2>/dev/null || true
  wait "$beside" 2>/dev/null || true
  lg summary-20ms/null-fanout "$CMP" -c "$c" -d "$DUR20" "$NULLFANOUT_URL"
  lg summary-20ms/facade "$CMP" -c "$c" -d "$DUR20" -pid "$FA_PID" -H "$FA_AUTH" "$FA_URL/Patient/9000000009/\$summary"
done
lg summary-20ms/direct-sequence "$CMP" -c 8 -d "$DUR20" -pid "$PERFSIM_PID" -seq "${DH[@]}" "${SUMMARY_CALLS[@]}"
curl -sf "$PERFSIM_CONTROL/delay?d=0" >/dev/null
fi

# sweep NAME LABEL PID loadgen-args…: the knee of one target: a closed-loop
# probe at 64 in flight measures its saturation rate S, then an open loop
# offers each multiple of S with at most 128 in flight; then the overload
# run offers 2 S with up to 1,000 in flight, enough for the facade's own
# bound (512 requests in progress, then 503 + Retry-After) to act.
sweep() {
  local name="$1" label="$2" pid="$3"; shift 3
  local pidarg=()
  [ -n "$pid" ] && pidarg=(-pid "$pid")
  "$LG" -label "$label" -csv "$OUT/knee-$name.csv" -c 128 -probe-c 64 -d "$SWEEP_DUR" -pause 500ms \
    -sweep "$RATES" "${pidarg[@]}" "$@" >&2
  local sat
  sat="$(awk -F, -v l="$label" '$1 == l && $2 == "probe" { print $6 }' "$OUT/knee-$name.csv" | tail -1)"
  sleep 0.5
  lg "$label" "$OUT/overload.csv" -c 1000 -rate "$(awk -v s="$sat" 'BEGIN { print 2 * s }')" -d "$DUR" "${pidarg[@]}" "$@"
}
if step 3; then
log "3. open-loop sweeps ($RATES of each target's saturation, $SWEEP_DUR a point, ≤ 128 in flight), then 2× saturation with ≤ 1,000 in flight for $DUR"
sweep patient patient/pds-direct "" "${DH[@]}" "$PDS_READ"
sweep patient patient-hit/facade "$FB_PID" -H "$FB_AUTH" "$FB_URL/Patient/9000000009"
sweep patient patient-miss/facade "$FA_PID" -H "$FA_AUTH" "$FA_URL/Patient/9000000009"
sweep summary summary/facade "$FA_PID" -H "$FA_AUTH" "$FA_URL/Patient/9000000009/\$summary"
fi

if step 4; then
log "4. 1,000 concurrent connections, closed loop, $DUR per run"
lg patient-hit/facade "$OUT/rss.csv" -c 1000 -d "$DUR" -pid "$FB_PID" -H "$FB_AUTH" "$FB_URL/Patient/9000000009"
lg patient-miss/facade "$OUT/rss.csv" -c 1000 -d "$DUR" -pid "$FA_PID" -H "$FA_AUTH" "$FA_URL/Patient/9000000009"
lg summary/facade "$OUT/rss.csv" -c 1000 -d "$DUR" -pid "$FA_PID" -H "$FA_AUTH" "$FA_URL/Patient/9000000009/\$summary"
# A facade that served nothing before, with GOMEMLIMIT=150MiB.
lg patient-miss/facade-gomemlimit-150MiB "$OUT/rss.csv" -c 1000 -d "$DUR" -pid "$FD_PID" -H "$FD_AUTH" "$FD_URL/Patient/9000000009"
lg summary/facade-gomemlimit-150MiB "$OUT/rss.csv" -c 1000 -d "$DUR" -pid "$FD_PID" -H "$FD_AUTH" "$FD_URL/Patient/9000000009/\$summary"
fi

if step 5; then
  log "5. profiles of the facade under load ($C in flight)"
  # profile NAME URL-PATH VAR=value…: CPU for 6 s under load, then the
  # allocations of the whole run, in a fresh profiling facade.
  profile() {
    local name="$1" path="$2"; shift 2
    local port pport; port="$(free_port)"; pport="$(free_port)"
    env "$@" "$tmp/pproffacade" -addr "127.0.0.1:$port" -pprof "127.0.0.1:$pport" -lifetime 2m >"$tmp/pprof-$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    wait_ready "http://127.0.0.1:$port/healthz" "$tmp/pprof-$name.log"
    local auth="X-Auth: none"
    if tok="$("$tmp/token" -url "http://127.0.0.1:$port" 2>/dev/null)"; then auth="Authorization: Bearer $tok"; fi
    "$LG" -c "$C" -d 1s -H "$auth" "http://127.0.0.1:$port/fhir$path" >/dev/null # warm
    "$LG" -c "$C" -d 8s -H "$auth" "http://127.0.0.1:$port/fhir$path" >"$tmp/load-$name.txt" &
    local lpid=$!
    sleep 1
    curl -sf -o "$tmp/cpu-$name.pb.gz" "http://127.0.0.1:$pport/debug/pprof/profile?seconds=6"
    wait "$lpid"
    curl -sf -o "$tmp/allocs-$name.pb.gz" "http://127.0.0.1:$pport/debug/pprof/allocs"
    {
      echo "# CPU profile of the facade serving GET /fhir$path, $C in flight (6 s of an 8 s run); tools/perf/bench.sh"
      grep -E 'requests|latency' "$tmp/load-$name.txt" | sed 's/^/# /'
      go tool pprof -top -nodecount=45 "$tmp/pproffacade" "$tmp/cpu-$name.pb.gz" 2>/dev/null
      echo
      echo "# cumulative"
      go tool pprof -top -cum -nodecount=45 "$tmp/pproffacade" "$tmp/cpu-$name.pb.gz" 2>/dev/null | tail -n +6
      echo
      echo "# allocations over the whole run (alloc_space)"
      go tool pprof -top -sample_index=alloc_space -nodecount=30 "$tmp/pproffacade" "$tmp/allocs-$name.pb.gz" 2>/dev/null
    } > "$OUT/profile-$name.txt"
    mkdir -p "$OUT/raw"
    cp "$tmp/cpu-$name.pb.gz" "$tmp/allocs-$name.pb.gz" "$OUT/raw/"
    kill "$pid" 2>/dev/null || true
  }
  profile patient-hit /Patient/9000000009 PDS_CACHE_TTL=60s
  profile patient-miss /Patient/9000000009
  profile summary '/Patient/9000000009/$summary'
fi

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"

log "plots and report"
if step 3; then
  "$LG" -plot "$OUT/knee-patient.png" -title 'Patient read: facade (cache hit, miss) vs PDS simulator direct' "$OUT/knee-patient.csv"
  "$LG" -plot "$OUT/knee-summary.png" -title 'Patient/$summary through the facade (9 backend calls each)' "$OUT/knee-summary.csv"
fi
touch "$OUT/compare.csv"
"$tmp/perfreport" -dir "$OUT" > "$OUT/results.md"
echo "wrote $OUT/results.md" >&2
sed -n '/^## Targets/,/^## Facade/p' "$OUT/results.md" | head -n -1
