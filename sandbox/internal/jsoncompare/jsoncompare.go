// Package jsoncompare prepares two JSON documents for comparison as values,
// for the simulators' contract tests against the public sandboxes' payloads:
// numbers kept exactly as written, the members the real sandbox makes up per
// request (timestamps, random ids) masked or dropped in both.
package jsoncompare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Options says what to leave out of a comparison. Paths are dot-separated
// member names, "*" standing for every element of a list.
type Options struct {
	// Mask are paths whose values are replaced by "<masked>" (present in
	// both, but made up by the sandbox).
	Mask []string
	// Drop are paths whose members are removed.
	Drop []string
	// Normalise, when set, runs on each decoded document first (e.g. to
	// sort entries whose order the sandbox does not fix).
	Normalise func(any)
}

// Diff compares got and want as values: "" when they are equal, else the
// two documents from the first line that differs.
func Diff(got, want []byte, o Options) string {
	g, err := prepare(got, o)
	if err != nil {
		return fmt.Sprintf("got is not JSON: %v\n%s", err, got)
	}
	w, err := prepare(want, o)
	if err != nil {
		return fmt.Sprintf("want is not JSON: %v", err)
	}
	if g == w {
		return ""
	}
	gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
	i := 0
	for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
		i++
	}
	lo := max(0, i-3)
	return fmt.Sprintf("first difference at line %d\n--- got\n%s\n--- want\n%s", i+1,
		strings.Join(gl[lo:min(len(gl), i+8)], "\n"), strings.Join(wl[lo:min(len(wl), i+8)], "\n"))
}

func prepare(b []byte, o Options) (string, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	if o.Normalise != nil {
		o.Normalise(v)
	}
	for _, m := range o.Mask {
		v = at(v, strings.Split(m, "."), false)
	}
	for _, m := range o.Drop {
		v = at(v, strings.Split(m, "."), true)
	}
	out, err := json.MarshalIndent(v, "", " ")
	return string(out), err
}

// at replaces the value at path in v (when present) by "<masked>", or
// removes its member when drop is set.
func at(v any, path []string, drop bool) any {
	if len(path) == 0 {
		return "<masked>"
	}
	switch x := v.(type) {
	case map[string]any:
		if c, ok := x[path[0]]; ok {
			if drop && len(path) == 1 {
				delete(x, path[0])
			} else {
				x[path[0]] = at(c, path[1:], drop)
			}
		}
	case []any:
		if path[0] == "*" {
			for i := range x {
				x[i] = at(x[i], path[1:], drop)
			}
		}
	}
	return v
}
