package scr

import (
	"errors"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Kind says which SCR table a resource comes from; it is part of the id.
type Kind string

// The kinds of row the facade maps.
const (
	KindAllergy      Kind = "a"  // AllergiesHeader → AllergyIntolerance
	KindAcute        Kind = "ma" // AcuteMedsHeader → MedicationStatement (active, completed or unknown: AcuteStatus)
	KindRepeat       Kind = "mr" // RepeatMedsHeader → MedicationStatement (active)
	KindDiscontinued Kind = "md" // DiscRepeatMedsHeader → MedicationStatement (stopped)
)

// ResourceType is the FHIR resource type rows of kind k map to.
func (k Kind) ResourceType() string {
	if k == KindAllergy {
		return "AllergyIntolerance"
	}
	return "MedicationStatement"
}

// ID identifies one mapped row without any other state: the patient, the
// summary (SCR UUID) and the row of a table. It prints as
//
//	<NHS number>-<SCR UUID: 32 lower-case hex digits, no dashes>-<kind><row>
//
// e.g. 9000000009-fa60be641f3411eba2a8000c29a364eb-a1 for the first allergy of
// 9000000009's summary FA60BE64-1F34-11EB-A2A8-000C29A364EB: at most 10+1+32+1+2+8
// characters of [0-9a-z-], a valid FHIR id. The same summary always gives the
// same ids; a new summary (a new UUID) gives new ids.
type ID struct {
	NHSNumber string
	// UUID is the SCR UUID as UUIDKey prints it.
	UUID string
	Kind Kind
	// Row is the row's Index in its table, from 1.
	Row int
}

func (id ID) String() string {
	return id.NHSNumber + "-" + id.UUID + "-" + string(id.Kind) + strconv.Itoa(id.Row)
}

// UUIDKey normalises an SCR UUID for ids: dashes removed, lower case. It
// fails unless the UUID is 32 hexadecimal digits (with or without dashes).
func UUIDKey(uuid string) (string, error) {
	s := strings.ToLower(strings.ReplaceAll(uuid, "-", ""))
	if len(s) != 32 {
		return "", errors.New("the SCR UUID is not a UUID")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", errors.New("the SCR UUID is not a UUID")
		}
	}
	return s, nil
}

// ParseID reads an id made by ID.String. It checks the NHS number (Modulus
// 11), the UUID and the row; ok is false for anything else.
func ParseID(s string) (id ID, ok bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || !nhsnumber.Valid(parts[0]) {
		return ID{}, false
	}
	uuid, err := UUIDKey(parts[1])
	if err != nil || uuid != parts[1] {
		return ID{}, false
	}
	last := parts[2]
	i := 0
	for i < len(last) && last[i] >= 'a' && last[i] <= 'z' {
		i++
	}
	kind, digits := Kind(last[:i]), last[i:]
	switch kind {
	case KindAllergy, KindAcute, KindRepeat, KindDiscontinued:
	default:
		return ID{}, false
	}
	if digits == "" || digits[0] == '0' || len(digits) > 8 {
		return ID{}, false
	}
	row, err := strconv.Atoi(digits)
	if err != nil || row < 1 {
		return ID{}, false
	}
	return ID{NHSNumber: parts[0], UUID: uuid, Kind: kind, Row: row}, true
}
