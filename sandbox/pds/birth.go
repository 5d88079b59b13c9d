package pds

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Births (project contract, docs/backends.md): the national birth
// notification service allocates the baby's NHS number and creates its PDS
// record linked to the mother. PDS's own POST /Patient is not for births,
// so the birth notification simulator (sandbox/bna) adds the baby
// in-process with RegisterBirth, sharing this simulator's allocator: a baby
// gets the next free number, as a created patient does.
//
// The baby's record: the mother's family name and no given name yet
// (name.use usual, from the birth date), the gender, the birth date with the
// time of birth in the standard patient-birthTime extension on _birthDate,
// multipleBirthInteger (the birth order), the mother's home address, and
// one contact linking the mother: relationship MTH (v3-RoleCode "mother"),
// her family name, and her NHS number in the extension MotherNHSNumberURL.
// A restricted mother's baby is restricted too (and so shows neither
// address nor contact). Version 1, security U (or R).

// MotherNHSNumberURL is the extension on the baby's contact that carries the
// mother's NHS number (valueIdentifier): FHIR R4's Patient.contact has no
// reference to another Patient (project contract).
const MotherNHSNumberURL = "https://carerecords-facade.invalid/fhir/StructureDefinition/contact-nhs-number"

// ErrMotherNotFound is RegisterBirth's answer when the mother's NHS number is
// not a live record (unknown or invalidated).
var ErrMotherNotFound = errors.New("pds: mother not found")

// ErrInvalidBirth is RegisterBirth's answer to a birth it cannot record.
var ErrInvalidBirth = errors.New("pds: invalid birth")

// Birth is a baby to register.
type Birth struct {
	// MotherNHSNumber is the mother's NHS number (valid, Modulus 11).
	MotherNHSNumber string
	// Gender is male, female or unknown.
	Gender string
	// BirthDateTime is the instant of birth; the birth date is its day in
	// England.
	BirthDateTime time.Time
	// BirthOrder is the baby's place in a multiple birth (1 for a single birth).
	BirthOrder int
}

var london = func() *time.Location {
	if l, err := time.LoadLocation("Europe/London"); err == nil {
		return l
	}
	return time.UTC
}()

// RegisterBirth creates the baby's record and returns its NHS number and
// version. A superseded mother's number stands for the superseding record.
func (s *Simulator) RegisterBirth(b Birth) (nhs, version string, err error) {
	if !nhsnumber.Valid(b.MotherNHSNumber) || b.BirthOrder < 1 || b.BirthDateTime.IsZero() {
		return "", "", ErrInvalidBirth
	}
	switch b.Gender {
	case "male", "female", "unknown":
	default:
		return "", "", ErrInvalidBirth
	}
	id := b.MotherNHSNumber
	if s.db.invalidated[id] {
		return "", "", ErrMotherNotFound
	}
	id = s.db.current(id)
	mother := s.lookup(id)
	if mother == nil {
		return "", "", ErrMotherNotFound
	}
	var m struct {
		Name []struct {
			Use    string `json:"use"`
			Family string `json:"family"`
		} `json:"name"`
		Address []map[string]any `json:"address"`
	}
	if err := json.Unmarshal(mother.full, &m); err != nil {
		return "", "", err
	}
	family := ""
	for _, n := range m.Name {
		if family == "" || n.Use == "usual" {
			family = n.Family
		}
	}
	local := b.BirthDateTime.In(london)
	date := local.Format(time.DateOnly)
	rec, aerr := s.insert(func(nhs string) ([]byte, error) {
		security := pCoding{System: confidentialitySystem, Code: "U", Display: "unrestricted"}
		if mother.restricted {
			security = pCoding{System: confidentialitySystem, Code: "R", Display: "restricted"}
		}
		baby := map[string]any{
			"resourceType": "Patient",
			"id":           nhs,
			"identifier":   []pIdent{{System: nhsnumber.System, Value: nhs, Extension: []pExtension{verifiedNHSNumber}}},
			"meta":         pMeta{VersionID: "1", Security: []pCoding{security}},
			"name":         []any{map[string]any{"id": elementID(nhs, "name0"), "use": "usual", "period": map[string]any{"start": date}, "family": family}},
			"gender":       b.Gender,
			"birthDate":    date,
			"_birthDate": map[string]any{"extension": []any{map[string]any{
				"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": local.Format(time.RFC3339)}}},
			"multipleBirthInteger": b.BirthOrder,
			"contact": []any{map[string]any{
				"id": elementID(nhs, "contact0"),
				"extension": []any{map[string]any{"url": MotherNHSNumberURL,
					"valueIdentifier": map[string]any{"system": nhsnumber.System, "value": mother.id}}},
				"relationship": []any{map[string]any{"coding": []any{map[string]any{
					"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH", "display": "mother"}}}},
				"name":   map[string]any{"use": "usual", "family": family},
				"period": map[string]any{"start": date},
			}},
		}
		for _, a := range m.Address {
			if a["use"] != "home" {
				continue
			}
			c := make(map[string]any, len(a))
			for k, v := range a {
				c[k] = v
			}
			c["id"] = elementID(nhs, "address0")
			c["period"] = map[string]any{"start": date}
			baby["address"] = []any{c}
			break
		}
		return json.Marshal(baby)
	})
	if aerr != nil {
		return "", "", aerr
	}
	return rec.id, strconv.Itoa(rec.version()), nil
}
