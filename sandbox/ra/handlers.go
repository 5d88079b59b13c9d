package ra

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// Codes and URLs of the RA record.
const (
	flagCategorySystem = "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1"
	categoryParam      = flagCategorySystem + "|NRAF"
	provenanceURL      = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-Provenance-1"
	removalReasonURL   = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-RemovalReason-1"
	flagProfile        = "https://fhir.nhs.uk/STU3/StructureDefinition/RARecord-Flag-1"
	consentProfile     = "https://fhir.nhs.uk/STU3/StructureDefinition/RARecord-Consent-1"
	patientBase        = "https://demographics.spineservices.nhs.uk/STU3/Patient/"
)

const maxBody = 1 << 20

// searchParams checks the parameters every RA search takes: patient, status
// and the NRAF category, all required.
func searchParams(q url.Values, statuses ...string) (nhs, status string, err *apiError) {
	for _, k := range []string{"patient", "status", "category"} {
		if q.Get(k) == "" {
			return "", "", errMissingValue("Missing parameter " + k)
		}
	}
	nhs = q.Get("patient")
	if !nhsnumber.Valid(nhs) {
		return "", "", errInvalidNHSNumber()
	}
	if q.Get("category") != categoryParam {
		return "", "", errInvalidValue("Unsupported category")
	}
	status = q.Get("status")
	for _, s := range statuses {
		if status == s {
			return nhs, status, nil
		}
	}
	return "", "", errInvalidValue("Unsupported status")
}

// searchFlags answers GET /Flag?patient&status&category.
func (s *Simulator) searchFlags(w http.ResponseWriter, r *http.Request) *apiError {
	nhs, status, err := searchParams(r.URL.Query(), "active", "inactive")
	if err != nil {
		return err
	}
	base := s.base(r)
	s.mu.Lock()
	rec := s.records[nhs]
	canned := rec != nil && rec.canned && status == "active"
	var entries []fhirwire.BundleEntry
	if rec != nil {
		for _, f := range rec.flags {
			if f.Status == status {
				raw, _ := json.Marshal(f)
				entries = append(entries, fhirwire.BundleEntry{FullURL: base + "/Flag/" + f.ID, Resource: raw})
			}
		}
	}
	s.mu.Unlock()
	switch {
	case rec == nil:
		patientNotFound(w, "/Flag")
		return nil
	case canned:
		cannedFile(w, http.StatusOK, "flagGET.json", nil)
		return nil
	}
	return s.writeBundle(w, base+"/Flag?"+r.URL.RawQuery, entries)
}

// searchConsent answers GET /Consent?patient&status&category: the record's
// consent, which exists exactly when the record does.
func (s *Simulator) searchConsent(w http.ResponseWriter, r *http.Request) *apiError {
	nhs, _, err := searchParams(r.URL.Query(), "active")
	if err != nil {
		return err
	}
	base := s.base(r)
	s.mu.Lock()
	rec := s.records[nhs]
	canned := rec != nil && rec.canned
	var entries []fhirwire.BundleEntry
	if rec != nil {
		raw, _ := json.Marshal(rec.consent)
		entries = append(entries, fhirwire.BundleEntry{FullURL: base + "/Consent/" + rec.consent.ID, Resource: raw})
	}
	s.mu.Unlock()
	switch {
	case rec == nil:
		patientNotFound(w, "/Consent")
		return nil
	case canned:
		cannedFile(w, http.StatusOK, "consentGET.json", nil)
		return nil
	}
	return s.writeBundle(w, base+"/Consent?"+r.URL.RawQuery, entries)
}

func (s *Simulator) writeBundle(w http.ResponseWriter, self string, entries []fhirwire.BundleEntry) *apiError {
	b := fhirwire.Searchset(s.opts.NewID(), self, entries)
	b.Meta = &fhirwire.Meta{Profile: []string{"http://hl7.org/fhir/bundle"}}
	body, err := json.Marshal(b)
	if err != nil {
		return &apiError{status: http.StatusInternalServerError, issue: "exception", code: "INTERNAL_SERVER_ERROR", display: "Internal error"}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// readBody decodes the JSON resource of a write into into, and returns its
// resourceType (which into, a wire type, does not hold).
func readBody(r *http.Request, into any) (string, *apiError) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(raw) > maxBody {
		return "", errValidation("The request body could not be read")
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(raw, &head) != nil || json.Unmarshal(raw, into) != nil {
		return "", errValidation("The request body is not a valid resource")
	}
	return head.ResourceType, nil
}

// patientOf is the NHS number a reference names: RA writes it as a
// Patient URL ("https://demographics.spineservices.nhs.uk/STU3/Patient/{nhs}",
// with or without the scheme).
func patientOf(ref *fhirwire.Reference) (string, *apiError) {
	if ref == nil || ref.Reference == "" {
		return "", errMissingValue("Missing patient reference")
	}
	i := strings.LastIndex(ref.Reference, "Patient/")
	if i < 0 {
		return "", errInvalidValue("The patient reference is not a Patient")
	}
	nhs := ref.Reference[i+len("Patient/"):]
	if !nhsnumber.Valid(nhs) {
		return "", errInvalidNHSNumber()
	}
	return nhs, nil
}

func hasNRAF(cc *fhirwire.CodeableConcept) bool {
	if cc == nil {
		return false
	}
	for _, c := range cc.Coding {
		if c.System == flagCategorySystem && c.Code == "NRAF" {
			return true
		}
	}
	return false
}

// stampWrite gives a written resource its version and time, and points its
// contained Provenances at it. A resource written without a Provenance gets
// one for the user of the request (NHSD-Session-URID), as RA records who
// wrote what.
func (s *Simulator) stampWrite(meta **fhirwire.Meta, profile string, contained *[]Provenance, exts *[]fhirwire.Extension, target string, r *http.Request, now time.Time, version string) {
	*meta = &fhirwire.Meta{VersionID: version, LastUpdated: now.UTC().Format("2006-01-02T15:04:05+00:00"), Profile: []string{profile}}
	for i := range *contained {
		p := &(*contained)[i]
		if len(p.Target) == 0 {
			p.Target = []fhirwire.Reference{{Reference: target}}
		}
	}
	if len(*contained) == 0 {
		user := r.Header.Get("NHSD-Session-URID")
		if user == "" {
			user = "unknown"
		}
		id := s.opts.NewID()
		*contained = []Provenance{{
			ID: id, Target: []fhirwire.Reference{{Reference: target}},
			Recorded: now.UTC().Format("2006-01-02T15:04:05+00:00"),
			Agent:    []ProvenanceAgent{{WhoReference: &fhirwire.Reference{Reference: "https://sds.spineservices.nhs.uk/STU3/Practitioner/" + user}}},
		}}
		*exts = append(*exts, fhirwire.Extension{URL: provenanceURL, Extension: []fhirwire.Extension{
			{URL: "created", ValueReference: &fhirwire.Reference{Reference: "#" + id}},
		}})
	}
}

// written answers a successful write: the resource, its ETag and
// Last-Modified, and for a create its Location.
func written(w http.ResponseWriter, status int, body any, version, location string, now time.Time, typographic bool) *apiError {
	raw, err := json.Marshal(body)
	if err != nil {
		return &apiError{status: http.StatusInternalServerError, issue: "exception", code: "INTERNAL_SERVER_ERROR", display: "Internal error"}
	}
	closing := `"`
	if typographic {
		closing = "”" // the public sandbox's quirk
	}
	h := w.Header()
	h.Set("ETag", `W/"`+version+closing)
	h.Set("Last-Modified", now.UTC().Format(http.TimeFormat))
	if location != "" {
		h.Set("Location", location)
	}
	w.WriteHeader(status)
	_, _ = w.Write(raw)
	return nil
}

// createConsent answers POST /Consent: it creates the patient's record.
func (s *Simulator) createConsent(w http.ResponseWriter, r *http.Request) *apiError {
	var c Consent
	typ, err := readBody(r, &c)
	if err != nil {
		return err
	}
	if typ != "Consent" {
		return errValidation("Expected a Consent")
	}
	nhs, err := patientOf(c.Patient)
	if err != nil {
		return err
	}
	if c.Status != "active" {
		return errInvalidValue("A new consent must be active")
	}
	if len(c.Category) == 0 || !hasNRAF(&c.Category[0]) {
		return errValidation("The consent's category must be NRAF")
	}
	now := s.opts.Now()
	version := s.opts.NewID()
	c.ID = nhs + "." + s.opts.NewID()
	s.stampWrite(&c.Meta, consentProfile, &c.Contained, &c.Extension, "Consent/"+c.ID, r, now, version)
	s.mu.Lock()
	if s.records[nhs] != nil {
		s.mu.Unlock()
		return errInvalidUpdate("A Reasonable Adjustment record already exists for this patient")
	}
	s.records[nhs] = &record{consent: c}
	s.mu.Unlock()
	status := http.StatusCreated
	if r.Header.Get("Prefer") == "respond-async" {
		status = http.StatusAccepted // as the sandbox answers
	}
	return written(w, status, c, version, s.base(r)+"/Consent/"+c.ID, now, false)
}

// createFlag answers POST /Flag: it adds an adjustment to an existing record.
func (s *Simulator) createFlag(w http.ResponseWriter, r *http.Request) *apiError {
	var f Flag
	typ, err := readBody(r, &f)
	if err != nil {
		return err
	}
	nhs, err := checkFlag(typ, &f)
	if err != nil {
		return err
	}
	if f.Status != "active" {
		return errInvalidValue("A new adjustment must be active")
	}
	now := s.opts.Now()
	version := s.opts.NewID()
	f.ID = nhs + "." + s.opts.NewID()
	s.stampWrite(&f.Meta, flagProfile, &f.Contained, &f.Extension, "Flag/"+f.ID, r, now, version)
	s.mu.Lock()
	rec := s.records[nhs]
	if rec == nil {
		s.mu.Unlock()
		return errPatientNotFound()
	}
	rec.flags = append(rec.flags, &f)
	rec.canned = false
	s.mu.Unlock()
	return written(w, http.StatusCreated, f, version, s.base(r)+"/Flag/"+f.ID, now, true)
}

// checkFlag validates an adjustment sent to RA as a resource of type typ.
func checkFlag(typ string, f *Flag) (string, *apiError) {
	if typ != "Flag" {
		return "", errValidation("Expected a Flag")
	}
	nhs, err := patientOf(f.Subject)
	if err != nil {
		return "", err
	}
	if !hasNRAF(f.Category) {
		return "", errValidation("The flag's category must be NRAF")
	}
	if f.Code == nil || len(f.Code.Coding) == 0 || f.Code.Coding[0].Code == "" {
		return "", errMissingValue("Missing adjustment code")
	}
	return nhs, nil
}

// updateFlag answers PUT /Flag/{id}: a new version of an adjustment, if the
// client's If-Match is the current version.
func (s *Simulator) updateFlag(w http.ResponseWriter, r *http.Request, id string) *apiError {
	match := strings.Trim(strings.TrimPrefix(strings.TrimSpace(r.Header.Get("If-Match")), "W/"), "\"“”")
	if match == "" {
		return errPreconditionFailed()
	}
	var f Flag
	typ, err := readBody(r, &f)
	if err != nil {
		return err
	}
	nhs, err := checkFlag(typ, &f)
	if err != nil {
		return err
	}
	if f.ID != id {
		return errInvalidUpdate("The flag's id does not match the URL")
	}
	if f.Status != "active" && f.Status != "inactive" {
		return errInvalidValue("Status must be active or inactive")
	}
	if f.Status == "inactive" && !hasRemovalReason(f.Extension) {
		return errMissingValue("Removing an adjustment needs a removal reason")
	}
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.records[nhs]
	if rec == nil {
		return errResourceNotFound()
	}
	i := -1
	for j, old := range rec.flags {
		if old.ID == id {
			i = j
		}
	}
	if i < 0 {
		return errResourceNotFound()
	}
	old := rec.flags[i]
	if old.Meta == nil || old.Meta.VersionID != match {
		return errVersionMismatch()
	}
	if old.Status != "active" {
		return errInvalidUpdate("A removed adjustment cannot be changed")
	}
	version := s.opts.NewID()
	s.stampWrite(&f.Meta, flagProfile, &f.Contained, &f.Extension, "Flag/"+f.ID, r, now, version)
	rec.flags[i] = &f
	rec.canned = false
	return written(w, http.StatusOK, f, version, "", now, false)
}

func hasRemovalReason(exts []fhirwire.Extension) bool {
	for _, e := range exts {
		if e.URL != removalReasonURL {
			continue
		}
		for _, sub := range e.Extension {
			if sub.URL == "removalReason" && sub.ValueCodeableConcept != nil && len(sub.ValueCodeableConcept.Coding) > 0 {
				return true
			}
		}
	}
	return false
}
