package pds

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// PDS's rules for updates (OpenAPI patient-patch.yaml: "JSON Patch",
// "Business rules for period" and "Patient data fields"), applied unless
// Options.StatelessPatches is set. The public sandbox validates the JSON
// Patch operations only; these rules are what the real service adds.
//
// Codes, where the specification names none for a rule: a malformed or
// rule-breaking update is INVALID_UPDATE (the specification's example: "a
// start date was after the corresponding end date"); a value of the wrong
// JSON type or a missing required member is VALIDATION_ERROR (its "default"
// error); a bad code or format is INVALID_VALUE; a legacy value that may no
// longer be set is UNSUPPORTED_VALUE; what a user may not change is
// FORBIDDEN_UPDATE (403).

// baseLists are the Patient's top-level lists; idLists are those whose items
// carry an object id that updates must mirror back.
var (
	baseLists = map[string]bool{"name": true, "address": true, "telecom": true, "contact": true, "generalPractitioner": true, "extension": true}
	idLists   = map[string]bool{"name": true, "address": true, "telecom": true, "contact": true, "generalPractitioner": true}
)

// checkOp applies the rules on the shape of an operation, against the
// document as the earlier operations left it:
//
//   - a new item of a top-level list is added at "/<list>/-";
//   - removing a list item must immediately follow a test of the item, its
//     id or its url;
//   - changing a list item that has an id needs that id in the patch
//     (replace/add/test of "/<list>/<n>/id", or in the whole new item), and
//     the id cannot change; replacing a whole extension keeps its url.
func checkOp(doc *object, ops []patchOp, i int) *apiError {
	op := ops[i]
	t := op.tokens
	if len(t) == 0 {
		return nil // applyOp rejects the root
	}
	if op.op == "remove" {
		if parent, err := resolve(doc, t[:len(t)-1], "find"); err == nil {
			if _, isList := parent.([]any); isList {
				if err := checkTestBeforeRemove(ops, i); err != nil {
					return err
				}
			}
		}
	}
	list := t[0]
	if !baseLists[list] {
		return nil
	}
	if op.op == "add" && len(t) == 2 && t[1] != "-" {
		return errInvalidUpdate(fmt.Sprintf("new '%s' items must be added at '/%s/-', not at '%s'", list, list, op.path))
	}
	items, _ := doc.m[list].([]any)
	if len(t) < 2 {
		return nil
	}
	n, ok := arrayIndex(t[1])
	if !ok || n >= len(items) {
		return nil // applyOp reports the bad index
	}
	item, _ := items[n].(*object)
	if item == nil {
		return nil
	}
	root := "/" + list + "/" + t[1]
	if list == "extension" && len(t) == 2 && op.op == "replace" {
		cur, _ := item.m["url"].(string)
		var next any
		if v, ok := op.value.(*object); ok {
			next = v.m["url"]
		}
		if cur != "" && !equalJSON(next, cur) {
			return errInvalidUpdate(fmt.Sprintf("no id or url found for path with root %s (its url is '%s')", root, cur))
		}
		return nil
	}
	curID, hasID := item.m["id"].(string)
	if !idLists[list] || !hasID {
		return nil
	}
	switch {
	case len(t) == 2 && op.op == "replace":
		v, _ := op.value.(*object)
		if v == nil {
			return nil // the result's validation reports the type
		}
		next, ok := v.get("id")
		if !ok {
			return errInvalidUpdate("no id or url found for path with root " + root)
		}
		if !equalJSON(next, curID) {
			return errInvalidUpdate(fmt.Sprintf("no '%s' resources with object id '%s'", list, jsonString(next)))
		}
	case len(t) == 3 && t[2] == "id":
		if op.op == "remove" {
			return errInvalidUpdate(fmt.Sprintf("the object id of %s cannot be removed", root))
		}
		if op.op != "test" && !equalJSON(op.value, curID) {
			return errInvalidUpdate(fmt.Sprintf("no '%s' resources with object id '%s'", list, jsonString(op.value)))
		}
	case len(t) >= 3 && op.op != "test":
		for _, p := range ops[:i] {
			if p.path == root+"/id" && p.op != "remove" && equalJSON(p.value, curID) {
				return nil
			}
		}
		return errInvalidUpdate("no id or url found for path with root " + root)
	}
	return nil
}

// checkTestBeforeRemove: the operation before removing a list item must
// test that item, its id or its url.
func checkTestBeforeRemove(ops []patchOp, i int) *apiError {
	path := ops[i].path
	if i == 0 {
		return errInvalidUpdate(fmt.Sprintf("removal '%s' is not immediately preceded by equivalent test - instead it is the first item", path))
	}
	prev := ops[i-1]
	if prev.op == "test" && (prev.path == path || prev.path == path+"/id" || prev.path == path+"/url") {
		return nil
	}
	return errInvalidUpdate(fmt.Sprintf("removal '%s' is not immediately preceded by equivalent test - instead it is '%s %s'", path, prev.op, prev.path))
}

// patientFields are the Patient members PDS holds (Patient.yaml,
// additionalProperties: false).
var patientFields = map[string]bool{
	"resourceType": true, "id": true, "identifier": true, "meta": true, "name": true,
	"gender": true, "birthDate": true, "multipleBirthInteger": true, "deceasedDateTime": true,
	"address": true, "telecom": true, "contact": true, "generalPractitioner": true,
	"managingOrganization": true, "extension": true,
}

// immutableFields are never changed by an update.
var immutableFields = []string{"resourceType", "id", "identifier", "meta"}

// Extension URLs of a Patient (Patient.yaml extension anyOf).
const (
	extNominatedPharmacy   = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy"
	extDispensingDoctor    = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-PreferredDispenserOrganization"
	extApplianceSupplier   = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicalApplianceSupplier"
	extDeathNotification   = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeathNotificationStatus"
	extCommunication       = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSCommunication"
	extContactPreference   = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ContactPreference"
	extBirthPlace          = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
	extRemovalRegistration = "https://fhir.nhs.uk/StructureDefinition/Extension-PDS-RemovalFromRegistration"
)

var patientExtensions = map[string]bool{
	extNominatedPharmacy: true, extDispensingDoctor: true, extApplianceSupplier: true,
	extDeathNotification: true, extCommunication: true, extContactPreference: true,
	extBirthPlace: true, extRemovalRegistration: true,
}

var (
	datePattern10    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	deceasedPattern  = regexp.MustCompile(`^([12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T\d{2}:\d{2}:\d{2}\+00:00)$|^([12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T\d{2}:\d{2}:\d{2})$|^([12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))$`)
	odsPattern       = regexp.MustCompile(`^[0-9A-Z]+$`)
	emailPattern     = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	tempAddressTexts = map[string]bool{
		"Second Home": true, "Student Accommodation": true, "Respite Care Address": true,
		"Temporary Residence Address": true, "Convalescence Home": true, "Mobile Home": true, "Holiday Home": true,
	}
)

// validator checks an updated Patient against the record it came from.
type validator struct {
	orig, doc *object
	today     string // YYYY-MM-DD
}

// validatePatched checks the result of the operations: still a PDS Patient
// with the same identity, valid in every member the update changed, and
// within PDS's business rules.
func validatePatched(orig, doc *object, now time.Time) *apiError {
	v := &validator{orig: orig, doc: doc, today: now.UTC().Format(time.DateOnly)}
	for _, k := range doc.keys {
		if !patientFields[k] {
			return errInvalidUpdate(fmt.Sprintf("Update unsupported for resource - '%s'", k))
		}
	}
	for _, k := range immutableFields {
		a, ha := orig.get(k)
		b, hb := doc.get(k)
		if ha != hb || !equalJSON(a, b) {
			return errInvalidUpdate(fmt.Sprintf("Update unsupported for resource - '%s'", k))
		}
	}
	checks := []struct {
		field string
		check func(a, b any, ha, hb bool) *apiError
	}{
		{"name", v.names},
		{"gender", v.gender},
		{"birthDate", v.birthDate},
		{"multipleBirthInteger", v.multipleBirth},
		{"deceasedDateTime", v.deceased},
		{"address", v.addresses},
		{"telecom", v.telecoms},
		{"contact", v.contacts},
		{"generalPractitioner", v.generalPractitioners},
		{"managingOrganization", v.managingOrganization},
		{"extension", v.extensions},
	}
	for _, c := range checks {
		a, ha := orig.get(c.field)
		b, hb := doc.get(c.field)
		if ha == hb && equalJSON(a, b) {
			continue
		}
		if err := c.check(a, b, ha, hb); err != nil {
			return err
		}
	}
	return v.crossField()
}

// list reads a top-level list member: absent is empty, another type is a
// VALIDATION_ERROR.
func list(field string, v any, present bool) ([]any, *apiError) {
	if !present {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, errValidation(fmt.Sprintf("'%s' must be a list, not %s", field, jsonType(v)))
	}
	return l, nil
}

// changedItems returns the indexes of the items of now that are not, as
// they are, in before: the items an update added or changed.
func changedItems(before, now []any) []int {
	var out []int
	for i, e := range now {
		found := false
		for _, o := range before {
			if equalJSON(e, o) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, i)
		}
	}
	return out
}

func asObject(v any, field string) (*object, *apiError) {
	o, ok := v.(*object)
	if !ok {
		return nil, errValidation(fmt.Sprintf("'%s' must be an object, not %s", field, jsonType(v)))
	}
	return o, nil
}

// onlyKeys rejects members outside allowed (objects with
// additionalProperties: false).
func onlyKeys(o *object, allowed ...string) *apiError {
	var extra []string
	for _, k := range o.keys {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		return errAdditionalProperties(extra)
	}
	return nil
}

// str reads an optional string member; required makes absence a
// VALIDATION_ERROR.
func str(o *object, key, field string, required bool) (string, bool, *apiError) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return "", false, errValidation(fmt.Sprintf("Missing value - '%s/%s'", field, key))
		}
		return "", false, nil
	}
	s, isString := v.(string)
	if !isString {
		return "", false, errValidation(fmt.Sprintf("'%s/%s' must be a string, not %s", field, key, jsonType(v)))
	}
	return s, true, nil
}

// strings reads an optional list of strings.
func stringList(o *object, key, field string) ([]string, *apiError) {
	v, ok := o.get(key)
	if !ok {
		return nil, nil
	}
	l, isList := v.([]any)
	if !isList {
		return nil, errValidation(fmt.Sprintf("'%s/%s' must be a list of strings, not %s", field, key, jsonType(v)))
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		s, isString := e.(string)
		if !isString {
			return nil, errValidation(fmt.Sprintf("'%s/%s/%d' must be a string, not %s", field, key, i, jsonType(e)))
		}
		out = append(out, s)
	}
	return out, nil
}

func validDate(s string) bool {
	if !datePattern10.MatchString(s) {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// period applies "Business rules for period": a start is required, and is
// not in the future; an end is not before the start.
func (v *validator) period(p any, field string) *apiError {
	o, err := asObject(p, field)
	if err != nil {
		return err
	}
	start, hasStart, err := str(o, "start", field, false)
	if err != nil {
		return err
	}
	if !hasStart {
		return errInvalidUpdate(fmt.Sprintf("a period needs a start date ('%s/start')", field))
	}
	if !validDate(start) {
		return errInvalidValue(start, field+"/start")
	}
	if start > v.today {
		return errInvalidUpdate(fmt.Sprintf("the period start '%s' ('%s/start') is in the future", start, field))
	}
	end, hasEnd, err := str(o, "end", field, false)
	if err != nil {
		return err
	}
	if hasEnd {
		if !validDate(end) {
			return errInvalidValue(end, field+"/end")
		}
		if end < start {
			return errInvalidUpdate(fmt.Sprintf("the period end '%s' is before its start '%s' ('%s')", end, start, field))
		}
	}
	return nil
}

// nameCharOK: the characters PDS accepts in names.
func nameCharOK(r rune) bool {
	switch {
	case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		return true
	case r == '-', r == '\'', r == ' ', r == '.':
		return true
	case r >= 192 && r <= 214, r >= 216 && r <= 246, r >= 248 && r <= 383:
		return true
	}
	return false
}

func checkNameText(s, field string) *apiError {
	if !utf8.ValidString(s) {
		return errUnsupportedCharacters(s, field)
	}
	for _, r := range s {
		if !nameCharOK(r) {
			return errUnsupportedCharacters(s, field)
		}
	}
	return nil
}

var nameUses = map[string]bool{"usual": true, "temp": true, "nickname": true, "old": true, "maiden": true}

func (v *validator) name(e any, field string) *apiError {
	o, err := asObject(e, field)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "id", "use", "period", "given", "family", "prefix", "suffix"); err != nil {
		return err
	}
	if _, _, err := str(o, "id", field, false); err != nil {
		return err
	}
	use, _, err := str(o, "use", field, true)
	if err != nil {
		return err
	}
	if !nameUses[use] {
		return errInvalidValue(use, field+"/use")
	}
	family, _, err := str(o, "family", field, true)
	if err != nil {
		return err
	}
	if utf8.RuneCountInString(family) > 35 {
		return errInvalidValue(family, field+"/family")
	}
	if err := checkNameText(family, field+"/family"); err != nil {
		return err
	}
	given, err := stringList(o, "given", field)
	if err != nil {
		return err
	}
	if len(given) > 5 {
		return errTooManyValues(field + "/given")
	}
	for i, g := range given {
		f := fmt.Sprintf("%s/given/%d", field, i)
		if utf8.RuneCountInString(g) > 35 {
			return errInvalidValue(g, f)
		}
		if err := checkNameText(g, f); err != nil {
			return err
		}
	}
	for _, key := range []string{"prefix", "suffix"} {
		l, err := stringList(o, key, field)
		if err != nil {
			return err
		}
		for i, s := range l {
			f := fmt.Sprintf("%s/%s/%d", field, key, i)
			if err := checkNameText(s, f); err != nil {
				return err
			}
			if key == "suffix" && (s == "" || s[0] < 'A' || s[0] > 'Z') {
				return errInvalidValue(s, f)
			}
		}
	}
	if p, ok := o.get("period"); ok {
		return v.period(p, field+"/period")
	}
	return nil
}

// countUse counts the items of a list whose use is use.
func countUse(l []any, use string) int {
	n := 0
	for _, e := range l {
		if o, ok := e.(*object); ok && o.m["use"] == use {
			n++
		}
	}
	return n
}

// byID finds the item with an object id.
func byID(l []any, id any) *object {
	if id == nil {
		return nil
	}
	for _, e := range l {
		if o, ok := e.(*object); ok && equalJSON(o.m["id"], id) {
			return o
		}
	}
	return nil
}

func (v *validator) names(a, b any, ha, hb bool) *apiError {
	before, _ := a.([]any)
	now, err := list("name", b, hb)
	if err != nil {
		return err
	}
	for _, i := range changedItems(before, now) {
		if err := v.name(now[i], fmt.Sprintf("name/%d", i)); err != nil {
			return err
		}
		o := now[i].(*object)
		if old := byID(before, o.m["id"]); old != nil && !equalJSON(old.m["use"], o.m["use"]) {
			return errInvalidUpdate(fmt.Sprintf("the use of name '%s' cannot be changed from '%s' to '%s': remove it and add a new name",
				jsonString(o.m["id"]), jsonString(old.m["use"]), jsonString(o.m["use"])))
		}
	}
	if n := countUse(now, "usual"); n > 1 && n > countUse(before, "usual") {
		return errForbiddenUpdate("multiple usual names cannot be added")
	}
	if n := countUse(now, "nickname"); n > 1 && n > countUse(before, "nickname") {
		return errInvalidUpdate("multiple nicknames cannot be added")
	}
	if countUse(before, "usual") > 0 && countUse(now, "usual") == 0 {
		return errForbiddenUpdate("not permitted to remove usual name") // the sandbox's answer
	}
	if hb && len(now) == 0 {
		return errTooFewValues("name")
	}
	return nil
}

func (v *validator) gender(a, b any, ha, hb bool) *apiError {
	if !hb {
		return errForbiddenUpdate("source not permitted to remove 'gender'") // the sandbox's answer
	}
	g, ok := b.(string)
	if !ok {
		return errValidation(fmt.Sprintf("'gender' must be a string, not %s", jsonType(b)))
	}
	switch g {
	case "male", "female", "unknown":
		return nil
	case "other":
		return errUnsupportedValue(g, "gender")
	}
	return errInvalidValue(g, "gender")
}

func (v *validator) birthDate(a, b any, ha, hb bool) *apiError {
	if !hb {
		return errForbiddenUpdate("source not permitted to remove 'birthDate'") // the sandbox's answer
	}
	d, ok := b.(string)
	if !ok {
		return errValidation(fmt.Sprintf("'birthDate' must be a string, not %s", jsonType(b)))
	}
	if !validDate(d) {
		return errInvalidValue(d, "birthDate")
	}
	if d > v.today {
		return errInvalidUpdate(fmt.Sprintf("the date of birth '%s' is in the future", d))
	}
	return nil
}

func (v *validator) multipleBirth(a, b any, ha, hb bool) *apiError {
	if !hb {
		return nil
	}
	n, ok := b.(json.Number)
	if !ok {
		return errValidation(fmt.Sprintf("'multipleBirthInteger' must be an integer, not %s", jsonType(b)))
	}
	i, err := n.Int64()
	if err != nil || i < 1 || i > 9 {
		return errInvalidValue(n.String(), "multipleBirthInteger")
	}
	return nil
}

// deceased: the date of death, once set, cannot be changed or removed by
// most users (FORBIDDEN_UPDATE in the specification's error table).
func (v *validator) deceased(a, b any, ha, hb bool) *apiError {
	if ha {
		return errForbiddenUpdate("the date of death cannot be changed or removed once it has been set")
	}
	d, ok := b.(string)
	if !ok {
		return errValidation(fmt.Sprintf("'deceasedDateTime' must be a string, not %s", jsonType(b)))
	}
	if !deceasedPattern.MatchString(d) || !validDate(d[:10]) {
		return errInvalidValue(d, "deceasedDateTime")
	}
	if d[:10] > v.today {
		return errInvalidUpdate(fmt.Sprintf("the date of death '%s' is in the future", d))
	}
	return nil
}

var addressUses = map[string]bool{"home": true, "work": true, "temp": true, "billing": true}

func (v *validator) addresses(a, b any, ha, hb bool) *apiError {
	before, _ := a.([]any)
	now, err := list("address", b, hb)
	if err != nil {
		return err
	}
	for _, i := range changedItems(before, now) {
		field := fmt.Sprintf("address/%d", i)
		o, err := asObject(now[i], field)
		if err != nil {
			return err
		}
		use, _, err := str(o, "use", field, true)
		if err != nil {
			return err
		}
		switch {
		case !addressUses[use]:
			return errInvalidValue(use, field+"/use")
		case use == "work":
			return errUnsupportedValue(use, field+"/use")
		}
		if _, _, err := str(o, "id", field, false); err != nil {
			return err
		}
		if _, _, err := str(o, "postalCode", field, false); err != nil {
			return err
		}
		lines, err := stringList(o, "line", field)
		if err != nil {
			return err
		}
		if len(lines) > 5 {
			return errTooManyValues(field + "/line")
		}
		text, _, err := str(o, "text", field, false)
		if err != nil {
			return err
		}
		if use == "temp" && !tempAddressTexts[text] {
			return errInvalidValue(text, field+"/text")
		}
		p, hasPeriod := o.get("period")
		if use == "temp" || use == "billing" {
			po, isObj := p.(*object)
			if !hasPeriod || !isObj || po.m["start"] == nil || po.m["end"] == nil {
				return errInvalidUpdate(fmt.Sprintf("a '%s' address needs a period with a start and an end date ('%s/period')", use, field))
			}
		}
		if hasPeriod {
			if err := v.period(p, field+"/period"); err != nil {
				return err
			}
		}
		if e, ok := o.get("extension"); ok {
			if _, isList := e.([]any); !isList {
				return errValidation(fmt.Sprintf("'%s/extension' must be a list, not %s", field, jsonType(e)))
			}
		}
	}
	for _, use := range []string{"home", "temp", "billing"} {
		if n := countUse(now, use); n > 1 && n > countUse(before, use) {
			return errInvalidUpdate(fmt.Sprintf("cannot add more than one '%s' address", use))
		}
	}
	return nil
}

var (
	telecomSystems = map[string]bool{"phone": true, "fax": true, "email": true, "other": true}
	telecomUses    = map[string]bool{"home": true, "work": true, "temp": true, "mobile": true}
)

// contactPoint checks a telecom; inContact applies the emergency contact
// rules (no use, no fax, no period).
func (v *validator) contactPoint(e any, field string, inContact bool) *apiError {
	o, err := asObject(e, field)
	if err != nil {
		return err
	}
	system, _, err := str(o, "system", field, true)
	if err != nil {
		return err
	}
	if !telecomSystems[system] {
		return errInvalidValue(system, field+"/system")
	}
	value, _, err := str(o, "value", field, true)
	if err != nil {
		return err
	}
	if system == "email" && (len(value) <= 6 || len(value) >= 90 || !emailPattern.MatchString(value)) {
		return errInvalidValue(value, field+"/value")
	}
	use, hasUse, err := str(o, "use", field, false)
	if err != nil {
		return err
	}
	if inContact {
		switch {
		case hasUse:
			return errInvalidUpdate(fmt.Sprintf("an emergency contact's telecom has no use ('%s/use')", field))
		case system == "fax":
			return errInvalidValue(system, field+"/system")
		}
		if _, ok := o.get("period"); ok {
			return errInvalidUpdate(fmt.Sprintf("the period of an emergency contact belongs on the contact, not on its telecom ('%s/period')", field))
		}
		return nil
	}
	if hasUse && !telecomUses[use] {
		return errInvalidValue(use, field+"/use")
	}
	if p, ok := o.get("period"); ok {
		return v.period(p, field+"/period")
	}
	return nil
}

func (v *validator) telecoms(a, b any, ha, hb bool) *apiError {
	before, _ := a.([]any)
	now, err := list("telecom", b, hb)
	if err != nil {
		return err
	}
	for _, i := range changedItems(before, now) {
		field := fmt.Sprintf("telecom/%d", i)
		if err := v.contactPoint(now[i], field, false); err != nil {
			return err
		}
		o := now[i].(*object)
		if old := byID(before, o.m["id"]); old != nil &&
			(!equalJSON(old.m["system"], o.m["system"]) || !equalJSON(old.m["use"], o.m["use"])) {
			return errInvalidUpdate(fmt.Sprintf("a replaced telecom keeps its system and use ('%s'): remove it and add a new one", field))
		}
	}
	return nil
}

func (v *validator) contacts(a, b any, ha, hb bool) *apiError {
	before, _ := a.([]any)
	now, err := list("contact", b, hb)
	if err != nil {
		return err
	}
	for _, i := range changedItems(before, now) {
		field := fmt.Sprintf("contact/%d", i)
		o, err := asObject(now[i], field)
		if err != nil {
			return err
		}
		if err := onlyKeys(o, "id", "period", "relationship", "telecom"); err != nil {
			return err
		}
		rv, ok := o.get("relationship")
		if !ok {
			return errValidation(fmt.Sprintf("Missing value - '%s/relationship'", field))
		}
		rels, isList := rv.([]any)
		switch {
		case !isList:
			return errValidation(fmt.Sprintf("'%s/relationship' must be a list, not %s", field, jsonType(rv)))
		case len(rels) == 0:
			return errTooFewValues(field + "/relationship")
		case len(rels) > 1:
			return errTooManyValues(field + "/relationship")
		}
		if code := firstCode(rels[0]); code != "C" {
			return errInvalidValue(code, field+"/relationship/0/coding/0/code")
		}
		tv, ok := o.get("telecom")
		if !ok {
			return errValidation(fmt.Sprintf("Missing value - '%s/telecom'", field))
		}
		tels, isList := tv.([]any)
		if !isList {
			return errValidation(fmt.Sprintf("'%s/telecom' must be a list, not %s", field, jsonType(tv)))
		}
		for j, t := range tels {
			if err := v.contactPoint(t, fmt.Sprintf("%s/telecom/%d", field, j), true); err != nil {
				return err
			}
		}
		if p, ok := o.get("period"); ok {
			if err := v.period(p, field+"/period"); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstCode returns coding[0].code of a CodeableConcept, or "".
func firstCode(cc any) string {
	o, _ := cc.(*object)
	if o == nil {
		return ""
	}
	codings, _ := o.m["coding"].([]any)
	if len(codings) == 0 {
		return ""
	}
	c, _ := codings[0].(*object)
	if c == nil {
		return ""
	}
	s, _ := c.m["code"].(string)
	return s
}

// organisation checks an ODS organisation reference; noEnd forbids a
// period end (general practice).
func (v *validator) organisation(e any, field string, noEnd bool) *apiError {
	o, err := asObject(e, field)
	if err != nil {
		return err
	}
	iv, ok := o.get("identifier")
	if !ok {
		return errValidation(fmt.Sprintf("Missing value - '%s/identifier'", field))
	}
	ident, err := asObject(iv, field+"/identifier")
	if err != nil {
		return err
	}
	code, _, err := str(ident, "value", field+"/identifier", true)
	if err != nil {
		return err
	}
	if !odsPattern.MatchString(code) {
		return errInvalidValue(code, field+"/identifier/value")
	}
	if p, ok := ident.get("period"); ok {
		if po, isObj := p.(*object); isObj && noEnd && po.m["end"] != nil {
			return errInvalidUpdate(fmt.Sprintf("a general practice has no period end date ('%s/identifier/period/end')", field))
		}
		return v.period(p, field+"/identifier/period")
	}
	return nil
}

func (v *validator) generalPractitioners(a, b any, ha, hb bool) *apiError {
	before, _ := a.([]any)
	now, err := list("generalPractitioner", b, hb)
	if err != nil {
		return err
	}
	if len(now) > 1 {
		return errTooManyValues("generalPractitioner")
	}
	for _, i := range changedItems(before, now) {
		if err := v.organisation(now[i], fmt.Sprintf("generalPractitioner/%d", i), true); err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) managingOrganization(a, b any, ha, hb bool) *apiError {
	if !hb {
		return nil
	}
	return v.organisation(b, "managingOrganization", false)
}

// extensionByURL finds the extension with url in a list.
func extensionByURL(l []any, url string) *object {
	for _, e := range l {
		if o, ok := e.(*object); ok && o.m["url"] == url {
			return o
		}
	}
	return nil
}

// subExtension finds a sub-extension by url.
func subExtension(ext *object, url string) *object {
	if ext == nil {
		return nil
	}
	l, _ := ext.m["extension"].([]any)
	return extensionByURL(l, url)
}

// deathStatus returns the death notification status code, or "".
func deathStatus(ext *object) string {
	s := subExtension(ext, "deathNotificationStatus")
	if s == nil {
		return ""
	}
	return firstCode(s.m["valueCodeableConcept"])
}

func (v *validator) extensions(a, b any, ha, hb bool) *apiError {
	before, _ := a.([]any)
	now, err := list("extension", b, hb)
	if err != nil {
		return err
	}
	for _, i := range changedItems(before, now) {
		field := fmt.Sprintf("extension/%d", i)
		o, err := asObject(now[i], field)
		if err != nil {
			return err
		}
		url, _, err := str(o, "url", field, true)
		if err != nil {
			return err
		}
		if !patientExtensions[url] {
			return errInvalidValue(url, field+"/url")
		}
		if e, ok := o.get("extension"); ok {
			if _, isList := e.([]any); !isList {
				return errValidation(fmt.Sprintf("'%s/extension' must be a list, not %s", field, jsonType(e)))
			}
		}
		switch url {
		case extCommunication:
			if lang := subExtension(o, "language"); lang != nil && firstCode(lang.m["valueCodeableConcept"]) == "en" {
				return errInvalidValue("en", field+"/extension/language")
			}
		case extContactPreference:
			if t := subExtension(o, "PreferredContactTimes"); t != nil {
				if s, _ := t.m["valueString"].(string); utf8.RuneCountInString(s) > 40 {
					return errInvalidValue(s, field+"/extension/PreferredContactTimes")
				}
				if subExtension(o, "PreferredContactMethod") == nil {
					return errInvalidUpdate(fmt.Sprintf("a preferred contact time needs a preferred contact method ('%s')", field))
				}
			}
		}
	}
	for url := range patientExtensions {
		n, m := 0, 0
		for _, e := range now {
			if o, ok := e.(*object); ok && o.m["url"] == url {
				n++
			}
		}
		for _, e := range before {
			if o, ok := e.(*object); ok && o.m["url"] == url {
				m++
			}
		}
		if n > 1 && n > m {
			return errTooManyValues("extension '" + url + "'")
		}
	}

	oldDN, newDN := extensionByURL(before, extDeathNotification), extensionByURL(now, extDeathNotification)
	switch {
	case oldDN != nil && deathStatus(oldDN) == "2" && !equalJSON(oldDN, newDN):
		return errForbiddenUpdate("a formal death notification (status 2) cannot be replaced or removed")
	case oldDN != nil && newDN == nil:
		return errInvalidUpdate("the death notification cannot be removed")
	case newDN != nil && !equalJSON(oldDN, newDN):
		switch code := deathStatus(newDN); code {
		case "1":
		case "2":
			return errForbiddenUpdate("only certain systems can set a formal death notification (status 2)")
		case "U":
			return errUnsupportedValue(code, "extension/deathNotificationStatus")
		default:
			return errInvalidValue(code, "extension/deathNotificationStatus")
		}
	}
	return nil
}

// crossField applies the rules between members: the date of death and the
// death notification come together, and death is not before birth.
func (v *validator) crossField() *apiError {
	oldExt, _ := v.orig.m["extension"].([]any)
	newExt, _ := v.doc.m["extension"].([]any)
	_, hadDeath := v.orig.get("deceasedDateTime")
	death, hasDeath := v.doc.m["deceasedDateTime"].(string)
	hadDN := extensionByURL(oldExt, extDeathNotification) != nil
	hasDN := extensionByURL(newExt, extDeathNotification) != nil
	if hasDeath && !hadDeath && !hasDN {
		return errInvalidUpdate("a death notification status must be added with the date of death")
	}
	if hasDN && !hadDN && !hasDeath {
		return errInvalidUpdate("a date of death must be added with the death notification")
	}
	birth, hasBirth := v.doc.m["birthDate"].(string)
	if hasBirth && hasDeath && len(death) >= 10 && validDate(birth) && death[:10] < birth {
		changed := !equalJSON(v.orig.m["birthDate"], birth) || !hadDeath
		if changed {
			return errInvalidUpdate(fmt.Sprintf("the date of death '%s' is before the date of birth '%s'", death, birth))
		}
	}
	return nil
}

// completeNewItems does what PDS does with the items an update added:
// gives each an object id, and today's date as its period start when it has
// none ("when adding a new value ... if a period is not provided, today's
// date will be applied as the start date"); trailing full stops are removed
// from the prefixes of new or changed names ("Mrs." becomes "Mrs"). A list
// left empty is dropped, as FHIR has no empty lists.
func completeNewItems(orig, doc *object, nhs string, version int, now time.Time) {
	today := now.UTC().Format(time.DateOnly)
	for field := range baseLists {
		if l, ok := doc.m[field].([]any); ok && len(l) == 0 {
			doc.del(field)
		}
	}
	for _, field := range []string{"name", "address", "telecom", "contact"} {
		before, _ := orig.m[field].([]any)
		items, _ := doc.m[field].([]any)
		for _, i := range changedItems(before, items) {
			o, ok := items[i].(*object)
			if !ok {
				continue
			}
			if _, has := o.get("id"); !has {
				o.prepend("id", newObjectID(nhs, version, field, i, items))
				if _, has := o.get("period"); !has {
					p := newObject()
					p.set("start", today)
					o.set("period", p)
				}
			}
			if field == "name" {
				if l, ok := o.m["prefix"].([]any); ok {
					for j, e := range l {
						if s, ok := e.(string); ok {
							l[j] = strings.TrimRight(s, ".")
						}
					}
				}
			}
		}
	}
}

// newObjectID makes an 8-character object id, like PDS's "507B7621",
// unique within items.
func newObjectID(nhs string, version int, field string, i int, items []any) string {
	for salt := 0; ; salt++ {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s/%d/%s/%d/%d", nhs, version, field, i, salt)
		id := fmt.Sprintf("%08X", h.Sum32())
		if byID(items, id) == nil {
			return id
		}
	}
}
