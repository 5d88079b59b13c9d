package resources

import (
	"context"

	mspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_statement_go_proto"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// MedicationStatement serves the acute, repeat and discontinued repeat
// medications of a patient's Summary Care Record: search by patient, and
// read by the ids search returns.
type MedicationStatement struct {
	scr scrRecords
}

var (
	_ Reader   = (*MedicationStatement)(nil)
	_ Searcher = (*MedicationStatement)(nil)
)

// NewMedicationStatement returns the provider over an SCR client. memo may
// be nil. Give it the same memo as AllergyIntolerance: one summary maps to
// both.
func NewMedicationStatement(c SCRClient, memo *Memo) *MedicationStatement {
	return &MedicationStatement{scr: scrRecords{client: c, memo: memo}}
}

// ResourceType implements Provider.
func (*MedicationStatement) ResourceType() string { return "MedicationStatement" }

// Profile implements Provider: the base resource (no dm+d codes are available).
func (*MedicationStatement) Profile() string { return "" }

// Documentation implements Provider.
func (*MedicationStatement) Documentation() string {
	return "Acute, current repeat and discontinued repeat medications from the patient's latest Summary Care Record (SCR), read from its narrative tables: " +
		"medicationCodeableConcept.text only (no dm+d code is available, and none is invented), status active (acute, repeat) or stopped (discontinued), " +
		"category community, effectiveDateTime from the prescribed / last issued date, dateAsserted the summary's date, dosage.text, the quantity as a note, " +
		"informationSource the GP practice that authored the summary. Consent withheld, no SCR and ids work as for AllergyIntolerance " +
		"(ids <NHS number>-<SCR UUID>-m{a,r,d}<row>: acute, repeat, discontinued). " +
		"Categories the summary states hold \"No relevant information\" are named in an OperationOutcome entry (severity information)."
}

// medicationStatuses are the codes of MedicationStatementStatusCodes.
var medicationStatuses = map[string]bool{"active": true, "completed": true, "entered-in-error": true, "intended": true, "stopped": true, "on-hold": true, "unknown": true, "not-taken": true}

// SearchParams implements Searcher.
func (*MedicationStatement) SearchParams() []SearchParam {
	return []SearchParam{
		patientParam("MedicationStatement"),
		{Name: "status", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/medications-status",
			Documentation: "active | stopped (the SCR's acute and repeat medications are active, its discontinued repeats stopped); comma-separated values are ORed.",
			Example:       "active"},
		{Name: "effective", Type: TypeDate, Definition: "http://hl7.org/fhir/SearchParameter/MedicationStatement-effective", Repeatable: true,
			Documentation: "effectiveDateTime (prescribed or last issued), with prefix eq, ge, gt, le or lt, of year, month or day precision; two values make a range.",
			Example:       "ge2020-01-01"},
	}
}

// Search implements Searcher.
func (p *MedicationStatement) Search(ctx context.Context, q *Query) (*SearchResult, error) {
	nhs, err := scrPatient(q.Params)
	if err != nil {
		return nil, err
	}
	var statuses map[string]bool
	if v := q.Params.Get("status"); v != "" {
		statuses = map[string]bool{}
		for _, t := range ParseTokens(v) {
			if t.HasSystem && t.System != "http://hl7.org/fhir/CodeSystem/medication-statement-status" && t.System != "" {
				continue // no status has another system: the token matches nothing
			}
			if !medicationStatuses[t.Code] {
				return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "status",
					Message: "status must be one of active, completed, entered-in-error, intended, stopped, on-hold, unknown, not-taken"}
			}
			statuses[t.Code] = true
		}
	}
	dates, hasDate := q.Params["effective"]
	var dr DateRange
	if hasDate {
		if dr, err = ParseDateParams("effective", dates); err != nil {
			return nil, err
		}
	}
	sum, err := p.scr.fetch(ctx, nhs)
	if err != nil {
		return nil, err
	}
	out := &SearchResult{Issues: sum.medicationIssues}
	for _, r := range sum.resources {
		m, ok := r.Message.(*mspb.MedicationStatement)
		if !ok {
			continue
		}
		if statuses != nil && !statuses[statusCode(m)] {
			continue
		}
		if hasDate && !dateMatches(m.GetEffective().GetDateTime(), dr) {
			continue
		}
		out.Entries = append(out.Entries, SearchEntry{Resource: r, Mode: "match"})
	}
	out.Total = len(out.Entries)
	return out, nil
}

// statusCode is the FHIR code of m's status (the enum name, as jsonformat prints it).
func statusCode(m *mspb.MedicationStatement) string {
	return fhirjson.EnumCode(m.GetStatus().GetValue())
}

// Read implements Reader.
func (p *MedicationStatement) Read(ctx context.Context, id string) (*Resource, error) {
	return p.scr.read(ctx, "MedicationStatement", id)
}

// Includes implements Includer: MedicationStatement:patient (the subject).
func (*MedicationStatement) Includes() []Include {
	return []Include{{Param: "patient", Element: "subject", Target: "Patient"}}
}
