package registry

import (
	"strconv"
	"strings"
	"testing"
)

func TestCheckRange(t *testing.T) {
	for _, tc := range []struct {
		h      string
		size   int64
		answer rangeAnswer
		norm   string
	}{
		{"bytes=0-4", 10, rangeServe, "bytes=0-4"},
		{"BYTES = 0-4", 10, rangeServe, "bytes=0-4"},
		{"bytes=-0", 10, rangeUnsatisfiable, ""},
		{"bytes=5-4", 10, rangeUnsatisfiable, ""},
		{"bytes=10-", 10, rangeUnsatisfiable, ""},
		{"bytes=-99999999999999999999999", 10, rangeServe, "bytes=0-9"},
		{"bytes=99999999999999999999999-", 10, rangeUnsatisfiable, ""},
		{"bytes=0-99999999999999999999999", 10, rangeServe, "bytes=0-9"},
		{"bytes=,,0-1,,", 10, rangeServe, "bytes=0-1"},
		{"bytes=1", 10, rangeUnsatisfiable, ""},
		{"bytes=-", 10, rangeUnsatisfiable, ""},
		{"bytes=+1-2", 10, rangeUnsatisfiable, ""},
		{"bytes=0x1-2", 10, rangeUnsatisfiable, ""},
		{"bytes", 10, rangeUnsatisfiable, ""},
		{"bytes=-5", 0, rangeWhole, ""},
		{"bytes=0-5", 0, rangeUnsatisfiable, ""},
		{"items=0-5", 10, rangeWhole, ""},
	} {
		a, norm := checkRange(tc.h, tc.size)
		if a != tc.answer || norm != tc.norm {
			t.Errorf("checkRange(%q, %d) = %d %q, want %d %q", tc.h, tc.size, a, norm, tc.answer, tc.norm)
		}
	}
}

// FuzzCheckRange: checkRange never panics, and what it serves is ranges
// within the blob, at most MaxRanges of them, first <= last.
func FuzzCheckRange(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=-0", "bytes=5-4,1-", "items=1-2", "bytes=-99999999999999999999", "bytes=,,,"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			return
		}
		a, norm := checkRange(h, size)
		if a != rangeServe {
			if norm != "" {
				t.Fatalf("answer %d with a header %q", a, norm)
			}
			return
		}
		specs := strings.Split(strings.TrimPrefix(norm, "bytes="), ",")
		if len(specs) == 0 || len(specs) > MaxRanges {
			t.Fatalf("%q: %d ranges", norm, len(specs))
		}
		for _, s := range specs {
			first, last, _ := strings.Cut(s, "-")
			x, err1 := strconv.ParseInt(first, 10, 64)
			y, err2 := strconv.ParseInt(last, 10, 64)
			if err1 != nil || err2 != nil || x < 0 || x > y || y >= size {
				t.Fatalf("checkRange(%q, %d) serves %q", h, size, norm)
			}
		}
	})
}
