package pds

import (
	"fmt"
	"strconv"
	"strings"
)

// JSON Patch (RFC 6902) as PDS takes it: the operations add, remove,
// replace and test over JSON Pointers (RFC 6901), applied in order to a
// copy of the record, all or nothing.

// patchOp is one validated operation of a PATCH body.
type patchOp struct {
	op       string // add, remove, replace or test
	path     string
	tokens   []string // decoded reference tokens of path
	value    any      // for add, replace and test
	hasValue bool
}

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

// getAt returns the value at tokens.
func getAt(doc any, tokens []string) (any, *apiError) {
	v := doc
	for _, tok := range tokens {
		switch c := v.(type) {
		case *object:
			next, ok := c.get(tok)
			if !ok {
				return nil, patchFailure("can't find non-existent object '%s'", tok)
			}
			v = next
		case []any:
			i, ok := arrayIndex(tok)
			if !ok || i >= len(c) {
				return nil, patchFailure("index '%s' is out of bounds", tok)
			}
			v = c[i]
		default:
			return nil, patchFailure("can't find non-existent object '%s'", tok)
		}
	}
	return v, nil
}

// update walks to the container holding the last token and lets f replace
// that container (arrays change length), storing the result back.
func update(v any, tokens []string, verb string, f func(parent any, last string) (any, *apiError)) (any, *apiError) {
	if len(tokens) == 1 {
		return f(v, tokens[0])
	}
	tok := tokens[0]
	switch c := v.(type) {
	case *object:
		child, ok := c.get(tok)
		if !ok {
			return nil, patchFailure("can't %s non-existent object '%s'", verb, tok)
		}
		nc, err := update(child, tokens[1:], verb, f)
		if err != nil {
			return nil, err
		}
		c.set(tok, nc)
		return c, nil
	case []any:
		i, ok := arrayIndex(tok)
		if !ok || i >= len(c) {
			return nil, patchFailure("index '%s' is out of bounds", tok)
		}
		nc, err := update(c[i], tokens[1:], verb, f)
		if err != nil {
			return nil, err
		}
		c[i] = nc
		return c, nil
	}
	return nil, patchFailure("can't %s non-existent object '%s'", verb, tok)
}

// applyOp applies one operation to doc (an object, changed in place).
func applyOp(doc *object, op patchOp) *apiError {
	if len(op.tokens) == 0 {
		return errInvalidUpdate("Invalid patch - the whole resource cannot be patched (path '')")
	}
	var f func(parent any, last string) (any, *apiError)
	switch op.op {
	case "test":
		got, err := getAt(doc, op.tokens)
		if err != nil {
			return err
		}
		if !equalJSON(got, op.value) {
			return errInvalidUpdate(fmt.Sprintf("Invalid patch - test failed for path '%s'", op.path))
		}
		return nil
	case "add":
		// Adding to a list the record does not hold yet creates it, as
		// PDS does for a minimal record (e.g. /extension/- on 9000000033).
		if n := len(op.tokens); n >= 2 && op.tokens[n-1] == "-" {
			if parent, err := getAt(doc, op.tokens[:n-2]); err == nil {
				if o, ok := parent.(*object); ok {
					if _, has := o.get(op.tokens[n-2]); !has {
						o.set(op.tokens[n-2], []any{})
					}
				}
			}
		}
		value := cloneJSON(op.value)
		f = func(parent any, last string) (any, *apiError) {
			switch c := parent.(type) {
			case *object:
				c.set(last, value)
				return c, nil
			case []any:
				if last == "-" {
					return append(c, value), nil
				}
				i, ok := arrayIndex(last)
				if !ok || i > len(c) {
					return nil, patchFailure("index '%s' is out of bounds", last)
				}
				c = append(c, nil)
				copy(c[i+1:], c[i:])
				c[i] = value
				return c, nil
			}
			return nil, patchFailure("can't add to non-existent object '%s'", last)
		}
	case "remove", "replace":
		value := cloneJSON(op.value)
		f = func(parent any, last string) (any, *apiError) {
			switch c := parent.(type) {
			case *object:
				if _, ok := c.get(last); !ok {
					return nil, patchFailure("can't %s non-existent object '%s'", op.op, last)
				}
				if op.op == "remove" {
					c.del(last)
				} else {
					c.set(last, value)
				}
				return c, nil
			case []any:
				i, ok := arrayIndex(last)
				if !ok || i >= len(c) {
					return nil, patchFailure("index '%s' is out of bounds", last)
				}
				if op.op == "remove" {
					return append(c[:i:i], c[i+1:]...), nil
				}
				c[i] = value
				return c, nil
			}
			return nil, patchFailure("can't %s non-existent object '%s'", op.op, last)
		}
	default:
		return errInvalidValue(op.op, "op")
	}
	_, err := update(doc, op.tokens, op.op, f)
	return err
}
