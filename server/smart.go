package server

// SMARTConfiguration is the SMART App Launch discovery document.
// See: https://hl7.org/fhir/smart-app-launch/conformance.html
type SMARTConfiguration struct {
	Issuer                            string   `json:"issuer,omitempty"`
	JWKSURI                           string   `json:"jwks_uri,omitempty"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported,omitempty"`
	Capabilities                      []string `json:"capabilities"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
}
