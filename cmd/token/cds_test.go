package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/carerecords/fhir-facade/cdshooks"
)

// -cds mints CDS client JWTs the facade's CDS verifier accepts: signed
// with the local issuer's key file (the development EHR) or a client's
// private JWK; without a key it says what to give.
func TestCDS(t *testing.T) {
	iss, srv, keyFile := facade(t)
	var devKeys []jose.JSONWebKey
	for _, k := range iss.KeySet().Keys() {
		devKeys = append(devKeys, jose.JSONWebKey{Key: k.Key, KeyID: k.KeyID, Algorithm: k.Algorithm})
	}
	spec, err := os.ReadFile("../../cdshooks/testdata/jwks-public.json")
	if err != nil {
		t.Fatal(err)
	}
	specKeys, err := cdshooks.ParseKeySet(spec)
	if err != nil {
		t.Fatal(err)
	}
	const specIss = "https://fhir-ehr.example.com/"
	v, err := cdshooks.NewVerifier([]cdshooks.Client{
		{Issuer: iss.URL(), Keys: cdshooks.NewStaticKeys(devKeys...)},
		{Issuer: specIss, Keys: specKeys},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	service := srv.URL + defaultCDSService
	cases := []struct {
		name string
		args []string
		aud  string
		code int
		err  string
	}{
		{name: "local issuer, default aud", args: []string{"-cds", "-key-file", keyFile, "-url", srv.URL}, aud: service},
		{name: "local issuer, discovery", args: []string{"-cds", "-key-file", keyFile, "-aud", srv.URL + "/cds-services"}, aud: srv.URL + "/cds-services"},
		{name: "the spec's example key", args: []string{"-cds", "-cds-key", "../../cdshooks/testdata/jwk-private.json", "-iss", specIss, "-aud", service}, aud: service},
		{name: "no key", args: []string{"-cds", "-url", srv.URL}, code: 1, err: "needs a signing key"},
		{name: "a JWK without -iss", args: []string{"-cds", "-cds-key", "../../cdshooks/testdata/jwk-private.json"}, code: 1, err: "-iss"},
		{name: "a public JWK", args: []string{"-cds", "-cds-key", "../../cdshooks/testdata/jwt-header.json", "-iss", specIss}, code: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.err) {
				t.Fatalf("exit %d (%s), want %d %q", code, errb.String(), tc.code, tc.err)
			}
			if tc.code != 0 {
				return
			}
			tok := strings.TrimSpace(out.String())
			if _, err := v.Verify(context.Background(), tok, tc.aud); err != nil {
				t.Errorf("the CDS verifier refuses it: %v", err)
			}
			if _, err := v.Verify(context.Background(), tok, tc.aud); err == nil {
				t.Error("the same JWT accepted twice")
			}
		})
	}
}
