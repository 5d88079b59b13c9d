// Package jsonpatch applies RFC 6902 JSON Patch documents to decoded JSON
// (map[string]any / []any), all or nothing. It supports the operations PDS
// accepts: add, remove, replace and test (move and copy are refused).
//
// See: https://www.rfc-editor.org/rfc/rfc6902 and, for paths,
// https://www.rfc-editor.org/rfc/rfc6901
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Op is one patch operation.
type Op struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
	From  string          `json:"from,omitempty"`
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
		if _, err := pointer(op.Path); err != nil {
			return nil, &Error{Index: i, Path: op.Path, Msg: err.Error()}
		}
	}
	return ops, nil
}

// Apply applies ops to a deep copy of doc and returns it; doc is never
// modified, so a failing operation leaves nothing half-applied.
func Apply(doc any, ops []Op) (any, error) {
	out := deepCopy(doc)
	for i, op := range ops {
		tokens, err := pointer(op.Path)
		if err != nil {
			return nil, &Error{Index: i, Path: op.Path, Msg: err.Error()}
		}
		var value any
		if len(op.Value) > 0 {
			if err := json.Unmarshal(op.Value, &value); err != nil {
				return nil, &Error{Index: i, Path: op.Path, Msg: "the value is not JSON"}
			}
		}
		switch op.Op {
		case "add":
			out, err = add(out, tokens, value)
		case "remove":
			out, err = remove(out, tokens)
		case "replace":
			out, err = remove(out, tokens)
			if err == nil {
				out, err = add(out, tokens, value)
			}
		case "test":
			var got any
			got, err = get(out, tokens)
			if err == nil && !reflect.DeepEqual(normalise(got), normalise(value)) {
				err = fmt.Errorf("test failed: the value differs")
			}
		default:
			err = fmt.Errorf("unsupported operation %q", op.Op)
		}
		if err != nil {
			return nil, &Error{Index: i, Path: op.Path, Msg: err.Error()}
		}
	}
	return out, nil
}

// pointer splits a JSON pointer into unescaped reference tokens.
func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, fmt.Errorf("the whole document cannot be patched")
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("a path is a JSON pointer starting with '/'")
	}
	parts := strings.Split(p[1:], "/")
	for i, t := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

// add sets tokens in doc to value: a member of an object (added or
// replaced) or an element of an array (inserted before index, or appended
// with "-").
func add(doc any, tokens []string, value any) (any, error) {
	if len(tokens) == 0 {
		return value, nil
	}
	head, rest := tokens[0], tokens[1:]
	switch c := doc.(type) {
	case map[string]any:
		if len(rest) == 0 {
			c[head] = value
			return c, nil
		}
		child, ok := c[head]
		if !ok {
			return nil, fmt.Errorf("no element %q to add into", head)
		}
		nc, err := add(child, rest, value)
		if err != nil {
			return nil, err
		}
		c[head] = nc
		return c, nil
	case []any:
		if len(rest) == 0 {
			if head == "-" {
				return append(c, value), nil
			}
			i, err := index(head, len(c)+1)
			if err != nil {
				return nil, err
			}
			c = append(c, nil)
			copy(c[i+1:], c[i:])
			c[i] = value
			return c, nil
		}
		i, err := index(head, len(c))
		if err != nil {
			return nil, err
		}
		nc, err := add(c[i], rest, value)
		if err != nil {
			return nil, err
		}
		c[i] = nc
		return c, nil
	default:
		return nil, fmt.Errorf("%q is inside a value that is neither an object nor an array", head)
	}
}

func remove(doc any, tokens []string) (any, error) {
	head, rest := tokens[0], tokens[1:]
	switch c := doc.(type) {
	case map[string]any:
		child, ok := c[head]
		if !ok {
			return nil, fmt.Errorf("no element %q", head)
		}
		if len(rest) == 0 {
			delete(c, head)
			return c, nil
		}
		nc, err := remove(child, rest)
		if err != nil {
			return nil, err
		}
		c[head] = nc
		return c, nil
	case []any:
		i, err := index(head, len(c))
		if err != nil {
			return nil, err
		}
		if len(rest) == 0 {
			return append(c[:i:i], c[i+1:]...), nil
		}
		nc, err := remove(c[i], rest)
		if err != nil {
			return nil, err
		}
		c[i] = nc
		return c, nil
	default:
		return nil, fmt.Errorf("%q is inside a value that is neither an object nor an array", head)
	}
}

func get(doc any, tokens []string) (any, error) {
	for _, t := range tokens {
		switch c := doc.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, fmt.Errorf("no element %q", t)
			}
			doc = v
		case []any:
			i, err := index(t, len(c))
			if err != nil {
				return nil, err
			}
			doc = c[i]
		default:
			return nil, fmt.Errorf("%q is inside a value that is neither an object nor an array", t)
		}
	}
	return doc, nil
}

// index parses an array index below n (RFC 6901: no leading zeros).
func index(t string, n int) (int, error) {
	i, err := strconv.Atoi(t)
	if err != nil || i < 0 || (len(t) > 1 && t[0] == '0') {
		return 0, fmt.Errorf("%q is not an array index", t)
	}
	if i >= n {
		return 0, fmt.Errorf("index %d is out of range", i)
	}
	return i, nil
}

func deepCopy(v any) any {
	switch c := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, x := range c {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(c))
		for i, x := range c {
			s[i] = deepCopy(x)
		}
		return s
	default:
		return v
	}
}

// normalise makes numbers comparable whatever decoder produced them.
func normalise(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
