package scr

import (
	"strings"
	"time"
)

// scrDate parses a date as the SCR tables write it — "12-May-2020", and
// with less precision "May-2020" or "2020" — into a FHIR date of the same
// precision ("2020-05-12", "2020-05", "2020"). ok is false for anything else.
func scrDate(s string) (string, bool) {
	s = strings.TrimSpace(s)
	for _, f := range []struct{ in, out string }{
		{"2-Jan-2006", "2006-01-02"},
		{"2-January-2006", "2006-01-02"},
		{"Jan-2006", "2006-01"},
		{"January-2006", "2006-01"},
		{"2006", "2006"},
	} {
		if t, err := time.Parse(f.in, s); err == nil && t.Year() > 0 {
			return t.Format(f.out), true
		}
	}
	return "", false
}

// labelledDate splits a medication Date cell, "Prescribed: 12-May-2020" or
// "Last Issued: 12-May-2020", into its label and FHIR date. A cell without a
// label is a plain date. ok is false when no date can be read.
func labelledDate(s string) (label, date string, ok bool) {
	label, rest, found := strings.Cut(s, ":")
	if !found {
		label, rest = "", s
	}
	date, ok = scrDate(rest)
	return strings.TrimSpace(label), date, ok
}
