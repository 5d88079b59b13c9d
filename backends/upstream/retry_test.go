package upstream_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// Only GET and HEAD are retried: a write the backend may have applied is
// never sent twice.
func TestRetriesOnlyIdempotentReads(t *testing.T) {
	tests := []struct {
		name   string
		method string
		want   int
	}{
		{name: "GET", method: http.MethodGet, want: 3},
		{name: "HEAD", method: http.MethodHead, want: 3},
		{name: "PATCH", method: http.MethodPatch, want: 1},
		{name: "POST", method: http.MethodPost, want: 1},
		{name: "PUT", method: http.MethodPut, want: 1},
		{name: "DELETE", method: http.MethodDelete, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScripted(t, always(http.StatusServiceUnavailable))
			c := newClient(t, srv.URL, upstream.Config{}, nil)
			useFakeClock(c)
			var body []byte
			if tt.method != http.MethodGet && tt.method != http.MethodHead {
				body = []byte(`[]`)
			}
			res, err := c.Do(context.Background(), upstream.Request{Method: tt.method, Path: testPath, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != http.StatusServiceUnavailable {
				t.Errorf("status %d, want the backend's 503", res.Status)
			}
			if got := srv.count(); got != tt.want {
				t.Errorf("the backend saw %d attempts, want %d", got, tt.want)
			}
		})
	}
}

func TestRetryConditions(t *testing.T) {
	// fails answers the first two requests with fail, then 200.
	fails := func(fail func(w http.ResponseWriter, r *http.Request)) func(int, http.ResponseWriter, *http.Request) {
		return func(n int, w http.ResponseWriter, r *http.Request) {
			if n <= 2 {
				fail(w, r)
				return
			}
			answer(w, http.StatusOK, `{"ok":true}`)
		}
	}
	status := func(s int) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, _ *http.Request) { answer(w, s, `{}`) }
	}
	drop := func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	hang := func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	tests := []struct {
		name       string
		fail       func(http.ResponseWriter, *http.Request)
		timeout    time.Duration
		wantCalls  int
		wantStatus int // of the final answer
	}{
		{name: "502 retried", fail: status(502), wantCalls: 3, wantStatus: 200},
		{name: "503 retried", fail: status(503), wantCalls: 3, wantStatus: 200},
		{name: "504 retried", fail: status(504), wantCalls: 3, wantStatus: 200},
		{name: "429 retried", fail: status(429), wantCalls: 3, wantStatus: 200},
		{name: "408 (PDS UNABLE_TO_CALL_SERVICE) retried", fail: status(408), wantCalls: 3, wantStatus: 200},
		{name: "connection dropped retried", fail: drop, wantCalls: 3, wantStatus: 200},
		{name: "attempt timeout retried", fail: hang, timeout: 20 * time.Millisecond, wantCalls: 3, wantStatus: 200},
		{name: "500 not retried", fail: status(500), wantCalls: 1, wantStatus: 500},
		{name: "501 not retried", fail: status(501), wantCalls: 1, wantStatus: 501},
		{name: "400 not retried", fail: status(400), wantCalls: 1, wantStatus: 400},
		{name: "401 not retried", fail: status(401), wantCalls: 1, wantStatus: 401},
		{name: "404 not retried", fail: status(404), wantCalls: 1, wantStatus: 404},
		{name: "409 not retried", fail: status(409), wantCalls: 1, wantStatus: 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScripted(t, fails(tt.fail))
			c := newClient(t, srv.URL, upstream.Config{Timeout: tt.timeout}, nil)
			clk := useFakeClock(c)
			res, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status %d, want %d", res.Status, tt.wantStatus)
			}
			if got := srv.count(); got != tt.wantCalls {
				t.Errorf("%d attempts, want %d", got, tt.wantCalls)
			}
			if got := len(clk.Slept()); got != tt.wantCalls-1 {
				t.Errorf("%d waits between attempts, want %d", got, tt.wantCalls-1)
			}
		})
	}
}

// Every attempt of a call carries the same X-Request-ID, the caller's if
// it gave one, and different calls carry different ones.
func TestRetriesReuseTheRequestID(t *testing.T) {
	const callers = "0f8fad5b-d9cb-469f-a165-70867728950e"
	srv := newScripted(t, always(http.StatusBadGateway))
	c := newClient(t, srv.URL, upstream.Config{BreakerThreshold: -1}, nil)
	useFakeClock(c)
	for _, h := range []http.Header{nil, {"x-request-id": {callers}}, nil} {
		if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath, Header: h}); err != nil {
			t.Fatal(err)
		}
		if h != nil && len(h) != 1 {
			t.Errorf("the caller's header was modified: %v", h)
		}
	}
	reqs := srv.requests()
	if len(reqs) != 9 {
		t.Fatalf("%d requests, want 3 calls × 3 attempts", len(reqs))
	}
	var ids []string
	for call := range 3 {
		id := reqs[3*call].requestID
		for _, r := range reqs[3*call : 3*call+3] {
			if r.requestID != id || len(r.header.Values("X-Request-ID")) != 1 {
				t.Errorf("call %d: X-Request-ID %q on an attempt, %q on the first", call, r.header.Values("X-Request-ID"), id)
			}
		}
		if !uuidV4.MatchString(id) {
			t.Errorf("call %d: X-Request-ID %q is not a UUID v4", call, id)
		}
		ids = append(ids, id)
	}
	if ids[1] != callers {
		t.Errorf("the caller's X-Request-ID was replaced by %s", ids[1])
	}
	if ids[0] == ids[2] {
		t.Errorf("two calls shared X-Request-ID %s", ids[0])
	}
}

func TestRetryAfter429And503(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		deadline   time.Duration // 0: none
		wantCalls  int
		wantSleeps []time.Duration
		wantStatus int
	}{
		{name: "429 Retry-After 1 honoured", status: 429, retryAfter: "1", wantCalls: 2, wantSleeps: []time.Duration{time.Second}, wantStatus: 200},
		{name: "503 Retry-After 1 honoured", status: 503, retryAfter: "1", wantCalls: 2, wantSleeps: []time.Duration{time.Second}, wantStatus: 200},
		{name: "Retry-After past the deadline: the 429 as it is", status: 429, retryAfter: "1", deadline: 500 * time.Millisecond, wantCalls: 1, wantStatus: 429},
		{name: "Retry-After past the deadline: the 503 as it is", status: 503, retryAfter: "1", deadline: 500 * time.Millisecond, wantCalls: 1, wantStatus: 503},
		{name: "Retry-After longer than the client waits", status: 429, retryAfter: "30", deadline: time.Hour, wantCalls: 1, wantStatus: 429},
		{name: "Retry-After 0: backoff", status: 503, retryAfter: "0", wantCalls: 2, wantSleeps: []time.Duration{upstream.DefaultBackoffBase}, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScripted(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					answer(w, tt.status, `{}`, "Retry-After", tt.retryAfter)
					return
				}
				answer(w, http.StatusOK, `{}`)
			})
			c := newClient(t, srv.URL, upstream.Config{}, nil)
			clk := useFakeClock(c)
			upstream.SetJitter(c, func(d time.Duration) time.Duration { return d })
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, clk.Now().Add(tt.deadline))
				defer cancel()
			}
			res, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status %d, want %d", res.Status, tt.wantStatus)
			}
			if tt.wantStatus != 200 && res.Header.Get("Retry-After") != tt.retryAfter {
				t.Errorf("Retry-After %q not handed back", res.Header.Get("Retry-After"))
			}
			if got := srv.count(); got != tt.wantCalls {
				t.Errorf("%d attempts, want %d", got, tt.wantCalls)
			}
			if got := clk.Slept(); !slices.Equal(got, tt.wantSleeps) {
				t.Errorf("waited %v, want %v", got, tt.wantSleeps)
			}
		})
	}
}

// The waits between attempts grow exponentially up to BackoffMax, are
// jittered within [d/2, d], and never run past the caller's deadline.
func TestBackoff(t *testing.T) {
	t.Run("exponential, capped", func(t *testing.T) {
		srv := newScripted(t, always(http.StatusServiceUnavailable))
		c := newClient(t, srv.URL, upstream.Config{MaxAttempts: 5, BackoffBase: 50 * time.Millisecond, BackoffMax: 150 * time.Millisecond}, nil)
		clk := useFakeClock(c)
		upstream.SetJitter(c, func(d time.Duration) time.Duration { return d })
		if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}); err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 150 * time.Millisecond}
		if got := clk.Slept(); !slices.Equal(got, want) {
			t.Errorf("waits %v, want %v", got, want)
		}
		if srv.count() != 5 {
			t.Errorf("%d attempts, want 5", srv.count())
		}
	})
	t.Run("jittered", func(t *testing.T) {
		srv := newScripted(t, always(http.StatusServiceUnavailable))
		c := newClient(t, srv.URL, upstream.Config{MaxAttempts: 8, BackoffBase: 40 * time.Millisecond, BackoffMax: 320 * time.Millisecond, BreakerThreshold: -1}, nil)
		clk := useFakeClock(c)
		for range 10 {
			if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}); err != nil {
				t.Fatal(err)
			}
		}
		for i, d := range clk.Slept() {
			full := min(40*time.Millisecond<<(i%7), 320*time.Millisecond)
			if d < full/2 || d > full {
				t.Errorf("wait %d is %v, want within [%v, %v]", i%7+1, d, full/2, full)
			}
		}
	})
	t.Run("never past the deadline", func(t *testing.T) {
		srv := newScripted(t, always(http.StatusServiceUnavailable))
		c := newClient(t, srv.URL, upstream.Config{MaxAttempts: 10, BackoffBase: time.Second, BackoffMax: 8 * time.Second}, nil)
		clk := useFakeClock(c)
		deadline := clk.Now().Add(1500 * time.Millisecond)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		res, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
		if err != nil || res.Status != 503 {
			t.Fatalf("Do = %v, %v; want the last 503", res, err)
		}
		// The first wait is in [0.5 s, 1 s], the second in [1 s, 2 s]: only
		// the first ends before the deadline.
		if got := srv.count(); got != 2 {
			t.Errorf("%d attempts, want 2", got)
		}
		if !clk.Now().Before(deadline) {
			t.Errorf("waited until %v, past the deadline %v", clk.Now(), deadline)
		}
	})
}

// A caller that gives up during the wait between attempts is answered at
// once (with the last answer, or a Timeout if it left before that answer was
// read); it does not wait out the backoff.
func TestRetryWaitEndsWithTheCaller(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		answer(w, http.StatusServiceUnavailable, `{}`)
		time.AfterFunc(20*time.Millisecond, cancel)
	})
	c := newClient(t, srv.URL, upstream.Config{BackoffBase: time.Hour, BackoffMax: time.Hour}, nil)
	done := make(chan struct{})
	var (
		res *upstream.Response
		err error
	)
	go func() {
		defer close(done)
		res, err = c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Do waited out an hour's backoff after its caller left")
	}
	if srv.count() != 1 {
		t.Errorf("%d attempts, want 1", srv.count())
	}
	if !(err == nil && res.Status == 503) && fhirerr.CategoryOf(err) != fhirerr.Timeout {
		t.Errorf("Do = %v, %v; want the 503 or a Timeout", res, err)
	}
}

// Errors a retry cannot mend are not retried: an answer over MaxBody, a
// caller's deadline already past.
func TestNoRetryWhenHopeless(t *testing.T) {
	t.Run("answer too large", func(t *testing.T) {
		srv := newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) { answer(w, 200, `{"too":"large for 8 bytes"}`) })
		c := newClient(t, srv.URL, upstream.Config{MaxBody: 8}, nil)
		useFakeClock(c)
		_, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath})
		if fhirerr.CategoryOf(err) != fhirerr.BadGateway || srv.count() != 1 {
			t.Errorf("err %v after %d attempts, want BadGateway after 1", err, srv.count())
		}
	})
	t.Run("caller's deadline passed during the attempt", func(t *testing.T) {
		srv := newScripted(t, func(_ int, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		c := newClient(t, srv.URL, upstream.Config{}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		_, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
		if fhirerr.CategoryOf(err) != fhirerr.Timeout || srv.count() != 1 {
			t.Errorf("err %v after %d attempts, want Timeout after 1", err, srv.count())
		}
	})
}

func TestStreamRetries(t *testing.T) {
	t.Run("before the answer is handed over", func(t *testing.T) {
		srv := newScripted(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			if n <= 2 {
				answer(w, http.StatusServiceUnavailable, "down")
				return
			}
			answer(w, http.StatusOK, "%PDF-1.4", "Content-Type", "application/pdf")
		})
		c := newClient(t, srv.URL, upstream.Config{}, nil)
		useFakeClock(c)
		res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: sspPath}, upstream.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || string(b) != "%PDF-1.4" || res.Status != 200 {
			t.Errorf("%d %q %v", res.Status, b, err)
		}
		reqs := srv.requests()
		if len(reqs) != 3 || reqs[0].requestID != reqs[1].requestID || reqs[1].requestID != reqs[2].requestID {
			t.Errorf("%d attempts, X-Request-IDs must be equal: %v", len(reqs), reqs)
		}
	})
	t.Run("never once the body is being read", func(t *testing.T) {
		srv := newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("part"))
			w.(http.Flusher).Flush()
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		})
		c := newClient(t, srv.URL, upstream.Config{}, nil)
		useFakeClock(c)
		res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: sspPath}, upstream.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
		if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
			t.Errorf("read err %v, want BadGateway", err)
		}
		if srv.count() != 1 {
			t.Errorf("%d attempts, want 1", srv.count())
		}
	})
	t.Run("writes are not retried", func(t *testing.T) {
		srv := newScripted(t, always(http.StatusServiceUnavailable))
		c := newClient(t, srv.URL, upstream.Config{}, nil)
		useFakeClock(c)
		res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodPost, Path: "/DocumentReference", Body: []byte(`{}`)}, upstream.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Status != 503 || srv.count() != 1 {
			t.Errorf("%d after %d attempts, want 503 after 1", res.Status, srv.count())
		}
	})
}
