// Package capability builds the facade's CapabilityStatement from the
// provider registry: every resource type with exactly the interactions its
// provider implements and the search parameters it declares. Nothing here is
// hand-written per resource, so the statement cannot drift from the routes.
//
// See: http://hl7.org/fhir/R4/capabilitystatement.html
package capability

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/mappers/declared"
	"github.com/carerecords/fhir-facade/resources"
)

// Options are the facts about the running server that the statement states.
type Options struct {
	// BaseURL is the public FHIR base, e.g. http://127.0.0.1:8080/fhir.
	BaseURL string
	// Version is the software version.
	Version string
	// Date is when the statement was generated (start-up).
	Date time.Time
	// TokenURL, when set, declares SMART-on-FHIR security with this OAuth
	// token endpoint (and AuthorizeURL, if any).
	TokenURL, AuthorizeURL string
	// CORS says whether browser origins are allowed.
	CORS bool
}

// Interaction names of the FHIR RESTful API.
// See: http://hl7.org/fhir/R4/valueset-type-restful-interaction.html
const (
	InteractionRead       = "read"
	InteractionVRead      = "vread"
	InteractionSearchType = "search-type"
	InteractionCreate     = "create"
	InteractionUpdate     = "update"
	InteractionPatch      = "patch"
)

// Interactions returns the type-level interactions p supports, discovered by
// type assertion; the server routes exactly these.
func Interactions(p resources.Provider) []string {
	var out []string
	_, reads := p.(resources.Reader)
	_, streams := p.(resources.Streamer)
	if reads || streams {
		out = append(out, InteractionRead)
	}
	if v, ok := p.(resources.Versioned); ok && v.Versioned() && reads {
		out = append(out, InteractionVRead)
	}
	if _, ok := p.(resources.Searcher); ok {
		out = append(out, InteractionSearchType)
	}
	if _, ok := p.(resources.Creator); ok {
		out = append(out, InteractionCreate)
	}
	if _, ok := p.(resources.Updater); ok {
		out = append(out, InteractionUpdate)
	}
	if _, ok := p.(resources.Patcher); ok {
		out = append(out, InteractionPatch)
	}
	return out
}

func isReader(p resources.Provider) bool {
	_, ok := p.(resources.Reader)
	return ok
}

func isPatcher(p resources.Provider) bool {
	_, ok := p.(resources.Patcher)
	return ok
}

type code struct {
	Code string `json:"code"`
}

type searchParam struct {
	Name          string `json:"name"`
	Definition    string `json:"definition,omitempty"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

type resource struct {
	Type              string        `json:"type"`
	Profile           string        `json:"profile,omitempty"`
	SupportedProfile  []string      `json:"supportedProfile,omitempty"`
	Documentation     string        `json:"documentation,omitempty"`
	Interaction       []code        `json:"interaction"`
	Versioning        string        `json:"versioning"`
	ReadHistory       bool          `json:"readHistory"`
	UpdateCreate      bool          `json:"updateCreate"`
	ConditionalCreate bool          `json:"conditionalCreate"`
	ConditionalRead   string        `json:"conditionalRead"`
	ConditionalUpdate bool          `json:"conditionalUpdate"`
	ConditionalDelete string        `json:"conditionalDelete"`
	SearchInclude     []string      `json:"searchInclude,omitempty"`
	SearchRevInclude  []string      `json:"searchRevInclude,omitempty"`
	SearchParam       []searchParam `json:"searchParam,omitempty"`
	Operation         []operation   `json:"operation,omitempty"`
}

type operation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

type security struct {
	CORS        bool           `json:"cors"`
	Service     []concept      `json:"service"`
	Description string         `json:"description"`
	Extension   []oauthURIsExt `json:"extension,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// oauthURIsExt is SMART's extension naming the OAuth endpoints.
// See: https://hl7.org/fhir/smart-app-launch/1.0.0/conformance/index.html
type oauthURIsExt struct {
	URL       string    `json:"url"`
	Extension []uriPart `json:"extension"`
}

type uriPart struct {
	URL      string `json:"url"`
	ValueURI string `json:"valueUri"`
}

type rest struct {
	Mode          string     `json:"mode"`
	Documentation string     `json:"documentation"`
	Security      *security  `json:"security,omitempty"`
	Resource      []resource `json:"resource"`
	Interaction   []code     `json:"interaction,omitempty"`
}

// Statement is the CapabilityStatement as JSON-ready data.
type Statement struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Status       string `json:"status"`
	Date         string `json:"date"`
	Publisher    string `json:"publisher"`
	Kind         string `json:"kind"`
	Software     struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"software"`
	Implementation struct {
		Description string `json:"description"`
		URL         string `json:"url,omitempty"`
	} `json:"implementation"`
	FHIRVersion string   `json:"fhirVersion"`
	Format      []string `json:"format"`
	// PatchFormat lists the patch media types, when any resource supports patch.
	PatchFormat []string `json:"patchFormat,omitempty"`
	Rest        []rest   `json:"rest"`
}

// Build returns the CapabilityStatement for reg.
func Build(reg *resources.Registry, opts Options) *Statement {
	s := &Statement{
		ResourceType: "CapabilityStatement",
		ID:           "carerecords-facade",
		Status:       "active",
		Date:         opts.Date.UTC().Format(time.RFC3339),
		Publisher:    "carerecords-facade contributors",
		Kind:         "instance",
		FHIRVersion:  "4.0.1",
		Format:       []string{"application/fhir+json", "json", "application/json"},
	}
	s.Software.Name = "carerecords-facade"
	s.Software.Version = opts.Version
	s.Implementation.Description = "FHIR R4 facade over England's national care record services (PDS …)"
	s.Implementation.URL = opts.BaseURL
	r := rest{
		Mode: "server",
		Documentation: "Answers are assembled from national backends on each request; the facade stores no clinical data. " +
			"JSON only (XML requests get 406). Searches page with _count (default 20, at most 50; larger values are clamped with a warning) " +
			"and _offset, and support _summary (true, text, data, count), _elements (top-level elements; results tagged SUBSETTED), _total, " +
			"_include and _revinclude (as listed per resource), _sort (on the parameters each resource documents) and POST [type]/_search. " +
			"Unknown search parameters are ignored and reported in an OperationOutcome entry, or rejected with 400 under Prefer: handling=strict.",
	}
	patches := false
	for _, p := range reg.Providers() {
		res := resource{
			Type:              p.ResourceType(),
			Profile:           p.Profile(),
			Documentation:     p.Documentation(),
			Versioning:        "no-version",
			ConditionalRead:   "not-supported",
			ConditionalDelete: "not-supported",
		}
		// The UK Core profile the type's resources declare, from the
		// constants the mappers declare it with. Composition is not a
		// served type: the $summary OperationDefinition names its profile.
		if prof, ok := declared.Profile(p.ResourceType()); ok {
			res.SupportedProfile = []string{prof}
		}
		if v, ok := p.(resources.Versioned); ok && v.Versioned() {
			res.Versioning = "versioned"
			if _, u := p.(resources.Updater); u || isPatcher(p) {
				// Writes need If-Match with the current version (428
				// without, 412 when stale).
				res.Versioning = "versioned-update"
			}
		}
		if isReader(p) {
			// Every read has an ETag (the versionId, else one naming the
			// content) and If-None-Match answers 304. Not "full-support":
			// If-Modified-Since works only where the backend says when a
			// record changed, and PDS never does.
			res.ConditionalRead = "not-match"
		}
		for _, i := range Interactions(p) {
			res.Interaction = append(res.Interaction, code{Code: i})
		}
		if _, ok := p.(resources.ConditionalCreator); ok {
			res.ConditionalCreate = true // If-None-Exist
		}
		if inc, ok := p.(resources.Includer); ok {
			for _, i := range inc.Includes() {
				res.SearchInclude = append(res.SearchInclude, p.ResourceType()+":"+i.Param+":"+i.Target)
			}
		}
		res.SearchRevInclude = revIncludes(reg, p.ResourceType())
		if st, ok := p.(resources.Sorter); ok && len(st.SortParams()) > 0 {
			var names []string
			for n := range st.SortParams() {
				names = append(names, n)
			}
			sort.Strings(names)
			res.Documentation += " _sort: " + strings.Join(names, ", ") + " (prefix - for descending)."
		}
		if op, ok := p.(resources.Operator); ok {
			for _, x := range op.Operations() {
				res.Operation = append(res.Operation, operation{Name: x.Name, Definition: definitionURL(reg, opts.BaseURL, x.Definition.ID)})
			}
		}
		if op, ok := p.(resources.TypeOperator); ok {
			for _, x := range op.TypeOperations() {
				res.Operation = append(res.Operation, operation{Name: x.Name, Definition: definitionURL(reg, opts.BaseURL, x.Definition.ID)})
			}
		}
		patches = patches || isPatcher(p)
		if sr, ok := p.(resources.Searcher); ok {
			for _, sp := range sr.SearchParams() {
				res.SearchParam = append(res.SearchParam, searchParam{
					Name: sp.Name, Definition: sp.Definition, Type: string(sp.Type), Documentation: sp.Documentation,
				})
			}
		}
		r.Resource = append(r.Resource, res)
	}
	if opts.TokenURL != "" {
		sec := &security{
			CORS:        opts.CORS,
			Service:     []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/restful-security-service", Code: "SMART-on-FHIR", Display: "SMART-on-FHIR"}}}},
			Description: "OAuth 2.0 bearer tokens (JWT, RS256/ES256) from the configured issuers; SMART v1/v2 scopes and the NHS national RBAC role decide each interaction; patient-context tokens see only their patient. See /.well-known/smart-configuration.",
		}
		parts := []uriPart{{URL: "token", ValueURI: opts.TokenURL}}
		if opts.AuthorizeURL != "" {
			parts = append(parts, uriPart{URL: "authorize", ValueURI: opts.AuthorizeURL})
		}
		sec.Extension = []oauthURIsExt{{URL: "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris", Extension: parts}}
		r.Security = sec
	}
	// POST [base] with a batch Bundle of GETs (server/batch.go).
	r.Interaction = []code{{Code: "batch"}}
	s.Rest = []rest{r}
	if patches {
		// JSON Patch only: a FHIRPath Patch (a Parameters body) is refused
		// with 415 (resources/patient_patch.go).
		s.PatchFormat = []string{"application/json-patch+json"}
	}
	return s
}

// definitionURL is the url of the OperationDefinition id as the registry's
// OperationDefinition provider serves it, so the statement names exactly
// the canonical a client resolves; Canonical(base, id) when none is served.
func definitionURL(reg *resources.Registry, base, id string) string {
	if p, ok := reg.Lookup("OperationDefinition"); ok {
		if rd, ok := p.(resources.Reader); ok {
			if res, err := rd.Read(context.Background(), id); err == nil && res.Message != nil {
				m := res.Message.ProtoReflect()
				if fd := m.Descriptor().Fields().ByName("url"); fd != nil && m.Has(fd) {
					u := m.Get(fd).Message()
					if v := u.Descriptor().Fields().ByName("value"); v != nil && u.Get(v).String() != "" {
						return u.Get(v).String()
					}
				}
			}
		}
	}
	return Canonical(base, id)
}

// revIncludes lists Type:param:target for every provider whose resources
// reference target through a parameter it can also search by.
func revIncludes(reg *resources.Registry, target string) []string {
	var out []string
	for _, p := range reg.Providers() {
		inc, ok := p.(resources.Includer)
		if !ok {
			continue
		}
		for _, i := range inc.Includes() {
			if i.Target == target && resources.RevIncludable(p, i.Param, target) {
				out = append(out, p.ResourceType()+":"+i.Param+":"+target)
			}
		}
	}
	return out
}

// JSON renders s compactly.
func (s *Statement) JSON() ([]byte, error) { return json.Marshal(s) }
