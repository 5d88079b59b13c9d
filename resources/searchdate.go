package resources

import (
	"fmt"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// DateRange is an inclusive range of days; a zero bound is open.
type DateRange struct {
	From, To time.Time
}

// Empty reports a range no day can satisfy.
func (d DateRange) Empty() bool {
	return !d.From.IsZero() && !d.To.IsZero() && d.From.After(d.To)
}

// ParseDateParams turns the values of one FHIR date search parameter into a
// single inclusive day range. Values may carry the prefixes eq, ge, gt, le,
// lt and be of year, month or day precision: eq2010 is the whole of 2010,
// gt2010-10-22 starts on the 23rd. Several values are ANDed. Prefixes a
// day-range backend cannot honour (ne, sa, eb, ap) are rejected.
// See: http://hl7.org/fhir/R4/search.html#date
func ParseDateParams(name string, values []string) (DateRange, error) {
	var r DateRange
	for _, v := range values {
		prefix, val := splitPrefix(v)
		lo, hi, err := dayBounds(val)
		if err != nil {
			return r, &fhirerr.Error{Category: fhirerr.Invalid, Expression: name,
				Message: fmt.Sprintf("%s: %s", name, err.Error())}
		}
		var from, to time.Time
		switch prefix {
		case "eq":
			from, to = lo, hi
		case "ge":
			from = lo
		case "gt":
			from = hi.AddDate(0, 0, 1)
		case "le":
			to = hi
		case "lt":
			to = lo.AddDate(0, 0, -1)
		default:
			return r, &fhirerr.Error{Category: fhirerr.NotSupported, Expression: name,
				Message: fmt.Sprintf("%s: the prefix %q is not supported (use eq, ge, gt, le or lt)", name, prefix)}
		}
		if !from.IsZero() && (r.From.IsZero() || from.After(r.From)) {
			r.From = from
		}
		if !to.IsZero() && (r.To.IsZero() || to.Before(r.To)) {
			r.To = to
		}
	}
	return r, nil
}

func splitPrefix(v string) (string, string) {
	v = strings.TrimSpace(v)
	if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' && v[1] >= 'a' && v[1] <= 'z' {
		return v[:2], v[2:]
	}
	return "eq", v
}

// dayBounds returns the first and last day covered by a FHIR date of year,
// month or day precision.
func dayBounds(v string) (time.Time, time.Time, error) {
	switch len(v) {
	case 4:
		t, err := time.Parse("2006", v)
		if err == nil {
			return t, t.AddDate(1, 0, -1), nil
		}
	case 7:
		t, err := time.Parse("2006-01", v)
		if err == nil {
			return t, t.AddDate(0, 1, -1), nil
		}
	case 10:
		t, err := time.Parse("2006-01-02", v)
		if err == nil {
			return t, t, nil
		}
	}
	return time.Time{}, time.Time{}, fmt.Errorf("%q is not a date (YYYY, YYYY-MM or YYYY-MM-DD, optionally prefixed by eq, ge, gt, le or lt)", truncate(v, 40))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
