package fhirjson

import (
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// utc is the time zone string jsonformat prints without loading any zone
// data; every zero offset is normalised to it.
const utc = "Z"

// precision is the precision of a parsed date, dateTime or instant.
type precision int8

const (
	precYear precision = iota + 1
	precMonth
	precDay
	precSecond
	precMilli
	precMicro
)

// temporal is a parsed FHIR date, dateTime or instant: the instant in
// microseconds since the Unix epoch, the time zone to print it in, and the
// precision it was given with.
type temporal struct {
	us   int64
	tz   string
	prec precision
}

// ParseDate parses a FHIR date: YYYY, YYYY-MM or YYYY-MM-DD. The result is
// midnight UTC at the start of that year, month or day, with time zone "Z".
//
// See: http://hl7.org/fhir/R4/datatypes.html#date
func ParseDate(s string) (*dtpb.Date, error) {
	t, err := parseTemporal(s, "date")
	if err != nil {
		return nil, err
	}
	if t.prec > precDay {
		return nil, invalid("invalid date %q: want YYYY, YYYY-MM or YYYY-MM-DD", s)
	}
	return &dtpb.Date{ValueUs: t.us, Timezone: t.tz, Precision: dtpb.Date_Precision(t.prec)}, nil
}

// ParseDateTime parses a FHIR dateTime: a date (YYYY, YYYY-MM, YYYY-MM-DD) or
// YYYY-MM-DDThh:mm:ss[.f…](Z|±hh:mm). A time needs a time zone. A zero
// offset gets time zone "Z"; any other offset is kept as written ("+01:00").
//
// See: http://hl7.org/fhir/R4/datatypes.html#dateTime
func ParseDateTime(s string) (*dtpb.DateTime, error) {
	t, err := parseTemporal(s, "dateTime")
	if err != nil {
		return nil, err
	}
	var p dtpb.DateTime_Precision
	switch t.prec {
	case precYear:
		p = dtpb.DateTime_YEAR
	case precMonth:
		p = dtpb.DateTime_MONTH
	case precDay:
		p = dtpb.DateTime_DAY
	case precSecond:
		p = dtpb.DateTime_SECOND
	case precMilli:
		p = dtpb.DateTime_MILLISECOND
	default:
		p = dtpb.DateTime_MICROSECOND
	}
	return &dtpb.DateTime{ValueUs: t.us, Timezone: t.tz, Precision: p}, nil
}

// ParseInstant parses a FHIR instant: YYYY-MM-DDThh:mm:ss[.f…](Z|±hh:mm),
// with the same time zone handling as ParseDateTime.
//
// See: http://hl7.org/fhir/R4/datatypes.html#instant
func ParseInstant(s string) (*dtpb.Instant, error) {
	t, err := parseTemporal(s, "instant")
	if err != nil {
		return nil, err
	}
	var p dtpb.Instant_Precision
	switch t.prec {
	case precSecond:
		p = dtpb.Instant_SECOND
	case precMilli:
		p = dtpb.Instant_MILLISECOND
	default:
		p = dtpb.Instant_MICROSECOND
	}
	return &dtpb.Instant{ValueUs: t.us, Timezone: t.tz, Precision: p}, nil
}

// parseTemporal is a hand-written parser for the R4 date/dateTime/instant
// grammar (regular expressions in the spec), several times faster than
// trying time.Parse layouts in turn. Calendar dates are checked (no 31 April,
// 29 February only in leap years), the year 0000 is rejected as in the spec's
// regex, and the leap second ":60" the regex allows is rejected (Go's time
// package, and so jsonformat, cannot represent it). kind ("date", "dateTime"
// or "instant") names the type in errors; an instant must have a time.
func parseTemporal(s string, kind string) (temporal, error) {
	instant := kind == "instant"
	bad := func(why string) (temporal, error) {
		return temporal{}, invalid("invalid %s %q: %s", kind, s, why)
	}
	n := len(s)
	if n < 4 {
		return bad("want at least a 4-digit year")
	}
	year, ok := digits(s, 0, 4)
	if !ok {
		return bad("want a 4-digit year")
	}
	if year == 0 {
		return bad("year 0000 does not exist")
	}
	month, day := 1, 1
	prec := precYear
	if n > 4 {
		if n < 7 || s[4] != '-' {
			return bad("want YYYY-MM")
		}
		if month, ok = digits(s, 5, 2); !ok || month < 1 || month > 12 {
			return bad("month must be 01-12")
		}
		prec = precMonth
	}
	if n > 7 {
		if n < 10 || s[7] != '-' {
			return bad("want YYYY-MM-DD")
		}
		if day, ok = digits(s, 8, 2); !ok || day < 1 || day > daysIn(year, month) {
			return bad("no such day in that month")
		}
		prec = precDay
	}
	if instant && n <= 10 {
		return bad("an instant needs a time and a time zone")
	}
	days := daysSinceEpoch(year, month, day)
	if n == 4 || n == 7 || n == 10 {
		return temporal{us: days * 86400 * 1e6, tz: utc, prec: prec}, nil
	}

	// Time: Thh:mm:ss[.f+] then Z or ±hh:mm.
	if n < 19 || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return bad("want YYYY-MM-DDThh:mm:ss followed by a time zone")
	}
	hh, ok1 := digits(s, 11, 2)
	mm, ok2 := digits(s, 14, 2)
	ss, ok3 := digits(s, 17, 2)
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return bad("time out of range")
	}
	i := 19
	var frac int64
	prec = precSecond
	if i < n && s[i] == '.' {
		i++
		start := i
		for i < n && s[i] >= '0' && s[i] <= '9' {
			if i-start < 6 {
				frac = frac*10 + int64(s[i]-'0')
			}
			i++
		}
		nd := i - start
		switch {
		case nd == 0:
			return bad("want digits after the decimal point")
		case nd <= 3:
			prec = precMilli
		default:
			prec = precMicro
		}
		for k := nd; k < 6; k++ {
			frac *= 10
		}
	}
	if i == n {
		return bad("a time needs a time zone (Z or ±hh:mm)")
	}
	var offset int64
	tz := utc
	switch s[i] {
	case 'Z':
		if i+1 != n {
			return bad("unexpected characters after Z")
		}
	case '+', '-':
		if n-i != 6 || s[i+3] != ':' {
			return bad("want a time zone offset ±hh:mm")
		}
		oh, ok1 := digits(s, i+1, 2)
		om, ok2 := digits(s, i+4, 2)
		if !ok1 || !ok2 || om > 59 || oh > 14 || (oh == 14 && om != 0) {
			return bad("time zone offset out of range")
		}
		offset = int64(oh*3600 + om*60)
		if s[i] == '-' {
			offset = -offset
		}
		if offset != 0 {
			tz = s[i:]
		}
	default:
		return bad("want a time zone (Z or ±hh:mm)")
	}
	secs := days*86400 + int64(hh*3600+mm*60+ss) - offset
	return temporal{us: secs*1e6 + frac, tz: tz, prec: prec}, nil
}

// digits parses s[i:i+n] as a non-negative decimal number.
func digits(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// daysSinceEpoch returns the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
func daysSinceEpoch(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= 0 here, so no floor correction is needed
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
}

// ParseTime parses a FHIR time of day: hh:mm:ss[.f…] (no time zone).
//
// See: http://hl7.org/fhir/R4/datatypes.html#time
func ParseTime(s string) (*dtpb.Time, error) {
	n := len(s)
	if n < 8 || s[2] != ':' || s[5] != ':' {
		return nil, invalid("invalid time %q: want hh:mm:ss", s)
	}
	hh, ok1 := digits(s, 0, 2)
	mm, ok2 := digits(s, 3, 2)
	ss, ok3 := digits(s, 6, 2)
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return nil, invalid("invalid time %q: out of range", s)
	}
	p := dtpb.Time_SECOND
	var frac int64
	if n > 8 {
		nd := n - 9
		if s[8] != '.' || nd == 0 {
			return nil, invalid("invalid time %q: want hh:mm:ss[.fraction]", s)
		}
		for i := 9; i < n; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return nil, invalid("invalid time %q: want hh:mm:ss[.fraction]", s)
			}
			if i-9 < 6 {
				frac = frac*10 + int64(c-'0')
			}
		}
		for k := nd; k < 6; k++ {
			frac *= 10
		}
		p = dtpb.Time_MILLISECOND
		if nd > 3 {
			p = dtpb.Time_MICROSECOND
		}
	}
	return &dtpb.Time{ValueUs: int64(hh*3600+mm*60+ss)*1e6 + frac, Precision: p}, nil
}
