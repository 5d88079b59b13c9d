package ukcore

import (
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/profiles/extensions"
)

// TestFacadeExtensions: the facade's own extensions are checked against
// their published definitions (profiles/extensions), under the placeholder
// canonical or a deployment's base alike; one the facade does not publish
// is an error.
func TestFacadeExtensions(t *testing.T) {
	const deployed = "http://127.0.0.1:4567/fhir/StructureDefinition/"
	flag := func(ext string) string {
		return `{"resourceType":"Flag","id":"f","meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Flag"]},
 "status":"active","code":{"text":"x"},"subject":{"reference":"Patient/9000000009"},"extension":[` + ext + `]}`
	}
	contact := func(base, typeValue string) string {
		return `{"url":"` + base + `cpis-local-authority-contact","valueContactPoint":{"system":"phone","value":"0300 000 0000",
  "extension":[{"url":"` + base + `cpis-contact-type",` + typeValue + `}]}}`
	}
	for _, c := range []struct {
		name, resource, want string
	}{
		{name: "deployed CP-IS contacts", resource: flag(contact(deployed, `"valueCode":"office-hours"`))},
		{name: "placeholder CP-IS contacts", resource: flag(contact(extensions.Prefix, `"valueCode":"emergency-duty"`))},
		{name: "OVM contact", resource: flag(`{"url":"` + deployed + `ovm-recording-organisation-contact","valueContactPoint":{"system":"phone","value":"1"}}`)},
		{name: "nested value of another type", resource: flag(contact(deployed, `"valueString":"office-hours"`)),
			want: "type@Flag.extension[0].valueContactPoint.extension[0].valueString"},
		{name: "OVM contact twice", resource: flag(`{"url":"` + deployed + `ovm-recording-organisation-contact","valueContactPoint":{"value":"1"}},` +
			`{"url":"` + deployed + `ovm-recording-organisation-contact","valueContactPoint":{"value":"2"}}`),
			want: "cardinality@Flag.extension[1]"},
		{name: "not published", resource: flag(`{"url":"` + extensions.Prefix + `unknown","valueString":"x"}`),
			want: "extension definition@Flag.extension[0].url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := Validate([]byte(c.resource), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var errs []string
			for _, i := range rep.Errors() {
				errs = append(errs, i.Rule+"@"+i.Path)
				t.Log(i)
			}
			if c.want == "" && len(errs) > 0 || c.want != "" && !(len(errs) > 0 && strings.HasPrefix(errs[0], c.want)) {
				t.Errorf("errors %v, want %q", errs, c.want)
			}
		})
	}
}
