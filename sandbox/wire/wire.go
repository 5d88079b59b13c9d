// Package wire holds what every simulator checks alike on the wire, as the
// NHS API platform does (BACKENDS.md §0): a bearer token, and UUID-shaped
// request ids. Each simulator answers a failed check with its own error.
package wire

import (
	"net/http"
	"regexp"
	"strings"
)

// Bearer reports whether r carries "Authorization: Bearer <token>" with a
// token that is not blank. The simulators accept any such token.
func Bearer(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && scheme == "Bearer" && strings.TrimSpace(token) != ""
}

// UUID matches a UUID in its 8-4-4-4-12 hex form, either case: the form
// X-Request-ID must take.
var UUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
