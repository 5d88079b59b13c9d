// Command nullfanout is the control for the $summary latency target in
// tools/perf/bench.sh: an HTTP server that, for every request, makes the same
// backend calls a $summary makes — a chain of dependent calls (SCR's two)
// and the others at once beside it — with the same kind of pooled HTTP
// client, reads every body, and answers 200 with an empty JSON object. It
// does no authentication, mapping, rendering or auditing, so the
// difference between the facade and it is the facade's own work; what the
// two share is the fan-out on a machine whose cores the client and the
// simulators use too.
//
//	nullfanout -addr 127.0.0.1:0 -ready /tmp/nf.addr -chain URL1,URL2 -H 'Name: value' URL…
//
// Only loopback URLs are accepted (tools/perf/loadtarget, as tools/perf/loadgen);
// it exits after -lifetime.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/carerecords/fhir-facade/tools/perf/loadtarget"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	ready := flag.String("ready", "", "write the listen address to this file once serving")
	chain := flag.String("chain", "", "comma-separated URLs called one after the other, beside the others")
	lifetime := flag.Duration("lifetime", 15*time.Minute, "exit after this long")
	var hs headers
	flag.Var(&hs, "H", "header Name: value sent on every backend call; repeatable")
	flag.Parse()

	var chainURLs []string
	if *chain != "" {
		chainURLs = strings.Split(*chain, ",")
	}
	for _, u := range append(append([]string(nil), chainURLs...), flag.Args()...) {
		if _, err := loadtarget.URL(u); err != nil {
			log.Fatalf("nullfanout: %v", err)
		}
	}
	hdr, err := loadtarget.Header(hs)
	if err != nil {
		log.Fatalf("nullfanout: %v", err)
	}
	// The same pool settings as backends/upstream's clients.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:  loadtarget.Dialer(5 * time.Second).DialContext,
		MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 90 * time.Second,
	}}
	call := func(ctx context.Context, u string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header = hdr.Clone()
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if _, err := io.ReadAll(res.Body); err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	others := flag.Args()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		errs := make([]error, len(others)+1)
		wg.Add(len(others) + 1)
		go func() {
			defer wg.Done()
			for _, u := range chainURLs {
				if errs[0] = call(r.Context(), u); errs[0] != nil {
					return
				}
			}
		}()
		for i, u := range others {
			go func() {
				defer wg.Done()
				errs[i+1] = call(r.Context(), u)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			http.Error(w, "a backend call failed", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if !ln.Addr().(*net.TCPAddr).IP.IsLoopback() {
		log.Fatal("nullfanout: listen on loopback only")
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(ln.Addr().String()), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		time.Sleep(*lifetime)
		log.Printf("nullfanout: lifetime of %v over, exiting", *lifetime)
		os.Exit(0)
	}()
	log.Fatal(srv.Serve(ln))
}
