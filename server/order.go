package server

import "bytes"

// resourceTypeFirst moves the top-level "resourceType" member of a compact
// JSON object to the front. jsonformat prints members in alphabetical order;
// FHIR readers (people, and some streaming parsers) expect resourceType
// first. It returns b unchanged if there is nothing to move or b is not the
// compact object jsonformat prints.
func resourceTypeFirst(b []byte) []byte {
	const key = `"resourceType":`
	if len(b) < 2 || b[0] != '{' || bytes.HasPrefix(b[1:], []byte(key)) {
		return b
	}
	depth, inString, escaped := 0, false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			// A member name at depth 1 right after a comma.
			if depth == 1 && b[i-1] == ',' && bytes.HasPrefix(b[i:], []byte(key)) {
				end := memberEnd(b, i+len(key))
				if end < 0 {
					return b
				}
				member := b[i:end]
				out := make([]byte, 0, len(b))
				out = append(out, '{')
				out = append(out, member...)
				out = append(out, ',')
				out = append(out, b[1:i-1]...) // members before, without the comma
				out = append(out, b[end:]...)  // the rest, starting with ',' or '}'
				return out
			}
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return b
}

// memberEnd returns the index just past the string value starting at i, or
// -1 if b[i] does not start a string.
func memberEnd(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}
