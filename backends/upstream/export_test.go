package upstream

import (
	"context"
	"net/http"
	"time"
)

// SetClock replaces c's clock and the sleep it waits with (backoff, rate
// limit), so that tests can move time without waiting for it.
func SetClock(c *Client, now func() time.Time, sleep func(context.Context, time.Duration) error) {
	c.now, c.sleep = now, sleep
}

// SetJitter replaces c's backoff jitter.
func SetJitter(c *Client, jitter func(time.Duration) time.Duration) { c.jitter = jitter }

// FlightWaiters is how many callers wait for c's coalesced cache misses.
func FlightWaiters(c *Client) int {
	_, w := c.flights.Waiting()
	return w
}

// HTTPClient is the http.Client c sends its requests with.
func HTTPClient(c *Client) *http.Client { return c.http }
