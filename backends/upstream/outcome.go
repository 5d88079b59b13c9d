package upstream

import "encoding/json"

// Outcome is the first issue of a backend's OperationOutcome: the machine
// code from issue.details.coding (NHS APIs put their Spine error code there),
// and the issue.code. Clients match on Code, never on Diagnostics.
type Outcome struct {
	IssueCode string
	Severity  string
	System    string
	Version   string // the code system's version, as PDS sends it ("1")
	Code      string
	// Display is the coding's display: a fixed label for the code, safe to
	// show. Text is issue.details.text, free text that may echo patient data
	// (SCR puts "[PSIS-xxxxx] …" there): log it at most, never show it.
	Display     string
	Text        string
	Diagnostics string
}

// ParseOutcome reads the first issue of an OperationOutcome body; ok is false
// when the body is not one (an HTML error page, say).
func ParseOutcome(body []byte) (o Outcome, ok bool) {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string `json:"severity"`
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
			Details     struct {
				Coding []struct {
					System  string `json:"system"`
					Version string `json:"version"`
					Code    string `json:"code"`
					Display string `json:"display"`
				} `json:"coding"`
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return Outcome{}, false
	}
	is := oo.Issue[0]
	o = Outcome{IssueCode: is.Code, Severity: is.Severity, Diagnostics: is.Diagnostics, Text: is.Details.Text}
	if len(is.Details.Coding) > 0 {
		c := is.Details.Coding[0]
		o.System, o.Version, o.Code = c.System, c.Version, c.Code
		if c.Display != "" {
			o.Display = c.Display
		}
	}
	return o, true
}
