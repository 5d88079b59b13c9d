package resources

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // england, on hosts without a zone database

	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"
	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/backends/ra"
	cpismap "github.com/carerecords/fhir-facade/mappers/cpis"
	fgmmap "github.com/carerecords/fhir-facade/mappers/fgm"
	ovmmap "github.com/carerecords/fhir-facade/mappers/ovm"
	ramap "github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// RAClient is what the Flag provider needs from the Reasonable Adjustment
// Flag API (backends/ra).
type RAClient interface {
	Flags(ctx context.Context, nhs, status string) ([]json.RawMessage, error)
	Consent(ctx context.Context, nhs string) (json.RawMessage, error)
	CreateConsent(ctx context.Context, consent []byte) (*ra.Written, error)
	CreateFlag(ctx context.Context, flag []byte) (*ra.Written, error)
	UpdateFlag(ctx context.Context, id string, flag []byte, version string) (*ra.Written, error)
}

// CPISClient is what the Flag provider needs from CP-IS (backends/cpis).
type CPISClient interface {
	CareTeams(ctx context.Context, nhs string) ([]json.RawMessage, error)
}

// FGMClient is what the Flag provider needs from FGM-IS (backends/fgm).
type FGMClient interface {
	Flags(ctx context.Context, nhs string) ([]json.RawMessage, error)
}

// OVMClient is what the Flag provider needs from the overseas visitors
// chargeable-status service (backends/ovm).
type OVMClient interface {
	Statuses(ctx context.Context, nhs string) ([]json.RawMessage, error)
}

// FlagOptions configure the Flag provider.
type FlagOptions struct {
	// Author is who the facade records RA changes as, in the Provenance RA
	// keeps with each: the user (SDS id), job role and organisation (ODS).
	// A created flag's author organisation, when the client names one,
	// replaces the organisation.
	Author ramap.Author
	// Now is the clock of writes, and the "today" (in England) on which a
	// flag of any service is current until its period ends; nil means
	// time.Now.
	Now func() time.Time
	// NewID makes Provenance ids; nil means random UUIDs.
	NewID func() string
}

// Flag serves the patient's alerts from four national services as one
// resource type: reasonable adjustments (RA), child protection plans
// (CP-IS), the FGM risk indicator (FGM-IS) and the overseas visitor
// chargeable status (OVM). A search asks the four in parallel; only RA
// flags are writable.
type Flag struct {
	ra   RAClient
	cpis CPISClient
	fgm  FGMClient
	ovm  OVMClient
	memo *Memo
	opts FlagOptions
}

var (
	_ Reader    = (*Flag)(nil)
	_ Searcher  = (*Flag)(nil)
	_ Creator   = (*Flag)(nil)
	_ Updater   = (*Flag)(nil)
	_ Versioned = (*Flag)(nil)
	_ Includer  = (*Flag)(nil)
)

// NewFlag returns the Flag provider over the four backends. memo may be
// nil (every payload is mapped afresh).
func NewFlag(raClient RAClient, cpisClient CPISClient, fgmClient FGMClient, ovmClient OVMClient, memo *Memo, opts FlagOptions) *Flag {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewString
	}
	return &Flag{ra: raClient, cpis: cpisClient, fgm: fgmClient, ovm: ovmClient, memo: memo, opts: opts}
}

// The names a client is told when a source is missing from an answer.
const (
	SourceRA   = "Reasonable Adjustment Flag (RA)"
	SourceCPIS = "Child Protection - Information Sharing (CP-IS)"
	SourceFGM  = "FGM Information Sharing (FGM-IS)"
	SourceOVM  = "Overseas visitor chargeable status (OVM)"
)

// ResourceType implements Provider.
func (*Flag) ResourceType() string { return "Flag" }

// Profile implements Provider: the base resource.
func (*Flag) Profile() string { return "" }

// Versioned implements Versioned: RA and FGM-IS flags carry their
// service's version (meta.versionId, ETag); CP-IS plans and OVM statuses
// have none.
func (*Flag) Versioned() bool { return true }

// Includes implements Includer: _include=Flag:patient adds the Patient.
func (*Flag) Includes() []Include {
	return []Include{{Param: "patient", Element: "subject", Target: "Patient"}}
}

// Documentation implements Provider.
func (*Flag) Documentation() string {
	return "A patient's alerts from four national services, searched in parallel: reasonable adjustments from the " +
		"Reasonable Adjustment Flag API (ids ra-…, category NRAF plus the adjustment category, with the patient's consent as a contained Consent), " +
		"child protection plans from CP-IS (ids cpis-…, category safety, code the plan type, author the responsible local authority " +
		"with its phone numbers in extensions), the FGM risk indicator from FGM-IS (ids fgm-…, category clinical) " +
		"and overseas visitor chargeable statuses from OVM (ids ovm-…, one flag per status, category " + ovmmap.CategorySystem + "|" + ovmmap.CategoryCode +
		" (a code system of this facade's own: NHS England publishes none) with flag-category admin, code the overseas visitor charging category letter " +
		"in UK Core's " + ovmmap.UKCoreChargingCategorySystem + " with its meaning as display and text (a letter UK Core lacks: " + ovmmap.ChargingCategorySystem + "), period the status's start and end, " +
		"author the recording organisation with its phone number in an extension; active while the status has no end or ends today or later, else inactive). " +
		"A search needs the patient and returns active flags unless status says otherwise; when a service fails, times out or sends an empty, " +
		"truncated or unreadable answer, the others' flags are returned with an OperationOutcome entry (severity error, code incomplete) naming the missing service. " +
		"Only RA flags are writable: create (POST, status active; a contained active Consent is required when the patient has no RA record yet) " +
		"and update (PUT with If-Match; status inactive with the RA removal reason extension removes an adjustment). " +
		"CP-IS, FGM-IS and OVM flags are read-only: PUT on them is 422 (business-rule). CP-IS is queried as a scheduled-care (silent) read unless configured otherwise."
}

// SearchParams implements Searcher.
func (*Flag) SearchParams() []SearchParam {
	return []SearchParam{
		{Name: "patient", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/clinical-patient", Modifiers: PatientParamModifiers,
			Documentation: "Required (or subject): the patient, as 9000000009, Patient/9000000009 or patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009.",
			Example:       "9000000009"},
		{Name: "subject", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/Flag-subject", Modifiers: PatientParamModifiers,
			Documentation: "The patient, as patient (only Patient subjects); with patient, both must name the same patient.", Example: "Patient/9000000009"},
		{Name: "category", Type: TypeToken, Repeatable: true,
			Documentation: "Flag.category, as system|code, |code or code; commas are OR, repeats are AND. " +
				"http://terminology.hl7.org/CodeSystem/flag-category|safety (CP-IS), |clinical (FGM-IS), |admin (OVM), " +
				ovmmap.CategorySystem + "|" + ovmmap.CategoryCode + " (OVM), " +
				"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1|NRAF (RA) or an RA adjustment category. " +
				"Services that cannot hold a matching flag are not asked.",
			Example: "http://terminology.hl7.org/CodeSystem/flag-category|safety"},
		{Name: "status", Type: TypeToken,
			Documentation: "active (the default when absent), inactive, entered-in-error; commas are OR.",
			Example:       "active,inactive"},
	}
}

// flagQuery is a validated Flag search.
type flagQuery struct {
	nhs        string
	statuses   map[string]bool
	categories [][]Token // AND of ORs
	none       bool      // the parameters contradict each other
}

func parseFlagQuery(params map[string][]string) (*flagQuery, error) {
	nhs, ok, err := PatientNHSNumber(params, "patient")
	if err != nil {
		return nil, err
	}
	subj, subjOK, err := PatientNHSNumber(params, "subject")
	if err != nil {
		return nil, err
	}
	q := &flagQuery{statuses: map[string]bool{}}
	switch {
	case ok && subjOK && subj != nhs:
		// Both must hold (FHIR ANDs parameters): no flag is about two patients.
		q.none = true
	case subjOK:
		nhs, ok = subj, true
	}
	if !ok {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "patient",
			Message: "a Flag search needs the patient: patient=<NHS number> (or Patient/<NHS number>, subject=…, or patient:identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>)"}
	}
	q.nhs = nhs
	for _, v := range params["status"] {
		for _, t := range ParseTokens(v) {
			if t.HasSystem && t.System != "" && t.System != "http://hl7.org/fhir/flag-status" {
				return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "status", Message: "status takes codes of http://hl7.org/fhir/flag-status"}
			}
			if !fhirjson.ValidFlagStatus(t.Code) {
				return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "status", Message: "status must be active, inactive or entered-in-error"}
			}
			q.statuses[t.Code] = true
		}
	}
	if len(q.statuses) == 0 {
		q.statuses["active"] = true
	}
	for _, v := range params["category"] {
		if ts := ParseTokens(v); len(ts) > 0 {
			q.categories = append(q.categories, ts)
		}
	}
	return q, nil
}

// categoryMayMatch reports whether a flag whose categories can only be the
// given codings could match every category parameter; wildcardSystem is a
// system any of whose codes may appear.
func (q *flagQuery) categoryMayMatch(fixed [][2]string, wildcardSystem string) bool {
	for _, or := range q.categories {
		hit := false
		for _, t := range or {
			for _, c := range fixed {
				hit = hit || t.Matches(c[0], c[1])
			}
			if wildcardSystem != "" && (!t.HasSystem || t.System == wildcardSystem) {
				hit = true
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// matches reports whether a mapped flag satisfies the status and category
// parameters.
func (q *flagQuery) matches(f *flagpb.Flag) bool {
	if !q.statuses[flagStatus(f)] {
		return false
	}
	for _, or := range q.categories {
		hit := false
		for _, cc := range f.GetCategory() {
			hit = hit || codingsMatch(cc.GetCoding(), or)
		}
		if !hit {
			return false
		}
	}
	return true
}

func flagStatus(f *flagpb.Flag) string {
	return fhirjson.EnumCode(f.GetStatus().GetValue())
}

// The category codings each backend's flags can carry, for skipping
// services that cannot match a category search.
var (
	cpisCategories = [][2]string{{cpismap.CategorySystem, cpismap.CategoryCode}}
	fgmCategories  = [][2]string{{fgmmap.CategorySystem, fgmmap.CategoryCode}}
	raCategories   = [][2]string{{ramap.FlagCategorySystem, ramap.FlagCategoryCode}}
	ovmCategories  = [][2]string{{ovmmap.CategorySystem, ovmmap.CategoryCode}, {ovmmap.AdminCategorySystem, ovmmap.AdminCategoryCode}}
)

// Search implements Searcher: it asks RA, CP-IS, FGM-IS and OVM in parallel
// (FanOut) for the patient's flags and keeps those matching status and
// category. A service that fails leaves an error issue (incomplete) naming
// it; when all fail, the search fails.
func (p *Flag) Search(ctx context.Context, q *Query) (*SearchResult, error) {
	fq, err := parseFlagQuery(q.Params)
	if err != nil {
		return nil, err
	}
	if fq.none {
		return &SearchResult{}, nil
	}
	var sources []Source
	if fq.categoryMayMatch(raCategories, ramap.AdjustmentCategorySystem) && (fq.statuses["active"] || fq.statuses["inactive"]) {
		sources = append(sources, Source{Name: SourceRA, Search: func(ctx context.Context) (*SearchResult, error) {
			return p.searchRA(ctx, fq)
		}})
	}
	if fq.categoryMayMatch(cpisCategories, "") {
		sources = append(sources, Source{Name: SourceCPIS, Search: func(ctx context.Context) (*SearchResult, error) {
			return searchWith(ctx, fq, p.fetchCPIS)
		}})
	}
	if fq.categoryMayMatch(fgmCategories, "") {
		sources = append(sources, Source{Name: SourceFGM, Search: func(ctx context.Context) (*SearchResult, error) {
			return searchWith(ctx, fq, p.fetchFGM)
		}})
	}
	// OVM flags are active or inactive, never entered-in-error.
	if fq.categoryMayMatch(ovmCategories, "") && (fq.statuses["active"] || fq.statuses["inactive"]) {
		sources = append(sources, Source{Name: SourceOVM, Search: func(ctx context.Context) (*SearchResult, error) {
			return searchWith(ctx, fq, p.fetchOVM)
		}})
	}
	if len(sources) == 0 {
		return &SearchResult{}, nil
	}
	return FanOut(ctx, sources)
}

func matched(fq *flagQuery, rs []*Resource) *SearchResult {
	out := &SearchResult{}
	for _, r := range rs {
		if fq.matches(r.Message.(*flagpb.Flag)) {
			out.Entries = append(out.Entries, SearchEntry{Resource: r, Mode: "match"})
		}
	}
	out.Total = len(out.Entries)
	return out
}

// raRecord is what RA holds for a patient: the adjustments asked for and
// the consent (nil without a record).
type raRecord struct {
	flags   []json.RawMessage
	consent json.RawMessage
}

// fetchRA asks RA for the patient's consent and for the adjustments of
// each RA status (RA searches one status at a time), all in parallel.
func (p *Flag) fetchRA(ctx context.Context, nhs string, statuses []string) (*raRecord, error) {
	var (
		wg      sync.WaitGroup
		consent json.RawMessage
		cErr    error
		flags   = make([][]json.RawMessage, len(statuses))
		errs    = make([]error, len(statuses))
	)
	wg.Add(1 + len(statuses))
	go func() {
		defer wg.Done()
		consent, cErr = p.ra.Consent(ctx, nhs)
	}()
	for i, st := range statuses {
		go func() {
			defer wg.Done()
			flags[i], errs[i] = p.ra.Flags(ctx, nhs, st)
		}()
	}
	wg.Wait()
	for _, err := range append(errs, cErr) {
		if err != nil {
			return nil, err
		}
	}
	rec := &raRecord{consent: consent}
	for _, fs := range flags {
		rec.flags = append(rec.flags, fs...)
	}
	return rec, nil
}

// raStatuses are the RA statuses to ask for: RA knows active and inactive.
func raStatuses(want map[string]bool) []string {
	var out []string
	for _, s := range []string{"active", "inactive"} {
		if want[s] {
			out = append(out, s)
		}
	}
	return out
}

func (p *Flag) searchRA(ctx context.Context, fq *flagQuery) (*SearchResult, error) {
	rec, err := p.fetchRA(ctx, fq.nhs, raStatuses(fq.statuses))
	if err != nil {
		return nil, err
	}
	rs, err := p.mapRA(fq.nhs, rec)
	if err != nil {
		return nil, err
	}
	return matched(fq, rs), nil
}

// mapRA maps RA's adjustments, each with the patient's consent, through
// the memo: the mapping of a flag depends on the flag and consent payloads.
func (p *Flag) mapRA(nhs string, rec *raRecord) ([]*Resource, error) {
	var (
		consent     *fhirjson.STU3Consent
		consentErr  error
		consentOnce sync.Once
	)
	// The consent is decoded only if a flag is not in the memo.
	decodeConsent := func() (*fhirjson.STU3Consent, error) {
		consentOnce.Do(func() {
			if rec.consent != nil {
				consent, consentErr = ramap.DecodeConsent(rec.consent)
			}
		})
		return consent, consentErr
	}
	// A flag's mapping depends on the flag and the consent payloads, and on
	// the London date (an ended flag is inactive).
	now, today := p.today()
	key := func(raw json.RawMessage) []byte { return joinKey(joinKey(raw, rec.consent), today) }
	return p.mapFlags("ra-flag/"+nhs, rec.flags, key, func(raw json.RawMessage) (*flagpb.Flag, error) {
		f, err := ramap.DecodeFlag(raw)
		if err != nil {
			return nil, err
		}
		c, err := decodeConsent()
		if err != nil {
			return nil, err
		}
		return ramap.FlagAt(f, c, nhs, now)
	})
}

// searchWith is a single service's Flag search: fetch the patient's flags,
// keep those the query matches.
func searchWith(ctx context.Context, fq *flagQuery, fetch func(context.Context, string) ([]*Resource, error)) (*SearchResult, error) {
	rs, err := fetch(ctx, fq.nhs)
	if err != nil {
		return nil, err
	}
	return matched(fq, rs), nil
}

func (p *Flag) fetchCPIS(ctx context.Context, nhs string) ([]*Resource, error) {
	raws, err := p.cpis.CareTeams(ctx, nhs)
	if err != nil {
		return nil, err
	}
	now, today := p.today()
	key := func(raw json.RawMessage) []byte { return joinKey(raw, today) }
	return p.mapFlags("cpis-flag/"+nhs, raws, key, func(raw json.RawMessage) (*flagpb.Flag, error) {
		ct, err := cpismap.Decode(raw)
		if err != nil {
			return nil, err
		}
		return cpismap.Flag(ct, nhs, now)
	})
}

func (p *Flag) fetchFGM(ctx context.Context, nhs string) ([]*Resource, error) {
	raws, err := p.fgm.Flags(ctx, nhs)
	if err != nil {
		return nil, err
	}
	now, today := p.today()
	key := func(raw json.RawMessage) []byte { return joinKey(raw, today) }
	return p.mapFlags("fgm-flag/"+nhs, raws, key, func(raw json.RawMessage) (*flagpb.Flag, error) {
		f, err := fgmmap.Decode(raw)
		if err != nil {
			return nil, err
		}
		return fgmmap.Flag(f, nhs, now)
	})
}

// england is the zone of the dates in overseas visitor statuses.
var england = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		return time.UTC // unreachable: time/tzdata is linked in
	}
	return l
}()

// today is the clock's now and its date in England, part of every flag's
// memo key: a flag is current until the day its period ends is over in
// England, wherever the server's clock is set, so a mapping holds for
// that day only.
func (p *Flag) today() (time.Time, []byte) {
	now := p.opts.Now().In(england)
	return now, []byte(now.Format(time.DateOnly))
}

// fetchOVM asks OVM for the patient's statuses and maps each as of today:
// whether a status is current depends on the date, so the date is part of
// what the memo keys the mapping by.
func (p *Flag) fetchOVM(ctx context.Context, nhs string) ([]*Resource, error) {
	raws, err := p.ovm.Statuses(ctx, nhs)
	if err != nil {
		return nil, err
	}
	now, today := p.today()
	key := func(raw json.RawMessage) []byte { return joinKey(raw, today) }
	return p.mapFlags("ovm-flag/"+nhs, raws, key, func(raw json.RawMessage) (*flagpb.Flag, error) {
		st, err := ovmmap.Decode(raw)
		if err != nil {
			return nil, err
		}
		return ovmmap.Flag(st, nhs, now)
	})
}

// mapFlags maps a service's flag payloads through the memo under kind: each
// is keyed by key(raw) (raw itself when key is nil) and, on a miss, mapped
// by mapOne.
func (p *Flag) mapFlags(kind string, raws []json.RawMessage, key func(json.RawMessage) []byte, mapOne func(json.RawMessage) (*flagpb.Flag, error)) ([]*Resource, error) {
	out := make([]*Resource, 0, len(raws))
	for _, raw := range raws {
		payload := []byte(raw)
		if key != nil {
			payload = key(raw)
		}
		r, err := p.memo.Map(kind, payload, func() (*Resource, error) {
			m, err := mapOne(raw)
			if err != nil {
				return nil, err
			}
			return flagResource(m), nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// joinKey is a memo payload of two parts: a, a 0 byte, b.
func joinKey(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+1+len(b))
	return append(append(append(out, a...), 0), b...)
}

// flagResource wraps a mapped Flag with its version facts.
func flagResource(f *flagpb.Flag) *Resource {
	r := &Resource{Type: "Flag", ID: f.GetId().GetValue(), VersionID: f.GetMeta().GetVersionId().GetValue(), Message: f}
	r.LastUpdated = metaLastUpdated(f.GetMeta())
	return r
}

// errNoFlag is the answer to a read of an id no service holds.
func errNoFlag() error {
	return &fhirerr.Error{Category: fhirerr.NotFound, Message: "no Flag with this id"}
}

// Read implements Reader. The id says which service holds the flag and for
// which patient (ra-<nhs>.…, cpis-<nhs>-…, fgm-<nhs>-…, ovm-<nhs>-…): the read asks that
// service for the patient's flags, of every status, and picks the one.
func (p *Flag) Read(ctx context.Context, id string) (*Resource, error) {
	var (
		rs  []*Resource
		err error
	)
	switch {
	case strings.HasPrefix(id, ramap.IDPrefix):
		nhs, ok := ramap.ParseFlagID(id)
		if !ok {
			return nil, errNoFlag()
		}
		var rec *raRecord
		if rec, err = p.fetchRA(ctx, nhs, []string{"active", "inactive"}); err == nil {
			rs, err = p.mapRA(nhs, rec)
		}
	case strings.HasPrefix(id, cpismap.IDPrefix):
		nhs, ok := cpismap.ParseFlagID(id)
		if !ok {
			return nil, errNoFlag()
		}
		rs, err = p.fetchCPIS(ctx, nhs)
	case strings.HasPrefix(id, fgmmap.IDPrefix):
		nhs, ok := fgmmap.ParseFlagID(id)
		if !ok {
			return nil, errNoFlag()
		}
		rs, err = p.fetchFGM(ctx, nhs)
	case strings.HasPrefix(id, ovmmap.IDPrefix):
		nhs, ok := ovmmap.ParseFlagID(id)
		if !ok {
			return nil, errNoFlag()
		}
		rs, err = p.fetchOVM(ctx, nhs)
	default:
		return nil, errNoFlag()
	}
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, errNoFlag()
}
