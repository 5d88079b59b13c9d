package pds

import (
	"reflect"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/population"
)

func TestSoundex(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "Smith", in: "SMITH", want: "S530"},
		{name: "Smyth", in: "SMYTH", want: "S530"},
		{name: "Smythe", in: "SMYTHE", want: "S530"},
		{name: "Robert", in: "ROBERT", want: "R163"},
		{name: "Rupert", in: "RUPERT", want: "R163"},
		{name: "Ashcraft: H does not separate", in: "ASHCRAFT", want: "A261"},
		{name: "Tymczak: vowels separate", in: "TYMCZAK", want: "T522"},
		{name: "Pfister: first letter's code", in: "PFISTER", want: "P236"},
		{name: "Lee padded", in: "LEE", want: "L000"},
		{name: "apostrophe ignored", in: "O'BRIEN", want: "O165"},
		{name: "lower case", in: "jane", want: "J500"},
		{name: "no letters", in: "123", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := soundex(tt.in); got != tt.want {
				t.Errorf("soundex(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		name, pattern, s string
		want             bool
	}{
		{"no wildcard equal", "SMITH", "SMITH", true},
		{"no wildcard different", "SMITH", "SMYTH", false},
		{"prefix", "SM*", "SMITH", true},
		{"prefix only", "SM*", "ASMITH", false},
		{"inner", "SM*T*", "SMYTHE", true},
		{"inner suffix", "SM*TH", "SMITH", true},
		{"inner suffix missing", "SM*TH", "SMITHS", false},
		{"overlap", "AB*BA", "ABA", false},
		{"empty tail", "LS1*", "LS1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := globMatch(tt.pattern, tt.s); got != tt.want {
				t.Errorf("globMatch(%q, %q) = %v", tt.pattern, tt.s, got)
			}
		})
	}
}

func TestNormName(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"accents", "PÀULINÉ", "PAULINE"},
		{"umlaut", "attsön", "ATTSON"},
		{"polish", "Kociński", "KOCINSKI"},
		{"punctuation kept", " O'Reilly-Jones ", "O'REILLY-JONES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := normName(tt.in); got != tt.want {
				t.Errorf("normName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{name: "postman fuzzy search", query: "family=smith&given=Jane&gender=female&birthdate=2010-10-22&_fuzzy-match=true",
			want: "_fuzzy-match=true&birthdate=2010-10-22&family=smith&gender=female&given=jane"},
		{name: "eq prefix, case, max results, false flags dropped", query: "_max-results=1&family=Sm*&birthdate=eq2010-10-22&gender=female&_exact-match=false&phone=01632960587",
			want: "birthdate=2010-10-22&family=sm*&gender=female&phone=01632960587"},
		{name: "aliases", query: "history=true&address-postcode=ls1%206ae&family=X&birthdate=le2000-01-01&birthdate=ge1990-01-01",
			want: "_history=true&address-postalcode=LS16AE&birthdate=ge1990-01-01&birthdate=le2000-01-01&family=x"},
		{name: "given order kept", query: "given=John%20Paul&given=James&family=Smith&birthdate=2010-10-22",
			want: "birthdate=2010-10-22&family=smith&given=john paul&given=james"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := parseParams(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := canonicalQuery(ps); got != tt.want {
				t.Errorf("canonicalQuery = %q\nwant             %q", got, tt.want)
			}
		})
	}
}

// TestScenariosAreNeeded keeps the scenario table minimal: each entry must
// be a valid query whose generic answer (ids or scores) differs from the
// canned one, and name patients that exist.
func TestScenariosAreNeeded(t *testing.T) {
	db, err := buildDatabase(population.Generate(1, 2000))
	if err != nil {
		t.Fatal(err)
	}
	for key, sc := range scenarios {
		t.Run(key, func(t *testing.T) {
			if strings.TrimSpace(sc.why) == "" || len(sc.ids) != len(sc.scores) {
				t.Fatalf("entry needs a reason and one score per id")
			}
			ps, perr := parseParams(key)
			if perr != nil {
				t.Fatal(perr)
			}
			if got := canonicalQuery(ps); got != key {
				t.Fatalf("key is not canonical: %q", got)
			}
			q, qerr := parseQuery(ps)
			if qerr != nil {
				t.Fatalf("scenario query is invalid: %v", qerr)
			}
			var generic []string
			var genericScores []float64
			for _, h := range db.find(q) {
				generic = append(generic, h.rec.id)
				genericScores = append(genericScores, h.score)
			}
			for _, id := range sc.ids {
				if db.byID[id] == nil {
					t.Errorf("canned patient %s does not exist", id)
				}
			}
			if reflect.DeepEqual(generic, sc.ids) && reflect.DeepEqual(genericScores, sc.scores) {
				t.Errorf("the data already gives %v %v: drop this scenario", generic, genericScores)
			}
			t.Logf("generic answer %v, sandbox answer %v: %s", generic, sc.ids, sc.why)
		})
	}
}

// TestFixtureHistoryIsUsed keeps every historic overlay attached to a
// fixture patient.
func TestFixtureHistoryIsUsed(t *testing.T) {
	db, err := buildDatabase([]population.Person{})
	if err != nil {
		t.Fatal(err)
	}
	for id := range fixtureHistory {
		r := db.byID[id]
		if r == nil {
			t.Errorf("history for %s, which is not a fixture patient", id)
			continue
		}
		historic := false
		for _, n := range r.names {
			historic = historic || n.historic
		}
		for _, e := range r.emails {
			historic = historic || e.historic
		}
		if !historic {
			t.Errorf("%s carries no history", id)
		}
	}
}
