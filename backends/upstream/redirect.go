package upstream

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// newHTTPClient is the http.Client of every backend; New is its only
// caller, so no backend can be built that follows redirects. net/http would
// follow a 30x to wherever Location says, with the caller's identity
// headers and a Referer holding the request URL (an NHS number), and hand
// back the target's body as the backend's answer: a document holder, which
// the facade does not trust, could make it fetch and serve any address.
// Authorization is dropped only across domains, so a same-domain hop would
// carry the credential too.
func newHTTPClient(rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: rt, CheckRedirect: refuseRedirect}
}

// refuseRedirect keeps the 30x itself as the answer, to be refused by
// redirected.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// isRedirect reports whether status is one a client could follow. A 304
// names no target (and the facade sends no conditional reads), so it stays
// an answer for the backend client to read like any other non-200.
func isRedirect(status int) bool {
	return status >= 300 && status < 400 && status != http.StatusNotModified
}

// RedirectError is the cause of a call refused because the backend
// answered with a redirect. It keeps the status only: the Location is
// untrusted and may hold anything, patient data included, so it is neither
// shown nor logged.
type RedirectError struct{ Status int }

func (e *RedirectError) Error() string {
	return "answered HTTP " + strconv.Itoa(e.Status) + "; redirects are not followed"
}

// redirected is the error of a backend answer with a redirect status: a
// failure of the backend (502), named as such. Like an answer too large, it
// is not retried (the answer would be the same) and leaves the circuit
// breaker as it was (the backend answered, and quickly).
func redirected(name string, status int) *fhirerr.Error {
	return &fhirerr.Error{
		Category: fhirerr.BadGateway, Backend: name,
		Message: "the " + name + " service answered with a redirect (HTTP " + strconv.Itoa(status) + "), which the facade does not follow",
		Err:     &RedirectError{Status: status},
	}
}

// IsRedirect reports whether err is a backend answer refused for being a
// redirect, as against one that failed otherwise.
func IsRedirect(err error) bool {
	return redirectStatus(err) != 0
}

// redirectStatus is the status of the redirect err refused, 0 if none.
func redirectStatus(err error) int {
	var re *RedirectError
	if errors.As(err, &re) {
		return re.Status
	}
	return 0
}

// discard reads a little of an unwanted body, so the connection can be
// reused, and closes it.
func discard(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	rc.Close()
}
