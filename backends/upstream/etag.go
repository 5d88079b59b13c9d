package upstream

import "strings"

// ETagVersion returns the version inside an ETag or If-Match value,
// W/"<version>", leniently: W/ and the quotes are optional, and the
// typographic quotes some services (and copy-pasted headers) send are
// accepted too.
func ETagVersion(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, "\"“”")
}
