package loadtarget

import "testing"

func TestURL(t *testing.T) {
	for _, u := range []string{"http://localhost:1/", "http://LOCALHOST/", "http://127.0.0.1/", "http://127.1.2.3:9/", "https://[::1]:8443/"} {
		if _, err := URL(u); err != nil {
			t.Errorf("URL(%s) = %v, want accepted", u, err)
		}
	}
	for _, u := range []string{
		"http://example.com/", "http://10.0.0.1:8080/fhir/metadata", "http://[::ffff:10.0.0.1]/",
		"http://localhost.example.com/", "http://127.0.0.1.nip.io/", "http://0.0.0.0:8080/",
		"https://[2001:db8::1]/", "ftp://127.0.0.1/", "127.0.0.1:8080/no-scheme",
	} {
		if _, err := URL(u); err == nil {
			t.Errorf("URL(%s) accepted", u)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:443": true, "127.9.9.9:1": true,
		"10.0.0.1:80": false, "[2001:db8::1]:80": false, "0.0.0.0:80": false, "example.com:80": false,
	} {
		if err := CheckAddr(addr); (err == nil) != ok {
			t.Errorf("CheckAddr(%s) = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestHeader(t *testing.T) {
	h, err := Header([]string{"Accept: application/fhir+json", "X-A: 1", "x-a:2", "Empty:"})
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Accept") != "application/fhir+json" || len(h.Values("X-A")) != 2 || h.Get("Empty") != "" {
		t.Errorf("Header = %v", h)
	}
	for _, bad := range []string{"no colon", ": no name", "Bad Name: x"} {
		if _, err := Header([]string{bad}); err == nil {
			t.Errorf("Header(%q) accepted", bad)
		}
	}
}
