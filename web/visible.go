package web

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// visible returns s with every character that is invisible or changes how
// the text around it is drawn written out as an escape: bidirectional
// controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), zero-width
// characters (U+200B–U+200D, U+2060, U+FEFF), every other format
// character (Unicode category Cf, such as the soft hyphen), C0 and C1
// controls (tab and newline included), the line and paragraph separators,
// and private-use and unassigned code points, as \u202e; a byte that is
// not UTF-8 as \xff; and a backslash as \\, so that an escape cannot be
// forged by writing one. A file named "model\u202eetad.pkl" is then shown
// as such, and its extension cannot be made to read ".pkl" backwards.
//
// The templates call it (as "visible") on every string a user chose:
// repository names, tags, file paths, annotations, config values,
// provenance fields, signer identities, reasons and access-log fields.
// html/template escapes the result for its context as usual.
func visible(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || r == '\\' || hidden(r) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case hidden(r) && r > 0xFFFF:
			fmt.Fprintf(&b, `\U%08x`, r)
		case hidden(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// hidden reports whether r is drawn as nothing, or changes the drawing of
// what is around it, so that visible must escape it.
func hidden(r rune) bool {
	if r < 0x20 || (r >= 0x7F && r <= 0x9F) {
		return true // C0, DEL and C1 controls
	}
	if r < 0x7F {
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Co, unicode.Zl, unicode.Zp) ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs) ||
		r == 0x115F || r == 0x1160 || r == 0x3164 || r == 0xFFA0 // Hangul fillers, drawn blank
}
