package resources

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/backends/bna"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/model/request"
)

// TypeOperation is a FHIR operation invoked on a resource type with a
// Parameters body, that creates one resource: POST [base]/[type]/$[name],
// answered 201 with the resource, Location and ETag.
// See: http://hl7.org/fhir/R4/operations.html
type TypeOperation struct {
	// Name without the '$', e.g. "notify-birth".
	Name string
	// Definition is served as [base]/OperationDefinition/[Definition.ID].
	Definition OperationDefinition
	// Run performs the operation. body is the request's Parameters resource
	// as sent (JSON, already checked against the R4 schema by the server).
	Run func(ctx context.Context, body []byte) (*Resource, error)
}

// TypeOperator is implemented by providers with type-level operations that
// create resources (the server checks auth.CreateOperation on the type).
type TypeOperator interface {
	TypeOperations() []TypeOperation
}

// BNAClient is what birth notification needs from the birth notification
// service.
type BNAClient interface {
	Notify(ctx context.Context, n bna.Notification) (*bna.Result, error)
}

// UseBirthNotifications lets the Patient provider serve
// Patient/$notify-birth through c (nil: the operation is not offered).
func (p *Patient) UseBirthNotifications(c BNAClient) { p.bna = c }

var _ TypeOperator = (*Patient)(nil)

// TypeOperations implements TypeOperator: $notify-birth, when a birth
// notification service is configured.
func (p *Patient) TypeOperations() []TypeOperation {
	if p.bna == nil {
		return nil
	}
	return []TypeOperation{{Name: "notify-birth", Definition: notifyBirthDefinition, Run: p.notifyBirth}}
}

// The parameters of $notify-birth.
const (
	ParamMother         = "mother-nhs-number"
	ParamSex            = "baby-sex"
	ParamBirthDateTime  = "birth-date-time"
	ParamBirthOrder     = "birth-order"
	ParamNumberOfBabies = "number-of-babies"
	ParamBirthWeight    = "birth-weight"
	ParamPlaceOfBirth   = "place-of-birth"
)

const odsSystem = "https://fhir.nhs.uk/Id/ods-organization-code"

var notifyBirthDefinition = OperationDefinition{
	ID:    "Patient-notify-birth",
	Name:  "PatientNotifyBirth",
	Title: "Notify a birth: the baby's NHS number and PDS record",
	Description: "A maternity unit notifies a birth to the national birth notification service, which allocates the baby's " +
		"NHS number and creates its PDS record (the mother's family name, no given name yet, a contact linking the mother). " +
		"Answers 201 with the baby's Patient as PDS holds it, Location and ETag. The request's X-Request-ID is the " +
		"idempotency key: resending the same request with the same X-Request-ID returns the same baby, never a second; " +
		"a different notification (a correction) under an X-Request-ID already used is 409 and must be sent with a new one. " +
		"The same mother, birth time and birth order under another X-Request-ID is 409 (duplicate); an unknown mother 404; " +
		"an invalid parameter 400 naming it. The notifying professional is the caller (token subject and organisation). " +
		"Clinical practitioners, nurses/midwives and health professionals only (user/Patient.c). Not PDS's POST /Patient, " +
		"which must not be used for births.",
	Resource:     "Patient",
	Code:         "notify-birth",
	Type:         true,
	AffectsState: true,
	Parameters: []OperationParameter{
		{Name: ParamMother, Use: "in", Min: 1, Max: "1", Type: "Identifier", Documentation: "The mother's NHS number (system https://fhir.nhs.uk/Id/nhs-number); valueString also accepted."},
		{Name: ParamSex, Use: "in", Min: 1, Max: "1", Type: "code", Documentation: "male | female | unknown."},
		{Name: ParamBirthDateTime, Use: "in", Min: 1, Max: "1", Type: "dateTime", Documentation: "Date and time of birth, to the second at least, with a time zone; not in the future."},
		{Name: ParamBirthOrder, Use: "in", Min: 1, Max: "1", Type: "positiveInt", Documentation: "Place of the baby in a multiple birth (1 for a single birth)."},
		{Name: ParamNumberOfBabies, Use: "in", Min: 1, Max: "1", Type: "positiveInt", Documentation: "How many babies were born (1 to 9)."},
		{Name: ParamBirthWeight, Use: "in", Min: 1, Max: "1", Type: "Quantity", Documentation: "Birth weight, UCUM g or kg (http://unitsofmeasure.org); valuePositiveInt in grams also accepted."},
		{Name: ParamPlaceOfBirth, Use: "in", Min: 1, Max: "1", Type: "Identifier", Documentation: "ODS code of the maternity unit (system https://fhir.nhs.uk/Id/ods-organization-code); valueString also accepted."},
		{Name: "return", Use: "out", Min: 1, Max: "1", Type: "Patient", Documentation: "The baby's Patient as PDS now holds it."},
	},
}

// Birth is a birth notification read from $notify-birth's Parameters.
type Birth struct {
	MotherNHSNumber  string
	Sex              string
	BirthDateTime    time.Time
	BirthOrder       int
	NumberOfBabies   int
	BirthWeightGrams int
	PlaceOfBirthODS  string
}

var odsCode = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)

// paramValue is the part of a Parameters.parameter the operation reads.
type paramValue struct {
	Name             string           `json:"name"`
	ValueString      *string          `json:"valueString"`
	ValueCode        *string          `json:"valueCode"`
	ValueDateTime    *string          `json:"valueDateTime"`
	ValueInstant     *string          `json:"valueInstant"`
	ValuePositiveInt *json.Number     `json:"valuePositiveInt"`
	ValueInteger     *json.Number     `json:"valueInteger"`
	ValueIdentifier  *paramIdentifier `json:"valueIdentifier"`
	ValueQuantity    *paramQuantity   `json:"valueQuantity"`
	Part             json.RawMessage  `json:"part"`
	Resource         json.RawMessage  `json:"resource"`
}

type paramIdentifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type paramQuantity struct {
	Value  *json.Number `json:"value"`
	System string       `json:"system"`
	Code   string       `json:"code"`
	Unit   string       `json:"unit"`
}

// dateTimeWithZone is a FHIR dateTime to the second at least, with a zone.
var dateTimeWithZone = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`)

// ParseBirthParameters reads $notify-birth's Parameters resource. Every
// parameter is required once; unknown parameters are refused. Errors are
// *fhirerr.Error of category Invalid (Required for a missing parameter)
// whose Expression names the parameter
// (Parameters.parameter.where(name='birth-order')). now bounds the birth
// time: not in the future (a minute's clock skew allowed), not over a year
// ago.
func ParseBirthParameters(body []byte, now time.Time) (*Birth, error) {
	var doc struct {
		ResourceType string       `json:"resourceType"`
		Parameter    []paramValue `json:"parameter"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Message: "the body is not a Parameters resource"}
	}
	if doc.ResourceType != "Parameters" {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "resourceType", Message: "the body must be a Parameters resource"}
	}
	byName := map[string]paramValue{}
	for _, p := range doc.Parameter {
		switch p.Name {
		case ParamMother, ParamSex, ParamBirthDateTime, ParamBirthOrder, ParamNumberOfBabies, ParamBirthWeight, ParamPlaceOfBirth:
		default:
			return nil, paramErr(fhirerr.Invalid, p.Name, "is not a parameter of $notify-birth")
		}
		if _, dup := byName[p.Name]; dup {
			return nil, paramErr(fhirerr.Invalid, p.Name, "is given more than once")
		}
		if len(p.Part) > 0 || len(p.Resource) > 0 {
			return nil, paramErr(fhirerr.Invalid, p.Name, "takes a value, not parts or a resource")
		}
		byName[p.Name] = p
	}
	for _, d := range notifyBirthDefinition.Parameters {
		if _, ok := byName[d.Name]; !ok && d.Use == "in" {
			return nil, paramErr(fhirerr.Required, d.Name, "is required")
		}
	}
	b := &Birth{}
	var err error
	if b.MotherNHSNumber, err = identifierParam(byName[ParamMother], nhsnumber.System); err != nil {
		return nil, err
	}
	if !nhsnumber.Valid(b.MotherNHSNumber) {
		return nil, paramErr(fhirerr.Invalid, ParamMother, "must be a valid NHS number (10 digits with a correct check digit)")
	}

	sex := byName[ParamSex]
	switch {
	case sex.ValueCode == nil:
		return nil, paramErr(fhirerr.Invalid, ParamSex, "takes valueCode")
	case *sex.ValueCode == "male", *sex.ValueCode == "female", *sex.ValueCode == "unknown":
		b.Sex = *sex.ValueCode
	default:
		return nil, paramErr(fhirerr.Invalid, ParamSex, "must be male, female or unknown")
	}

	dt := byName[ParamBirthDateTime]
	v := dt.ValueDateTime
	if v == nil {
		v = dt.ValueInstant
	}
	if v == nil || !dateTimeWithZone.MatchString(*v) {
		return nil, paramErr(fhirerr.Invalid, ParamBirthDateTime, "takes a valueDateTime to the second with a time zone, e.g. 2026-11-25T09:30:00Z")
	}
	if b.BirthDateTime, err = time.Parse(time.RFC3339Nano, *v); err != nil {
		return nil, paramErr(fhirerr.Invalid, ParamBirthDateTime, "is not a valid date and time")
	}
	if b.BirthDateTime.After(now.Add(time.Minute)) {
		return nil, paramErr(fhirerr.Invalid, ParamBirthDateTime, "is in the future")
	}
	if b.BirthDateTime.Before(now.AddDate(-1, 0, 0)) {
		return nil, paramErr(fhirerr.Invalid, ParamBirthDateTime, "is more than a year ago: late registrations are not notified")
	}

	if b.NumberOfBabies, err = intParam(byName[ParamNumberOfBabies], 1, 9); err != nil {
		return nil, err
	}
	if b.BirthOrder, err = intParam(byName[ParamBirthOrder], 1, 9); err != nil {
		return nil, err
	}
	if b.BirthOrder > b.NumberOfBabies {
		return nil, paramErr(fhirerr.Invalid, ParamBirthOrder, "is greater than number-of-babies")
	}
	if b.BirthWeightGrams, err = weightParam(byName[ParamBirthWeight]); err != nil {
		return nil, err
	}
	if b.PlaceOfBirthODS, err = identifierParam(byName[ParamPlaceOfBirth], odsSystem); err != nil {
		return nil, err
	}
	b.PlaceOfBirthODS = strings.ToUpper(b.PlaceOfBirthODS)
	if !odsCode.MatchString(b.PlaceOfBirthODS) {
		return nil, paramErr(fhirerr.Invalid, ParamPlaceOfBirth, "must be an ODS code")
	}
	return b, nil
}

func paramErr(c fhirerr.Category, name, msg string) error {
	safe := name
	if len(safe) > 40 || strings.ContainsAny(safe, "'\"\\<>") {
		safe = "(a parameter)"
	}
	return &fhirerr.Error{Category: c, Expression: "Parameters.parameter.where(name='" + safe + "')", Message: "$notify-birth: " + safe + " " + msg}
}

func identifierParam(p paramValue, system string) (string, error) {
	switch {
	case p.ValueIdentifier != nil:
		if p.ValueIdentifier.System != "" && p.ValueIdentifier.System != system {
			return "", paramErr(fhirerr.Invalid, p.Name, "must have the identifier system "+system)
		}
		return strings.TrimSpace(p.ValueIdentifier.Value), nil
	case p.ValueString != nil:
		return strings.TrimSpace(*p.ValueString), nil
	}
	return "", paramErr(fhirerr.Invalid, p.Name, "takes valueIdentifier (system "+system+") or valueString")
}

func intParam(p paramValue, lo, hi int) (int, error) {
	v := p.ValuePositiveInt
	if v == nil {
		v = p.ValueInteger
	}
	if v == nil {
		return 0, paramErr(fhirerr.Invalid, p.Name, "takes valuePositiveInt")
	}
	n, err := v.Int64()
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, paramErr(fhirerr.Invalid, p.Name, "must be a whole number from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return int(n), nil
}

// weightParam reads a birth weight in grams: a UCUM Quantity in g or kg,
// or a positiveInt of grams; 100 g to 10 kg.
func weightParam(p paramValue) (int, error) {
	var grams float64
	switch {
	case p.ValueQuantity != nil && p.ValueQuantity.Value != nil:
		q := p.ValueQuantity
		v, err := q.Value.Float64()
		if err != nil {
			return 0, paramErr(fhirerr.Invalid, p.Name, "has no numeric value")
		}
		if q.System != "" && q.System != "http://unitsofmeasure.org" {
			return 0, paramErr(fhirerr.Invalid, p.Name, "must be in UCUM units (http://unitsofmeasure.org)")
		}
		unit := q.Code
		if unit == "" {
			unit = q.Unit
		}
		switch unit {
		case "g":
			grams = v
		case "kg":
			grams = v * 1000
		default:
			return 0, paramErr(fhirerr.Invalid, p.Name, "must be in g or kg")
		}
	case p.ValuePositiveInt != nil:
		v, err := p.ValuePositiveInt.Float64()
		if err != nil {
			return 0, paramErr(fhirerr.Invalid, p.Name, "is not a number")
		}
		grams = v
	default:
		return 0, paramErr(fhirerr.Invalid, p.Name, "takes valueQuantity (g or kg)")
	}
	if math.IsNaN(grams) || grams < 100 || grams > 10000 {
		return 0, paramErr(fhirerr.Invalid, p.Name, "must be from 100 g to 10 kg")
	}
	return int(math.Round(grams)), nil
}

// bnaFields maps the service's field names to the operation's parameters.
var bnaFields = map[string]string{
	"motherNhsNumber":       ParamMother,
	"baby.sex":              ParamSex,
	"baby.birthDateTime":    ParamBirthDateTime,
	"baby.birthOrder":       ParamBirthOrder,
	"baby.numberOfBabies":   ParamNumberOfBabies,
	"baby.birthWeightGrams": ParamBirthWeight,
	"placeOfBirthOds":       ParamPlaceOfBirth,
}

// notifyBirth runs $notify-birth: parse, notify the service (the caller as
// the notifying professional), then read the baby back from PDS.
func (p *Patient) notifyBirth(ctx context.Context, body []byte) (*Resource, error) {
	b, err := ParseBirthParameters(body, time.Now())
	if err != nil {
		return nil, err
	}
	by := bna.NotifiedBy{SDSUserID: "unknown", ODS: b.PlaceOfBirthODS}
	if pr := request.From(ctx).Caller; pr != nil {
		if pr.Subject != "" {
			by.SDSUserID = pr.Subject
		}
		if pr.OrgODS != "" {
			by.ODS = pr.OrgODS
		}
	}
	got, err := p.bna.Notify(ctx, bna.Notification{
		MotherNHSNumber: b.MotherNHSNumber,
		Baby: bna.Baby{Sex: b.Sex, BirthDateTime: b.BirthDateTime.Format(time.RFC3339Nano), BirthOrder: b.BirthOrder,
			NumberOfBabies: b.NumberOfBabies, BirthWeightGrams: b.BirthWeightGrams},
		PlaceOfBirthODS: b.PlaceOfBirthODS,
		NotifiedBy:      by,
	})
	if err != nil {
		if fe := fhirerr.As(err); fe != nil && fe.Backend == bna.Name && fe.Expression != "" {
			if name, ok := bnaFields[fe.Expression]; ok {
				fe.Expression = "Parameters.parameter.where(name='" + name + "')"
			} else {
				fe.Expression = ""
			}
		}
		if fhirerr.CategoryOf(err) == fhirerr.NotFound {
			return nil, &fhirerr.Error{Category: fhirerr.NotFound, Expression: "Parameters.parameter.where(name='" + ParamMother + "')",
				Backend: bna.Name, Message: "the mother has no record in PDS (" + ParamMother + ")", Err: err}
		}
		return nil, err
	}
	// The record was just made: read it from PDS itself, not a cache.
	ctx = request.WithNoCache(ctx)
	rec, err := p.pds.Read(ctx, got.NHSNumber)
	if err != nil {
		return nil, err
	}
	res, err := p.toResource(rec.Body, rec.Version, got.NHSNumber)
	if err != nil {
		return nil, err
	}
	// A service that answers a reused key with its first baby whatever was
	// sent must not make a correction look accepted: the baby has to be the
	// one notified, as far as PDS shows it.
	differs, err := p.babyDiffers(ctx, rec.Body, b)
	if err != nil {
		return nil, err
	}
	if len(differs) > 0 {
		return nil, bna.RequestIDReused(strings.Join(differs, ", "))
	}
	res.LastUpdated = time.Now().UTC().Truncate(time.Second)
	return res, nil
}

// birthTimeURL is the standard extension on Patient.birthDate that holds
// the time of birth.
const birthTimeURL = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"

// pdsBaby is what a baby's PDS record shows of its birth notification.
type pdsBaby struct {
	Gender           string `json:"gender"`
	BirthDate        string `json:"birthDate"`
	BirthDateElement struct {
		Extension []struct {
			URL           string `json:"url"`
			ValueDateTime string `json:"valueDateTime"`
		} `json:"extension"`
	} `json:"_birthDate"`
	MultipleBirthInteger *int `json:"multipleBirthInteger"`
	Contact              []struct {
		Extension []struct {
			URL             string `json:"url"`
			ValueIdentifier *struct {
				Value string `json:"value"`
			} `json:"valueIdentifier"`
		} `json:"extension"`
	} `json:"contact"`
}

// babyDiffers names the parameters of b that the baby's PDS record
// contradicts: sex, time (or else date) of birth, birth order, mother.
// What the record does not show (a restricted baby has no contact; weight
// and place of birth are not in PDS) is not compared, so only the service
// can refuse a correction of those. A mother's number that differs is
// accepted when PDS reads the notified mother as that record (she was
// superseded).
func (p *Patient) babyDiffers(ctx context.Context, body []byte, b *Birth) ([]string, error) {
	var rec pdsBaby
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, nil // toResource has read it; nothing here to compare
	}
	var differs []string
	if rec.Gender != "" && rec.Gender != b.Sex {
		differs = append(differs, ParamSex)
	}
	if !sameBirthTime(rec, b.BirthDateTime) {
		differs = append(differs, ParamBirthDateTime)
	}
	if rec.MultipleBirthInteger != nil && *rec.MultipleBirthInteger != b.BirthOrder {
		differs = append(differs, ParamBirthOrder)
	}
	var mothers []string
	for _, c := range rec.Contact {
		for _, e := range c.Extension {
			if e.URL == bna.MotherNHSNumberURL && e.ValueIdentifier != nil {
				mothers = append(mothers, e.ValueIdentifier.Value)
			}
		}
	}
	if len(mothers) > 0 && !slices.Contains(mothers, b.MotherNHSNumber) {
		m, err := p.pds.Read(ctx, b.MotherNHSNumber)
		if err != nil {
			return nil, err
		}
		var mother struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(m.Body, &mother) != nil || !slices.Contains(mothers, mother.ID) {
			differs = append(differs, ParamMother)
		}
	}
	return differs, nil
}

// sameBirthTime reports whether the record's time of birth is born, to the
// second; without a time, whether its birth date is born's day in England
// or in born's own offset. A record with neither cannot contradict.
func sameBirthTime(rec pdsBaby, born time.Time) bool {
	for _, e := range rec.BirthDateElement.Extension {
		if e.URL != birthTimeURL {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, e.ValueDateTime); err == nil {
			return t.Truncate(time.Second).Equal(born.Truncate(time.Second))
		}
	}
	if rec.BirthDate == "" {
		return true
	}
	return rec.BirthDate == born.In(england).Format(time.DateOnly) || rec.BirthDate == born.Format(time.DateOnly)
}
