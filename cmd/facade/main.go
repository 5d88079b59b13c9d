// Command facade serves the FHIR R4 facade. With no backend configured it
// starts the embedded sandbox simulators on loopback ports, so `make run`
// works out of the box: http://127.0.0.1:8080/fhir.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "facade:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := app.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	flag.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (env FACADE_ADDR)")
	flag.StringVar(&cfg.BaseURL, "base-url", cfg.BaseURL, "public FHIR base URL clients reach, e.g. https://fhir.example.nhs.uk/fhir: links, SMART endpoints, token issuer and audience (env FACADE_BASE_URL); "+
		"empty means http://<addr>/fhir, and is refused on a non-loopback -addr")
	flag.BoolVar(&cfg.QuietLogs, "quiet", false, "log only failed (5xx) requests")
	flag.BoolVar(&cfg.Auth.InsecureDemoIssuer, "insecure-demo-issuer", cfg.Auth.InsecureDemoIssuer,
		"INSECURE: let the local test token issuer, whose client secret is published, serve on a non-loopback -addr; demonstrations on synthetic data only (env FACADE_INSECURE_DEMO_ISSUER)")
	tlsCert := flag.String("tls-cert", os.Getenv("FACADE_TLS_CERT"), "serve HTTPS with this PEM certificate (env FACADE_TLS_CERT)")
	tlsKey := flag.String("tls-key", os.Getenv("FACADE_TLS_KEY"), "and this PEM key (env FACADE_TLS_KEY)")
	flag.Parse()
	if cfg.Addr == "" {
		// net.Listen would take every interface, while app.New reads an
		// empty Addr as an embedded facade on loopback.
		return errors.New("-addr must not be empty, e.g. 127.0.0.1:8080")
	}

	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	cfg.HTTPS = *tlsCert != ""

	log := logrus.New()
	log.SetFormatter(&logrus.JSONFormatter{})
	cfg.Logger = log

	// Listen first: with port 0 the default public base is made from the
	// port actually bound (the host stays as given: localhost stays localhost).
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if host, port, err := net.SplitHostPort(cfg.Addr); err == nil && port == "0" {
		_, bound, _ := net.SplitHostPort(ln.Addr().String())
		cfg.Addr = net.JoinHostPort(host, bound)
	}
	a, err := app.New(cfg)
	if err != nil {
		return err
	}
	defer a.Close()

	srv := app.NewHTTPServer(a.Handler)
	fields := logrus.Fields{"addr": ln.Addr().String(), "fhir_base": a.BaseURL, "version": app.Version}
	if a.Sandbox != nil {
		fields["sandbox"] = "embedded"
	}
	log.WithFields(fields).Info("facade listening")

	errc := make(chan error, 1)
	if *tlsCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		go func() { errc <- srv.ServeTLS(ln, *tlsCert, *tlsKey) }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case sig := <-stop:
		log.WithField("signal", sig.String()).Info("shutting down: draining in-flight requests")
		a.Drain()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			return err
		}
	}
	return nil
}
