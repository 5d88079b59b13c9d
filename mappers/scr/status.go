package scr

import (
	"strconv"
	"time"

	"github.com/carerecords/fhir-facade/mappers/internal/period"
)

// AcuteSupplyDays is how many days after the day of issue an acute
// medication is taken to be possibly still in use. The SCR's acute table
// gives the issue date, the quantity and free-text dosage, but no duration,
// and days cannot be reliably derived from quantity and dosage ("when
// required", "for 3 days", doses in ml or puffs, creams). Acute items in
// English primary care are short courses, normally no more than 28 days'
// supply (the usual prescribing cycle), and no more than 30 days' supply is
// the recommended limit for Schedule 2–4 controlled drugs. 30 days covers a
// 28-day issue plus the days between issue and collection, so a supply
// still being taken is not called finished; a longer single acute supply is
// unusual, and the clinician sees the issue date, the quantity and a
// statusReason saying the status is inferred.
const AcuteSupplyDays = 30

// The statusReason texts of acute medications: their status is the facade's
// inference from the issue date, not something the SCR states.
var (
	reasonAcuteActive    = "Inferred by the facade: issued as an acute medication within the last " + strconv.Itoa(AcuteSupplyDays) + " days, so its supply may still be being taken (the Summary Care Record gives no duration)."
	reasonAcuteCompleted = "Inferred by the facade: issued as an acute medication more than " + strconv.Itoa(AcuteSupplyDays) + " days ago, so its supply is taken to have run out (the Summary Care Record gives no duration)."
	reasonAcuteNoDate    = "The Summary Care Record gives no readable issue date for this acute medication, so whether it is still being taken is unknown."
	reasonAcuteNoNow     = "No date was given to judge this acute medication by, so whether it is still being taken is unknown."
)

// AcuteStatus is the MedicationStatement status of an acute medication
// issued on issued (a FHIR date of year, month or day precision; "" when
// the SCR gives none or an unreadable one), as of now, with the reason
// shown in statusReason:
//
//   - active while today in England is no more than AcuteSupplyDays after
//     the last day issued can mean (a month or year counts from its last
//     day, so a vague date never ends a supply early);
//   - completed after that: the supply would have run out;
//   - unknown without a readable issue date, or without a now (zero).
//
// Never active by default: a single issue from months or years before is
// not a medication the patient is taking.
func AcuteStatus(issued string, now time.Time) (status, reason string) {
	if issued == "" {
		return "unknown", reasonAcuteNoDate
	}
	if now.IsZero() {
		return "unknown", reasonAcuteNoNow
	}
	last, err := period.LastDay(issued)
	if err != nil {
		return "unknown", reasonAcuteNoDate
	}
	if period.Today(now).After(last.AddDate(0, 0, AcuteSupplyDays)) {
		return "completed", reasonAcuteCompleted
	}
	return "active", reasonAcuteActive
}
