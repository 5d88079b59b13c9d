// Package nhsnumber validates and generates NHS numbers: ten digits whose last
// is a Modulus 11 check digit over the first nine (weights 10 down to 2).
//
// See: https://www.datadictionary.nhs.uk/attributes/nhs_number.html
package nhsnumber

// System is the FHIR identifier system for NHS numbers.
const System = "https://fhir.nhs.uk/Id/nhs-number"

// CheckDigit returns the Modulus 11 check digit for the nine digits in
// first9, and false when no valid check digit exists (the remainder gives 10)
// or first9 is not nine ASCII digits.
func CheckDigit(first9 string) (byte, bool) {
	if len(first9) != 9 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 9; i++ {
		c := first9[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		sum += int(c-'0') * (10 - i)
	}
	check := 11 - sum%11
	switch check {
	case 11:
		check = 0
	case 10:
		return 0, false
	}
	return byte('0' + check), true
}

// Valid reports whether s is a syntactically valid NHS number: exactly ten
// ASCII digits with a correct Modulus 11 check digit.
func Valid(s string) bool {
	if len(s) != 10 {
		return false
	}
	d, ok := CheckDigit(s[:9])
	return ok && s[9] == d
}
