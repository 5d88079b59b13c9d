// Package jsonpatch reads RFC 6902 JSON Patch documents as PDS accepts them
// (add, remove, replace and test; move and copy are refused) and applies
// them, all or nothing, with github.com/evanphx/json-patch/v5.
//
// The library applies the operations; this package adds what it leaves
// out: the check of each operation's shape before anything is applied,
// which operation failed and why (without quoting values, which may be
// patient data), and three points where the library is laxer than RFC 6901
// and RFC 6902 (see Apply).
//
// See: https://www.rfc-editor.org/rfc/rfc6902 and, for paths,
// https://www.rfc-editor.org/rfc/rfc6901
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	evanphx "github.com/evanphx/json-patch/v5"
)

// Op is one patch operation.
type Op struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
	From  string          `json:"from,omitempty"`

	patch evanphx.Patch // this operation alone, its value in canonical form
}

// Error says which operation failed and why, without quoting values (they
// may be patient data).
type Error struct {
	Index int // the operation's position, from 0
	Path  string
	Msg   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("patch operation %d (%s): %s", e.Index, e.Path, e.Msg)
}

// Parse reads a JSON Patch document: a JSON array of operations. It checks
// each operation's shape (known op, a JSON pointer path, a value where one
// is needed) without applying anything.
func Parse(doc []byte) ([]Op, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var ops []Op
	if err := dec.Decode(&ops); err != nil {
		return nil, fmt.Errorf("a JSON Patch is a JSON array of operations: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("a JSON Patch is a single JSON array")
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("the patch has no operations")
	}
	wire := make([]map[string]any, len(ops))
	for i, op := range ops {
		switch op.Op {
		case "add", "replace", "test":
			if len(op.Value) == 0 {
				return nil, &Error{Index: i, Path: op.Path, Msg: op.Op + " needs a value"}
			}
		case "remove":
		case "move", "copy":
			return nil, &Error{Index: i, Path: op.Path, Msg: op.Op + " is not supported (use remove and add)"}
		default:
			return nil, &Error{Index: i, Path: op.Path, Msg: "unknown operation " + strconv.Quote(op.Op)}
		}
		switch {
		case op.Path == "":
			return nil, &Error{Index: i, Path: op.Path, Msg: "the whole document cannot be patched"}
		case op.Path[0] != '/':
			return nil, &Error{Index: i, Path: op.Path, Msg: "a path is a JSON pointer starting with '/'"}
		}
		w, err := libraryOp(op)
		if err != nil {
			return nil, &Error{Index: i, Path: op.Path, Msg: err.Error()}
		}
		wire[i] = w
	}
	b, err := json.Marshal(wire)
	if err != nil {
		return nil, err
	}
	patch, err := evanphx.DecodePatch(b)
	if err != nil || len(patch) != len(ops) {
		return nil, fmt.Errorf("the patch could not be read: %v", err)
	}
	for i := range ops {
		ops[i].patch = patch[i : i+1]
	}
	return ops, nil
}

// libraryOp is the library's form of an operation, its value in canonical
// form (as encoding/json writes a decoded value: members sorted, numbers as
// float64), which is what Apply's test compares. A test is sent as a
// replace (see Apply).
func libraryOp(op Op) (map[string]any, error) {
	w := map[string]any{"op": op.Op, "path": op.Path}
	if op.Op == "test" {
		w["op"] = "replace"
	}
	if len(op.Value) > 0 {
		v, err := canonical(op.Value)
		if err != nil {
			return nil, errors.New("the value is not JSON")
		}
		w["value"] = v
	}
	return w, nil
}

func canonical(b []byte) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// options: no negative array indexes (an extension the library turns on by
// default), and no path created on add: the parent of an added member must
// exist (RFC 6902 §4.1).
var options = func() *evanphx.ApplyOptions {
	o := evanphx.NewApplyOptions()
	o.SupportNegativeIndices = false
	o.EnsurePathExistsOnAdd = false
	return o
}()

// numericToken is a reference token that reads as a number; index is the
// form RFC 6901 §4 allows for an array index (no sign, no leading zero).
var (
	numericToken = regexp.MustCompile(`^[+-]?[0-9]+$`)
	index        = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
)

// Apply applies ops in order to the JSON document doc and returns the
// result (compact, members in canonical order); doc is not modified, and a
// failing operation leaves nothing half-applied.
//
// The library applies add, remove and replace. Where it is laxer than the
// RFCs, Apply refuses before it sees the operation: an array index with a
// sign or a leading zero (the library reads "01" and "-0" as indexes), and
// an empty reference token (which the library reads as the container
// itself). A test is a replace of the value by the expected one, passing
// when that changes nothing: both sides are in canonical form, so equal
// JSON values are equal bytes (numbers by value, members in any order, as
// RFC 6902 §4.6 says), and the target must exist. The library's own test
// compares numbers by their text, passes a test for null of a member that
// does not exist, and panics on an array holding null.
func Apply(doc []byte, ops []Op) ([]byte, error) {
	if !json.Valid(doc) {
		return nil, errors.New("the document is not JSON")
	}
	for i, op := range ops {
		if op.patch == nil {
			return nil, &Error{Index: i, Path: op.Path, Msg: "the operation was not read by Parse"}
		}
		for t := range strings.SplitSeq(op.Path[1:], "/") {
			switch {
			case t == "":
				return nil, &Error{Index: i, Path: op.Path, Msg: "a path has no empty segments"}
			case numericToken.MatchString(t) && !index.MatchString(t):
				return nil, &Error{Index: i, Path: op.Path, Msg: strconv.Quote(t) + " is not an array index"}
			}
		}
	}
	out, canon := doc, false
	for i := 0; i < len(ops); {
		if ops[i].Op == "test" {
			if !canon {
				out, _ = canonical(out) // valid JSON: out is doc or the library's
				canon = true
			}
			next, err := ops[i].patch.ApplyWithOptions(out, options)
			switch {
			case err != nil:
				return nil, &Error{Index: i, Path: ops[i].Path, Msg: reason(err)}
			case !bytes.Equal(next, out):
				return nil, &Error{Index: i, Path: ops[i].Path, Msg: "test failed: the value differs"}
			}
			i++
			continue
		}
		// A run of changes goes to the library at once; only when it
		// fails are they applied one by one, to say which failed.
		j := i + 1
		for j < len(ops) && ops[j].Op != "test" {
			j++
		}
		run := make(evanphx.Patch, 0, j-i)
		for _, op := range ops[i:j] {
			run = append(run, op.patch...)
		}
		next, err := run.ApplyWithOptions(out, options)
		if err != nil {
			for k := i; k < j; k++ {
				if out, err = ops[k].patch.ApplyWithOptions(out, options); err != nil {
					return nil, &Error{Index: k, Path: ops[k].Path, Msg: reason(err)}
				}
			}
			return nil, &Error{Index: i, Path: ops[i].Path, Msg: reason(err)} // not reached
		}
		out, canon, i = next, false, j
	}
	return out, nil
}

// reason words the library's error without its text, which repeats the
// path and may quote a member name.
func reason(err error) string {
	switch {
	case errors.Is(err, evanphx.ErrMissing):
		return "no element at this path"
	case errors.Is(err, evanphx.ErrInvalidIndex):
		return "the index is out of range"
	default:
		return "the path does not lead to an element this operation can change"
	}
}
