// Command sandbox runs the backend simulators standalone: a PDS that speaks
// the real service's wire format over the synthetic population, for manual
// testing, Postman/newman runs, or a facade pointed at it.
//
//	sandbox -pds-addr 127.0.0.1:9001 -open
//
// With -stats-addr it also serves GET /requests: each simulator's count of
// the requests it received, as JSON ({"pds": 12, …}), so that a test or a
// demonstration can see how many calls reached a national service (e.g.
// that replicas together keep PDS's quota).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/carerecords/fhir-facade/sandbox"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

func main() {
	var opts sandbox.Options
	flag.StringVar(&opts.PDSAddr, "pds-addr", "127.0.0.1:9001", "PDS simulator listen address")
	flag.StringVar(&opts.BNAAddr, "bna-addr", "127.0.0.1:9009", "birth notification simulator listen address")
	flag.StringVar(&opts.SCRAddr, "scr-addr", "127.0.0.1:9002", "SCR simulator listen address")
	flag.StringVar(&opts.NRLAddr, "nrl-addr", "127.0.0.1:9003", "NRL simulator (and document host) listen address")
	flag.StringVar(&opts.RAAddr, "ra-addr", "127.0.0.1:9004", "RA simulator listen address")
	flag.StringVar(&opts.CPISAddr, "cpis-addr", "127.0.0.1:9005", "CP-IS simulator listen address")
	flag.StringVar(&opts.FGMAddr, "fgm-addr", "127.0.0.1:9006", "FGM-IS simulator listen address")
	flag.StringVar(&opts.ImmsAddr, "imms-addr", "127.0.0.1:9007", "Immunisation History API simulator listen address")
	flag.StringVar(&opts.OvmAddr, "ovm-addr", "127.0.0.1:9008", "overseas visitors chargeable-status (OVM) simulator listen address")
	flag.BoolVar(&opts.Open, "open", false, "open-sandbox mode: no Authorization header required")
	flag.Int64Var(&opts.Seed, "seed", population.DefaultSeed, "synthetic population seed")
	flag.IntVar(&opts.Size, "size", population.DefaultSize, "synthetic population size")
	statsAddr := flag.String("stats-addr", "", "serve GET /requests (each simulator's request count, JSON) on this address; off when empty")
	flag.Parse()

	sb, err := sandbox.Start(opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("PDS  %s\n", sb.PDSBaseURL)
	fmt.Printf("BNA  %s\n", sb.BNABaseURL)
	fmt.Printf("SCR  %s\n", sb.SCRBaseURL)
	fmt.Printf("NRL  %s (documents: %s)\n", sb.NRLBaseURL, sb.NRLSSPURL)
	fmt.Printf("RA   %s\n", sb.RABaseURL)
	fmt.Printf("CPIS %s\n", sb.CPISBaseURL)
	fmt.Printf("FGM  %s\n", sb.FGMBaseURL)
	fmt.Printf("IMMS %s\n", sb.ImmsBaseURL)
	fmt.Printf("OVM  %s\n", sb.OVMBaseURL)
	if *statsAddr != "" {
		url, err := serveStats(*statsAddr, sb)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("STATS %s\n", url)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	if err := sb.Close(); err != nil {
		log.Fatal(err)
	}
}

// serveStats serves the simulators' request counts at addr/requests and
// returns that URL.
func serveStats(addr string, sb *sandbox.Sandbox) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("stats listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{
			"pds": sb.PDS.Requests(), "bna": sb.BNA.Requests(), "scr": sb.SCR.Requests(), "nrl": sb.NRL.Requests(),
			"ra": sb.RA.Requests(), "cpis": sb.CPIS.Requests(), "fgm": sb.FGM.Requests(), "imms": sb.Imms.Requests(), "ovm": sb.OVM.Requests(),
		})
	})
	go func() { _ = http.Serve(ln, mux) }()
	return "http://" + ln.Addr().String() + "/requests", nil
}
