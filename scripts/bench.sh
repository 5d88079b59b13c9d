#!/usr/bin/env bash
# Patient read through the facade vs straight to the PDS simulator, in one
# run, on loopback: the simulator runs standalone (cmd/sandbox), the facade
# points at it (PDS_BASE_URL), and cmd/loadgen drives both with the same
# concurrency and duration. Usage: scripts/bench.sh [duration] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10s}"
CONC="${2:-8}"
SIM_PORT="${SIM_PORT:-19101}"
FACADE_PORT="${FACADE_PORT:-19100}"
bin="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT

go build -o "$bin/" ./cmd/facade ./cmd/sandbox ./cmd/loadgen
"$bin/sandbox" -pds-addr "127.0.0.1:$SIM_PORT" >/dev/null 2>&1 &
PDS_BASE_URL="http://127.0.0.1:$SIM_PORT/personal-demographics/FHIR/R4" PDS_TOKEN=bench \
  "$bin/facade" -addr "127.0.0.1:$FACADE_PORT" -quiet >/dev/null 2>&1 &
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$FACADE_PORT/healthz" && \
  curl -sf -o /dev/null -H 'X-Request-ID: 6f1c0f4e-7e1b-4a51-9c34-1d2a3b4c5d6e' -H 'Authorization: Bearer bench' \
    "http://127.0.0.1:$SIM_PORT/personal-demographics/FHIR/R4/Patient/9000000009" && break
  sleep 0.1
done

echo "== PDS simulator directly: GET /Patient/9000000009, $CONC in flight, $DUR"
"$bin/loadgen" -c "$CONC" -d "$DUR" -H 'X-Request-ID: 6f1c0f4e-7e1b-4a51-9c34-1d2a3b4c5d6e' -H 'Authorization: Bearer bench' \
  "http://127.0.0.1:$SIM_PORT/personal-demographics/FHIR/R4/Patient/9000000009"
echo
echo "== through the facade: GET /fhir/Patient/9000000009, $CONC in flight, $DUR"
"$bin/loadgen" -c "$CONC" -d "$DUR" "http://127.0.0.1:$FACADE_PORT/fhir/Patient/9000000009"
echo
echo "== through the facade, one at a time (latency without queueing), $DUR"
"$bin/loadgen" -c 1 -d "$DUR" "http://127.0.0.1:$FACADE_PORT/fhir/Patient/9000000009"
echo
echo "== PDS simulator directly, one at a time, $DUR"
"$bin/loadgen" -c 1 -d "$DUR" -H 'X-Request-ID: 6f1c0f4e-7e1b-4a51-9c34-1d2a3b4c5d6e' -H 'Authorization: Bearer bench' \
  "http://127.0.0.1:$SIM_PORT/personal-demographics/FHIR/R4/Patient/9000000009"
