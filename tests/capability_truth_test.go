package tests

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/issuer"
	"github.com/carerecords/fhir-facade/viewer"
)

// What the CapabilityStatement and the SMART configuration claim, each
// claim tried against the running facade: a stock FHIR or SMART client
// that believes them must find nothing false. A claim these tests do not
// know how to try fails them, so nothing is advertised untried.

// statementDoc is the CapabilityStatement and its one rest entry.
func statementDoc(t *testing.T) (stmt, rest map[string]any) {
	t.Helper()
	r := get(t, "/metadata")
	if r.status != 200 || r.body["resourceType"] != "CapabilityStatement" {
		t.Fatalf("metadata: %d %s", r.status, r.raw)
	}
	return r.body, r.body["rest"].([]any)[0].(map[string]any)
}

// strs returns the strings of a JSON array.
func strs(v any) []string {
	var out []string
	for _, x := range asList(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// interactionCodes are the interactions a resource entry advertises.
func interactionCodes(res map[string]any) []string {
	var out []string
	for _, i := range asList(res["interaction"]) {
		out = append(out, i.(map[string]any)["code"].(string))
	}
	return out
}

// publicGet fetches u with no token at all.
func publicGet(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, body := smartDo(t, req)
	return res.StatusCode, body
}

// Every operation the statement names resolves, without a token, to the
// OperationDefinition whose url it is, which says truly how it is invoked;
// and invoking it that way is served.
func TestOperationDefinitionsResolve(t *testing.T) {
	stmt, rest := statementDoc(t)
	version := stmt["software"].(map[string]any)["version"]
	n := 0
	for _, x := range asList(rest["resource"]) {
		res := x.(map[string]any)
		typ := res["type"].(string)
		for _, o := range asList(res["operation"]) {
			op := o.(map[string]any)
			name, def := op["name"].(string), op["definition"].(string)
			n++
			t.Run(typ+"/$"+name, func(t *testing.T) {
				if !strings.HasPrefix(def, env.url+"/OperationDefinition/") {
					t.Fatalf("definition %s is not under the server's base %s", def, env.url)
				}
				status, od := publicGet(t, def)
				if status != 200 || od["resourceType"] != "OperationDefinition" {
					t.Fatalf("GET %s: %d %v", def, status, od)
				}
				if od["url"] != def || od["code"] != name || od["version"] != version || od["status"] != "active" || od["kind"] != "operation" || od["system"] != false {
					t.Errorf("url %v code %v version %v status %v kind %v system %v", od["url"], od["code"], od["version"], od["status"], od["kind"], od["system"])
				}
				if !slices.Contains(strs(od["resource"]), typ) {
					t.Errorf("resource %v does not name %s", od["resource"], typ)
				}
				// The standard operations name HL7's definition as their base.
				wantBase := map[string]string{
					"Patient/summary":    "http://hl7.org/fhir/uv/ips/OperationDefinition/summary",
					"Patient/everything": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
				}[typ+"/"+name]
				if b, _ := od["base"].(string); b != wantBase {
					t.Errorf("base %q, want %q", b, wantBase)
				}
				if od["instance"] == true {
					// GET [base]/[type]/[id]/$[name] (affectsState false).
					if od["affectsState"] != false || od["type"] != false {
						t.Errorf("an instance operation: affectsState %v type %v", od["affectsState"], od["type"])
					}
					r := call(t, "GET", "/"+typ+"/"+sampleIDs[typ]+"/$"+name, nil, "")
					if r.status != 200 || r.body["resourceType"] != "Bundle" {
						t.Errorf("GET %s/%s/$%s: %d %s", typ, sampleIDs[typ], name, r.status, r.raw)
					}
				}
				if od["type"] == true {
					// POST [base]/[type]/$[name] with a Parameters body: routed, an
					// empty one refused as invalid, not as unknown.
					r := call(t, "POST", "/"+typ+"/$"+name, map[string]string{"Content-Type": "application/fhir+json", "Authorization": bearer("clinician")}, `{"resourceType":"Parameters"}`)
					if r.status != 400 && r.status != 422 {
						t.Errorf("POST %s/$%s with no parameters: %d %s", typ, name, r.status, r.raw)
					}
				}
			})
		}
	}
	if len(asList(rest["operation"])) > 0 {
		t.Errorf("rest.operation lists system operations, which the facade serves none of: %v", rest["operation"])
	}
	if n == 0 {
		t.Fatal("the statement names no operation")
	}
}

// Every interaction a resource entry does not advertise is refused as
// not allowed (405), so a client trusting the statement misses nothing and
// one that does not is told; delete is advertised nowhere and served
// nowhere; no history is served (readHistory false everywhere).
func TestUnadvertisedInteractionsAreRefused(t *testing.T) {
	_, rest := statementDoc(t)
	type try struct{ method, path string }
	for _, x := range asList(rest["resource"]) {
		res := x.(map[string]any)
		typ := res["type"].(string)
		if res["readHistory"] != false || res["updateCreate"] != false || res["conditionalUpdate"] != false || res["conditionalDelete"] != "not-supported" {
			t.Errorf("%s: readHistory %v updateCreate %v conditionalUpdate %v conditionalDelete %v", typ, res["readHistory"], res["updateCreate"], res["conditionalUpdate"], res["conditionalDelete"])
		}
		id := sampleIDs[typ]
		if id == "" {
			id = "9000000009"
		}
		tries := map[string]try{
			"read":        {"GET", "/" + typ + "/" + id},
			"search-type": {"GET", "/" + typ},
			"create":      {"POST", "/" + typ},
			"update":      {"PUT", "/" + typ + "/" + id},
			"patch":       {"PATCH", "/" + typ + "/" + id},
			"delete":      {"DELETE", "/" + typ + "/" + id},
		}
		codes := interactionCodes(res)
		for code, tr := range tries {
			if slices.Contains(codes, code) {
				continue
			}
			r := call(t, tr.method, tr.path, map[string]string{"Content-Type": "application/fhir+json", "Authorization": bearer(roleFor(typ, code))}, `{"resourceType":"`+typ+`"}`)
			if r.status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s (%s not advertised): %d %s", tr.method, tr.path, code, r.status, r.raw)
			}
		}
	}
	if r := get(t, "/Patient/9000000009/_history"); r.status != 404 {
		t.Errorf("history of a Patient: %d", r.status)
	}
}

// format, patchFormat, versioning, _include/_revinclude, batch and the
// security extension, each as the statement says.
func TestCapabilityStatementClaims(t *testing.T) {
	stmt, rest := statementDoc(t)
	t.Run("format", func(t *testing.T) {
		formats := strs(stmt["format"])
		if len(formats) == 0 {
			t.Fatal("no format")
		}
		for _, f := range formats {
			r := get(t, "/Patient/9000000009?_format="+url.QueryEscape(f))
			if r.status != 200 {
				t.Errorf("_format=%s: %d", f, r.status)
			}
			if strings.Contains(f, "/") {
				r = call(t, "GET", "/Patient/9000000009", map[string]string{"Accept": f}, "")
				if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), f) {
					t.Errorf("Accept %s: %d %s", f, r.status, r.header.Get("Content-Type"))
				}
			}
		}
	})
	t.Run("patchFormat", func(t *testing.T) {
		var patched []string
		for _, x := range asList(rest["resource"]) {
			res := x.(map[string]any)
			if slices.Contains(interactionCodes(res), "patch") {
				patched = append(patched, res["type"].(string))
			}
		}
		formats := strs(stmt["patchFormat"])
		if (len(patched) > 0) != (len(formats) > 0) {
			t.Fatalf("patched types %v, patchFormat %v", patched, formats)
		}
		hdr := func(ct string) map[string]string {
			return map[string]string{"Content-Type": ct, "Authorization": bearer("admin")}
		}
		for _, typ := range patched {
			for _, f := range formats {
				// Understood: refused only for want of If-Match.
				if r := call(t, "PATCH", "/"+typ+"/9000000009", hdr(f), `[{"op":"replace","path":"/gender","value":"male"}]`); r.status != 428 {
					t.Errorf("PATCH %s as %s: %d %s", typ, f, r.status, r.raw)
				}
			}
			// FHIRPath Patch is not listed, and is not understood.
			if !slices.Contains(formats, "application/fhir+json") {
				r := call(t, "PATCH", "/"+typ+"/9000000009", hdr("application/fhir+json"), `{"resourceType":"Parameters"}`)
				if r.status != 415 {
					t.Errorf("a FHIRPath Patch on %s: %d %s", typ, r.status, r.raw)
				}
			}
		}
	})
	t.Run("versioning", func(t *testing.T) {
		for _, x := range asList(rest["resource"]) {
			res := x.(map[string]any)
			typ := res["type"].(string)
			v := res["versioning"].(string)
			if v == "no-version" || !slices.Contains(interactionCodes(res), "read") {
				continue
			}
			r := call(t, "GET", "/"+typ+"/"+sampleIDs[typ], map[string]string{"Authorization": bearer(roleFor(typ, "read"))}, "")
			meta, _ := r.body["meta"].(map[string]any)
			if r.status != 200 || meta == nil || r.header.Get("ETag") != `W/"`+meta["versionId"].(string)+`"` {
				t.Errorf("%s is %s but its read has ETag %q, meta %v", typ, v, r.header.Get("ETag"), meta)
			}
			writes := slices.Contains(interactionCodes(res), "update") || slices.Contains(interactionCodes(res), "patch")
			if (v == "versioned-update") != writes {
				t.Errorf("%s versioning %s, writes %v", typ, v, writes)
			}
		}
	})
	t.Run("searchInclude and searchRevInclude", func(t *testing.T) {
		n := 0
		for _, x := range asList(rest["resource"]) {
			res := x.(map[string]any)
			typ := res["type"].(string)
			for _, inc := range strs(res["searchInclude"]) {
				n++
				q := url.Values{"_include": {inc}, "patient": {"9000000009"}}
				r := call(t, "GET", "/"+typ+"?"+q.Encode(), map[string]string{"Prefer": "handling=strict", "Authorization": bearer(roleFor(typ, "search-type"))}, "")
				if r.status != 200 {
					t.Errorf("_include=%s: %d %s", inc, r.status, r.raw)
				}
			}
			for _, rev := range strs(res["searchRevInclude"]) {
				n++
				if typ != "Patient" {
					t.Errorf("_revinclude=%s on %s: this test knows only revincludes from Patient", rev, typ)
					continue
				}
				q := url.Values{"_revinclude": {rev}, "_id": {"9000000009"}}
				r := call(t, "GET", "/"+typ+"?"+q.Encode(), map[string]string{"Prefer": "handling=strict"}, "")
				if r.status != 200 {
					t.Errorf("_revinclude=%s: %d %s", rev, r.status, r.raw)
				}
			}
		}
		if n == 0 {
			t.Error("nothing advertised to include")
		}
	})
	t.Run("batch", func(t *testing.T) {
		codes := []string{}
		for _, i := range asList(rest["interaction"]) {
			codes = append(codes, i.(map[string]any)["code"].(string))
		}
		if !slices.Equal(codes, []string{"batch"}) {
			t.Fatalf("rest.interaction %v", codes)
		}
		r := call(t, "POST", env.url, map[string]string{"Content-Type": "application/fhir+json"},
			`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/9000000009"}}]}`)
		if r.status != 200 || r.body["type"] != "batch-response" {
			t.Errorf("batch: %d %s", r.status, r.raw)
		}
	})
	t.Run("security", func(t *testing.T) {
		sec := rest["security"].(map[string]any)
		uris := map[string]string{}
		for _, e := range asList(sec["extension"]) {
			ext := e.(map[string]any)
			if ext["url"] != "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris" {
				t.Errorf("extension %v", ext["url"])
				continue
			}
			for _, p := range asList(ext["extension"]) {
				part := p.(map[string]any)
				uris[part["url"].(string)] = part["valueUri"].(string)
			}
		}
		conf := smartConfig(t)
		want := map[string]string{"token": conf["token_endpoint"].(string), "authorize": conf["authorization_endpoint"].(string)}
		if len(uris) != len(want) || uris["token"] != want["token"] || uris["authorize"] != want["authorize"] {
			t.Errorf("oauth-uris %v, smart-configuration %v", uris, want)
		}
	})
	t.Run("Practitioner is read only", func(t *testing.T) {
		for _, x := range asList(rest["resource"]) {
			res := x.(map[string]any)
			if res["type"] == "Practitioner" {
				if c := interactionCodes(res); !slices.Equal(c, []string{"read"}) || res["searchParam"] != nil {
					t.Errorf("Practitioner: %v %v", c, res["searchParam"])
				}
				return
			}
		}
		t.Error("Practitioner is not listed, though fhirUser names one")
	})
}

// smartConfig is the facade's SMART configuration document.
func smartConfig(t *testing.T) map[string]any {
	t.Helper()
	status, conf := publicGet(t, env.url+"/.well-known/smart-configuration")
	if status != 200 {
		t.Fatalf("smart-configuration: %d", status)
	}
	return conf
}

// viewerRedirect is the redirect URI the facade's viewer (a public SMART
// client) registered.
func viewerRedirect() string { return env.root + viewer.CallbackPath }

// ehrLaunchToken runs an EHR launch for 9000000009 as the viewer, asking
// for scope at the authorization endpoint by GET or POST, and returns the
// token response.
func ehrLaunchToken(t *testing.T, scope string, post bool) map[string]any {
	t.Helper()
	p := url.Values{
		"response_type": {"code"}, "client_id": {issuer.ViewerClientID}, "redirect_uri": {viewerRedirect()},
		"scope": {scope}, "state": {"truth"}, "aud": {env.url}, "launch": {smartLaunch(t, env.root, "9000000009")},
		"code_challenge": {smartChallenge}, "code_challenge_method": {"S256"}, "nonce": {"n-1"},
	}
	var q url.Values
	if post {
		req, _ := http.NewRequest("POST", env.root+issuer.AuthorizePath, strings.NewReader(p.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, _ := smartDo(t, req)
		loc, err := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusFound || err != nil {
			t.Fatalf("POST authorize: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		q = loc.Query()
	} else {
		q = smartAuthorize(t, env.root, p)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code for %q: %v", scope, q)
	}
	res, tok := smartPost(t, env.root+issuer.TokenPath, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {viewerRedirect()}, "client_id": {issuer.ViewerClientID}, "code_verifier": {smartVerifier}})
	if res.StatusCode != 200 || tok["access_token"] == nil {
		t.Fatalf("token for %q: %d %v", scope, res.StatusCode, tok)
	}
	return tok
}

// clientCredentials asks the token endpoint as the dev client, by HTTP
// Basic or with the secret in the form.
func clientCredentials(t *testing.T, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	form.Set("grant_type", "client_credentials")
	if basic {
		res, body := smartPost(t, env.root+issuer.TokenPath, form, issuer.DevClientID, issuer.DevClientSecret)
		return res.StatusCode, body
	}
	form.Set("client_id", issuer.DevClientID)
	form.Set("client_secret", issuer.DevClientSecret)
	res, body := smartPost(t, env.root+issuer.TokenPath, form)
	return res.StatusCode, body
}

// with is a bearer header for a token response's access token.
func withToken(tok map[string]any) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}
}

// readsAs reports the status of GET path with the token.
func readsAs(t *testing.T, tok map[string]any, path string) int {
	t.Helper()
	return call(t, "GET", path, withToken(tok), "").status
}

// idTokenClaims checks an id_token's RS256 signature against the issuer's
// published keys and returns its claims.
func idTokenClaims(t *testing.T, conf map[string]any, idToken string) map[string]any {
	t.Helper()
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token is not a compact JWS")
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var hdr struct{ Alg, Kid string }
	var claims map[string]any
	if json.Unmarshal(dec(parts[0]), &hdr) != nil || json.Unmarshal(dec(parts[1]), &claims) != nil || hdr.Alg != "RS256" {
		t.Fatalf("id_token header %+v", hdr)
	}
	_, jwks := publicGet(t, conf["jwks_uri"].(string))
	for _, k := range asList(jwks["keys"]) {
		key := k.(map[string]any)
		if key["kid"] != hdr.Kid || key["kty"] != "RSA" {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(dec(key["n"].(string))), E: int(new(big.Int).SetBytes(dec(key["e"].(string))).Int64())}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], dec(parts[2])); err != nil {
			t.Fatalf("id_token signature: %v", err)
		}
		return claims
	}
	t.Fatalf("the id_token's key %s is not published at jwks_uri", hdr.Kid)
	return nil
}

// Every capability, grant type, authentication method, response type,
// challenge method and scope the SMART configuration advertises works, and
// nothing unimplemented is advertised.
func TestSMARTConfigurationIsTrue(t *testing.T) {
	conf := smartConfig(t)
	for _, absent := range []string{"introspection_endpoint", "revocation_endpoint", "management_endpoint", "registration_endpoint"} {
		if conf[absent] != nil {
			t.Errorf("%s is advertised: the issuer serves none", absent)
		}
	}
	if s := strs(conf["scopes_supported"]); slices.Contains(s, "offline_access") || slices.Contains(s, "online_access") {
		t.Errorf("refresh tokens are advertised but never issued: %v", s)
	}
	capabilities := map[string]func(t *testing.T){
		"launch-ehr": func(t *testing.T) {
			if tok := ehrLaunchToken(t, "launch patient/*.rs", false); readsAs(t, tok, "/Patient/9000000009") != 200 {
				t.Error("an EHR launch's token does not read its patient")
			}
		},
		"authorize-post": func(t *testing.T) { ehrLaunchToken(t, "launch patient/*.rs", true) },
		"client-public": func(t *testing.T) {
			// ehrLaunchToken authenticates as the viewer with no secret.
			ehrLaunchToken(t, "launch user/*.rs", false)
		},
		"client-confidential-symmetric": func(t *testing.T) {
			for _, basic := range []bool{true, false} {
				if status, tok := clientCredentials(t, url.Values{}, basic); status != 200 || readsAs(t, tok, "/Patient/9000000009") != 200 {
					t.Errorf("client secret (basic %v): %d %v", basic, status, tok)
				}
			}
			if res, body := smartPost(t, env.root+issuer.TokenPath, url.Values{"grant_type": {"client_credentials"}}, issuer.DevClientID, "wrong"); res.StatusCode != 401 || body["error"] != "invalid_client" {
				t.Errorf("a wrong secret: %d %v", res.StatusCode, body)
			}
		},
		"context-ehr-patient": func(t *testing.T) {
			if tok := ehrLaunchToken(t, "launch patient/*.rs", false); tok["patient"] != "9000000009" {
				t.Errorf("token response patient %v", tok["patient"])
			}
		},
		"context-banner": func(t *testing.T) {
			if tok := ehrLaunchToken(t, "launch patient/*.rs", false); tok["need_patient_banner"] != true {
				t.Errorf("need_patient_banner %v", tok["need_patient_banner"])
			}
		},
		"sso-openid-connect": func(t *testing.T) {
			tok := ehrLaunchToken(t, "launch openid fhirUser patient/*.rs", false)
			claims := idTokenClaims(t, conf, tok["id_token"].(string))
			if claims["iss"] != conf["issuer"] || claims["aud"] != issuer.ViewerClientID || claims["nonce"] != "n-1" || claims["sub"] == nil {
				t.Errorf("id_token claims %v", claims)
			}
			// fhirUser resolves, with the app's own access token.
			fu, _ := claims["fhirUser"].(string)
			if !strings.HasPrefix(fu, env.url+"/Practitioner/") {
				t.Fatalf("fhirUser %q", fu)
			}
			r := call(t, "GET", fu, withToken(tok), "")
			if r.status != 200 || r.body["resourceType"] != "Practitioner" || r.body["id"] != claims["sub"] {
				t.Errorf("GET fhirUser: %d %s", r.status, r.raw)
			}
		},
		"permission-v1": func(t *testing.T) {
			status, tok := clientCredentials(t, url.Values{"role": {"clinician"}, "scope": {"user/*.read"}}, true)
			if status != 200 || readsAs(t, tok, "/Patient/9000000009") != 200 {
				t.Errorf("user/*.read: %d %v", status, tok)
			}
			if call(t, "POST", "/Flag", map[string]string{"Authorization": withToken(tok)["Authorization"], "Content-Type": "application/fhir+json"}, `{"resourceType":"Flag"}`).status != 403 {
				t.Error("user/*.read writes")
			}
		},
		"permission-v2": func(t *testing.T) {
			status, tok := clientCredentials(t, url.Values{"role": {"clinician"}, "scope": {"user/Patient.r"}}, true)
			if status != 200 || readsAs(t, tok, "/Patient/9000000009") != 200 {
				t.Errorf("user/Patient.r reads: %d %v", status, tok)
			}
			if readsAs(t, tok, "/Patient?identifier=9000000009") != 403 {
				t.Error("user/Patient.r searches: v2's s is not honoured apart from r")
			}
		},
		"permission-user": func(t *testing.T) {
			if tok := ehrLaunchToken(t, "launch user/*.rs", false); readsAs(t, tok, "/Patient/9000000017") != 200 {
				t.Error("a user/ token from a launch is held to the launch's patient")
			}
		},
		"permission-patient": func(t *testing.T) {
			tok := ehrLaunchToken(t, "launch patient/*.rs", false)
			if readsAs(t, tok, "/AllergyIntolerance?patient=9000000009") != 200 || readsAs(t, tok, "/Patient/9000000017") != 403 {
				t.Error("a patient/ token is not held to its patient")
			}
		},
	}
	for _, c := range strs(conf["capabilities"]) {
		t.Run("capability "+c, func(t *testing.T) {
			check, ok := capabilities[c]
			if !ok {
				t.Fatalf("%s is advertised, and this test does not know how to try it", c)
			}
			check(t)
		})
	}
	for _, g := range strs(conf["grant_types_supported"]) {
		t.Run("grant "+g, func(t *testing.T) {
			switch g {
			case "authorization_code":
				ehrLaunchToken(t, "launch patient/*.rs", false)
			case "client_credentials":
				if status, _ := clientCredentials(t, url.Values{}, true); status != 200 {
					t.Errorf("client_credentials: %d", status)
				}
			default:
				t.Errorf("grant type %s is advertised, and this test does not know how to try it", g)
			}
		})
	}
	for _, m := range strs(conf["token_endpoint_auth_methods_supported"]) {
		t.Run("auth method "+m, func(t *testing.T) {
			switch m {
			case "client_secret_basic", "client_secret_post":
				if status, _ := clientCredentials(t, url.Values{}, m == "client_secret_basic"); status != 200 {
					t.Errorf("%s: %d", m, status)
				}
			case "none":
				ehrLaunchToken(t, "launch patient/*.rs", false) // the viewer presents no secret
			default:
				t.Errorf("auth method %s is advertised, and this test does not know how to try it", m)
			}
		})
	}
	if rt := strs(conf["response_types_supported"]); !slices.Equal(rt, []string{"code"}) {
		t.Errorf("response_types_supported %v (ehrLaunchToken tries code)", rt)
	}
	t.Run("code challenge methods", func(t *testing.T) {
		if m := strs(conf["code_challenge_methods_supported"]); !slices.Equal(m, []string{"S256"}) {
			t.Fatalf("code_challenge_methods_supported %v", m)
		}
		// S256 is what ehrLaunchToken uses; plain is not offered, nor taken.
		p := url.Values{
			"response_type": {"code"}, "client_id": {issuer.ViewerClientID}, "redirect_uri": {viewerRedirect()},
			"scope": {"launch patient/*.rs"}, "state": {"s"}, "aud": {env.url}, "launch": {smartLaunch(t, env.root, "9000000009")},
			"code_challenge": {smartVerifier}, "code_challenge_method": {"plain"},
		}
		if q := smartAuthorize(t, env.root, p); q.Get("code") != "" || q.Get("error") != "invalid_request" {
			t.Errorf("plain PKCE: %v", q)
		}
	})
	for _, s := range strs(conf["scopes_supported"]) {
		t.Run("scope "+s, func(t *testing.T) {
			var granted string
			switch {
			case strings.HasPrefix(s, "system/"):
				status, tok := clientCredentials(t, url.Values{"scope": {s}}, true)
				if status != 200 || readsAs(t, tok, "/Patient/9000000009") != 200 {
					t.Fatalf("%s: %d %v", s, status, tok)
				}
				granted, _ = tok["scope"].(string)
			case s == "fhirUser":
				granted, _ = ehrLaunchToken(t, "launch openid fhirUser", false)["scope"].(string)
			case s == "launch" || s == "launch/patient" || s == "openid" || strings.HasPrefix(s, "patient/") || strings.HasPrefix(s, "user/"):
				granted, _ = ehrLaunchToken(t, strings.Join(slices.Compact([]string{"launch", s}), " "), false)["scope"].(string)
			default:
				t.Fatalf("scope %s is advertised, and this test does not know how to ask for it", s)
			}
			if !slices.Contains(strings.Fields(granted), s) {
				t.Errorf("asked for %s, granted %q", s, granted)
			}
		})
	}
}

// launch/patient is the standalone launch's scope: a token carrying it
// (from an issuer that does standalone launches) reads as its scopes say;
// the local issuer grants it inside an EHR launch, and refuses a
// standalone request plainly, as it does not advertise launch-standalone.
func TestLaunchPatientScope(t *testing.T) {
	// A token as a standalone launch leaves it: the patient picked, fhirUser.
	c, err := env.app.Issuer.DevClaims(issuer.DevClientID, "clinician", "9000000009", []string{"launch/patient", "patient/*.rs", "openid", "fhirUser"}, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.app.Issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	tok := map[string]any{"access_token": raw}
	for path, want := range map[string]int{
		"/Patient/9000000009":                    200,
		"/AllergyIntolerance?patient=9000000009": 200,
		"/Patient/9000000017":                    403,
		"/Practitioner/910000000001":             200, // the clinician's own record, through fhirUser
		"/Practitioner/910000000002":             404, // another user's: none is served
	} {
		if got := readsAs(t, tok, path); got != want {
			t.Errorf("%s: %d, want %d", path, got, want)
		}
	}
	// Without fhirUser a patient-bound token has no business with its user.
	c.Scopes = []string{"launch/patient", "patient/*.rs"}
	raw, err = env.app.Issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := readsAs(t, map[string]any{"access_token": raw}, "/Practitioner/910000000001"); got != 403 {
		t.Errorf("own Practitioner without fhirUser, patient context: %d", got)
	}

	// Inside an EHR launch it is granted, with the launch's patient.
	if tok := ehrLaunchToken(t, "launch launch/patient patient/*.rs", false); tok["patient"] != "9000000009" || !strings.Contains(tok["scope"].(string), "launch/patient") {
		t.Errorf("EHR launch with launch/patient: %v", tok)
	}
	if slices.Contains(strs(smartConfig(t)["capabilities"]), "launch-standalone") {
		t.Fatal("launch-standalone is advertised: this test expects the local issuer to refuse it")
	}
	p := url.Values{
		"response_type": {"code"}, "client_id": {issuer.ViewerClientID}, "redirect_uri": {viewerRedirect()},
		"scope": {"launch/patient patient/*.rs openid fhirUser"}, "state": {"s"}, "aud": {env.url},
		"code_challenge": {smartChallenge}, "code_challenge_method": {"S256"},
	}
	if q := smartAuthorize(t, env.root, p); q.Get("code") != "" || q.Get("error") != "invalid_scope" || !strings.Contains(q.Get("error_description"), "standalone") {
		t.Errorf("a standalone launch request: %v", q)
	}
}
