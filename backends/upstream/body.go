package upstream

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// errBodyTooLarge: the response body is longer than the client allows.
var errBodyTooLarge = errors.New("response body larger than allowed")

// tooLarge is the error of a backend answer longer than the client reads.
func tooLarge(name string) *fhirerr.Error {
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: name, Message: tooLargeMessage(name)}
}

func tooLargeMessage(name string) string {
	return "the " + name + " service sent a response larger than allowed"
}

// IsTooLarge reports whether err is a backend answer refused for its size
// (Config.MaxBody, StreamOptions.MaxBody), as against one that failed.
func IsTooLarge(err error) bool {
	e := fhirerr.As(err)
	return e != nil && e.Category == fhirerr.BadGateway && e.Message == tooLargeMessage(e.Backend)
}

// bodyBuffers hold chunked bodies while they are read, so the only
// allocation per call is the exact-size copy handed to the caller.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer: bigger buffers are dropped rather than kept for reuse.
const maxPooledBuffer = 1 << 20

// readBody reads a response body of at most max bytes. A declared
// Content-Length (n ≥ 0) sizes the buffer exactly: io.ReadAll would start at
// 512 bytes and grow, allocating about twice the body (it was 54 % of the
// bytes a $summary allocates). An unknown length reads into a pooled buffer.
func readBody(r io.Reader, n, max int64) ([]byte, error) {
	if n > max {
		return nil, errBodyTooLarge
	}
	if n >= 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		// net/http stops a body at its Content-Length, so nothing is left.
		return b, nil
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			bodyBuffers.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(r, max+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > max {
		return nil, errBodyTooLarge
	}
	return bytes.Clone(buf.Bytes()), nil
}
