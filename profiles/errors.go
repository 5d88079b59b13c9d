package profiles

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Bounds on what a ValidationError carries, so that a resource with
// thousands of faults does not produce a megabyte of message.
const (
	maxIssues       = 10
	maxMessageBytes = 200
	maxPathBytes    = 200
)

var printer = message.NewPrinter(language.English)

// ValidationError says where a resource departs from the FHIR R4 schema.
type ValidationError struct {
	// ResourceType is the resource's resourceType, if it has a string one,
	// known to FHIR or not.
	ResourceType string
	// Issues are the failing places, sorted by path, at most ten.
	Issues []Issue
	// Omitted counts the further issues not listed in Issues.
	Omitted int
}

// Issue is one failing place in a resource.
type Issue struct {
	// Path is a JSON pointer into the resource, e.g. /entry/1/resource/gender;
	// empty for the resource itself.
	Path string
	// Expression is the same place as a FHIRPath expression, e.g.
	// Bundle.entry[1].resource.gender, for OperationOutcome.issue.expression.
	// Empty when the resource's resourceType is missing or unknown.
	Expression string
	// Message says what is wrong there.
	Message string
}

// Error lists the issues on one line, most of them by FHIRPath expression.
func (e *ValidationError) Error() string {
	var sb strings.Builder
	sb.WriteString("FHIR R4 schema: ")
	if n := len(e.Issues) + e.Omitted; n > 1 {
		fmt.Fprintf(&sb, "%d problems: ", n)
	}
	for i, is := range e.Issues {
		if i > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(is.where())
		sb.WriteString(": ")
		sb.WriteString(is.Message)
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&sb, " (and %d more)", e.Omitted)
	}
	return sb.String()
}

func (is Issue) where() string {
	switch {
	case is.Expression != "":
		return is.Expression
	case is.Path != "":
		return is.Path
	default:
		return "(resource)"
	}
}

// newValidationError flattens the library's error tree into its leaves,
// which are where the resource actually fails.
func newValidationError(inst any, verr *jsonschema.ValidationError) *ValidationError {
	e := &ValidationError{}
	if obj, ok := inst.(map[string]any); ok {
		e.ResourceType, _ = obj["resourceType"].(string)
	}
	var leaves []*jsonschema.ValidationError
	var walk func(*jsonschema.ValidationError)
	walk = func(v *jsonschema.ValidationError) {
		if len(v.Causes) == 0 {
			leaves = append(leaves, v)
		}
		for _, c := range v.Causes {
			walk(c)
		}
	}
	walk(verr)
	// A FHIRPath expression needs a type the schema knows.
	root := e.ResourceType
	for _, v := range leaves {
		if _, ok := v.ErrorKind.(*unknownResourceType); ok && len(v.InstanceLocation) == 0 {
			root = ""
		}
	}
	issues := make([]Issue, 0, len(leaves))
	for _, v := range leaves {
		issues = append(issues, Issue{
			Path:       truncate(pointer(v.InstanceLocation), maxPathBytes),
			Expression: truncate(fhirPath(root, v.InstanceLocation), maxPathBytes),
			Message:    truncate(describe(v), maxMessageBytes),
		})
	}
	slices.SortFunc(issues, func(a, b Issue) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	issues = slices.Compact(issues)
	if len(issues) > maxIssues {
		e.Omitted = len(issues) - maxIssues
		issues = issues[:maxIssues]
	}
	e.Issues = slices.Clip(issues)
	return e
}

// describe words one leaf error, more plainly than the library where it
// helps: FHIR primitives are named rather than their regular expressions
// quoted, and a bad code shows the value that was given.
func describe(v *jsonschema.ValidationError) string {
	switch k := v.ErrorKind.(type) {
	case *kind.Pattern:
		if _, frag, ok := strings.Cut(v.SchemaURL, "#/definitions/"); ok && isPrimitive(frag) {
			return fmt.Sprintf("%q is not a valid FHIR %s", k.Got, frag)
		}
	case *kind.Enum:
		return fmt.Sprintf("got %s, %s", display(k.Got), k.LocalizedString(printer))
	}
	return v.ErrorKind.LocalizedString(printer)
}

// isPrimitive reports whether a schema definition name is a FHIR primitive
// type (date, code, id...), which the schema spells in lower case.
func isPrimitive(def string) bool {
	r, _ := utf8.DecodeRuneInString(def)
	return unicode.IsLower(r) && !strings.ContainsAny(def, "/_")
}

func display(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%v", v)
}

// pointer renders an instance location as a JSON pointer (RFC 6901).
func pointer(loc []string) string {
	var sb strings.Builder
	for _, tok := range loc {
		sb.WriteByte('/')
		tok = strings.ReplaceAll(tok, "~", "~0")
		sb.WriteString(strings.ReplaceAll(tok, "/", "~1"))
	}
	return sb.String()
}

// fhirPath renders an instance location as a FHIRPath expression rooted at
// the resource type: array indexes become [n], properties .name.
func fhirPath(resourceType string, loc []string) string {
	if resourceType == "" {
		return ""
	}
	var sb strings.Builder
	sb.WriteString(resourceType)
	for _, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil {
			sb.WriteString("[" + tok + "]")
			continue
		}
		sb.WriteByte('.')
		sb.WriteString(tok)
	}
	return sb.String()
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
