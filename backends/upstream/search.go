package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// Searchset says how SearchBundle reads one service's searchset answers.
type Searchset struct {
	// Answer names the answer in the errors of a 200 the client cannot
	// take: "search-flag" gives "the ra service sent an unexpected
	// search-flag response"; empty, "… sent an unexpected response".
	Answer string
	// Failed reads an answer other than 200 into the call's error. A nil
	// error means the answer holds nothing (RA's 404 PATIENT_NOT_FOUND).
	Failed func(*Response) error
}

// SearchBundle performs req, a search the service answers with one
// searchset page, and returns the resource of every entry. Errors of the
// exchange are Do's; an answer other than 200 is s.Failed's to read. A 200
// that is not JSON, or cannot be the whole of what the service holds
// (fhirjson.WholeSearchset: empty, unreadable, truncated, paged …), is
// BadGateway, lest records vanish without a word; its message says how,
// with no patient data.
func (c *Client) SearchBundle(ctx context.Context, req Request, s Searchset) ([]json.RawMessage, error) {
	res, err := c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, s.Failed(res)
	}
	if !res.IsJSON() {
		return nil, c.answerError(s, "an unexpected", nil)
	}
	rs, err := fhirjson.WholeSearchset(res.Body)
	if se := (*fhirjson.SearchsetError)(nil); errors.As(err, &se) {
		return nil, c.answerError(s, se.Kind, se.Err)
	}
	return rs, err
}

// answerError is a 200 answer the client cannot take as it is: kind says
// how ("an empty", "a truncated" …).
func (c *Client) answerError(s Searchset, kind string, err error) error {
	what := kind + " "
	if s.Answer != "" {
		what += s.Answer + " "
	}
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service sent " + what + "response", Err: err}
}
