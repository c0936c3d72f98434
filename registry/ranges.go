package registry

import (
	"math"
	"strconv"
	"strings"
)

// MaxRanges bounds the ranges of one blob request. A request for more is
// answered with the whole blob (200), as RFC 9110 section 14.2 allows a
// server to ignore Range: many small ranges cost more in part headers
// than they save.
const MaxRanges = 16

// rangeAnswer is what checkRange decided.
type rangeAnswer int

const (
	// rangeWhole: ignore the Range header and send the whole blob (a unit
	// other than bytes, more than MaxRanges ranges, or an empty blob).
	rangeWhole rangeAnswer = iota
	// rangeServe: send the ranges of the normalized header (206; several
	// ranges as multipart/byteranges).
	rangeServe
	// rangeUnsatisfiable: answer 416 with Content-Range: bytes */SIZE (the
	// header is malformed, a range is invalid, or none is satisfiable).
	rangeUnsatisfiable
)

// checkRange reads a Range header (RFC 9110 section 14.1.2) for a blob of
// size bytes. For rangeServe it returns the header to serve instead: the
// satisfiable ranges only, clipped to the blob, as first-last pairs.
// http.ServeContent then serves them; it alone would answer bytes=-0 with
// an empty 206 and bytes=5-4 without Content-Range.
func checkRange(h string, size int64) (rangeAnswer, string) {
	unit, set, ok := strings.Cut(h, "=")
	if !ok {
		return rangeUnsatisfiable, ""
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		// RFC 9110 section 14.2: a range unit the server does not
		// understand is ignored.
		return rangeWhole, ""
	}
	var out []string
	n := 0
	suffix := false // a suffix range of non-zero length was asked
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue // empty list elements are allowed (RFC 9110 section 5.6.1)
		}
		if n++; n > MaxRanges {
			return rangeWhole, ""
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return rangeUnsatisfiable, ""
		}
		if first == "" {
			// A suffix range: the last N bytes, satisfiable when N > 0.
			k, ok := digits(last)
			if !ok {
				return rangeUnsatisfiable, ""
			}
			suffix = suffix || k > 0
			if k > 0 && size > 0 {
				out = append(out, strconv.FormatInt(size-min(k, size), 10)+"-"+strconv.FormatInt(size-1, 10))
			}
			continue
		}
		a, ok := digits(first)
		if !ok {
			return rangeUnsatisfiable, ""
		}
		b := int64(-1)
		if last != "" {
			if b, ok = digits(last); !ok || b < a {
				return rangeUnsatisfiable, "" // invalid: last before first
			}
		}
		if a >= size {
			continue // unsatisfiable: starts at or beyond the end
		}
		if b < 0 || b >= size {
			b = size - 1
		}
		out = append(out, strconv.FormatInt(a, 10)+"-"+strconv.FormatInt(b, 10))
	}
	if n == 0 {
		return rangeUnsatisfiable, ""
	}
	if len(out) == 0 {
		if size == 0 && suffix {
			// The only satisfiable range of an empty blob: send it whole.
			return rangeWhole, ""
		}
		return rangeUnsatisfiable, ""
	}
	return rangeServe, "bytes=" + strings.Join(out, ",")
}

// digits parses a non-empty string of ASCII digits; values beyond int64
// (beyond any blob) are math.MaxInt64.
func digits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxInt64-9)/10 {
			v = math.MaxInt64
			continue
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}
