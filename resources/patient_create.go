package resources

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/backends/pds"
	pdsmap "github.com/carerecords/fhir-facade/mappers/pds"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/request"
)

// PDSCreator is what creating a record needs from PDS besides search.
type PDSCreator interface {
	Create(ctx context.Context, body json.RawMessage) (*pds.Patient, error)
}

// ifNoneExistRule is the rule a Patient create must follow, said in every
// refusal of a create without the condition.
const ifNoneExistRule = "PDS allocates a new NHS number only after a search for the patient found no record " +
	"(not for births, which are notified with Patient/$notify-birth, nor for GP registration): " +
	"send the search you did as If-None-Exist, e.g. If-None-Exist: family=Smith&given=Jane&birthdate=eq1980-01-31&address-postalcode=LS1 6AE; " +
	"the facade runs it against PDS and creates the record only when nothing matches"

// create is Creator's Create (see Writable): a Patient create must be conditional
// (If-None-Exist), so a plain create is 428 Precondition Required with the
// rule.
func (p *Patient) create() (*Resource, error) {
	return nil, &fhirerr.Error{Category: fhirerr.PreconditionRequired, Expression: "If-None-Exist", Message: ifNoneExistRule}
}

// createConditional is ConditionalCreator's CreateConditional (see
// Writable): PDS's POST /Patient,
// for its documented purpose only (a patient PDS does not know; healthcare
// workers only, which the role table enforces). The body is checked and
// translated first (mappers/pds.CreateRequest), then the facade runs the
// client's If-None-Exist search against PDS itself, bypassing the cache: no
// match creates the record (201 with the new NHS number), one match returns
// that patient (200), several are 412. PDS applies its own demographic
// matching too: a record it finds is a 409 duplicate.
// See: http://hl7.org/fhir/R4/http.html#ccreate
func (p *Patient) createConditional(ctx context.Context, creator PDSCreator, msg proto.Message, ifNoneExist url.Values) (*Resource, bool, error) {
	if err := p.checkIfNoneExist(ifNoneExist); err != nil {
		return nil, false, err
	}
	fp, err := fhirPatient(msg)
	if err != nil {
		return nil, false, err
	}
	body, err := pdsmap.CreateRequest(fp)
	if err != nil {
		return nil, false, err
	}

	ctx = request.WithNoCache(ctx) // the search must see PDS as it is now
	found, err := p.Search(ctx, &Query{Params: ifNoneExist, Count: pdsMaxResults})
	if err != nil {
		return nil, false, err
	}
	for _, is := range found.Issues {
		if is.Code == "multiple-matches" {
			return nil, false, &fhirerr.Error{Category: fhirerr.PreconditionFailed, Expression: "If-None-Exist",
				Message: "the If-None-Exist search matched more patients than PDS returns: the patient may already have a record; refine the search"}
		}
	}
	switch n := len(found.Entries); {
	case n == 1:
		return found.Entries[0].Resource, false, nil
	case n > 1:
		return nil, false, &fhirerr.Error{Category: fhirerr.PreconditionFailed, Expression: "If-None-Exist",
			Message: "the If-None-Exist search matched several patients: one of them may be this patient; refine the search"}
	}

	got, err := creator.Create(ctx, body)
	if err != nil {
		return nil, false, err
	}
	res, err := mapPatient(got.Body, got.Version, "")
	if err != nil {
		return nil, false, err
	}
	res.LastUpdated = time.Now().UTC().Truncate(time.Second)
	return res, true, nil
}

// checkIfNoneExist accepts a demographic search of Patient's own
// parameters: not empty, no identifier (a patient with an NHS number has a
// record), no result parameters.
func (p *Patient) checkIfNoneExist(q url.Values) error {
	if len(q) == 0 {
		return &fhirerr.Error{Category: fhirerr.PreconditionRequired, Expression: "If-None-Exist", Message: ifNoneExistRule}
	}
	known := map[string]bool{}
	for _, sp := range p.SearchParams() {
		known[sp.Name] = true
		for _, m := range sp.Modifiers {
			known[sp.Name+":"+m] = true
		}
	}
	var bad []string
	for k := range q {
		switch {
		case k == "identifier" || k == "_id":
			return &fhirerr.Error{Category: fhirerr.Invalid, Expression: "If-None-Exist",
				Message: "If-None-Exist must be a demographic search (family, given, gender, birthdate, address-postalcode …), not an NHS number: a patient with an NHS number already has a record"}
		case !known[k]:
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return &fhirerr.Error{Category: fhirerr.Invalid, Expression: "If-None-Exist",
			Message: "If-None-Exist has parameters a Patient search does not take: " + strings.Join(bad, ", ")}
	}
	return nil
}

var (
	patientMarshalOnce sync.Once
	patientMarshaller  *jsonformat.Marshaller
	patientMarshalErr  error
)

// fhirPatient turns the Patient proto a client sent into the typed JSON
// model the PDS mapper reads.
func fhirPatient(msg proto.Message) (*fhirjson.Patient, error) {
	patientMarshalOnce.Do(func() {
		patientMarshaller, patientMarshalErr = jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	})
	if patientMarshalErr != nil {
		return nil, patientMarshalErr
	}
	b, err := patientMarshaller.MarshalResource(msg)
	if err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "the Patient could not be read")
	}
	var fp fhirjson.Patient
	if err := json.Unmarshal(b, &fp); err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "the Patient could not be read")
	}
	return &fp, nil
}
