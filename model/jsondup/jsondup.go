// Package jsondup finds duplicate member names in a JSON document.
//
// RFC 8259 §4 leaves the meaning of an object with two members of the same
// name to the parser: encoding/json keeps the last, other parsers the first
// or refuse. A document whose meaning depends on the parser must not reach
// one (a signature or policy check reading one member while the record
// keeps the other), so FHIR resource bodies and JWTs alike are refused
// with one implementation, and the two can never disagree.
//
// Check leaves the syntax to encoding/json and compares names as it
// decodes them, so "sub\u006aect" is "subject"; it holds nothing but the
// names of the open objects.
package jsondup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of objects and arrays, as the PDS simulator's
// JSON reader does (sandbox/pds): a Bundle of Patients nests about
// a dozen deep, and a hostile body must not cost a deep stack.
const MaxDepth = 64

// ErrTooDeep is returned for a document nested deeper than MaxDepth.
var ErrTooDeep = fmt.Errorf("JSON nested deeper than %d", MaxDepth)

// ErrTrailingData is returned when the document is followed by more than
// white space.
var ErrTrailingData = errors.New("data after the JSON value")

// Step is one step from the root to a value: a member name, or an index
// into an array when Member is false.
type Step struct {
	Member bool
	Name   string
	Index  int
}

// DuplicateError reports the first member name found twice in one object.
type DuplicateError struct {
	// Name is the member name, as decoded.
	Name string
	// Path leads from the root to the object holding the two members.
	Path []Step
	// Offset is the byte offset just past the second occurrence's name.
	Offset int64
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("duplicate member name %s at byte %d", strconv.Quote(e.Name), e.Offset)
}

// Pointer is the JSON pointer (RFC 6901) of the second occurrence.
func (e *DuplicateError) Pointer() string {
	var sb strings.Builder
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	for _, s := range e.Path {
		sb.WriteByte('/')
		if s.Member {
			sb.WriteString(esc.Replace(s.Name))
		} else {
			sb.WriteString(strconv.Itoa(s.Index))
		}
	}
	sb.WriteByte('/')
	sb.WriteString(esc.Replace(e.Name))
	return sb.String()
}

// smallObject is how many names an object may hold before they are kept in
// a map: FHIR elements have a few dozen members at most, and comparing
// short byte strings costs less than hashing them (and copying them into
// map keys). A map keeps a hostile object of many members from costing
// quadratic time.
const smallObject = 32

// frame is one open object or array.
type frame struct {
	object bool
	key    []byte // object: the name of the member being read, as compared
	index  int    // array: the element being read
	start  int    // object: where its names begin in the walk's names
	set    map[string]struct{}
}

// walk holds the open containers, innermost last, and the names of the
// open objects: each object's follow those of the objects it is in, as an
// object closes before its parent reads another name.
type walk struct {
	stack []frame
	names [][]byte
}

// seen records name in the innermost object, reporting whether it was
// there.
func (w *walk) seen(name []byte) bool {
	f := &w.stack[len(w.stack)-1]
	if f.set != nil {
		if _, ok := f.set[string(name)]; ok {
			return true
		}
		f.set[string(name)] = struct{}{}
		return false
	}
	for _, n := range w.names[f.start:] {
		if bytes.Equal(n, name) {
			return true
		}
	}
	w.names = append(w.names, name)
	if len(w.names)-f.start > smallObject {
		f.set = make(map[string]struct{}, 2*smallObject)
		for _, n := range w.names[f.start:] {
			f.set[string(n)] = struct{}{}
		}
		w.names = w.names[:f.start]
	}
	return false
}

// Check reads one JSON value from b and returns a *DuplicateError for the
// first object with a repeated member name, ErrTooDeep, ErrTrailingData, or
// encoding/json's error for a document that is not JSON.
//
// encoding/json checks the syntax (json.Valid, which allocates nothing);
// the walk that follows then only has to tell strings, brackets and commas
// apart in text known to be JSON, and holds the names of the open objects
// as slices of b. A name with an escape or a byte outside ASCII is decoded
// by encoding/json first, so names compare as any decoder sees them:
// "sub\u006aect" is "subject", and invalid UTF-8 is U+FFFD.
func Check(b []byte) error {
	if !json.Valid(b) {
		return syntaxError(b)
	}
	// Room for a FHIR resource's usual nesting and names without the heap.
	var stackBuf [16]frame
	var namesBuf [128][]byte
	w := walk{stack: stackBuf[:0], names: namesBuf[:0]}
	wantKey := false // the next string is a member name
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			start := i
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if !wantKey {
				continue
			}
			wantKey = false
			name := memberName(b[start : i+1])
			w.stack[len(w.stack)-1].key = name
			if w.seen(name) {
				return duplicate(w.stack, int64(i+1))
			}
		case '{', '[':
			if len(w.stack) >= MaxDepth {
				return ErrTooDeep
			}
			w.stack = append(w.stack, frame{object: c == '{', start: len(w.names)})
			wantKey = c == '{'
		case '}', ']':
			f := w.stack[len(w.stack)-1]
			if f.object {
				w.names = w.names[:f.start]
			}
			w.stack = w.stack[:len(w.stack)-1]
			wantKey = false
		case ',':
			if f := &w.stack[len(w.stack)-1]; f.object {
				wantKey = true
			} else {
				f.index++
			}
		}
	}
	return nil
}

// memberName is the name a quoted JSON string decodes to, without decoding
// (or allocating) when its bytes are the name already.
func memberName(quoted []byte) []byte {
	raw := quoted[1 : len(quoted)-1]
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			var s string
			if json.Unmarshal(quoted, &s) != nil {
				return raw // cannot happen: the document is valid JSON
			}
			return []byte(s)
		}
	}
	return raw
}

// syntaxError says why b, which json.Valid refused, is not one JSON value.
func syntaxError(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return ErrTrailingData
}

func duplicate(open []frame, offset int64) *DuplicateError {
	e := &DuplicateError{Name: string(open[len(open)-1].key), Offset: offset}
	// Every open frame but the innermost is the parent of the next one.
	for _, f := range open[:len(open)-1] {
		if f.object {
			e.Path = append(e.Path, Step{Member: true, Name: string(f.key)})
		} else {
			e.Path = append(e.Path, Step{Index: f.index})
		}
	}
	return e
}
