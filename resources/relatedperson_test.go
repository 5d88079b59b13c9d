package resources_test

import (
	"context"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"

	rppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/related_person_go_proto"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// fakeRelated answers PDS's related-people search with bodies by NHS
// number (an empty searchset otherwise), or err, counting the calls.
type fakeRelated struct {
	bodies map[string][]byte
	err    error
	asked  []string
}

func (f *fakeRelated) RelatedPeople(_ context.Context, nhs string) ([]byte, error) {
	f.asked = append(f.asked, nhs)
	if f.err != nil {
		return nil, f.err
	}
	if b, ok := f.bodies[nhs]; ok {
		return b, nil
	}
	return []byte(`{"resourceType":"Bundle","type":"searchset","total":0}`), nil
}

func relatedTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../mappers/pds/testdata/related/" + name + ".in.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// restrictedAs answers every patient's restriction with v (or err),
// counting the questions.
func restrictedAs(v bool, err error, asked *int) resources.RestrictedFunc {
	return func(context.Context, string) (bool, error) {
		*asked++
		return v, err
	}
}

func TestRelatedPersonSearch(t *testing.T) {
	stub := relatedTestdata(t, "stub_related_person_9000000009")
	broken := strings.Replace(string(stub), `"id": "B3380E98"`, `"id": "B3380-E98"`, 1)
	tests := []struct {
		name       string
		params     url.Values
		body       string
		restricted bool
		restrictE  error
		ids        []string
		issues     []string // code of each issue
		err        fhirerr.Category
		fails      bool
		asksStatus bool // the patient's restriction is asked (only when PDS sent someone)
	}{
		{name: "by NHS number", params: url.Values{"patient": {"9000000009"}}, body: string(stub),
			ids: []string{"9000000009-507B7621", "9000000009-B3380E98"}, asksStatus: true},
		{name: "by reference", params: url.Values{"patient": {"Patient/9000000009"}}, body: string(stub),
			ids: []string{"9000000009-507B7621", "9000000009-B3380E98"}, asksStatus: true},
		{name: "by identifier", params: url.Values{"patient:identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}}, body: string(stub),
			ids: []string{"9000000009-507B7621", "9000000009-B3380E98"}, asksStatus: true},
		{name: "_id", params: url.Values{"patient": {"9000000009"}, "_id": {"9000000009-B3380E98,9000000009-nothing"}}, body: string(stub),
			ids: []string{"9000000009-B3380E98"}, asksStatus: true},
		{name: "none: no question about the patient", params: url.Values{"patient": {"9000000009"}}, ids: []string{}},
		{name: "restricted: withheld", params: url.Values{"patient": {"9000000009"}}, body: string(stub), restricted: true,
			ids: []string{}, issues: []string{"suppressed"}, asksStatus: true},
		{name: "status unknown: shown, for the server to redact", params: url.Values{"patient": {"9000000009"}}, body: string(stub),
			restrictE: fhirerr.New(fhirerr.Timeout, "PDS timed out"), ids: []string{"9000000009-507B7621", "9000000009-B3380E98"}, asksStatus: true},
		{name: "an unreadable entry: the others, and an issue", params: url.Values{"patient": {"9000000009"}}, body: broken,
			ids: []string{"9000000009-507B7621"}, issues: []string{"incomplete"}, asksStatus: true},
		{name: "no patient", params: url.Values{}, err: fhirerr.Invalid, fails: true},
		{name: "invalid NHS number", params: url.Values{"patient": {"9000000000"}}, err: fhirerr.Invalid, fails: true},
		{name: "another type", params: url.Values{"patient": {"Practitioner/9000000009"}}, err: fhirerr.Invalid, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRelated{bodies: map[string][]byte{}}
			if tt.body != "" {
				f.bodies["9000000009"] = []byte(tt.body)
			}
			asked := 0
			p := resources.NewRelatedPerson(f, nil, restrictedAs(tt.restricted, tt.restrictE, &asked))
			res, err := p.Search(context.Background(), &resources.Query{Params: tt.params})
			if tt.fails {
				if fhirerr.CategoryOf(err) != tt.err {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if len(f.asked) != 0 {
					t.Errorf("PDS was asked for %v", f.asked)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, e := range res.Entries {
				ids = append(ids, e.Resource.ID)
				rp := e.Resource.Message.(*rppb.RelatedPerson)
				if got := rp.GetPatient().GetPatientId().GetValue(); got != "9000000009" {
					t.Errorf("%s: patient = %q", e.Resource.ID, got)
				}
			}
			if !reflect.DeepEqual(ids, tt.ids) || res.Total != len(tt.ids) {
				t.Errorf("ids = %v (total %d), want %v", ids, res.Total, tt.ids)
			}
			var codes []string
			for _, is := range res.Issues {
				codes = append(codes, is.Code)
			}
			if !reflect.DeepEqual(codes, tt.issues) {
				t.Errorf("issues = %v, want %v", res.Issues, tt.issues)
			}
			if (asked > 0) != tt.asksStatus {
				t.Errorf("restriction asked %d times, want asked: %v", asked, tt.asksStatus)
			}
		})
	}
}

func TestRelatedPersonRead(t *testing.T) {
	stub := relatedTestdata(t, "stub_related_person_9000000009")
	tests := []struct {
		name       string
		id         string
		body       string
		restricted bool
		pdsErr     error
		want       fhirerr.Category
		fails      bool
		asked      bool // PDS was asked
	}{
		{name: "found", id: "9000000009-B3380E98", body: string(stub), asked: true},
		{name: "not among them", id: "9000000009-00000000", body: string(stub), want: fhirerr.NotFound, fails: true, asked: true},
		{name: "not an id search gives", id: "507B7621", want: fhirerr.NotFound, fails: true},
		{name: "bad check digit", id: "9000000000-507B7621", want: fhirerr.NotFound, fails: true},
		{name: "restricted: withheld", id: "9000000009-B3380E98", body: string(stub), restricted: true, want: fhirerr.NotFound, fails: true, asked: true},
		{name: "unreadable entry: may be it", id: "9000000009-B3380-E98", want: fhirerr.NotFound, fails: true},
		{name: "unknown patient", id: "9111231130-507B7621", pdsErr: fhirerr.New(fhirerr.NotFound, "no patient"), want: fhirerr.NotFound, fails: true, asked: true},
		{name: "PDS down", id: "9000000009-507B7621", pdsErr: fhirerr.New(fhirerr.Unavailable, "down"), want: fhirerr.Unavailable, fails: true, asked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRelated{bodies: map[string][]byte{"9000000009": []byte(tt.body)}, err: tt.pdsErr}
			asked := 0
			p := resources.NewRelatedPerson(f, nil, restrictedAs(tt.restricted, nil, &asked))
			res, err := p.Read(context.Background(), tt.id)
			if (err != nil) != tt.fails || (tt.fails && fhirerr.CategoryOf(err) != tt.want) {
				t.Fatalf("err = %v, want fails %v, %v", err, tt.fails, tt.want)
			}
			if !tt.fails && res.ID != tt.id {
				t.Errorf("id = %q", res.ID)
			}
			if (len(f.asked) > 0) != tt.asked {
				t.Errorf("PDS asked %v, want asked: %v", f.asked, tt.asked)
			}
		})
	}
	t.Run("an unreadable entry may be the one asked for", func(t *testing.T) {
		broken := strings.Replace(string(stub), `"id": "B3380E98"`, `"id": "B3380-E98"`, 1)
		f := &fakeRelated{bodies: map[string][]byte{"9000000009": []byte(broken)}}
		p := resources.NewRelatedPerson(f, nil, nil)
		if _, err := p.Read(context.Background(), "9000000009-B3380E98"); fhirerr.CategoryOf(err) != fhirerr.BadGateway {
			t.Errorf("err = %v, want BadGateway", err)
		}
		if _, err := p.Read(context.Background(), "9000000009-507B7621"); err != nil {
			t.Errorf("the readable one: %v", err)
		}
	})
}

func TestRelatedPersonCompartment(t *testing.T) {
	p := resources.NewRelatedPerson(&fakeRelated{}, nil, nil)
	for id, want := range map[string]string{"9000000009-507B7621": "9000000009", "9000000017-F4CF8B96": "9000000017", "507B7621": "", "9000000000-1": ""} {
		if got, ok := p.PatientOfID(id); got != want || ok != (want != "") {
			t.Errorf("PatientOfID(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
}
