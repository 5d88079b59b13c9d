package upstream

import "testing"

func TestResourceAndTypePath(t *testing.T) {
	for _, tc := range []struct{ path, resource, typ string }{
		{"/Patient/9000000009", "/Patient/9000000009", "/Patient"},
		{"/Patient/9000000009/_history/2", "/Patient/9000000009", "/Patient"},
		{"Patient/9000000009/", "/Patient/9000000009", "/Patient"},
		{"/Patient", "/Patient", "/Patient"},
		{"/Patient/", "/Patient", "/Patient"},
		{"Patient", "/Patient", "/Patient"},
		{"/", "/", "/"},
		{"", "/", "/"},
		{"//Flag//x", "/Flag/", "/Flag"},
	} {
		if got := resourcePath(tc.path); got != tc.resource {
			t.Errorf("resourcePath(%q) = %q, want %q", tc.path, got, tc.resource)
		}
		if got := typePath(tc.path); got != tc.typ {
			t.Errorf("typePath(%q) = %q, want %q", tc.path, got, tc.typ)
		}
	}
}
