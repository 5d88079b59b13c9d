package pds

// fixtureHistory is the previous data PDS holds for some fixture patients.
// Search results never show history, so the sandbox's files cannot carry it;
// without it the sandbox's canned history and fuzzy answers could not be
// explained by the data. Each entry says which canned answer it explains.
var fixtureHistory = map[string]struct {
	names  []historicName
	emails []string
}{
	// historic_email_searchset.json: family=Smith&gender=male&
	// birthdate=2000-05-05&_history=true&email=Historic@historic.com finds
	// only this Sam Matt Smith (current e-mail New@new.com).
	"5900020584": {emails: []string{"Historic@historic.com"}},
	// med_rowenad_searchset.json: fuzzy family=MED or HUME with given=Casey,
	// and history search family=HUME, born 1999-09-09, find Rowenad MED.
	"9733162450": {names: []historicName{{family: "HUME", given: []string{"Casey"}}}},
	// bill_garton_searchset.json ("JOE_BLOGS_HISTORIC_NAME"): fuzzy
	// family=Blogs&given=Joe&birthdate=1955-11-05 finds Bill GARTON.
	"9693632109": {names: []historicName{{family: "Blogs", given: []string{"Joe"}}}},
}

type historicName struct {
	family string
	given  []string
}
