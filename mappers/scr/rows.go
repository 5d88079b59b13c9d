package scr

import (
	"strings"
	"time"

	aipb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/allergy_intolerance_go_proto"
	mspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_statement_go_proto"

	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// mapContext holds what every resource of one summary shares.
type mapContext struct {
	now         time.Time // the day acute medications are judged on (AcuteStatus); zero: none
	nhs         string
	uuid        string // UUIDKey of the SCR UUID
	source      string // meta.source
	lastUpdated string // meta.lastUpdated (an instant), or ""
	asserted    string // MedicationStatement.dateAsserted (a dateTime), or ""
	informant   *fhirjson.Reference
}

// meta is a mapped resource's meta, declaring its UK Core profile.
func (c *mapContext) meta(profile string) *fhirjson.Meta {
	return &fhirjson.Meta{LastUpdated: c.lastUpdated, Source: c.source, Profile: []string{profile}}
}

func (c *mapContext) patient() *fhirjson.Reference {
	return &fhirjson.Reference{
		Reference:  "Patient/" + c.nhs,
		Identifier: &fhirjson.Identifier{System: nhsnumber.System, Value: c.nhs},
	}
}

func (c *mapContext) id(k Kind, row int) string {
	return ID{NHSNumber: c.nhs, UUID: c.uuid, Kind: k, Row: row}.String()
}

// columns finds the table's columns by name (case and spacing ignored).
// Every name in required must be present; columns not in known are
// "extra": their values are kept as notes.
type columns struct {
	index map[string]int // normalised name → column (from 0)
	extra []int
}

func norm(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

func findColumns(t *Table, required, known []string) (*columns, error) {
	c := &columns{index: map[string]int{}}
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	for i, name := range t.Columns {
		n := norm(name)
		if _, dup := c.index[n]; dup {
			return nil, &TableError{Section: t.Section, Row: 0, Column: i + 1, Reason: "a column appears twice"}
		}
		c.index[n] = i
		if !isKnown[n] {
			c.extra = append(c.extra, i)
		}
	}
	for _, r := range required {
		if _, ok := c.index[r]; !ok {
			return nil, &TableError{Section: t.Section, Row: 0, Reason: "no \"" + r + "\" column"}
		}
	}
	return c, nil
}

// get returns the cell of the named column, or "" if the table lacks it.
func (c *columns) get(r Row, name string) string {
	if i, ok := c.index[name]; ok {
		return r.Cells[i]
	}
	return ""
}

// extraNotes keeps the values of columns the mapper does not know.
func (c *columns) extraNotes(t *Table, r Row) []fhirjson.Annotation {
	var out []fhirjson.Annotation
	for _, i := range c.extra {
		if v := r.Cells[i]; v != "" {
			out = append(out, fhirjson.Annotation{Text: t.Columns[i] + ": " + v})
		}
	}
	return out
}

var (
	allergyColumns    = []string{"date", "description", "certainty", "severity", "supporting information"}
	medicationColumns = []string{"type", "date", "medication item", "dosage instructions", "quantity"}
)

// certainty maps the Certainty column to a verificationStatus code.
func certainty(s string) string {
	switch norm(strings.TrimSuffix(strings.TrimSpace(s), ".")) {
	case "confirmed", "certain", "definite", "definitive":
		return "confirmed"
	case "suspected", "unconfirmed", "possible", "probable", "likely", "provisional", "uncertain", "unconfirmed suspected":
		return "unconfirmed"
	case "refuted", "ruled out", "excluded", "disproved":
		return "refuted"
	case "entered in error", "entered-in-error", "recorded in error":
		return "entered-in-error"
	}
	return ""
}

// severity maps the Severity column to a reaction severity or, when the
// text speaks of risk rather than of the reaction, to a criticality.
func severity(s string) (reaction, criticality string) {
	switch norm(strings.TrimSuffix(strings.TrimSpace(s), ".")) {
	case "mild":
		return "mild", ""
	case "moderate":
		return "moderate", ""
	case "severe":
		return "severe", ""
	case "low", "low risk", "low criticality":
		return "", "low"
	case "high", "high risk", "high criticality", "life threatening", "life-threatening":
		return "", "high"
	case "unable to assess", "unable-to-assess", "unable to assess risk":
		return "", "unable-to-assess"
	}
	return "", ""
}

func (c *mapContext) allergies(t *Table) ([]*aipb.AllergyIntolerance, error) {
	if t.Empty || len(t.Rows) == 0 {
		return nil, nil
	}
	cols, err := findColumns(t, []string{"description"}, allergyColumns)
	if err != nil {
		return nil, err
	}
	out := make([]*aipb.AllergyIntolerance, 0, len(t.Rows))
	for _, r := range t.Rows {
		a := &fhirjson.AllergyIntolerance{
			ResourceType: "AllergyIntolerance",
			ID:           c.id(KindAllergy, r.Index),
			Meta:         c.meta(ukprofile.AllergyIntolerance),
			Patient:      c.patient(),
		}
		var notes []fhirjson.Annotation
		if d := cols.get(r, "description"); d != "" {
			a.Code = &fhirjson.CodeableConcept{Text: d}
		} else {
			// UK Core AllergyIntolerance requires a code (1..1); the SCR
			// gives none, which is said, not invented.
			a.Code = &fhirjson.CodeableConcept{
				Extension: []fhirjson.Extension{{URL: DataAbsentReasonURL, ValueCode: "unknown"}},
				Text:      "Not stated in the Summary Care Record",
			}
			notes = append(notes, fhirjson.Annotation{Text: "The Summary Care Record gives no description for this entry."})
		}
		if v := cols.get(r, "date"); v != "" {
			if d, ok := scrDate(v); ok {
				a.RecordedDate, a.OnsetDateTime = d, d
			} else {
				notes = append(notes, fhirjson.Annotation{Text: "Date: " + v})
			}
		}
		verification := ""
		if v := cols.get(r, "certainty"); v != "" {
			if verification = certainty(v); verification == "" {
				notes = append(notes, fhirjson.Annotation{Text: "Certainty: " + v})
			}
		}
		if verification != "" {
			a.VerificationStatus = &fhirjson.CodeableConcept{Coding: []fhirjson.Coding{{System: AllergyVerificationSystem, Code: verification}}}
		}
		if verification != "entered-in-error" {
			// AllergyIntolerance.clinicalStatus SHALL be present unless entered in error (ait-1, ait-2).
			a.ClinicalStatus = &fhirjson.CodeableConcept{Coding: []fhirjson.Coding{{System: AllergyClinicalSystem, Code: "active"}}}
		}
		if v := cols.get(r, "severity"); v != "" {
			reaction, crit := severity(v)
			switch {
			case reaction != "":
				a.Reaction = []fhirjson.AllergyIntoleranceReaction{{
					// R4 requires a manifestation; the SCR does not give one.
					Manifestation: []fhirjson.CodeableConcept{{
						Extension: []fhirjson.Extension{{URL: DataAbsentReasonURL, ValueCode: "unknown"}},
						Text:      "Not stated in the Summary Care Record",
					}},
					Severity: reaction,
				}}
			case crit != "":
				a.Criticality = crit
			default:
				notes = append(notes, fhirjson.Annotation{Text: "Severity: " + v})
			}
		}
		if v := cols.get(r, "supporting information"); v != "" {
			notes = append(notes, fhirjson.Annotation{Text: v})
		}
		a.Note = append(notes, cols.extraNotes(t, r)...)
		p, err := fhirjson.BuildAllergyIntolerance(a)
		if err != nil {
			return nil, &TableError{Section: t.Section, Row: r.Index, Reason: "the row cannot be mapped: " + redactedPath(err)}
		}
		out = append(out, p)
	}
	return out, nil
}

func (c *mapContext) medications(t *Table, k Kind) ([]*mspb.MedicationStatement, error) {
	if t.Empty || len(t.Rows) == 0 {
		return nil, nil
	}
	cols, err := findColumns(t, []string{"medication item"}, medicationColumns)
	if err != nil {
		return nil, err
	}
	// A current repeat is an authorisation the GP record holds as current,
	// whenever it was last issued; a discontinued one has been stopped.
	// Acute rows get theirs from AcuteStatus, row by row.
	status := "active"
	if k == KindDiscontinued {
		status = "stopped"
	}
	out := make([]*mspb.MedicationStatement, 0, len(t.Rows))
	for _, r := range t.Rows {
		m := &fhirjson.MedicationStatement{
			ResourceType: "MedicationStatement",
			ID:           c.id(k, r.Index),
			Meta:         c.meta(ukprofile.MedicationStatement),
			Status:       status,
			Category: &fhirjson.CodeableConcept{Coding: []fhirjson.Coding{{
				System: MedicationCategorySystem, Code: "community", Display: "Community",
			}}},
			Subject:           c.patient(),
			DateAsserted:      c.asserted,
			InformationSource: c.informant,
		}
		if v := cols.get(r, "medication item"); v != "" {
			m.MedicationCodeableConcept = &fhirjson.CodeableConcept{Text: v}
		} else {
			// medication[x] is 1..1; the SCR gave no item.
			m.MedicationCodeableConcept = &fhirjson.CodeableConcept{
				Extension: []fhirjson.Extension{{URL: DataAbsentReasonURL, ValueCode: "unknown"}},
				Text:      "Not stated in the Summary Care Record",
			}
		}
		if v := cols.get(r, "dosage instructions"); v != "" {
			m.Dosage = []fhirjson.Dosage{{Text: v}}
		}
		var notes []fhirjson.Annotation
		typ := cols.get(r, "type")
		dateNote := ""
		if v := cols.get(r, "date"); v != "" {
			label, d, ok := labelledDate(v)
			if ok {
				m.EffectiveDateTime = d
				if label != "" {
					dateNote = label + ": " + strings.TrimSpace(v[strings.Index(v, ":")+1:])
				}
			} else {
				dateNote = "Date: " + v
			}
		}
		if k == KindAcute {
			// The SCR states no status for an acute issue: the facade infers
			// it from the issue date, and says so.
			status, reason := AcuteStatus(m.EffectiveDateTime, c.now)
			m.Status = status
			m.StatusReason = []fhirjson.CodeableConcept{{Text: reason}}
		}
		switch {
		case typ != "" && dateNote != "":
			notes = append(notes, fhirjson.Annotation{Text: typ + "; " + dateNote})
		case typ != "":
			notes = append(notes, fhirjson.Annotation{Text: typ})
		case dateNote != "":
			notes = append(notes, fhirjson.Annotation{Text: dateNote})
		}
		if v := cols.get(r, "quantity"); v != "" {
			notes = append(notes, fhirjson.Annotation{Text: "Quantity: " + v})
		}
		m.Note = append(notes, cols.extraNotes(t, r)...)
		p, err := fhirjson.BuildMedicationStatement(m)
		if err != nil {
			return nil, &TableError{Section: t.Section, Row: r.Index, Reason: "the row cannot be mapped: " + redactedPath(err)}
		}
		out = append(out, p)
	}
	return out, nil
}

// redactedPath describes a builder error by its element path only.
func redactedPath(err error) string {
	if e, ok := err.(interface{ Redacted() string }); ok {
		return e.Redacted()
	}
	return "invalid value"
}
