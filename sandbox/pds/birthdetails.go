package pds

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// POST /Patient/$process-birth-details: a maternity system notifies a birth
// as a transaction Bundle (the baby's Patient, without an NHS number, first;
// observations such as the birth weight; the mother's Patient with hers).
// PDS allocates the baby's number and answers 201 with the new record and a
// notification-id header.
//
// Checks, in the sandbox's order and wording: a baby Patient present
// ("Missing baby Patient resource in entry array"), its name/0/use,
// address, gender and birthDate, the birth weight
// (entry/1/resource/valueQuantity/value, 1000 to 9999), address/0 an object
// with a period, name/0/given a list, gender male, female or unknown,
// birthDate a date, the mother's NHS number (entry/7/resource/identifier/0/
// value), multipleBirthInteger 1 to 9. Then duplicates, as for POST /Patient
// but born the same day too (200 SINGLE_MATCH or MULTIPLE_MATCHES). The record is the baby's as sent:
// name and address (blank lines dropped) with ids, gender, birth date and
// time, birth order, and the mother as a contact when PDS holds her (see
// RegisterBirth), version 1.

// notificationIDHeader names the birth notification in the answer.
const notificationIDHeader = "Notification-Id"

func (s *Simulator) processBirthDetails(w http.ResponseWriter, r *http.Request) *apiError {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxCreateBody+1))
	if err != nil || len(raw) > maxCreateBody {
		return errInvalidValue("request body", "body")
	}
	var bundle struct {
		Entry []struct {
			Resource map[string]json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	_ = json.Unmarshal(raw, &bundle) // a body that is no Bundle has no baby

	var baby map[string]json.RawMessage
	for _, e := range bundle.Entry {
		if resourceType(e.Resource) == "Patient" && identifierOf(e.Resource) == "" {
			baby = e.Resource
			break
		}
	}
	if baby == nil {
		return errMissingValue("Missing baby Patient resource in entry array")
	}
	entry := func(i int) map[string]json.RawMessage {
		if i < len(bundle.Entry) {
			return bundle.Entry[i].Resource
		}
		return nil
	}
	var p struct {
		Name []struct {
			Use    string          `json:"use"`
			Family string          `json:"family"`
			Given  json.RawMessage `json:"given"`
		} `json:"name"`
		Address   []json.RawMessage `json:"address"`
		Gender    string            `json:"gender"`
		BirthDate string            `json:"birthDate"`
		Multiple  *int              `json:"multipleBirthInteger"`
	}
	b, _ := json.Marshal(baby)
	_ = json.Unmarshal(b, &p)
	var weight struct {
		ValueQuantity struct {
			Value float64 `json:"value"`
		} `json:"valueQuantity"`
	}
	wb, _ := json.Marshal(entry(1))
	_ = json.Unmarshal(wb, &weight)
	var addr0 map[string]json.RawMessage
	if len(p.Address) > 0 {
		_ = json.Unmarshal(p.Address[0], &addr0)
	}
	var given []string
	givenOK := len(p.Name) > 0 && json.Unmarshal(p.Name[0].Given, &given) == nil && p.Name[0].Given != nil

	switch {
	case len(p.Name) == 0 || p.Name[0].Use == "":
		return errMissingValue("Missing value - 'entry/0/resource/name/0/use'")
	case baby["address"] == nil:
		return errMissingValue("Missing value - 'entry/0/resource/address'")
	case p.Gender == "":
		return errMissingValue("Missing value - 'entry/0/resource/gender'")
	case p.BirthDate == "":
		return errMissingValue("Missing value - 'entry/0/resource/birthDate'")
	case weight.ValueQuantity.Value == 0:
		return errMissingValue("Missing value - 'entry/1/resource/valueQuantity/value'")
	case weight.ValueQuantity.Value < 1000 || weight.ValueQuantity.Value > 9999:
		return errInvalidValue(strconv.FormatFloat(weight.ValueQuantity.Value, 'f', -1, 64), "entry/1/resource/valueQuantity/value")
	case addr0 == nil:
		return errInvalidValue(compactJSON(baby["address"]), "entry/0/resource/address/0")
	case addr0["period"] == nil:
		return errMissingValue("Missing value - 'address/0/period'")
	case !givenOK:
		return errInvalidValue(strings.Trim(compactJSON(p.Name[0].Given), `"`), "entry/0/resource/name/0/given")
	case p.Gender != "male" && p.Gender != "female" && p.Gender != "unknown":
		return errInvalidValue(p.Gender, "gender")
	case !validDate(p.BirthDate):
		return errInvalidValue(p.BirthDate, "birthDate")
	case identifierOf(entry(7)) == "":
		return errMissingValue("Missing value - 'entry/7/resource/identifier/0/value'")
	case p.Multiple == nil || *p.Multiple < 1 || *p.Multiple > 9:
		v := "undefined"
		if p.Multiple != nil {
			v = strconv.Itoa(*p.Multiple)
		}
		return errInvalidValue(v, "entry/0/resource/multipleBirthInteger")
	}

	var postcode struct {
		PostalCode string `json:"postalCode"`
	}
	_ = json.Unmarshal(p.Address[0], &postcode)
	// A baby shares its mother's family name and address: only a record born
	// the same day as well is a duplicate (a second notification).
	var found []string
	for _, id := range s.duplicates(p.Name[0].Family, []string{normPostcode(postcode.PostalCode)}) {
		if r := s.lookup(id); r != nil && r.hasBirth && dayString(r.birth) == p.BirthDate {
			found = append(found, id)
		}
	}
	if len(found) == 1 {
		return errSingleMatch(found[0])
	} else if len(found) > 1 {
		return errMultipleMatches()
	}

	mother := s.readable(s.db.current(identifierOf(entry(7))))
	rec, aerr := s.insert(func(nhs string) ([]byte, error) {
		out := map[string]any{
			"resourceType":         "Patient",
			"id":                   nhs,
			"identifier":           []pIdent{{System: nhsnumber.System, Value: nhs, Extension: []pExtension{verifiedNHSNumber}}},
			"meta":                 pMeta{VersionID: "1", Security: []pCoding{{System: confidentialitySystem, Code: "U", Display: "unrestricted"}}},
			"gender":               p.Gender,
			"birthDate":            p.BirthDate,
			"multipleBirthInteger": *p.Multiple,
		}
		for _, k := range []string{"name", "address"} {
			var first map[string]any
			var items []map[string]any
			if err := json.Unmarshal(baby[k], &items); err != nil || len(items) == 0 {
				return nil, fmt.Errorf("%s", k)
			}
			first = items[0]
			first["id"] = elementID(nhs, k+"0")
			if lines, ok := first["line"].([]any); ok {
				kept := []any{}
				for _, l := range lines {
					if s, _ := l.(string); s != "" {
						kept = append(kept, l)
					}
				}
				first["line"] = kept
			}
			out[k] = []any{first}
		}
		if bt, ok := baby["_birthDate"]; ok {
			out["_birthDate"] = bt
		}
		if mother != nil {
			out["contact"] = []any{motherContact(nhs, mother.id)}
		}
		return json.Marshal(out)
	})
	if aerr != nil {
		return aerr
	}
	w.Header().Set("ETag", rec.etag)
	w.Header().Set(notificationIDHeader, strings.ToUpper(uuid.NewString()))
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(rec.full)
	return nil
}

func resourceType(r map[string]json.RawMessage) string {
	var t string
	_ = json.Unmarshal(r["resourceType"], &t)
	return t
}

// identifierOf returns a resource's NHS number identifier, or "".
func identifierOf(r map[string]json.RawMessage) string {
	var ids []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	_ = json.Unmarshal(r["identifier"], &ids)
	for _, id := range ids {
		if id.System == nhsnumber.System {
			return id.Value
		}
	}
	return ""
}

// motherContact links a baby to its mother's record, as RegisterBirth does.
func motherContact(baby, mother string) map[string]any {
	return map[string]any{
		"id": elementID(baby, "contact0"),
		"extension": []any{map[string]any{"url": MotherNHSNumberURL,
			"valueIdentifier": map[string]any{"system": nhsnumber.System, "value": mother}}},
		"relationship": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH", "display": "mother"}}}},
	}
}
