package sandbox_test

import (
	"fmt"
	"net/http"

	"github.com/carerecords/fhir-facade/sandbox"
	"github.com/carerecords/fhir-facade/sandbox/pds"
)

func ExampleStart() {
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	read := func() {
		req, _ := http.NewRequest(http.MethodGet, sb.PDSBaseURL+"/Patient/9000000009", nil)
		req.Header.Set("Authorization", "Bearer any-token")
		req.Header.Set("X-Request-ID", "60e0b220-8136-4ca5-ae46-1d97ef59d068")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status, resp.Header.Get("Content-Type"))
	}
	read()

	// Make the next read fail as PDS's gateway sometimes does.
	sb.PDS.SetFault(&pds.Fault{Status: http.StatusServiceUnavailable, Body: "<html>503</html>", ContentType: "text/html", Count: 1})
	read()
	read()
	fmt.Println(sb.PDS.Requests(), "requests")
	// Output:
	// 200 OK application/fhir+json
	// 503 Service Unavailable text/html
	// 200 OK application/fhir+json
	// 3 requests
}
