package immunisation

// What generated histories are made of: the SNOMED CT vaccination procedures
// and dm+d vaccine products that point-of-care systems record, as the
// national immunisation history returns them.

const (
	snomed = "http://snomed.info/sct"
	ucum   = "http://unitsofmeasure.org"
	ods    = "https://fhir.nhs.uk/Id/ods-organization-code"
)

// procedure is a vaccination procedure (Extension-UKCore-VaccinationProcedure).
type procedure struct{ code, display string }

var (
	covidDose1   = procedure{"1324681000000101", "Administration of first dose of severe acute respiratory syndrome coronavirus 2 vaccine (procedure)"}
	covidDose2   = procedure{"1324691000000104", "Administration of second dose of severe acute respiratory syndrome coronavirus 2 vaccine (procedure)"}
	covidBooster = procedure{"1362591000000103", "Immunisation course to maintain protection against severe acute respiratory syndrome coronavirus 2 (regime/therapy)"}
	fluSeasonal  = procedure{"822851000000102", "Seasonal influenza vaccination (procedure)"}
	hpvDose      = procedure{"761841000", "Administration of vaccine product containing only Human papillomavirus antigen (procedure)"}
)

// product is a vaccine product (vaccineCode, a dm+d AMP/VMP in SNOMED CT),
// with its manufacturer, the dose given in ml and the prefix of its batch
// numbers.
type product struct {
	code, display, manufacturer string
	doseML                      string
	lotPrefix                   string
}

var (
	astraZeneca = product{"39114911000001105", "COVID-19 Vaccine AstraZeneca (ChAdOx1 S [recombinant]) 5x10,000,000,000 viral particles/0.5ml dose solution for injection multidose vials (AstraZeneca UK Ltd) (product)",
		"AstraZeneca Ltd", "0.5", "PV"}
	pfizer = product{"39115611000001103", "COVID-19 mRNA Vaccine Pfizer-BioNTech BNT162b2 30micrograms/0.3ml dose concentrate for suspension for injection multidose vials (Pfizer Ltd) (product)",
		"Pfizer Ltd", "0.3", "FK"}
	moderna = product{"39326911000001101", "COVID-19 mRNA (nucleoside modified) Vaccine Moderna 0.1mg/0.5ml dose dispersion for injection multidose vials (Moderna, Inc) (product)",
		"Moderna, Inc", "0.5", "30"}
	// modernaBooster is the same product at the booster dose (half the primary dose).
	modernaBooster = product{moderna.code, moderna.display, moderna.manufacturer, "0.25", moderna.lotPrefix}
	comirnatyJN1   = product{"43111411000001101", "Comirnaty JN.1 COVID-19 mRNA Vaccine 30micrograms/0.3ml dose dispersion for injection multidose vials (Pfizer Ltd)",
		"Pfizer Ltd", "0.3", "HG"}
	spikevaxJN1 = product{"42985911000001104", "Spikevax JN.1 COVID-19 mRNA Vaccine 0.1mg/ml dispersion for injection multidose vials (Moderna, Inc)",
		"Moderna, Inc", "0.5", "3A"}
	quadrivalentFlu = product{"34680411000001107", "Quadrivalent influenza vaccine (split virion, inactivated) suspension for injection 0.5ml pre-filled syringes (Sanofi Pasteur)",
		"Sanofi Pasteur", "0.5", "X3"}
	gardasil = product{"10880211000001104", "Gardasil vaccine suspension for injection 0.5ml pre-filled syringes (Merck Sharp & Dohme (UK) Ltd) (product)",
		"Merck Sharp & Dohme (UK) Ltd", "0.5", "S0"}
	gardasil9 = product{"33493111000001108", "Gardasil 9 vaccine suspension for injection 0.5ml pre-filled syringes (Merck Sharp & Dohme (UK) Ltd) (product)",
		"Merck Sharp & Dohme (UK) Ltd", "0.5", "T0"}
)

// concept is a SNOMED CT coding with its display.
type concept struct{ code, display string }

var (
	leftUpperArm  = concept{"368208006", "Left upper arm structure (body structure)"}
	rightUpperArm = concept{"368209003", "Right upper arm structure (body structure)"}
	intramuscular = concept{"78421000", "Intramuscular route (qualifier value)"}
	// diseaseOutbreak is the reason the COVID-19 programme records.
	diseaseOutbreak = concept{"443684005", "Disease outbreak (event)"}
)

// idPrefix is the start of the record ids of each data store (the public
// sandbox's COVID-19 ids start with 90640007, the code the API documents as
// the parent of every COVID-19 vaccination).
var idPrefix = map[string]string{COVID19: "90640007", FLU: "822851000000102", HPV: "761841000"}

// The kinds of vaccinating site, with the words their names end in.
var (
	vaccinationCentreNames = []string{"VACCINATION CENTRE", "HOSPITAL HUB", "COMMUNITY VACCINATION SITE"}
	pharmacyNames          = []string{"PHARMACY", "CHEMIST", "HEALTHCARE PHARMACY"}
)
