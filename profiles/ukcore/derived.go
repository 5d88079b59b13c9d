package ukcore

// Derived rules: UK Core profiles, value sets and code systems whose
// published files are not embedded. What each differential states is written
// here by us, as data the checker consumes exactly as it consumes the
// embedded files (a rawSD's differential applied to the R4 base snapshot; a
// value set's compose expanded from the code systems), from reading the
// files named below in NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN (Apache-2.0
// per each resource's copyright element; SOURCES.md, "Derived"). Nothing
// here is a copy of those files: descriptions, short names and must-support
// flags, which are no validation rules, are left out.

const (
	ukcoreSD = "https://fhir.hl7.org.uk/StructureDefinition/"
	ukcoreVS = "https://fhir.hl7.org.uk/ValueSet/"
	ukcoreCS = "https://fhir.hl7.org.uk/CodeSystem/"
)

// derivedSource is where a derived definition was read.
type derivedSource struct {
	path, commit string
}

// derivedProfile is a derived profile with where it was read.
type derivedProfile struct {
	source derivedSource
	sd     rawSD
	// unchecked are rules the differential states that the checker does not
	// apply (AllChecks lists them, so nothing is dropped silently; Profile
	// is filled in from sd). Must-support flags are left out: they are no
	// validation rule.
	unchecked []Unchecked
}

func one(n int) *int { return &n }

// targetOrganization is the differential's restriction of references to
// UKCore-Organization, which the checker does not apply: a reference's
// target is another resource, which it does not resolve.
func targetOrganization(paths ...string) []Unchecked {
	out := make([]Unchecked, len(paths))
	for i, p := range paths {
		out[i] = Unchecked{Path: p, Rule: "reference target",
			Reason: "the target must be a " + ukcoreSD + "UKCore-Organization; references are not resolved"}
	}
	return out
}

func extensionSlice(id, profile string) rawElement {
	return rawElement{ID: id, Types: []typeRef{{code: "Extension", profiles: []string{profile}}}}
}

// derivedProfiles are UK Core RelatedPerson and Practitioner.
var derivedProfiles = []derivedProfile{
	{
		// Version 2.5.0, dated 2024-07-11: the edition of the same sprint as
		// the embedded AllergyIntolerance and MedicationStatement (2.5.0,
		// 2024-07-11).
		source: derivedSource{"structuredefinitions/UKCore-RelatedPerson.xml", "971d6f7e67f5ba1fc9f995af4b5347943b7c4677"},
		sd: rawSD{
			URL: ukcoreSD + "UKCore-RelatedPerson", Version: "2.5.0", Name: "UKCoreRelatedPerson",
			Type: "RelatedPerson", Kind: "resource", Base: r4Base + "RelatedPerson", Derivation: "constraint",
			Differential: []rawElement{
				extensionSlice("RelatedPerson.extension:contactPreference", ukcoreSD+"Extension-UKCore-ContactPreference"),
				extensionSlice("RelatedPerson.extension:copyCorrespondenceIndicator", ukcoreSD+"Extension-UKCore-CopyCorrespondenceIndicator"),
				{ID: "RelatedPerson.relationship", Binding: &binding{strength: "extensible", valueSet: ukcoreVS + "UKCore-PersonRelationshipType"}},
				extensionSlice("RelatedPerson.telecom.system.extension:otherContactSystem", ukcoreSD+"Extension-UKCore-OtherContactSystem"),
				{ID: "RelatedPerson.communication.language", Binding: &binding{strength: "required", valueSet: "http://hl7.org/fhir/ValueSet/all-languages"}},
			},
		},
	},
	{
		// Version 2.3.0, dated 2022-12-16: the latest edition the stored
		// copy of the repository holds (2.2.0 and older are at earlier
		// commits). The embedded profiles are of the 2023-12 and 2024-07
		// sprints, whose Practitioner (2.4.0, 2023-12-12) is not stored;
		// SOURCES.md says what it changes and why meeting 2.3.0 meets it.
		source: derivedSource{"structuredefinitions/UKCore-Practitioner.xml", "0f25c570957021c7282658a565e3535437da4b84"},
		sd: rawSD{
			URL: ukcoreSD + "UKCore-Practitioner", Version: "2.3.0", Name: "UKCorePractitioner",
			Type: "Practitioner", Kind: "resource", Base: r4Base + "Practitioner", Derivation: "constraint",
			Differential: []rawElement{
				{ID: "Practitioner.identifier.system", Min: one(1)},
				{ID: "Practitioner.identifier.value", Min: one(1)},
				{ID: "Practitioner.communication", Binding: &binding{strength: "extensible", valueSet: ukcoreVS + "UKCore-HumanLanguage"}},
			},
		},
		unchecked: targetOrganization("Practitioner.identifier.assigner", "Practitioner.qualification.identifier.assigner",
			"Practitioner.qualification.issuer", "Practitioner.qualification.issuer.identifier.assigner"),
	},
}

// derivedCodeSystems are UK Core code systems, each with every concept
// (code and display) it defines.
var derivedCodeSystems = []struct {
	source derivedSource
	cs     codeSystem
}{
	{
		source: derivedSource{"codesystems/CodeSystem-UKCore-AdditionalPersonRelationshipRole.xml", "00cc5a06b3e40eb8bae2bc2dd30957927e45dad6"},
		cs: codeSystem{url: ukcoreCS + "UKCore-AdditionalPersonRelationshipRole", version: "2.1.0", content: "complete",
			codes: map[string]string{
				"Agent":                     "Agent of patient",
				"Guardian":                  "Guardian of patient",
				"Personal":                  "Personal relationship with the patient",
				"PolygamousPartner":         "Polygamous Partner of patient",
				"Dependant":                 "Dependant of patient",
				"NonDependant":              "Non Dependant of patient",
				"ProxyContact":              "Proxy Contact for patient",
				"ProxyCommunication":        "Proxy Communication for patient",
				"ProxyContactCommunication": "Proxy Contact and Communication for patient",
				"Carer":                     "Carer of patient",
				"NotSpecified":              "Not Specified",
			}},
	},
}

// derivedValueSets are UK Core value sets, by their compose.
var derivedValueSets = []struct {
	source derivedSource
	vs     valueSet
}{
	{
		// v2 table 0131 but O (other), v3 RoleCode's personal relationships
		// (the abstract _PersonalRelationshipRoleType itself excluded), and
		// UK Core's additional roles: 131 codes, as the file's own
		// expansion counts.
		source: derivedSource{"valuesets/ValueSet-UKCore-PersonRelationshipType.xml", "05336c79382df6c644a1bf6a3375cf7f5ebf2319"},
		vs: valueSet{url: ukcoreVS + "UKCore-PersonRelationshipType", version: "2.1.0",
			include: []vsInclude{
				{system: "http://terminology.hl7.org/CodeSystem/v2-0131"},
				{system: "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
					filters: []vsFilter{{property: "concept", op: "is-a", value: "_PersonalRelationshipRoleType"}}},
				{system: ukcoreCS + "UKCore-AdditionalPersonRelationshipRole"},
			},
			exclude: []vsInclude{
				{system: "http://terminology.hl7.org/CodeSystem/v2-0131", concepts: []string{"O"}},
				{system: "http://terminology.hl7.org/CodeSystem/v3-RoleCode", concepts: []string{"_PersonalRelationshipRoleType"}},
			}},
	},
}

// addDerived adds the derived definitions to what readDefinitions found.
func addDerived(sds []*rawSD, terms *terminology) ([]*rawSD, error) {
	for i := range derivedProfiles {
		sd := derivedProfiles[i].sd
		sds = append(sds, &sd)
	}
	for _, d := range derivedCodeSystems {
		cs := d.cs
		cs.children = map[string][]string{}
		if err := terms.addCS(&cs); err != nil {
			return nil, err
		}
	}
	for _, d := range derivedValueSets {
		vs := d.vs
		if err := terms.addVS(&vs); err != nil {
			return nil, err
		}
	}
	return sds, nil
}
