package pds

import (
	"strings"
	"time"
	"unicode"
)

// normName prepares a name for comparison: accents folded (PDS matches
// "ATTSÖN" with "attison"), upper case, surrounding spaces trimmed.
func normName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.TrimSpace(s) {
		if f, ok := foldAccent[r]; ok {
			b.WriteString(f)
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// foldAccent maps accented Latin letters to their base letters.
var foldAccent = func() map[rune]string {
	m := map[rune]string{}
	groups := map[string]string{
		"A": "ÀÁÂÃÄÅĀĂĄàáâãäåāăą", "C": "ÇĆĈĊČçćĉċč", "D": "ĎĐďđ",
		"E": "ÈÉÊËĒĔĖĘĚèéêëēĕėęě", "G": "ĜĞĠĢĝğġģ", "H": "ĤĦĥħ",
		"I": "ÌÍÎÏĨĪĬĮİìíîïĩīĭįı", "J": "Ĵĵ", "K": "Ķķ", "L": "ĹĻĽĿŁĺļľŀł",
		"N": "ÑŃŅŇñńņň", "O": "ÒÓÔÕÖØŌŎŐòóôõöøōŏő", "R": "ŔŖŘŕŗř",
		"S": "ŚŜŞŠśŝşš", "T": "ŢŤŦţťŧ", "U": "ÙÚÛÜŨŪŬŮŰŲùúûüũūŭůűų",
		"W": "Ŵŵ", "Y": "ÝŶŸýÿŷ", "Z": "ŹŻŽźżž",
		"AE": "Ææ", "OE": "Œœ", "SS": "ß",
	}
	for base, rs := range groups {
		for _, r := range rs {
			m[r] = base
		}
	}
	return m
}()

// normPostcode upper-cases a postcode and drops its spaces ("ls1 6ae" and
// "LS16AE" both give "LS16AE").
func normPostcode(s string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
}

// normPhone drops spaces from a phone number.
func normPhone(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), " ", "") }

// normEmail lower-cases an e-mail address (PDS: "not case-sensitive").
func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// soundex returns the American Soundex code of a normalised name, e.g.
// SMITH, SMYTH and SMYTHE all give S530. Non-letters are ignored; "" gives "".
//
// See: https://en.wikipedia.org/wiki/Soundex
func soundex(s string) string {
	const codes = "01230120022455012623010202" // A..Z
	out := make([]byte, 0, 4)
	var last byte
	for i := 0; i < len(s) && len(out) < 4; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < 'A' || c > 'Z' {
			continue
		}
		code := codes[c-'A']
		if len(out) == 0 {
			out = append(out, c)
			last = code
			continue
		}
		switch {
		case c == 'H' || c == 'W':
			// Letters separated by H or W code once.
		case code == '0':
			last = 0 // vowels separate equal codes
		case code != last:
			out = append(out, code)
			last = code
		}
	}
	if len(out) == 0 {
		return ""
	}
	for len(out) < 4 {
		out = append(out, '0')
	}
	return string(out)
}

// globMatch reports whether s matches pattern, where '*' matches any run of
// characters (PDS wildcards). Both are normalised already.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last) && len(s) >= len(last)
}

// literalLen counts the non-wildcard characters of a pattern.
func literalLen(pattern string) int { return len(strings.ReplaceAll(pattern, "*", "")) }

// day is a calendar date as days since 1970-01-01.
type day int32

const (
	minDay day = -1 << 31
	maxDay day = 1<<31 - 1
)

// parseDay reads the YYYY-MM-DD at the start of s (a date or dateTime).
func parseDay(s string) (day, bool) {
	if len(s) < 10 {
		return 0, false
	}
	t, err := time.Parse(time.DateOnly, s[:10])
	if err != nil {
		return 0, false
	}
	return day(t.Unix() / 86400), true
}

// dayString formats d as YYYY-MM-DD.
func dayString(d day) string {
	return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly)
}
