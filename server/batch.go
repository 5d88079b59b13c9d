package server

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/profiles"
)

// Bounds on a batch: entries per Bundle and entries run at once.
const (
	maxBatchEntries     = 50
	batchConcurrency    = 4
	maxBatchRequestBody = 1 << 20
)

type batchRequest struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		Request *struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
	} `json:"entry"`
}

type batchResponseEntry struct {
	Resource json.RawMessage `json:"resource,omitempty"`
	Response batchResponse   `json:"response"`
}

type batchResponse struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	Etag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

// batch serves POST [base] with a Bundle of type batch: each entry (a GET:
// read, vread, search or operation) runs through this same server, several
// at once but boundedly, and is answered with its own status, so one failure
// does not fail the others.
// See: http://hl7.org/fhir/R4/http.html#transaction
func (s *Server) batch(a *access, r *http.Request, _ format, _ url.Values) (*reply, error) {
	a.ri.ResourceType = "Bundle"
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != mediaFHIRJSON && mt != mediaJSON) {
		return nil, fhirerr.New(fhirerr.UnsupportedMediaType, "send the batch Bundle as application/fhir+json")
	}
	body, err := readBounded(r, maxBatchRequestBody, "batch")
	if err != nil {
		return nil, err
	}
	if err := fhirjson.CheckDuplicateMembers(body); err != nil {
		return nil, err
	}
	if err := profiles.Validate(body); err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "the batch is not a valid FHIR R4 Bundle: %s", truncateMessage(err.Error(), 500))
	}
	var in batchRequest
	if err := json.Unmarshal(body, &in); err != nil || in.ResourceType != "Bundle" {
		return nil, fhirerr.New(fhirerr.Invalid, "POST to the base takes a Bundle of type batch")
	}
	switch in.Type {
	case "batch":
	case "transaction":
		return nil, fhirerr.New(fhirerr.NotSupported, "transactions are not supported: the national services cannot write atomically across records; use a batch")
	default:
		return nil, fhirerr.New(fhirerr.Invalid, "POST to the base takes a Bundle of type batch, not %q", in.Type)
	}
	if len(in.Entry) > maxBatchEntries {
		return nil, fhirerr.New(fhirerr.TooLarge, "a batch may hold at most %d entries", maxBatchEntries)
	}
	out := make([]batchResponseEntry, len(in.Entry))
	var reads []func()
	for i, e := range in.Entry {
		if e.Request == nil {
			out[i] = entryError(fhirerr.New(fhirerr.Invalid, "entry %d has no request", i))
			continue
		}
		if e.Request.Method != http.MethodGet {
			out[i] = entryError(fhirerr.New(fhirerr.MethodNotAllowed, "entry %d: only GET entries are supported in a batch", i))
			continue
		}
		target, err := s.batchTarget(r, e.Request.URL)
		if err != nil {
			out[i] = entryError(err)
			continue
		}
		reads = append(reads, func() { out[i] = s.runEntry(r, target) })
	}
	runBounded(batchConcurrency, reads)
	b := struct {
		ResourceType string               `json:"resourceType"`
		ID           string               `json:"id"`
		Type         string               `json:"type"`
		Entry        []batchResponseEntry `json:"entry,omitempty"`
	}{ResourceType: "Bundle", ID: uuid.NewString(), Type: "batch-response", Entry: out}
	respBody, err := marshal(b)
	if err != nil {
		return nil, err
	}
	return &reply{body: respBody}, nil
}

// batchTarget turns an entry's url (relative, or absolute under this base)
// into a path and query on this server.
func (s *Server) batchTarget(r *http.Request, raw string) (string, error) {
	base := s.baseURL()
	rel := strings.TrimPrefix(raw, base)
	rel = strings.TrimPrefix(rel, "/")
	if strings.Contains(rel, "://") || rel == "" || strings.HasPrefix(rel, "/") {
		return "", fhirerr.New(fhirerr.Invalid, "an entry url must be relative to this server's base (e.g. Patient/9000000009)")
	}
	u, err := url.Parse("/fhir/" + rel)
	if err != nil || u.Path == "/fhir/" {
		return "", fhirerr.New(fhirerr.Invalid, "an entry url is malformed")
	}
	return u.RequestURI(), nil
}

// runEntry performs one GET through the router, as if the client had sent
// it with the batch's own headers.
func (s *Server) runEntry(parent *http.Request, target string) batchResponseEntry {
	req := httptest.NewRequest(http.MethodGet, target, nil).WithContext(parent.Context())
	for _, h := range []string{"Accept", "Prefer", "Authorization", "X-Correlation-Id"} {
		if v := parent.Header.Values(h); len(v) > 0 {
			req.Header[h] = v // canonical names: read back by Get
		}
	}
	req.Header.Set("X-Request-ID", request.From(parent.Context()).ID)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	res := rec.Result()
	e := batchResponseEntry{Response: batchResponse{
		Status: strconv.Itoa(res.StatusCode) + " " + http.StatusText(res.StatusCode),
		Etag:   res.Header.Get("ETag"),
	}}
	if lm := res.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			e.Response.LastModified = t.UTC().Format(time.RFC3339)
		}
	}
	b := rec.Body.Bytes()
	if len(b) == 0 || !json.Valid(b) {
		return e
	}
	if res.StatusCode >= 400 {
		e.Response.Outcome = b
	} else {
		e.Resource = b
	}
	return e
}

func entryError(err error) batchResponseEntry {
	status, _, body := errorReply(err, "")
	return batchResponseEntry{Response: batchResponse{Status: strconv.Itoa(status) + " " + http.StatusText(status), Outcome: body}}
}

// runBounded runs fns, at most limit at once, and returns when all have.
func runBounded(limit int, fns []func()) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			fn()
		}()
	}
	wg.Wait()
}
