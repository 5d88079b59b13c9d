// Command bareserve is the control for the hot-path measurement
// (tools/perf/hotpath.sh): a bare net/http handler that writes the same
// bytes, with the same content type and ETag, as the facade's answer to one
// read. What the facade adds on top of it (routing, authentication,
// authorisation, audit, rendering, caching) is the difference between the
// two under the same load.
//
//	bareserve -addr 127.0.0.1:9100 -body patient.json -etag 'W/"2"'
//
// Only loopback addresses are accepted: it is a measuring instrument.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	bodyFile := flag.String("body", "", "file holding the answer's body")
	ctype := flag.String("content-type", "application/fhir+json;charset=utf-8", "the answer's Content-Type")
	etag := flag.String("etag", "", "the answer's ETag, if any")
	flag.Parse()
	if err := run(*addr, *bodyFile, *ctype, *etag); err != nil {
		fmt.Fprintln(os.Stderr, "bareserve:", err)
		os.Exit(1)
	}
}

func run(addr, bodyFile, ctype, etag string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = []string{ctype}
		hd["Content-Length"] = []string{length}
		if etag != "" {
			hd["Etag"] = []string{etag}
		}
		w.Write(body)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	return http.Serve(ln, h)
}
