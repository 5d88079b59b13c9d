package fhirjson_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"
)

func usOf(t *testing.T, s string) int64 {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return tm.UnixMicro()
}

// printElement renders a date or dateTime the way the server will, with
// jsonformat (as the value of an extension, since MarshalElement wants a
// complex type).
func printElement(t *testing.T, m proto.Message) string {
	t.Helper()
	mr, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	ext := &dtpb.Extension{Url: &dtpb.Uri{Value: "x"}, Value: &dtpb.Extension_ValueX{}}
	switch v := m.(type) {
	case *dtpb.Date:
		ext.Value.Choice = &dtpb.Extension_ValueX_Date{Date: v}
	case *dtpb.DateTime:
		ext.Value.Choice = &dtpb.Extension_ValueX_DateTime{DateTime: v}
	case *dtpb.Instant:
		ext.Value.Choice = &dtpb.Extension_ValueX_Instant{Instant: v}
	default:
		t.Fatalf("printElement: unsupported %T", m)
	}
	b, err := mr.MarshalElement(ext)
	if err != nil {
		t.Fatalf("MarshalElement(%v): %v", m, err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for k, v := range out {
		if strings.HasPrefix(k, "value") {
			return v.(string)
		}
	}
	t.Fatalf("no value in %s", b)
	return ""
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *dtpb.Date
		wantErr string
	}{
		{name: "day", in: "2010-10-22", want: &dtpb.Date{ValueUs: usOf(t, "2010-10-22T00:00:00Z"), Timezone: "Z", Precision: dtpb.Date_DAY}},
		{name: "month", in: "2010-10", want: &dtpb.Date{ValueUs: usOf(t, "2010-10-01T00:00:00Z"), Timezone: "Z", Precision: dtpb.Date_MONTH}},
		{name: "year", in: "2010", want: &dtpb.Date{ValueUs: usOf(t, "2010-01-01T00:00:00Z"), Timezone: "Z", Precision: dtpb.Date_YEAR}},
		{name: "before epoch", in: "1901-02-03", want: &dtpb.Date{ValueUs: usOf(t, "1901-02-03T00:00:00Z"), Timezone: "Z", Precision: dtpb.Date_DAY}},
		{name: "leap day", in: "2000-02-29", want: &dtpb.Date{ValueUs: usOf(t, "2000-02-29T00:00:00Z"), Timezone: "Z", Precision: dtpb.Date_DAY}},
		{name: "year 1", in: "0001-01-01", want: &dtpb.Date{ValueUs: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), Timezone: "Z", Precision: dtpb.Date_DAY}},
		{name: "not a leap year", in: "1900-02-29", wantErr: "no such day"},
		{name: "31 April", in: "2021-04-31", wantErr: "no such day"},
		{name: "month 13", in: "2021-13", wantErr: "month must be 01-12"},
		{name: "month 00", in: "2021-00-01", wantErr: "month must be 01-12"},
		{name: "year 0000", in: "0000", wantErr: "year 0000"},
		{name: "short year", in: "201", wantErr: "4-digit year"},
		{name: "dateTime is not a date", in: "2010-10-22T00:00:00Z", wantErr: "want YYYY, YYYY-MM or YYYY-MM-DD"},
		{name: "slashes", in: "2010/10/22", wantErr: "want YYYY-MM"},
		{name: "single-digit month", in: "2010-1-22", wantErr: `invalid date "2010-1-22"`},
		{name: "empty", in: "", wantErr: "4-digit year"},
		{name: "trailing garbage", in: "2010-10-22x", wantErr: "want YYYY-MM-DDThh:mm:ss"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fhirjson.ParseDate(tc.in)
			checkResult(t, got, err, tc.want, tc.wantErr)
			if err == nil && printElement(t, got) != tc.in {
				t.Errorf("jsonformat prints %q, want %q", printElement(t, got), tc.in)
			}
		})
	}
}

func TestParseDateTime(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      *dtpb.DateTime
		wantPrint string // "" means the input itself
		wantErr   string
	}{
		{name: "zero offset becomes Z", in: "2010-10-22T00:00:00+00:00", wantPrint: "2010-10-22T00:00:00Z",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2010-10-22T00:00:00Z"), Timezone: "Z", Precision: dtpb.DateTime_SECOND}},
		{name: "negative zero offset becomes Z", in: "2010-10-22T00:00:00-00:00", wantPrint: "2010-10-22T00:00:00Z",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2010-10-22T00:00:00Z"), Timezone: "Z", Precision: dtpb.DateTime_SECOND}},
		{name: "Z", in: "2021-03-28T01:30:00Z",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2021-03-28T01:30:00Z"), Timezone: "Z", Precision: dtpb.DateTime_SECOND}},
		{name: "BST offset kept", in: "2021-06-01T09:15:30+01:00",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2021-06-01T08:15:30Z"), Timezone: "+01:00", Precision: dtpb.DateTime_SECOND}},
		{name: "negative offset kept", in: "1974-12-25T14:35:45-05:00",
			want: &dtpb.DateTime{ValueUs: usOf(t, "1974-12-25T19:35:45Z"), Timezone: "-05:00", Precision: dtpb.DateTime_SECOND}},
		{name: "+14:00", in: "2021-06-01T00:00:00+14:00",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2021-05-31T10:00:00Z"), Timezone: "+14:00", Precision: dtpb.DateTime_SECOND}},
		{name: "milliseconds", in: "2021-06-01T09:15:30.123Z",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2021-06-01T09:15:30.123Z"), Timezone: "Z", Precision: dtpb.DateTime_MILLISECOND}},
		{name: "one fractional digit prints three", in: "2021-06-01T09:15:30.5Z", wantPrint: "2021-06-01T09:15:30.500Z",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2021-06-01T09:15:30.5Z"), Timezone: "Z", Precision: dtpb.DateTime_MILLISECOND}},
		{name: "microseconds", in: "2021-06-01T09:15:30.123456+00:00", wantPrint: "2021-06-01T09:15:30.123456Z",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2021-06-01T09:15:30.123456Z"), Timezone: "Z", Precision: dtpb.DateTime_MICROSECOND}},
		{name: "nanoseconds truncated", in: "2021-06-01T09:15:30.123456789Z", wantPrint: "2021-06-01T09:15:30.123456Z",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2021-06-01T09:15:30.123456Z"), Timezone: "Z", Precision: dtpb.DateTime_MICROSECOND}},
		{name: "date only", in: "2010-10-22",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2010-10-22T00:00:00Z"), Timezone: "Z", Precision: dtpb.DateTime_DAY}},
		{name: "month only", in: "2010-10",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2010-10-01T00:00:00Z"), Timezone: "Z", Precision: dtpb.DateTime_MONTH}},
		{name: "year only", in: "2010",
			want: &dtpb.DateTime{ValueUs: usOf(t, "2010-01-01T00:00:00Z"), Timezone: "Z", Precision: dtpb.DateTime_YEAR}},
		{name: "no time zone", in: "2010-10-22T10:00:00", wantErr: "needs a time zone"},
		{name: "no seconds", in: "2010-10-22T10:00Z", wantErr: "want YYYY-MM-DDThh:mm:ss"},
		{name: "hour 24", in: "2010-10-22T24:00:00Z", wantErr: "time out of range"},
		{name: "leap second", in: "2016-12-31T23:59:60Z", wantErr: "time out of range"},
		{name: "offset +15:00", in: "2010-10-22T10:00:00+15:00", wantErr: "offset out of range"},
		{name: "offset +14:30", in: "2010-10-22T10:00:00+14:30", wantErr: "offset out of range"},
		{name: "offset without colon", in: "2010-10-22T10:00:00+0100", wantErr: "±hh:mm"},
		{name: "empty fraction", in: "2010-10-22T10:00:00.Z", wantErr: "digits after the decimal point"},
		{name: "lower-case z", in: "2010-10-22T10:00:00z", wantErr: "want a time zone"},
		{name: "space separator", in: "2010-10-22 10:00:00Z", wantErr: "want YYYY-MM-DDThh:mm:ss"},
		{name: "garbage after Z", in: "2010-10-22T10:00:00Zx", wantErr: "after Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fhirjson.ParseDateTime(tc.in)
			checkResult(t, got, err, tc.want, tc.wantErr)
			if err != nil {
				return
			}
			want := tc.wantPrint
			if want == "" {
				want = tc.in
			}
			if p := printElement(t, got); p != want {
				t.Errorf("jsonformat prints %q, want %q", p, want)
			}
		})
	}
}

func TestParseInstant(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *dtpb.Instant
		wantErr string
	}{
		{name: "Z", in: "2021-06-01T09:15:30Z", want: &dtpb.Instant{ValueUs: usOf(t, "2021-06-01T09:15:30Z"), Timezone: "Z", Precision: dtpb.Instant_SECOND}},
		{name: "+00:00", in: "2021-06-01T09:15:30.001+00:00", want: &dtpb.Instant{ValueUs: usOf(t, "2021-06-01T09:15:30.001Z"), Timezone: "Z", Precision: dtpb.Instant_MILLISECOND}},
		{name: "offset", in: "2021-06-01T09:15:30.0001+01:00", want: &dtpb.Instant{ValueUs: usOf(t, "2021-06-01T08:15:30.0001Z"), Timezone: "+01:00", Precision: dtpb.Instant_MICROSECOND}},
		{name: "date is not an instant", in: "2021-06-01", wantErr: "invalid instant"},
		{name: "year is not an instant", in: "2021", wantErr: "invalid instant"},
		{name: "no zone", in: "2021-06-01T09:15:30", wantErr: "invalid instant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fhirjson.ParseInstant(tc.in)
			checkResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *dtpb.Time
		wantErr string
	}{
		{name: "seconds", in: "09:15:30", want: &dtpb.Time{ValueUs: (9*3600 + 15*60 + 30) * 1e6, Precision: dtpb.Time_SECOND}},
		{name: "millis", in: "09:15:30.25", want: &dtpb.Time{ValueUs: (9*3600+15*60+30)*1e6 + 250000, Precision: dtpb.Time_MILLISECOND}},
		{name: "micros", in: "23:59:59.999999", want: &dtpb.Time{ValueUs: (23*3600+59*60+59)*1e6 + 999999, Precision: dtpb.Time_MICROSECOND}},
		{name: "no seconds", in: "09:15", wantErr: "want hh:mm:ss"},
		{name: "hour 24", in: "24:00:00", wantErr: "out of range"},
		{name: "zone not allowed", in: "09:15:30Z", wantErr: "want hh:mm:ss[.fraction]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fhirjson.ParseTime(tc.in)
			checkResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}

// checkResult compares a builder's result with the expected proto, or its
// error with the expected substring (which should include the JSON path).
func checkResult[P proto.Message](t *testing.T, got P, err error, want P, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil {
			t.Fatalf("got %v, want error containing %q", got, wantErr)
		}
		if !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %q does not contain %q", err, wantErr)
		}
		var fe *fhirjson.Error
		if !errors.As(err, &fe) {
			t.Errorf("error %T is not a *fhirjson.Error", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

// r4DateTime is the dateTime grammar from the R4 specification
// (http://hl7.org/fhir/R4/datatypes.html#dateTime), anchored.
var r4DateTime = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)

// oracle parses s with the spec's regex and Go's time package: the
// reference the hand-written parser must agree with.
func oracle(s string) (time.Time, bool) {
	if !r4DateTime.MatchString(s) {
		return time.Time{}, false
	}
	for _, layout := range []string{"2006", "2006-01", "2006-01-02", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// FuzzParseDateTime checks the hand-written parser against the spec regex +
// time.Parse: same accept/reject decision, same instant (to the microsecond),
// and a printed form that parses back to the same proto.
func FuzzParseDateTime(f *testing.F) {
	for _, s := range []string{
		"2010-10-22T00:00:00+00:00", "2010-10-22", "2010-10", "2010", "2021-06-01T09:15:30.123456789+14:00",
		"2016-12-31T23:59:60Z", "0000-01-01", "1900-02-29", "2000-02-29T00:00:00-05:30", "2021-06-01T09:15:30.Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := fhirjson.ParseDateTime(s)
		want, ok := oracle(s)
		if ok != (err == nil) {
			t.Fatalf("ParseDateTime(%q): err=%v, oracle accepts=%v", s, err, ok)
		}
		if !ok {
			return
		}
		if wantUs := want.Truncate(time.Microsecond).UnixMicro(); got.ValueUs != wantUs {
			t.Fatalf("ParseDateTime(%q).ValueUs = %d, want %d", s, got.ValueUs, wantUs)
		}
		if _, off := want.Zone(); off == 0 && got.Timezone != "Z" {
			t.Fatalf("ParseDateTime(%q).Timezone = %q, want Z for a zero offset", s, got.Timezone)
		}
		printed := printElement(t, got)
		again, err := fhirjson.ParseDateTime(printed)
		if err != nil || !proto.Equal(again, got) {
			t.Fatalf("%q printed as %q, which parses to %v (err %v), want %v", s, printed, again, err, got)
		}
	})
}
