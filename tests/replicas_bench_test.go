//go:build unix

package tests

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkReplicas measures Patient reads through one replica and through
// three (requests spread round-robin), in one run on one machine, with the
// state of #19 shared in Redis and the audit trail in PostgreSQL:
//
//   - cached: one patient, answered from the replica's in-process cache;
//   - uncached: Cache-Control: no-cache, so every read calls PDS and
//     refreshes both cache levels (two Redis round trips: the generation
//     and entry lookup, and the store).
//
// It reports reads/s and redis-%: the Redis round trips' share of the
// replicas' request time (their facade_redis_command_duration_seconds sum
// over facade_http_request_duration_seconds sum, from /metrics).
//
//	go test -run '^$' -bench Replicas -benchtime 5s ./tests/
func BenchmarkReplicas(b *testing.B) {
	// No PDS quota: the throughput, not the limit, is measured.
	s := startReplicas(b, "PDS_RATE_LIMIT=0", "FACADE_REQUEST_TIMEOUT=10s")
	token := s.token(b, s.roots[0], "clinician")
	const nhs = "9000000009"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	for _, mode := range []string{"cached", "uncached"} {
		for _, n := range []int{1, 3} {
			b.Run(mode+"/"+strconv.Itoa(n)+"-replicas", func(b *testing.B) {
				roots := s.roots[:n]
				redis0, req0 := s.seconds(b, roots)
				var next atomic.Int64
				b.SetParallelism(4) // 8 clients on 2 cores
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						root := roots[int(next.Add(1))%len(roots)]
						req, _ := http.NewRequest(http.MethodGet, root+"/fhir/Patient/"+nhs, nil)
						req.Header.Set("Authorization", "Bearer "+token)
						if mode == "uncached" {
							req.Header.Set("Cache-Control", "no-cache")
						}
						res, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != http.StatusOK {
							b.Errorf("%s: %d", root, res.StatusCode)
							return
						}
					}
				})
				elapsed := time.Since(start)
				b.StopTimer()
				redis1, req1 := s.seconds(b, roots)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reads/s")
				if req1 > req0 {
					b.ReportMetric(100*(redis1-redis0)/(req1-req0), "redis-%")
				}
			})
		}
	}
}

// seconds sums, over roots' /metrics, the time spent in Redis round trips
// and the time spent serving requests.
func (s *replicaSet) seconds(tb testing.TB, roots []string) (redis, requests float64) {
	tb.Helper()
	for _, root := range roots {
		res, err := http.Get(root + "/metrics")
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			name, value, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				continue
			}
			switch {
			case strings.HasPrefix(name, "facade_redis_command_duration_seconds_sum"):
				redis += v
			case strings.HasPrefix(name, "facade_http_request_duration_seconds_sum"):
				requests += v
			}
		}
		res.Body.Close()
	}
	return redis, requests
}
