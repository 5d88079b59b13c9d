package pds

import (
	"fmt"
	"strconv"
	"strings"

	evanphx "github.com/evanphx/json-patch/v5"
)

// JSON Patch (RFC 6902) as PDS takes it: the operations add, remove,
// replace and test over JSON Pointers (RFC 6901), applied in order to a
// copy of the record, all or nothing.
//
// github.com/evanphx/json-patch/v5 changes the record (add, remove,
// replace), on its bytes, keeping the order of members. Before it sees an
// operation, the path is resolved on the decoded record (jsonvalue.go), to
// refuse what cannot apply with the sandbox's "Invalid patch - …" wording
// and what the library takes but RFC 6901 does not (an index with a sign or
// a leading zero). A test is judged here, with equalJSON: the library's
// compares numbers by their text (RFC 6902 §4.6: by value), passes a test
// for null of a missing member, and panics on an array holding null.

// patchOp is one validated operation of a PATCH body.
type patchOp struct {
	op       string // add, remove, replace or test
	path     string
	tokens   []string // decoded reference tokens of path
	value    any      // for add, replace and test
	hasValue bool
	patch    evanphx.Patch // the library's form, for add, remove and replace
}

// compile sets op.patch from the operation's members.
func (op *patchOp) compile() error {
	if op.op == "test" {
		return nil
	}
	o := newObject()
	o.set("op", op.op)
	o.set("path", op.path)
	if op.hasValue {
		o.set("value", op.value)
	}
	p, err := evanphx.DecodePatch(encodeJSON([]any{o}))
	op.patch = p
	return err
}

// patchOptions: no negative indexes (an extension the library turns on by
// default); paths are not created on add (PDS's one exception, a list the
// record lacks, is made by applyOp).
var patchOptions = func() *evanphx.ApplyOptions {
	o := evanphx.NewApplyOptions()
	o.SupportNegativeIndices = false
	o.EnsurePathExistsOnAdd = false
	o.EscapeHTML = false
	return o
}()

// parsePointer splits a JSON Pointer into its unescaped reference tokens.
// The root pointer "" gives no tokens.
func parsePointer(p string) ([]string, bool) {
	if p == "" {
		return nil, true
	}
	if p[0] != '/' {
		return nil, false
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		// "~" must be followed by 0 or 1.
		for j := 0; j < len(s); j++ {
			if s[j] == '~' && (j+1 == len(s) || (s[j+1] != '0' && s[j+1] != '1')) {
				return nil, false
			}
		}
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, true
}

// arrayIndex reads an array index token: decimal digits, no leading zero.
func arrayIndex(tok string) (int, bool) {
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(tok)
	return n, err == nil
}

// patchFailure is an operation that cannot be applied: 400 INVALID_UPDATE
// with the sandbox's "Invalid patch - …" wording.
func patchFailure(format string, args ...any) *apiError {
	return errInvalidUpdate("Invalid patch - " + fmt.Sprintf(format, args...))
}

// resolve returns the value at tokens, or the sandbox's refusal naming the
// first token that leads nowhere; verb is the operation ("find" for a
// test). An empty token inside a path leads nowhere: the library reads it
// as the container itself, and a record has no member "".
func resolve(doc any, tokens []string, verb string) (any, *apiError) {
	v := doc
	for _, tok := range tokens {
		switch c := v.(type) {
		case *object:
			next, ok := c.get(tok)
			if !ok || tok == "" {
				return nil, patchFailure("can't %s non-existent object '%s'", verb, tok)
			}
			v = next
		case []any:
			i, ok := arrayIndex(tok)
			if !ok || i >= len(c) {
				return nil, patchFailure("index '%s' is out of bounds", tok)
			}
			v = c[i]
		default:
			return nil, patchFailure("can't %s non-existent object '%s'", verb, tok)
		}
	}
	return v, nil
}

// applyPatch applies ops in order to the record body (doc is body decoded)
// and returns the result decoded; neither body nor doc is changed. check,
// when set, is called before each operation with the record as the earlier
// operations left it (PDS's patch rules).
func applyPatch(body []byte, doc *object, ops []patchOp, check func(doc *object, i int) *apiError) (*object, *apiError) {
	for i, op := range ops {
		if check != nil {
			if err := check(doc, i); err != nil {
				return nil, err
			}
		}
		next, err := applyOp(body, doc, op)
		if err != nil {
			return nil, err
		}
		if op.op == "test" {
			continue
		}
		v, derr := decodeJSON(next)
		if derr != nil { // deeper than decodeJSON reads
			return nil, patchFailure("the patched record cannot be read (%v)", derr)
		}
		body, doc = next, v.(*object)
	}
	return doc, nil
}

// applyOp applies one operation to body, doc being body decoded, and
// returns the new body (body itself for a test).
func applyOp(body []byte, doc *object, op patchOp) ([]byte, *apiError) {
	n := len(op.tokens)
	if n == 0 {
		return nil, errInvalidUpdate("Invalid patch - the whole resource cannot be patched (path '')")
	}
	if op.op == "test" {
		got, err := resolve(doc, op.tokens, "find")
		if err != nil {
			return nil, err
		}
		if !equalJSON(got, op.value) {
			return nil, errInvalidUpdate(fmt.Sprintf("Invalid patch - test failed for path '%s'", op.path))
		}
		return body, nil
	}
	patch := op.patch
	if patch == nil {
		return nil, errInvalidValue(op.op, "op")
	}
	last := op.tokens[n-1]
	parent, err := resolve(doc, op.tokens[:n-1], op.op)
	if err != nil && op.op == "add" && last == "-" && n >= 2 {
		// Adding to a list the record does not hold yet creates it, as
		// PDS does for a minimal record (e.g. /extension/- on 9000000033).
		if gp, gerr := resolve(doc, op.tokens[:n-2], "add"); gerr == nil {
			if o, ok := gp.(*object); ok {
				if _, has := o.get(op.tokens[n-2]); !has && op.tokens[n-2] != "" {
					create, cerr := evanphx.DecodePatch(encodeJSON([]any{listOp(op.path[:len(op.path)-2])}))
					if cerr != nil {
						panic(fmt.Sprintf("pds: the patch creating a list: %v", cerr))
					}
					patch, parent, err = append(create, patch...), []any{}, nil
				}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	switch c := parent.(type) {
	case *object:
		if _, ok := c.get(last); !ok && op.op != "add" {
			return nil, patchFailure("can't %s non-existent object '%s'", op.op, last)
		}
	case []any:
		i, ok := arrayIndex(last)
		end := len(c) // the first index past the end
		if op.op == "add" {
			end++
			if last == "-" {
				i, ok = 0, true
			}
		}
		if !ok || i >= end {
			return nil, patchFailure("index '%s' is out of bounds", last)
		}
	default:
		if op.op == "add" {
			return nil, patchFailure("can't add to non-existent object '%s'", last)
		}
		return nil, patchFailure("can't %s non-existent object '%s'", op.op, last)
	}
	out, lerr := patch.ApplyWithOptions(body, patchOptions)
	if lerr != nil {
		// The path was resolved above, so the library has no reason to
		// refuse; the fuzz target holds it to that.
		return nil, patchFailure("the operation on '%s' could not be applied", op.path)
	}
	return out, nil
}

// listOp is the operation that adds an empty list at path.
func listOp(path string) *object {
	o := newObject()
	o.set("op", "add")
	o.set("path", path)
	o.set("value", []any{})
	return o
}
