// Package sandbox runs the simulators of the national backends on loopback
// listeners, so the facade's real HTTP clients are always the code path that
// runs. Each simulator is a faithful copy of one service's wire format over
// one shared synthetic population (package population).
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/bna"
	"github.com/carerecords/fhir-facade/sandbox/cpis"
	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/fgm"
	"github.com/carerecords/fhir-facade/sandbox/immunisation"
	"github.com/carerecords/fhir-facade/sandbox/nrl"
	"github.com/carerecords/fhir-facade/sandbox/ovm"
	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/ra"
	"github.com/carerecords/fhir-facade/sandbox/scr"
)

// Options configure Start.
type Options struct {
	// Open serves requests without an Authorization header, like the public
	// sandboxes; otherwise any bearer token is accepted.
	Open bool
	// PDSAddr is the PDS simulator's listen address; "" means 127.0.0.1:0.
	PDSAddr string
	// BNAAddr is the birth notification simulator's listen address; ""
	// means 127.0.0.1:0.
	BNAAddr string
	// NRLAddr is the NRL simulator's listen address (it also serves the
	// documents, at /ssp); "" means 127.0.0.1:0.
	NRLAddr string
	// SCRAddr is the SCR simulator's listen address; "" means 127.0.0.1:0.
	SCRAddr string
	// RAAddr, CPISAddr and FGMAddr are the listen addresses of the
	// Reasonable Adjustment Flag, CP-IS and FGM-IS simulators; "" means
	// 127.0.0.1:0.
	RAAddr, CPISAddr, FGMAddr string
	// ImmsAddr is the Immunisation History API simulator's listen address;
	// "" means 127.0.0.1:0.
	ImmsAddr string
	// OvmAddr is the listen address of the overseas visitors
	// chargeable-status (OVM) simulator; "" means 127.0.0.1:0.
	OvmAddr string
	// Seed and Size choose the synthetic population; zero values mean
	// population.DefaultSeed and population.DefaultSize.
	Seed int64
	Size int
	// Faults makes the named simulators fail every request from the start
	// (env SANDBOX_FAULTS, see ParseFaults); SetOutage changes it later.
	Faults Faults
}

// Names are the simulators' names in SANDBOX_FAULTS and SetOutage, in the
// order Start starts them.
var Names = []string{"pds", "bna", "scr", "nrl", "ra", "cpis", "fgm", "imms", "ovm"}

// Faults maps a simulator's name (Names) to the way it fails.
type Faults map[string]fault.Kind

// ParseFaults reads SANDBOX_FAULTS: comma-separated name=kind pairs, e.g.
// "fgm=503,cpis=timeout,imms=empty", a name from Names and a kind as
// fault.ParseKind reads it (an HTTP status from 400 to 599, timeout, drop,
// empty, truncated or malformed). "" is no fault. An unknown name or kind,
// or a simulator named twice, is an error saying what is accepted.
func ParseFaults(spec string) (Faults, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	out := Faults{}
	for _, pair := range strings.Split(spec, ",") {
		name, kind, ok := strings.Cut(strings.TrimSpace(pair), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return nil, fmt.Errorf("SANDBOX_FAULTS: %q is not name=fault (e.g. cpis=503)", pair)
		}
		if !slices.Contains(Names, name) {
			return nil, fmt.Errorf("SANDBOX_FAULTS: unknown simulator %q: want one of %s", name, strings.Join(Names, ", "))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("SANDBOX_FAULTS: %s is named twice", name)
		}
		k, err := fault.ParseKind(kind)
		if err != nil {
			return nil, fmt.Errorf("SANDBOX_FAULTS: %s: %w", name, err)
		}
		out[name] = k
	}
	return out, nil
}

// String writes f as ParseFaults reads it, names in order.
func (f Faults) String() string {
	pairs := make([]string, 0, len(f))
	for name, k := range f {
		pairs = append(pairs, name+"="+string(k))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// Sandbox is a set of running simulators.
type Sandbox struct {
	// PDS is the running PDS simulator (for faults and request counts).
	PDS *pds.Simulator
	// PDSBaseURL is its base URL, e.g.
	// http://127.0.0.1:40123/personal-demographics/FHIR/R4.
	PDSBaseURL string
	// BNA is the running birth notification simulator, which creates babies
	// in PDS; BNABaseURL its base URL (…/birth-notifications/v1).
	BNA        *bna.Simulator
	BNABaseURL string
	// NRL is the running National Record Locator simulator; NRLBaseURL its
	// base URL (…/record-locator/consumer/FHIR/R4) and NRLSSPURL the base
	// of its simulated Spine Secure Proxy (…/ssp), where the documents are.
	NRL        *nrl.Simulator
	NRLBaseURL string
	NRLSSPURL  string
	// SCR is the running Summary Care Record simulator; SCRBaseURL its base
	// URL (…/summary-care-record/FHIR/R4).
	SCR        *scr.Simulator
	SCRBaseURL string
	// RA, CPIS and FGM are the running Reasonable Adjustment Flag, CP-IS
	// and FGM-IS simulators (the Flag backends), with their base URLs
	// (…/reasonable-adjustment-flag/FHIR/STU3, …/cpis/FHIR/R4, …/fgm/FHIR/R4).
	RA          *ra.Simulator
	RABaseURL   string
	CPIS        *cpis.Simulator
	CPISBaseURL string
	FGM         *fgm.Simulator
	FGMBaseURL  string
	// Imms is the running Immunisation History API simulator; ImmsBaseURL
	// its base URL (…/immunisation-history/FHIR/R4).
	Imms        *immunisation.Simulator
	ImmsBaseURL string
	// OVM is the running overseas visitors chargeable-status simulator (a
	// Flag backend); OVMBaseURL its base URL (…/overseas-visitors/v1).
	OVM        *ovm.Simulator
	OVMBaseURL string

	// outages wrap every simulator, by name: SANDBOX_FAULTS and SetOutage.
	outages map[string]*fault.Outage
	servers []*http.Server
	done    []chan struct{}
}

// Start starts every simulator on its own listener.
func Start(opts Options) (*Sandbox, error) {
	if opts.Size < 0 || opts.Size > population.MaxSize {
		return nil, fmt.Errorf("sandbox: population size %d outside 0..%d", opts.Size, population.MaxSize)
	}
	pop := population.Default()
	if (opts.Seed != 0 && opts.Seed != population.DefaultSeed) || (opts.Size != 0 && opts.Size != population.DefaultSize) {
		seed, size := opts.Seed, opts.Size
		if seed == 0 {
			seed = population.DefaultSeed
		}
		if size == 0 {
			size = population.DefaultSize
		}
		pop = population.Generate(seed, size)
	}

	for name := range opts.Faults {
		if !slices.Contains(Names, name) {
			return nil, fmt.Errorf("sandbox: unknown simulator %q in Faults: want one of %s", name, strings.Join(Names, ", "))
		}
	}

	s := &Sandbox{outages: map[string]*fault.Outage{}}
	for _, sim := range s.simulators(opts, pop) {
		ln, base, err := listen(sim.label, sim.addr, sim.basePath)
		if err != nil {
			s.Close()
			return nil, err
		}
		o := fault.NewOutage(sim.start(base))
		o.Set(opts.Faults[sim.name])
		s.outages[sim.name] = o
		s.serve(ln, o)
	}
	return s, nil
}

// SetOutage makes the simulator name (one of Names) fail every request the
// way k says, as SANDBOX_FAULTS does at start; "" ends the outage.
func (s *Sandbox) SetOutage(name string, k fault.Kind) error {
	o, ok := s.outages[name]
	if !ok {
		return fmt.Errorf("sandbox: unknown simulator %q: want one of %s", name, strings.Join(Names, ", "))
	}
	o.Set(k)
	return nil
}

// Outages are the simulators failing by SetOutage or Options.Faults now.
func (s *Sandbox) Outages() Faults {
	out := Faults{}
	for name, o := range s.outages {
		if k := o.Kind(); k != "" {
			out[name] = k
		}
	}
	return out
}

// simulator is one backend Start runs: name (Names), label (for errors),
// listen address and base path, and start, which builds the simulator for
// its base URL and records both in the Sandbox.
type simulator struct {
	name, label, addr, basePath string
	start                       func(base string) http.Handler
}

// simulators lists the backends Start runs, in the order it starts them; a
// further simulator is one more entry.
func (s *Sandbox) simulators(opts Options, pop []population.Person) []simulator {
	return []simulator{
		{"pds", "PDS", opts.PDSAddr, pds.BasePath, func(base string) http.Handler {
			s.PDS, s.PDSBaseURL = pds.New(pds.Options{Open: opts.Open, Population: pop, BaseURL: base}), base
			return s.PDS
		}},
		// After PDS: a notified baby is created in that PDS simulator.
		{"bna", "BNA", opts.BNAAddr, bna.BasePath, func(base string) http.Handler {
			s.BNA, s.BNABaseURL = bna.New(bna.Options{Open: opts.Open, PDS: s.PDS}), base
			return s.BNA
		}},
		{"scr", "SCR", opts.SCRAddr, scr.BasePath, func(base string) http.Handler {
			s.SCR, s.SCRBaseURL = scr.New(scr.Options{Open: opts.Open, Population: pop, BaseURL: base}), base
			return s.SCR
		}},
		{"nrl", "NRL", opts.NRLAddr, nrl.BasePath, func(base string) http.Handler {
			s.NRL, s.NRLBaseURL = nrl.New(nrl.Options{Open: opts.Open, Population: pop, BaseURL: base}), base
			s.NRLSSPURL = strings.TrimSuffix(base, nrl.BasePath) + nrl.SSPPath
			return s.NRL
		}},
		{"ra", "RA", opts.RAAddr, ra.BasePath, func(base string) http.Handler {
			s.RA, s.RABaseURL = ra.New(ra.Options{Open: opts.Open, Population: pop, BaseURL: base}), base
			return s.RA
		}},
		{"cpis", "CP-IS", opts.CPISAddr, cpis.BasePath, func(base string) http.Handler {
			s.CPIS, s.CPISBaseURL = cpis.New(cpis.Options{Open: opts.Open, Population: pop, BaseURL: base}), base
			return s.CPIS
		}},
		{"fgm", "FGM-IS", opts.FGMAddr, fgm.BasePath, func(base string) http.Handler {
			s.FGM, s.FGMBaseURL = fgm.New(fgm.Options{Open: opts.Open, Population: pop, BaseURL: base}), base
			return s.FGM
		}},
		{"imms", "Immunisation History", opts.ImmsAddr, immunisation.BasePath, func(base string) http.Handler {
			s.Imms, s.ImmsBaseURL = immunisation.New(immunisation.Options{Open: opts.Open, Population: pop}), base
			return s.Imms
		}},
		{"ovm", "OVM", opts.OvmAddr, ovm.BasePath, func(base string) http.Handler {
			s.OVM, s.OVMBaseURL = ovm.New(ovm.Options{Open: opts.Open, Population: pop}), base
			return s.OVM
		}},
	}
}

// listen opens a simulator's listener on addr ("" means a free loopback
// port) and returns it with the simulator's base URL.
func listen(name, addr, basePath string) (net.Listener, string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("sandbox: %s listener: %w", name, err)
	}
	return ln, "http://" + ln.Addr().String() + basePath, nil
}

func (s *Sandbox) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	s.servers = append(s.servers, srv)
	s.done = append(s.done, done)
}

// Close stops every simulator, waiting briefly for requests in flight.
func (s *Sandbox) Close() error {
	for _, o := range s.outages {
		o.Close() // a timeout outage holds its requests until then
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err, srv.Close())
		}
	}
	for _, d := range s.done {
		<-d
	}
	return errors.Join(errs...)
}
