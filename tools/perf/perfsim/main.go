// Command perfsim runs every backend simulator on free loopback ports for
// the load script (tools/perf/bench.sh), with a small control endpoint to give
// all of them a latency while it runs. It writes the facade's backend
// configuration (PDS_BASE_URL, PDS_TOKEN, … for every backend) to -env, as
// shell assignments, and exits on SIGINT/SIGTERM or after -lifetime, so a
// load run that dies cannot leave it behind.
//
//	perfsim -env /tmp/sims.env -lifetime 15m &
//	. /tmp/sims.env
//	curl "$PERFSIM_CONTROL/delay?d=20ms"   # every simulator answers after 20 ms
//	curl "$PERFSIM_CONTROL/delay?d=0"      # and at once again
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/carerecords/fhir-facade/sandbox"
	"github.com/carerecords/fhir-facade/sandbox/cpis"
	"github.com/carerecords/fhir-facade/sandbox/fgm"
	"github.com/carerecords/fhir-facade/sandbox/immunisation"
	"github.com/carerecords/fhir-facade/sandbox/nrl"
	"github.com/carerecords/fhir-facade/sandbox/ovm"
	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/ra"
	"github.com/carerecords/fhir-facade/sandbox/scr"
)

func main() {
	envFile := flag.String("env", "", "write the facade's backend configuration here (shell assignments)")
	token := flag.String("token", "bench", "the bearer token the facade is told to present")
	lifetime := flag.Duration("lifetime", 15*time.Minute, "exit after this long whatever happens")
	flag.Parse()
	if *envFile == "" || *lifetime <= 0 {
		log.Fatal("perfsim: -env is required, -lifetime must be positive")
	}
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /delay", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 || d > time.Minute {
			http.Error(w, "d must be a duration from 0 to 1m", http.StatusBadRequest)
			return
		}
		setDelay(sb, d)
		fmt.Fprintf(w, "every simulator answers after %v\n", d)
	})
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pds %d\nscr %d\nnrl %d\nra %d\ncpis %d\nfgm %d\nimms %d\novm %d\n", sb.PDS.Requests(), sb.SCR.Requests(),
			sb.NRL.Requests(), sb.RA.Requests(), sb.CPIS.Requests(), sb.FGM.Requests(), sb.Imms.Requests(), sb.OVM.Requests())
	})
	ctl := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = ctl.Serve(ln) }()
	defer ctl.Close()

	var b strings.Builder
	for _, kv := range [][2]string{
		{"PDS", sb.PDSBaseURL}, {"SCR", sb.SCRBaseURL}, {"NRL", sb.NRLBaseURL}, {"RA", sb.RABaseURL},
		{"CPIS", sb.CPISBaseURL}, {"FGM", sb.FGMBaseURL}, {"IMMS", sb.ImmsBaseURL}, {"OVM", sb.OVMBaseURL},
		{"BNA", sb.BNABaseURL}, // not on any read path, but a backend left unset would start an embedded sandbox in the facade
	} {
		fmt.Fprintf(&b, "%s_BASE_URL=%s\n%s_TOKEN=%s\n", kv[0], kv[1], kv[0], *token)
	}
	fmt.Fprintf(&b, "NRL_SSP_URL=%s\nPERFSIM_CONTROL=http://%s\nPERFSIM_PID=%d\n", sb.NRLSSPURL, ln.Addr(), os.Getpid())
	if err := os.WriteFile(*envFile, []byte(b.String()), 0o600); err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(*lifetime):
		log.Printf("perfsim: lifetime of %v over, exiting", *lifetime)
	}
}

// setDelay makes every simulator answer normally after d (0: at once).
func setDelay(sb *sandbox.Sandbox, d time.Duration) {
	if d == 0 {
		sb.PDS.SetFault(nil)
		sb.SCR.SetFault(nil)
		sb.NRL.SetFault(nil)
		sb.RA.SetFault(nil)
		sb.CPIS.SetFault(nil)
		sb.FGM.SetFault(nil)
		sb.Imms.SetFault(nil)
		sb.OVM.SetFault(nil)
		return
	}
	sb.PDS.SetFault(&pds.Fault{Delay: d})
	sb.SCR.SetFault(&scr.Fault{Delay: d})
	sb.NRL.SetFault(&nrl.Fault{Delay: d})
	sb.RA.SetFault(&ra.Fault{Delay: d})
	sb.CPIS.SetFault(&cpis.Fault{Delay: d})
	sb.FGM.SetFault(&fgm.Fault{Delay: d})
	sb.Imms.SetFault(&immunisation.Fault{Delay: d})
	sb.OVM.SetFault(&ovm.Fault{Delay: d})
}
