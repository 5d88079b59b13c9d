// Package extensions holds the StructureDefinitions of the facade's own
// extensions: those for which neither UK Core nor HL7 has one that says the
// same thing (docs/conformance.md says why for each). The facade publishes
// them at {base}/StructureDefinition/{id}, and that URL is their canonical.
//
// The canonical URL scheme: an extension's canonical is the deployment's
// public FHIR base (the one every link, fullUrl and OperationDefinition
// canonical uses) + "/StructureDefinition/" + id, so that every URL the
// facade emits resolves, on the deployment that emitted it, to the
// definition. The id is the stable part: an id is never reused for another
// meaning, and an incompatible change is a new id.
//
// Inside the facade (mappers, goldens, the simulators' contracts) an
// extension is named by its placeholder canonical, Prefix + id, under the
// reserved .invalid domain; the server rewrites the placeholder to the
// public base as it renders a resource (Rebase), so no placeholder leaves
// the facade. Mappers stay pure and their goldens deployment-free.
package extensions

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
)

// Prefix starts the placeholder canonical of every facade extension.
const Prefix = "https://carerecords-facade.invalid/fhir/StructureDefinition/"

// The ids of the facade's extensions.
const (
	// OVMRecordingOrganisationContact is the Flag extension (valueContactPoint)
	// with the phone number of the organisation that recorded an overseas
	// visitor chargeable status.
	OVMRecordingOrganisationContact = "ovm-recording-organisation-contact"
	// CPISLocalAuthorityContact is the Flag extension (valueContactPoint)
	// with one phone number of the local authority responsible for a CP-IS
	// plan.
	CPISLocalAuthorityContact = "cpis-local-authority-contact"
	// CPISContactType is the ContactPoint extension (valueCode) saying
	// which local authority number it is: office-hours or emergency-duty.
	CPISContactType = "cpis-contact-type"
	// ContactNHSNumber is the Patient.contact extension (valueIdentifier)
	// with the contact's NHS number: a baby's mother.
	ContactNHSNumber = "contact-nhs-number"
)

//go:embed definitions/*.json
var definitions embed.FS

var (
	loadOnce sync.Once
	byID     map[string][]byte
	loadErr  error
)

func load() (map[string][]byte, error) {
	loadOnce.Do(func() {
		byID = map[string][]byte{}
		loadErr = fs.WalkDir(definitions, "definitions", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := definitions.ReadFile(p)
			if err != nil {
				return err
			}
			var sd struct {
				ResourceType, ID, URL string
			}
			if err := json.Unmarshal(b, &sd); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if sd.ResourceType != "StructureDefinition" || sd.URL != Prefix+sd.ID || path.Base(p) != "StructureDefinition-"+sd.ID+".json" {
				return fmt.Errorf("%s: not the StructureDefinition %s at %s", p, sd.ID, Prefix+sd.ID)
			}
			byID[sd.ID] = b
			return nil
		})
	})
	return byID, loadErr
}

// IDs lists the ids of every published extension, sorted.
func IDs() []string {
	m, _ := load()
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Definition is the StructureDefinition id in FHIR JSON, under its
// placeholder canonical (render it through Rebase).
func Definition(id string) ([]byte, bool) {
	m, err := load()
	if err != nil {
		return nil, false
	}
	b, ok := m[id]
	return b, ok
}

// Err is nil when every embedded definition loads.
func Err() error {
	_, err := load()
	return err
}

// Canonical is the canonical URL of extension id on the deployment whose
// public FHIR base is base (no trailing slash).
func Canonical(base, id string) string {
	return strings.TrimSuffix(base, "/") + "/StructureDefinition/" + id
}

// Rebase rewrites, in a rendered FHIR JSON resource, every placeholder
// canonical (a JSON string starting with Prefix) to the canonical under
// base. body is returned as it is when it has none (the common case costs
// one scan).
func Rebase(body []byte, base string) []byte {
	old := []byte(`"` + Prefix)
	if !bytes.Contains(body, old) {
		return body
	}
	return bytes.ReplaceAll(body, old, []byte(`"`+strings.TrimSuffix(base, "/")+"/StructureDefinition/"))
}

// ID returns the id of the facade extension url names, whatever the
// deployment: url is the placeholder, or an absolute http(s) URL ending
// in /StructureDefinition/{id} for a published id. ok is false otherwise.
func ID(url string) (id string, ok bool) {
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return "", false
	}
	i := strings.LastIndex(url, "/StructureDefinition/")
	if i < 0 {
		return "", false
	}
	for _, other := range []string{"http://hl7.org/", "https://fhir.hl7.org.uk/", "https://fhir.nhs.uk/"} {
		if strings.HasPrefix(url, other) {
			return "", false // a publisher's own extension, never ours
		}
	}
	id = url[i+len("/StructureDefinition/"):]
	if _, ok := Definition(id); !ok {
		return "", false
	}
	return id, true
}
