package resources_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/bna"
	"github.com/carerecords/fhir-facade/backends/pds"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

var birthNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// params builds a Parameters body: the valid defaults, with edits by name
// (value "" drops the parameter; "extra" appends a raw parameter).
func params(edits map[string]string) string {
	def := [][2]string{
		{resources.ParamMother, `"valueIdentifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}`},
		{resources.ParamSex, `"valueCode":"male"`},
		{resources.ParamBirthDateTime, `"valueDateTime":"2026-11-25T09:30:00+00:00"`},
		{resources.ParamBirthOrder, `"valuePositiveInt":2`},
		{resources.ParamNumberOfBabies, `"valuePositiveInt":2`},
		{resources.ParamBirthWeight, `"valueQuantity":{"value":3.1,"system":"http://unitsofmeasure.org","code":"kg"}`},
		{resources.ParamPlaceOfBirth, `"valueString":"rgt01"`},
	}
	var ps []string
	for _, d := range def {
		v := d[1]
		if e, ok := edits[d[0]]; ok {
			v = e
		}
		if v != "" {
			ps = append(ps, `{"name":"`+d[0]+`",`+v+`}`)
		}
	}
	if x, ok := edits["extra"]; ok {
		ps = append(ps, x)
	}
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(ps, ",") + `]}`
}

func TestParseBirthParameters(t *testing.T) {
	got, err := resources.ParseBirthParameters([]byte(params(nil)), birthNow)
	if err != nil {
		t.Fatal(err)
	}
	want := resources.Birth{MotherNHSNumber: "9000000009", Sex: "male", BirthDateTime: time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC),
		BirthOrder: 2, NumberOfBabies: 2, BirthWeightGrams: 3100, PlaceOfBirthODS: "RGT01"}
	if !got.BirthDateTime.Equal(want.BirthDateTime) {
		t.Errorf("birth time %v", got.BirthDateTime)
	}
	got.BirthDateTime = want.BirthDateTime
	if *got != want {
		t.Errorf("got %+v, want %+v", *got, want)
	}

	tests := []struct {
		name     string
		body     string
		category fhirerr.Category
		param    string
	}{
		{"not JSON", "{", fhirerr.Invalid, ""},
		{"not Parameters", `{"resourceType":"Patient"}`, fhirerr.Invalid, ""},
		{"missing mother", params(map[string]string{resources.ParamMother: ""}), fhirerr.Required, resources.ParamMother},
		{"mother not an NHS number", params(map[string]string{resources.ParamMother: `"valueString":"9000000000"`}), fhirerr.Invalid, resources.ParamMother},
		{"mother of another system", params(map[string]string{resources.ParamMother: `"valueIdentifier":{"system":"urn:x","value":"9000000009"}`}), fhirerr.Invalid, resources.ParamMother},
		{"mother as a code", params(map[string]string{resources.ParamMother: `"valueCode":"9000000009"`}), fhirerr.Invalid, resources.ParamMother},
		{"sex other", params(map[string]string{resources.ParamSex: `"valueCode":"other"`}), fhirerr.Invalid, resources.ParamSex},
		{"sex as a string", params(map[string]string{resources.ParamSex: `"valueString":"male"`}), fhirerr.Invalid, resources.ParamSex},
		{"date only", params(map[string]string{resources.ParamBirthDateTime: `"valueDateTime":"2026-11-25"`}), fhirerr.Invalid, resources.ParamBirthDateTime},
		{"no time zone", params(map[string]string{resources.ParamBirthDateTime: `"valueDateTime":"2026-11-25T09:30:00"`}), fhirerr.Invalid, resources.ParamBirthDateTime},
		{"future", params(map[string]string{resources.ParamBirthDateTime: `"valueDateTime":"2026-11-25T13:00:00Z"`}), fhirerr.Invalid, resources.ParamBirthDateTime},
		{"two years ago", params(map[string]string{resources.ParamBirthDateTime: `"valueDateTime":"2024-11-25T13:00:00Z"`}), fhirerr.Invalid, resources.ParamBirthDateTime},
		{"order beyond babies", params(map[string]string{resources.ParamBirthOrder: `"valuePositiveInt":3`}), fhirerr.Invalid, resources.ParamBirthOrder},
		{"ten babies", params(map[string]string{resources.ParamNumberOfBabies: `"valuePositiveInt":10`}), fhirerr.Invalid, resources.ParamNumberOfBabies},
		{"order not a number", params(map[string]string{resources.ParamBirthOrder: `"valueString":"1"`}), fhirerr.Invalid, resources.ParamBirthOrder},
		{"weight in pounds", params(map[string]string{resources.ParamBirthWeight: `"valueQuantity":{"value":7,"code":"[lb_av]"}`}), fhirerr.Invalid, resources.ParamBirthWeight},
		{"weight too small", params(map[string]string{resources.ParamBirthWeight: `"valuePositiveInt":50`}), fhirerr.Invalid, resources.ParamBirthWeight},
		{"weight not UCUM", params(map[string]string{resources.ParamBirthWeight: `"valueQuantity":{"value":3000,"system":"urn:x","code":"g"}`}), fhirerr.Invalid, resources.ParamBirthWeight},
		{"place not ODS", params(map[string]string{resources.ParamPlaceOfBirth: `"valueString":"St Elsewhere's"`}), fhirerr.Invalid, resources.ParamPlaceOfBirth},
		{"unknown parameter", params(map[string]string{"extra": `{"name":"eye-colour","valueString":"blue"}`}), fhirerr.Invalid, "eye-colour"},
		{"twice", params(map[string]string{"extra": `{"name":"baby-sex","valueCode":"male"}`}), fhirerr.Invalid, resources.ParamSex},
		{"parts", params(map[string]string{resources.ParamSex: `"part":[{"name":"x","valueCode":"male"}]`}), fhirerr.Invalid, resources.ParamSex},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resources.ParseBirthParameters([]byte(tt.body), birthNow)
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != tt.category {
				t.Fatalf("err %v, want category %v", err, tt.category)
			}
			if tt.param != "" && fe.Expression != "Parameters.parameter.where(name='"+tt.param+"')" {
				t.Errorf("expression %q does not name %s", fe.Expression, tt.param)
			}
		})
	}
}

// FuzzBirthParameters: any body is parsed or refused with a categorised
// error naming a parameter, never a panic; what is accepted is complete.
func FuzzBirthParameters(f *testing.F) {
	f.Add(params(nil))
	f.Add(params(map[string]string{resources.ParamBirthWeight: `"valuePositiveInt":3400`}))
	f.Add(params(map[string]string{resources.ParamBirthDateTime: `"valueInstant":"2026-11-25T09:30:00.123Z"`}))
	f.Add(`{"resourceType":"Parameters","parameter":[{"name":"birth-weight","valueQuantity":{"value":1e400,"code":"g"}}]}`)
	f.Add(`{"resourceType":"Parameters"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		b, err := resources.ParseBirthParameters([]byte(body), birthNow)
		if err != nil {
			if fhirerr.As(err) == nil {
				t.Fatalf("uncategorised error %v", err)
			}
			return
		}
		if len(b.MotherNHSNumber) != 10 || b.Sex == "" || b.BirthOrder < 1 || b.BirthOrder > b.NumberOfBabies ||
			b.BirthWeightGrams < 100 || b.BirthWeightGrams > 10000 || b.PlaceOfBirthODS == "" || b.BirthDateTime.After(birthNow.Add(time.Minute)) {
			t.Fatalf("accepted %+v", b)
		}
	})
}

// fakeBNA records the notification and answers with a fixed baby.
type fakeBNA struct {
	got bna.Notification
	err error
}

func (f *fakeBNA) Notify(_ context.Context, n bna.Notification) (*bna.Result, error) {
	f.got = n
	if f.err != nil {
		return nil, f.err
	}
	return &bna.Result{NHSNumber: "9000000017", PDSVersion: "1"}, nil
}

// fakePDSRead answers every read with a minimal Patient of that number.
type fakePDSRead struct{ resources.PDSClient }

func (fakePDSRead) Read(_ context.Context, nhs string) (*pds.Patient, error) {
	b, _ := json.Marshal(map[string]any{"resourceType": "Patient", "id": nhs, "meta": map[string]any{"versionId": "1"}})
	return &pds.Patient{Body: b, Version: "1"}, nil
}

// TestNotifyBirthProvider: the operation is offered only with a service,
// sends what the Parameters say, reads the baby back, and maps the
// service's field errors to the operation's parameters.
func TestNotifyBirthProvider(t *testing.T) {
	p := resources.NewPatient(fakePDSRead{}, nil)
	if len(p.TypeOperations()) != 0 {
		t.Fatal("$notify-birth offered without a birth notification service")
	}
	f := &fakeBNA{}
	p.UseBirthNotifications(f)
	ops := p.TypeOperations()
	if len(ops) != 1 || ops[0].Name != "notify-birth" || !ops[0].Definition.Type {
		t.Fatalf("operations %+v", ops)
	}
	body := strings.Replace(params(nil), "2026-11-25T09:30:00+00:00", time.Now().UTC().Add(-time.Hour).Format(time.RFC3339), 1)
	res, err := ops[0].Run(context.Background(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "9000000017" || res.LastUpdated.IsZero() || f.got.MotherNHSNumber != "9000000009" || f.got.Baby.BirthWeightGrams != 3100 || f.got.PlaceOfBirthODS != "RGT01" {
		t.Errorf("res %+v, sent %+v", res, f.got)
	}
	f.err = &fhirerr.Error{Category: fhirerr.Invalid, Backend: bna.Name, Expression: "baby.birthWeightGrams", Message: "x"}
	_, err = ops[0].Run(context.Background(), []byte(body))
	if fe := fhirerr.As(err); fe == nil || fe.Expression != "Parameters.parameter.where(name='birth-weight')" {
		t.Errorf("service field error: %v", err)
	}
}

// babyPDS answers reads from a table of records (raw PDS JSON) by number,
// or with err.
type babyPDS struct {
	resources.PDSClient
	records map[string]string
	err     error
}

func (f babyPDS) Read(_ context.Context, nhs string) (*pds.Patient, error) {
	if b, ok := f.records[nhs]; ok {
		return &pds.Patient{Body: []byte(b), Version: "1"}, nil
	}
	if f.err != nil {
		return nil, f.err
	}
	return nil, &fhirerr.Error{Category: fhirerr.NotFound, Backend: pds.Name, Message: "not found"}
}

// babyRecord is the baby 9000000017's PDS record as the service makes it
// (the time of birth in England), with edits.
func babyRecord(t *testing.T, born time.Time, edit func(m map[string]any)) string {
	local := born.In(london(t))
	m := map[string]any{
		"resourceType": "Patient", "id": "9000000017", "meta": map[string]any{"versionId": "1"},
		"identifier": []any{map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000017"}},
		"gender":     "male",
		"birthDate":  local.Format(time.DateOnly),
		"_birthDate": map[string]any{"extension": []any{map[string]any{
			"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": local.Format(time.RFC3339)}}},
		"multipleBirthInteger": 2,
		"contact": []any{map[string]any{
			"extension": []any{map[string]any{"url": bna.MotherNHSNumberURL,
				"valueIdentifier": map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}}},
			"relationship": []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}}}},
			"name":         map[string]any{"family": "Smith"}}},
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// TestNotifyBirthChecksTheBaby: the baby the service answers with must be
// the one notified as far as its PDS record shows (sex, time of birth,
// birth order, mother), or the request id was reused for another
// notification and the service replayed its first answer: 409, never that
// baby. The service's own refusal of a reused id passes through.
func TestNotifyBirthChecksTheBaby(t *testing.T) {
	born := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	body := strings.Replace(params(nil), "2026-11-25T09:30:00+00:00", born.Format(time.RFC3339), 1)
	set := func(k string, v any) func(m map[string]any) { return func(m map[string]any) { m[k] = v } }
	tests := []struct {
		name    string
		baby    string
		mother  string // the notified mother's record, read when the baby names another
		pdsErr  error
		bnaErr  error
		differs string // the parameters named in a 409; "" for the baby
		status  fhirerr.Category
	}{
		{name: "the baby notified", baby: babyRecord(t, born, nil)},
		{name: "another sex", baby: babyRecord(t, born, set("gender", "female")), differs: resources.ParamSex},
		{name: "another time of birth", baby: babyRecord(t, born.Add(-5*time.Minute), nil), differs: resources.ParamBirthDateTime},
		{name: "only a birth date, the same day", baby: babyRecord(t, born, set("_birthDate", nil))},
		{name: "only a birth date, another day", baby: babyRecord(t, born.AddDate(0, 0, -2), set("_birthDate", nil)), differs: resources.ParamBirthDateTime},
		{name: "another birth order", baby: babyRecord(t, born, set("multipleBirthInteger", 1)), differs: resources.ParamBirthOrder},
		{name: "several differences", baby: babyRecord(t, born.Add(time.Hour), set("gender", "female")), differs: resources.ParamSex + ", " + resources.ParamBirthDateTime},
		{name: "another mother", baby: babyRecord(t, born, func(m map[string]any) {
			m["contact"].([]any)[0].(map[string]any)["extension"].([]any)[0].(map[string]any)["valueIdentifier"].(map[string]any)["value"] = "9000000033"
		}), mother: `{"resourceType":"Patient","id":"9000000009"}`, differs: resources.ParamMother},
		{name: "the mother superseded", baby: babyRecord(t, born, func(m map[string]any) {
			m["contact"].([]any)[0].(map[string]any)["extension"].([]any)[0].(map[string]any)["valueIdentifier"].(map[string]any)["value"] = "9000000033"
		}), mother: `{"resourceType":"Patient","id":"9000000033"}`},
		{name: "the mother unreadable", baby: babyRecord(t, born, func(m map[string]any) {
			m["contact"].([]any)[0].(map[string]any)["extension"].([]any)[0].(map[string]any)["valueIdentifier"].(map[string]any)["value"] = "9000000033"
		}), pdsErr: &fhirerr.Error{Category: fhirerr.Timeout, Backend: pds.Name, Message: "slow"}, status: fhirerr.Timeout},
		{name: "restricted: no contact, no mother to compare", baby: babyRecord(t, born, set("contact", nil))},
		{name: "the service refuses the reused id", bnaErr: bna.RequestIDReused(""), status: fhirerr.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := babyPDS{records: map[string]string{"9000000017": tt.baby}, err: tt.pdsErr}
			if tt.mother != "" {
				f.records["9000000009"] = tt.mother
			}
			p := resources.NewPatient(f, nil)
			p.UseBirthNotifications(&fakeBNA{err: tt.bnaErr})
			res, err := p.TypeOperations()[0].Run(context.Background(), []byte(body))
			want := tt.status
			if tt.differs != "" {
				want = fhirerr.Conflict
			}
			if want == 0 {
				if err != nil || res.ID != "9000000017" {
					t.Fatalf("got %+v %v, want the baby", res, err)
				}
				return
			}
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != want {
				t.Fatalf("got %+v %v, want category %v", res, err, want)
			}
			if want == fhirerr.Conflict {
				if !strings.Contains(fe.Message, "this request id was already used for a different birth notification") ||
					!strings.Contains(fe.Message, "send the correction with a new X-Request-ID") || !strings.Contains(fe.Message, tt.differs) {
					t.Errorf("message %q", fe.Message)
				}
				if strings.Contains(fe.Message, "9000000017") || strings.Contains(fe.Message, "9000000033") {
					t.Errorf("message %q names a patient", fe.Message)
				}
			}
		})
	}
}

func london(t *testing.T) *time.Location {
	t.Helper()
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
