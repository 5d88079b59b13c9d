// Package period holds the one date rule of the mappers: when a flag's
// period has ended, and which calendar day a FHIR date or dateTime falls
// on. Every Flag mapper (CP-IS, FGM-IS, RA, OVM) decides whether a flag is
// still current with FlagStatus, and the SCR mapper counts an acute issue's
// supply in the same calendar days, so a flag or medication changes status
// at the same moment whichever service it came from.
//
// The rule is by calendar day in England (Europe/London), never by the
// server's zone or UTC: the services record end dates as dates, and a
// clinician in England reads "ends 31 March" as "current all of 31 March".
// During British Summer Time, 23:30 UTC is already the next day in London.
package period

import (
	"errors"
	"time"
	_ "time/tzdata" // Europe/London on hosts without a zone database

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// London is the zone every date of the rule is read in.
var London = mustLoad("Europe/London")

func mustLoad(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // unreachable: time/tzdata is linked in
	}
	return l
}

// Day is a calendar day, at midnight UTC (so that days compare, and days
// add with AddDate, free of any zone's daylight saving).
type Day = time.Time

func day(y int, m time.Month, d int) Day { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// Today is the calendar day now falls on in London.
func Today(now time.Time) Day {
	y, m, d := now.In(London).Date()
	return day(y, m, d)
}

// LastDay is the last calendar day in London that v, a FHIR date or
// dateTime, covers: a day ("2024-03-31") is itself; a month ("2024-03")
// its last day; a year ("2024") 31 December; a dateTime
// ("2025-03-30T23:30:00Z") the London day of that instant (here 31 March:
// British Summer Time had begun). The error is fhirjson's for a value that
// is not a FHIR dateTime.
func LastDay(v string) (Day, error) {
	dt, err := fhirjson.ParseDateTime(v)
	if err != nil {
		return Day{}, err
	}
	t := time.UnixMicro(dt.GetValueUs()).UTC() // a date: midnight UTC of its first day
	switch dt.GetPrecision() {
	case dtpb.DateTime_YEAR:
		return day(t.Year(), 12, 31), nil
	case dtpb.DateTime_MONTH:
		return day(t.Year(), t.Month()+1, 0), nil
	case dtpb.DateTime_DAY:
		return day(t.Year(), t.Month(), t.Day()), nil
	}
	return Today(t), nil
}

// Ended reports whether a period whose end is end (a FHIR date or
// dateTime; "" for none) has ended by now: it is current through the whole
// of LastDay(end) in London and ended from the next London midnight. A
// dateTime end therefore counts by its London day, not to the minute: a
// flag is never hidden during the day its service says it ends, and its
// status changes only at midnight. now must not be the zero time (no date
// to judge by is an error, never "current").
func Ended(end string, now time.Time) (bool, error) {
	if now.IsZero() {
		return false, ErrNoNow
	}
	if end == "" {
		return false, nil
	}
	last, err := LastDay(end)
	if err != nil {
		return false, err
	}
	return Today(now).After(last), nil
}

// ErrNoNow is Ended's error for a zero now: the caller's fault, never the
// service's.
var ErrNoNow = errors.New("no date to judge the period by")

// Refuse turns an error of Ended or FlagStatus into a mapper's: an end that
// is not a FHIR dateTime is the service's (badPayload, with path naming
// the end in its payload); no now is the caller's (Internal).
func Refuse(err error, path string, badPayload func(error) error) error {
	if errors.Is(err, ErrNoNow) {
		return &fhirerr.Error{Category: fhirerr.Internal, Message: "a mapper was given no date to judge a period by", Err: err}
	}
	return badPayload(&fhirjson.Error{Path: path, Err: err})
}

// FlagStatus is the facade status of a flag the service calls status
// (a Flag status code) whose period ends at end, as of now: "inactive" when
// the service says "active" but the period has Ended, whatever the service
// says; otherwise status unchanged (inactive and entered-in-error are never
// made current, and entered-in-error is never softened to inactive). The
// error is Ended's.
func FlagStatus(status, end string, now time.Time) (string, error) {
	ended, err := Ended(end, now)
	if err != nil {
		return "", err
	}
	if status == "active" && ended {
		return "inactive", nil
	}
	return status, nil
}
