package pds

// Superseded and invalidated NHS numbers (specification, patient-get.yaml:
// reading a superseded number returns the superseding record, whose id
// differs from the one asked; an invalidated one is 404
// INVALIDATED_RESOURCE). The public sandbox shows neither (it answers 404
// RESOURCE_NOT_FOUND to 5900053636, 9000000041, 9732019395 and 9990003343),
// so the simulator demonstrates them with synthetic numbers of its own: the
// superseded ones are no one's (TestSyntheticNumbersAreFree), the current
// record is a person of the default population, whom every simulator holds
// records for (so a facade that follows the supersession finds them).
const (
	// SupersededNHSNumber was merged into SupersedingNHSNumber: reading it
	// answers 200 with the superseding record (id SupersedingNHSNumber).
	SupersededNHSNumber = "9990000018"
	// SupersedingNHSNumber is the current record of SupersededNHSNumber and
	// TwiceSupersededNHSNumber: Christine Freya PRITCHARD (previously JONES),
	// born 1963-06-02, of the default population, with allergies,
	// medications, immunisations and a flag in the other simulators. A
	// simulator over another population does not hold her: the superseded
	// numbers are then 404 too.
	SupersedingNHSNumber = "9991955003"
	// TwiceSupersededNHSNumber was merged into SupersededNHSNumber, which
	// was later merged into SupersedingNHSNumber: reading it also answers
	// with SupersedingNHSNumber's record (PDS follows the chain).
	TwiceSupersededNHSNumber = "9990000034"
	// InvalidatedNHSNumber is invalidated and not superseded: reading it gives
	// 404 INVALIDATED_RESOURCE and no search returns it.
	InvalidatedNHSNumber = "9000000068"
)

// supersededNumbers maps each superseded number to the one that replaced it.
var supersededNumbers = map[string]string{
	SupersededNHSNumber:      SupersedingNHSNumber,
	TwiceSupersededNHSNumber: SupersededNHSNumber,
}

// current follows id's supersession chain to the current record's number.
func (db *database) current(id string) string {
	for range 8 { // a chain longer than this would be a data defect
		to, ok := db.superseded[id]
		if !ok {
			break
		}
		id = to
	}
	return id
}
