package auth_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

func ExampleVerifier() {
	// The local test issuer stands in for NHS CIS2.
	iss, err := issuer.New(issuer.Config{URL: "http://127.0.0.1:8080/oauth", Audience: "http://127.0.0.1:8080/fhir"})
	if err != nil {
		panic(err)
	}
	v, err := auth.NewVerifier(auth.Config{
		Issuers:  []auth.IssuerConfig{iss.IssuerConfig()}, // or {Issuer: …, JWKSURL: "https://…/jwks"}
		Audience: "http://127.0.0.1:8080/fhir",
	})
	if err != nil {
		panic(err)
	}
	tok, err := iss.Mint(issuer.Claims{Subject: "910000000004", Roles: []string{auth.RoleAdminClinicalSupport},
		RoleProfileID: "555254240103", OrgODS: "Y05868", Scopes: []string{"user/Patient.rus"}})
	if err != nil {
		panic(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Subject, p.Roles, p.RoleProfileID, p.OrgODS)
	fmt.Println(auth.Decide(p, "Patient", auth.Patch))
	fmt.Println(auth.Decide(p, "AllergyIntolerance", auth.Search))

	_, err = v.Verify(context.Background(), tok+"x")
	var ae *auth.AuthError
	if errors.As(err, &ae) {
		fmt.Println(ae.Status, ae.Reason)
		fmt.Println(ae.WWWAuthenticate("fhir"))
	}
	// Output:
	// 910000000004 [R8008] 555254240103 Y05868
	// <nil>
	// auth: insufficient_scope: the token's scopes do not permit search on AllergyIntolerance
	// 401 malformed
	// Bearer realm="fhir", error="invalid_token", error_description="the token is not valid base64url"
}
