package resources

import (
	"context"

	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"
	patientpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	cpismap "github.com/carerecords/fhir-facade/mappers/cpis"
	fgmmap "github.com/carerecords/fhir-facade/mappers/fgm"
	immmap "github.com/carerecords/fhir-facade/mappers/immunisation"
	ovmmap "github.com/carerecords/fhir-facade/mappers/ovm"
	pdsmap "github.com/carerecords/fhir-facade/mappers/pds"
	ramap "github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

var (
	_ Compartmented = (*Patient)(nil)
	_ Compartmented = (*Flag)(nil)
	_ Compartmented = (*Immunization)(nil)
)

// PatientOfID implements Compartmented: a Patient's id is its NHS number.
func (*Patient) PatientOfID(id string) (string, bool) {
	return id, nhsnumber.Valid(id)
}

// PatientsOf implements Compartmented: a Patient sent for an update or a
// patch is the patient its id names. A Patient sent to be created belongs
// to nobody yet, whatever id it carries: the server refuses such a create
// from a patient-bound token.
func (*Patient) PatientsOf(msg proto.Message) []string {
	p, ok := msg.(*patientpb.Patient)
	if !ok || p.GetId() == nil {
		return nil
	}
	return []string{p.GetId().GetValue()}
}

// CurrentNHSNumber returns the NHS number of the record PDS answers nhs
// with: another one when nhs was superseded (merged into it).
func (p *Patient) CurrentNHSNumber(ctx context.Context, nhs string) (string, error) {
	res, err := p.readShared(ctx, nhs)
	if err != nil {
		return "", err
	}
	return res.ID, nil
}

// Restricted reports whether PDS restricts the record of nhs (a sensitive
// patient, whose location must never be disclosed).
func (p *Patient) Restricted(ctx context.Context, nhs string) (bool, error) {
	res, err := p.readShared(ctx, nhs)
	if err != nil {
		return false, err
	}
	return RestrictedPatient(res), nil
}

// readShared reads nhs once per request share (WithShare): the questions a
// request asks PDS about one patient cost one read.
func (p *Patient) readShared(ctx context.Context, nhs string) (*Resource, error) {
	return shared(ctx, "patient-read/"+nhs, func(ctx context.Context) (*Resource, error) { return p.Read(ctx, nhs) })
}

// RestrictedPatient reports whether res is a Patient PDS restricts, by the
// rule the PDS mapper strips it by (pdsmap.RestrictedLabel).
func RestrictedPatient(res *Resource) bool {
	pt, ok := res.Message.(*patientpb.Patient)
	if !ok {
		return false
	}
	for _, c := range pt.GetMeta().GetSecurity() {
		if pdsmap.RestrictedLabel(c.GetSystem().GetValue(), c.GetCode().GetValue()) {
			return true
		}
	}
	return false
}

// flagIDParsers read the NHS number every kind of facade Flag id carries.
var flagIDParsers = []func(string) (string, bool){
	ramap.ParseFlagID, cpismap.ParseFlagID, fgmmap.ParseFlagID, ovmmap.ParseFlagID,
}

// PatientOfID implements Compartmented: every facade Flag id carries the
// patient's NHS number (the flag services are asked by patient).
func (*Flag) PatientOfID(id string) (string, bool) {
	for _, parse := range flagIDParsers {
		if nhs, ok := parse(id); ok {
			return nhs, true
		}
	}
	return "", false
}

// PatientsOf implements Compartmented: the subject of a Flag as RA writes
// it, in each of the forms ramap.Subject accepts (reference, absolute
// reference or NHS number identifier). A subject that is none of these
// names no patient (and the write would be refused as unprocessable).
func (*Flag) PatientsOf(msg proto.Message) []string {
	f, ok := msg.(*flagpb.Flag)
	if !ok {
		return nil
	}
	nhs, err := ramap.Subject(f)
	if err != nil {
		return nil
	}
	return []string{nhs}
}

// PatientOfID implements Compartmented: an Immunization id starts with the
// patient's NHS number.
func (*Immunization) PatientOfID(id string) (string, bool) { return immmap.ParseID(id) }

// PatientsOf implements Compartmented: Immunizations are not written.
func (*Immunization) PatientsOf(proto.Message) []string { return nil }
