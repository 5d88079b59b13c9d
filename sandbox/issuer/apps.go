package issuer

import (
	"fmt"
	"strings"
)

// ParseApps reads SMART apps to register with the local issuer (the facade's
// AUTH_DEV_APPS): comma-separated entries
//
//	client_id=redirect_uri            a public client (PKCE, no secret)
//	client_id:secret=redirect_uri     a confidential client (client_secret_basic or _post)
//
// A client_id given again adds a redirect URI (with the same secret, or
// none). client_id is 1–64 of A-Z a-z 0-9 . _ -; redirect URIs are
// absolute http(s) URLs without a fragment and, the list being
// comma-separated, without commas. Blank entries are ignored.
func ParseApps(s string) ([]Client, error) {
	var out []Client
	index := map[string]int{}
	for n, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		who, uri, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("app %d: not client_id=redirect_uri", n+1)
		}
		id, secret, _ := strings.Cut(who, ":")
		if !validClientID(id) {
			return nil, fmt.Errorf("app %d: client_id must be 1-64 of A-Z a-z 0-9 . _ -", n+1)
		}
		if err := ValidateRedirectURI(uri); err != nil {
			return nil, fmt.Errorf("app %d (%s): %w", n+1, id, err)
		}
		if k, seen := index[id]; seen {
			if out[k].Secret != secret {
				return nil, fmt.Errorf("app %d (%s): a different secret for the same client_id", n+1, id)
			}
			out[k].RedirectURIs = append(out[k].RedirectURIs, uri)
			continue
		}
		index[id] = len(out)
		out = append(out, Client{ID: id, Secret: secret, RedirectURIs: []string{uri}})
	}
	return out, nil
}

func validClientID(id string) bool {
	return id != "" && len(id) <= 64 &&
		strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == ""
}
