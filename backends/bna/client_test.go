package bna_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/bna"
	"github.com/carerecords/fhir-facade/backends/internal/recorded"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// bornAt is one birth time for every notification: a retry must be the
// same notification to the second. The cassettes were recorded from a
// simulator whose clock read an hour later (a birth must not be in the
// future nor over a year old).
const bornAt = "2025-06-30T10:00:00Z"

// basePath is the simulator's (sandbox/bna BasePath).
const basePath = "/birth-notifications/v1"

// earlier is the instant ts (RFC 3339) less five minutes.
func earlier(ts string) string {
	at, _ := time.Parse(time.RFC3339, ts)
	return at.Add(-5 * time.Minute).Format(time.RFC3339)
}

func notification(order int) bna.Notification {
	return bna.Notification{
		MotherNHSNumber: "9000000009",
		Baby: bna.Baby{Sex: "male", BirthDateTime: bornAt,
			BirthOrder: order, NumberOfBabies: 2, BirthWeightGrams: 2900},
		PlaceOfBirthODS: "RGT01",
		NotifiedBy:      bna.NotifiedBy{SDSUserID: "910000000001", ODS: "Y05868"},
	}
}

func newClient(t *testing.T, srv string) *bna.Client {
	t.Helper()
	up, err := upstream.New(upstream.Config{Name: bna.Name, BaseURL: srv + basePath, Token: "t", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return bna.New(up)
}

// setup is a client of the cassette testdata/<name>.json, recorded from the
// simulator (sandbox/bna over a fresh PDS simulator). Its exchanges match
// on the exact X-Request-ID: a retry answered from the cassette was sent
// under the key of the notification it repeats, as the simulator needs to
// answer it with the same baby rather than a second one.
func setup(t *testing.T, name string) *bna.Client {
	t.Helper()
	srv := recorded.Server(t, filepath.Join("testdata", name+".json"), map[string]string{"Authorization": "", "X-Request-ID": ""})
	return newClient(t, srv.URL)
}

// fakeBNA answers every request with status, header and body, as the
// simulator's faults do, and counts the requests.
func fakeBNA(t *testing.T, status int, header http.Header, body string) (*bna.Client, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return newClient(t, srv.URL), &hits
}

func TestNotify(t *testing.T) {
	c := setup(t, "notify")
	ctx := upstream.WithCorrelationID(context.Background(), "0C8E6C6A-58C4-4D0B-9E33-6B0C5C1F2A11")
	first, err := c.Notify(ctx, notification(1))
	if err != nil {
		t.Fatal(err)
	}
	// The client retries its POST with the same X-Request-ID: same baby.
	again, err := c.Notify(ctx, notification(1))
	if err != nil || again.NHSNumber != first.NHSNumber || first.PDSVersion != "1" {
		t.Fatalf("replay: %+v %v (first %+v)", again, err, first)
	}
	// A client request id that is no UUID is keyed the same way every time.
	odd := upstream.WithCorrelationID(context.Background(), "my-retry-42")
	twin, err := c.Notify(odd, notification(2))
	if err != nil {
		t.Fatal(err)
	}
	if twin2, err := c.Notify(odd, notification(2)); err != nil || twin2.NHSNumber != twin.NHSNumber {
		t.Fatalf("replay with a non-UUID id: %+v %v", twin2, err)
	}
	if twin.NHSNumber == first.NHSNumber {
		t.Fatalf("the twins share NHS number %s", first.NHSNumber)
	}
	// Another professional who sends the first caller's request id does not
	// get the first caller's answer: for the same birth, a duplicate.
	other := notification(1)
	other.NotifiedBy = bna.NotifiedBy{SDSUserID: "910000000002", ODS: "Y05868"}
	if got, err := c.Notify(ctx, other); fhirerr.CategoryOf(err) != fhirerr.Conflict {
		t.Fatalf("same request id, another caller: %+v %v, want a conflict", got, err)
	}
	if bna.IdempotencyKey(ctx, other.NotifiedBy) == bna.IdempotencyKey(ctx, notification(1).NotifiedBy) {
		t.Fatal("another caller's request id keys the first caller's notification")
	}

	tests := []struct {
		name     string
		ctx      context.Context
		n        bna.Notification
		category fhirerr.Category
		code     string
		expr     string
	}{
		{name: "same birth, new request", ctx: upstream.WithCorrelationID(context.Background(), "new-request"), n: notification(1), category: fhirerr.Conflict, code: "DUPLICATE_NOTIFICATION"},
		{name: "unknown mother", ctx: upstream.WithCorrelationID(context.Background(), "unknown-mother"), n: func() bna.Notification { n := notification(1); n.MotherNHSNumber = "9111231130"; return n }(),
			category: fhirerr.NotFound, code: "MOTHER_NOT_FOUND"},
		{name: "bad value", ctx: upstream.WithCorrelationID(context.Background(), "bad-value"), n: func() bna.Notification { n := notification(1); n.Baby.Sex = "x"; return n }(),
			category: fhirerr.Invalid, code: "INVALID_VALUE", expr: "baby.sex"},
		{name: "invalid mother, never sent", ctx: context.Background(), n: func() bna.Notification { n := notification(1); n.MotherNHSNumber = "9000000000"; return n }(),
			category: fhirerr.Invalid, expr: "motherNhsNumber"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Notify(tt.ctx, tt.n)
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != tt.category || fe.Expression != tt.expr {
				t.Fatalf("err %v, want %v %s", err, tt.category, tt.expr)
			}
			if tt.code != "" && (fe.Details == nil || fe.Details.Code != tt.code) {
				t.Errorf("details %+v, want %s", fe.Details, tt.code)
			}
		})
	}
}

// TestNotifyRequestIDReused: under the request id of an earlier
// notification, the same notification is its baby again, and any other is
// a Conflict telling the caller to send the correction with a new id,
// whichever status the service refuses it with.
func TestNotifyRequestIDReused(t *testing.T) {
	c := setup(t, "reused")
	ctx := upstream.WithCorrelationID(context.Background(), "6f1d3c2a-4b5e-4c7d-8e9f-0a1b2c3d4e5f")
	first, err := c.Notify(ctx, notification(1))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(n *bna.Notification)) bna.Notification {
		n := notification(1)
		f(&n)
		return n
	}
	tests := []struct {
		name    string
		n       bna.Notification
		same    bool // the first baby again
		differs bool // refused as a reuse of the id
	}{
		{name: "identical", n: notification(1), same: true},
		{name: "corrected weight", n: edit(func(n *bna.Notification) { n.Baby.BirthWeightGrams = 3010 }), differs: true},
		{name: "corrected birth time", n: edit(func(n *bna.Notification) { n.Baby.BirthDateTime = earlier(bornAt) }), differs: true},
		{name: "corrected sex", n: edit(func(n *bna.Notification) { n.Baby.Sex = "female" }), differs: true},
		{name: "corrected birth order", n: notification(2), differs: true},
		{name: "corrected place of birth", n: edit(func(n *bna.Notification) { n.PlaceOfBirthODS = "RGT02" }), differs: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Notify(ctx, tt.n)
			if tt.same {
				if err != nil || got.NHSNumber != first.NHSNumber {
					t.Fatalf("got %+v %v, want the first baby %s", got, err, first.NHSNumber)
				}
				return
			}
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != fhirerr.Conflict || fe.IssueCode == "duplicate" || fe.Backend != bna.Name {
				t.Fatalf("got %+v %v, want a Conflict for a reused request id", got, err)
			}
			if !strings.Contains(fe.Message, "already used for a different birth notification") || !strings.Contains(fe.Message, "new X-Request-ID") {
				t.Errorf("message %q", fe.Message)
			}
			if fe.Details == nil || fe.Details.Code != bna.CodeRequestIDReused {
				t.Errorf("details %+v", fe.Details)
			}
		})
	}

	// A service that refuses with 409 rather than 422 means the same.
	for _, status := range []int{http.StatusConflict, http.StatusUnprocessableEntity} {
		c, _ := fakeBNA(t, status, nil, `{"error":"REQUEST_ID_REUSED"}`)
		_, err := c.Notify(ctx, notification(1))
		if fe := fhirerr.As(err); fe == nil || fe.Category != fhirerr.Conflict || fe.IssueCode == "duplicate" || !strings.Contains(fe.Message, "new X-Request-ID") {
			t.Errorf("%d REQUEST_ID_REUSED: %v", status, err)
		}
	}
}

// TestNotifyIsNeverRetried: a 503 after which the service may have
// recorded the birth is passed on after one attempt.
func TestNotifyIsNeverRetried(t *testing.T) {
	c, hits := fakeBNA(t, http.StatusServiceUnavailable, http.Header{"Retry-After": {"0"}}, "")
	_, err := c.Notify(context.Background(), notification(1))
	if fhirerr.CategoryOf(err) != fhirerr.Timeout {
		t.Fatalf("err %v, want Timeout", err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
}
