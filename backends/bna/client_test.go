package bna_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/bna"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	sandboxbna "github.com/carerecords/fhir-facade/sandbox/bna"
	"github.com/carerecords/fhir-facade/sandbox/pds"
)

// bornAt is one birth time for the whole run: a retry must be the same
// notification to the second.
var bornAt = time.Now().Add(-time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)

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

func setup(t *testing.T) (*bna.Client, *sandboxbna.Simulator) {
	t.Helper()
	sim := sandboxbna.New(sandboxbna.Options{PDS: pds.New(pds.Options{})})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	up, err := upstream.New(upstream.Config{Name: bna.Name, BaseURL: srv.URL + sandboxbna.BasePath, Token: "t", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return bna.New(up), sim
}

func TestNotify(t *testing.T) {
	c, sim := setup(t)
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
	if sim.Notified() != 2 {
		t.Fatalf("%d babies, want 2", sim.Notified())
	}
	// Another professional who sends the first caller's request id does not
	// get the first caller's answer: for the same birth, a duplicate.
	other := notification(1)
	other.NotifiedBy = bna.NotifiedBy{SDSUserID: "910000000002", ODS: "Y05868"}
	if got, err := c.Notify(ctx, other); fhirerr.CategoryOf(err) != fhirerr.Conflict {
		t.Fatalf("same request id, another caller: %+v %v, want a conflict", got, err)
	}
	if sim.Notified() != 2 {
		t.Fatalf("%d babies, want 2", sim.Notified())
	}

	tests := []struct {
		name     string
		ctx      context.Context
		n        bna.Notification
		category fhirerr.Category
		code     string
		expr     string
	}{
		{name: "same birth, new request", ctx: context.Background(), n: notification(1), category: fhirerr.Conflict, code: "DUPLICATE_NOTIFICATION"},
		{name: "unknown mother", ctx: context.Background(), n: func() bna.Notification { n := notification(1); n.MotherNHSNumber = "9111231130"; return n }(),
			category: fhirerr.NotFound, code: "MOTHER_NOT_FOUND"},
		{name: "bad value", ctx: context.Background(), n: func() bna.Notification { n := notification(1); n.Baby.Sex = "x"; return n }(),
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
	c, sim := setup(t)
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
	if n := sim.Notified(); n != 1 {
		t.Errorf("%d babies, want 1", n)
	}

	// A service that refuses with 409 rather than 422 means the same.
	for _, status := range []int{http.StatusConflict, http.StatusUnprocessableEntity} {
		sim.SetFault(&sandboxbna.Fault{Status: status, Body: `{"error":"REQUEST_ID_REUSED"}`, Count: 1})
		_, err := c.Notify(ctx, notification(1))
		if fe := fhirerr.As(err); fe == nil || fe.Category != fhirerr.Conflict || fe.IssueCode == "duplicate" || !strings.Contains(fe.Message, "new X-Request-ID") {
			t.Errorf("%d REQUEST_ID_REUSED: %v", status, err)
		}
	}
}

// TestContractConstants: the client reads what the simulators write.
func TestContractConstants(t *testing.T) {
	if bna.MotherNHSNumberURL != pds.MotherNHSNumberURL || bna.CodeRequestIDReused != sandboxbna.CodeRequestIDReused {
		t.Fatal("the client and the simulators disagree on the contract")
	}
}

// TestNotifyIsNeverRetried: a 503 after which the service may have
// recorded the birth is passed on after one attempt.
func TestNotifyIsNeverRetried(t *testing.T) {
	c, sim := setup(t)
	sim.SetFault(&sandboxbna.Fault{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"0"}}})
	before := sim.Requests()
	_, err := c.Notify(context.Background(), notification(1))
	if fhirerr.CategoryOf(err) != fhirerr.Timeout {
		t.Fatalf("err %v, want Timeout", err)
	}
	if n := sim.Requests() - before; n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
}
