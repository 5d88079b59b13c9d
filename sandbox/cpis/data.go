package cpis

import (
	"fmt"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// Codes of the CP-IS contract (BACKENDS.md §4.1).
const (
	PlanTypeSystem = "https://carerecords-facade.invalid/fhir/CodeSystem/cpis-plan-type"
	ContactTypeURL = "https://carerecords-facade.invalid/fhir/StructureDefinition/cpis-contact-type"
	odsSystem      = "https://fhir.nhs.uk/Id/ods-organization-code"
)

var planNames = map[string]string{
	"CPP":  "Child Protection Plan",
	"LAC":  "Looked After Child",
	"UCPP": "Unborn Child Protection Plan",
}

// Shares of the population with plans, in hundredths (children) and
// thousandths (unborn child protection plans).
const (
	childPlanPercent   = 5
	endedPercent       = 30
	earlierPlanPercent = 15
	ucppPerMille       = 15
)

// localAuthority is the council responsible for a child: an ODS-style code,
// a name and its two numbers (Ofcom drama range).
type localAuthority struct {
	code, name, office, emergency string
}

func localAuthorityOf(town string) localAuthority {
	h := population.Hash("la", town)
	office := 100 + h%400
	return localAuthority{
		code:      fmt.Sprintf("LA%03d", 100+(h>>16)%900),
		name:      town + " Council Children's Services",
		office:    fmt.Sprintf("01632 960%03d", office),
		emergency: fmt.Sprintf("01632 960%03d", office+500),
	}
}

// seed builds every patient's plans: the contract fixtures' for 9000000009
// and 9000000017, then the population's.
func seed(pop []population.Person) map[string][]CareTeam {
	out := map[string][]CareTeam{
		"9000000009": {careTeam("9000000009", "cpp", "CPP", "active", "2024-03-01", "",
			localAuthority{code: "LA001", name: "Example Borough Council Children's Social Care", office: "01632 960001", emergency: "01632 960999"})},
		"9000000017": {
			careTeam("9000000017", "lac", "LAC", "inactive", "2022-05-10", "2025-09-30",
				localAuthority{code: "LA002", name: "Example County Council Children's Services", office: "01632 960002"}),
			careTeam("9000000017", "ucpp", "UCPP", "active", "2026-01-15", "",
				localAuthority{code: "LA002", name: "Example County Council Children's Services", office: "01632 960002"}),
		},
	}
	ref := population.Reference
	for _, p := range pop {
		birth, err := time.Parse(time.DateOnly, p.BirthDate)
		if err != nil || p.Deceased() {
			continue
		}
		la := localAuthorityOf(p.Address.Town)
		var plans []CareTeam
		if birth.AddDate(18, 0, 0).After(ref) {
			plans = childPlans(p.NHSNumber, birth, ref, la)
		}
		if p.Gender == population.Female && !birth.AddDate(15, 0, 0).After(ref) && birth.AddDate(46, 0, 0).After(ref) {
			if h := population.Hash("ucpp", p.NHSNumber); h%1000 < ucppPerMille {
				plans = append(plans, ucpp(p.NHSNumber, ref, la, h))
			}
		}
		if len(plans) > 0 {
			out[p.NHSNumber] = plans
		}
	}
	return out
}

// childPlans gives about one child in twenty a child protection plan or a
// looked-after-child record; some are ended, and some children also had an
// earlier, ended plan of the other kind.
func childPlans(nhs string, birth, ref time.Time, la localAuthority) []CareTeam {
	h := population.Hash("child", nhs)
	if h%100 >= childPlanPercent {
		return nil
	}
	kind, other := "CPP", "LAC"
	if (h>>8)%100 >= 55 {
		kind, other = "LAC", "CPP"
	}
	days := max(int(ref.Sub(birth).Hours()/24), 2)
	start := birth.AddDate(0, 0, 1+int(h>>16)%(days-1))
	status, end := "active", ""
	if (h>>32)%100 < endedPercent {
		left := max(int(ref.Sub(start).Hours()/24), 2)
		end = start.AddDate(0, 0, 1+int(h>>40)%(left-1)).Format(time.DateOnly)
		status = "inactive"
	}
	plans := []CareTeam{careTeam(nhs, lower(kind), kind, status, start.Format(time.DateOnly), end, la)}
	if (h>>48)%100 < earlierPlanPercent && start.Sub(birth) > 60*24*time.Hour {
		earlierEnd := start.AddDate(0, 0, -1)
		earlierStart := birth.AddDate(0, 0, int(h>>52)%max(int(earlierEnd.Sub(birth).Hours()/24), 1))
		plans = append(plans, careTeam(nhs, lower(other), other, "inactive", earlierStart.Format(time.DateOnly), earlierEnd.Format(time.DateOnly), la))
	}
	return plans
}

// ucpp is an unborn child protection plan of a pregnant woman or girl (its
// subject is the mother); most are current, some ended (the baby was born).
func ucpp(nhs string, ref time.Time, la localAuthority, h uint64) CareTeam {
	start := ref.AddDate(0, 0, -int(30+(h>>10)%400))
	status, end := "active", ""
	if start.Before(ref.AddDate(0, 0, -270)) || (h>>20)%100 < 25 {
		end = start.AddDate(0, 0, 20+int(h>>30)%200).Format(time.DateOnly)
		if e, _ := time.Parse(time.DateOnly, end); e.After(ref) {
			end = ref.AddDate(0, 0, -1).Format(time.DateOnly)
		}
		status = "inactive"
	}
	return careTeam(nhs, "ucpp", "UCPP", status, start.Format(time.DateOnly), end, la)
}

func careTeam(nhs, suffix, kind, status, start, end string, la localAuthority) CareTeam {
	ct := CareTeam{
		ID:       "cpis-" + nhs + "-" + suffix,
		Status:   status,
		Category: []fhirwire.CodeableConcept{{Coding: []fhirwire.Coding{{System: PlanTypeSystem, Code: kind, Display: planNames[kind]}}}},
		Subject:  &fhirwire.Reference{Identifier: &fhirwire.Identifier{System: nhsnumber.System, Value: nhs}},
		Period:   &fhirwire.Period{Start: start, End: end},
		ManagingOrganization: []fhirwire.Reference{{
			Identifier: &fhirwire.Identifier{System: odsSystem, Value: la.code}, Display: la.name,
		}},
	}
	one, two := 1, 2
	if la.emergency == "" {
		ct.Telecom = []fhirwire.ContactPoint{{System: "phone", Value: la.office, Use: "work", Rank: &one}}
		return ct
	}
	ct.Telecom = []fhirwire.ContactPoint{
		{Extension: []fhirwire.Extension{{URL: ContactTypeURL, ValueCode: "office-hours"}}, System: "phone", Value: la.office, Use: "work", Rank: &one},
		{Extension: []fhirwire.Extension{{URL: ContactTypeURL, ValueCode: "emergency-duty"}}, System: "phone", Value: la.emergency, Use: "work", Rank: &two},
	}
	return ct
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// auditEvent is one access of the access history (BACKENDS.md §4.1).
type auditEvent struct {
	ResourceType string             `json:"resourceType"`
	ID           string             `json:"id"`
	Type         fhirwire.Coding    `json:"type"`
	Subtype      []fhirwire.Coding  `json:"subtype"`
	Action       string             `json:"action"`
	Recorded     string             `json:"recorded"`
	Outcome      string             `json:"outcome"`
	Agent        []auditAgent       `json:"agent"`
	Source       auditSource        `json:"source"`
	Entity       []auditEventEntity `json:"entity"`
}

type auditAgent struct {
	Who       fhirwire.Reference `json:"who"`
	Requestor bool               `json:"requestor"`
}

type auditSource struct {
	Observer fhirwire.Reference `json:"observer"`
}

type auditEventEntity struct {
	What fhirwire.Reference `json:"what"`
}

func newAuditEvent(id string, at time.Time, nhs, user, org string) auditEvent {
	orgRef := fhirwire.Reference{Identifier: &fhirwire.Identifier{System: odsSystem, Value: org}}
	return auditEvent{
		ResourceType: "AuditEvent",
		ID:           id,
		Type:         fhirwire.Coding{System: "http://terminology.hl7.org/CodeSystem/audit-event-type", Code: "rest", Display: "RESTful Operation"},
		Subtype:      []fhirwire.Coding{{System: "http://hl7.org/fhir/restful-interaction", Code: "search-type"}},
		Action:       "E",
		Recorded:     at.UTC().Format("2006-01-02T15:04:05+00:00"),
		Outcome:      "0",
		Agent: []auditAgent{
			{Who: fhirwire.Reference{Identifier: &fhirwire.Identifier{System: "https://fhir.nhs.uk/Id/sds-user-id", Value: user}}, Requestor: true},
			{Who: orgRef},
		},
		Source: auditSource{Observer: orgRef},
		Entity: []auditEventEntity{{What: fhirwire.Reference{Identifier: &fhirwire.Identifier{System: nhsnumber.System, Value: nhs}}}},
	}
}

// seedAccesses is the access history of the contract fixture
// (Bundle-auditevent-access-history.json).
func seedAccesses() map[string][]auditEvent {
	at, _ := time.Parse(time.RFC3339, "2026-02-03T14:22:05Z")
	e := newAuditEvent("cpis-access-0001", at, "9000000009", "555254240100", "RR8")
	e.Agent[0].Who.Display = "Dr A Example"
	e.Agent[1].Who.Display = "Example Hospitals NHS Trust - Emergency Department"
	return map[string][]auditEvent{"9000000009": {e}}
}
