package web

import (
	"testing"
	"unicode/utf8"
)

func TestVisible(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "models/llama-3.safetensors", "models/llama-3.safetensors"},
		{"unicode letters", "modèle/日本語.txt", "modèle/日本語.txt"},
		{"right-to-left override", "report\u202efdp.exe", `report\u202efdp.exe`},
		{"every bidi embedding and override", "\u202a\u202b\u202c\u202d\u202e", `\u202a\u202b\u202c\u202d\u202e`},
		{"bidi isolates", "a\u2066b\u2067c\u2068d\u2069", `a\u2066b\u2067c\u2068d\u2069`},
		{"marks and zero width", "\u200b\u200c\u200d\u200e\u200f\u061c\u2060", `\u200b\u200c\u200d\u200e\u200f\u061c\u2060`},
		{"byte order mark", "\ufeffname", `\ufeffname`},
		{"soft hyphen", "pass\u00adword", `pass\u00adword`},
		{"C0 controls", "a\x00b\tc\nd\x1b[31m", `a\u0000b\u0009c\u000ad\u001b[31m`},
		{"DEL and C1 controls", "a\x7fb\u0085c\u009b", `a\u007fb\u0085c\u009b`},
		{"line and paragraph separators", "a\u2028b\u2029", `a\u2028b\u2029`},
		{"tag characters", "flag\U000E0041", `flag\U000e0041`},
		{"private use", "\ue000", `\ue000`},
		{"Hangul filler", "a\u3164b", `a\u3164b`},
		{"not UTF-8", "a\xffb", `a\xffb`},
		{"a backslash cannot forge an escape", `a\u202eb`, `a\\u202eb`},
		{"spaces stay", "a b\u00a0c", "a b\u00a0c"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := visible(tc.in); got != tc.want {
				t.Errorf("visible(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzVisible(f *testing.F) {
	f.Add("report\u202efdp.exe")
	f.Add("a\xff\\b")
	f.Fuzz(func(t *testing.T, s string) {
		out := visible(s)
		if !utf8.ValidString(out) {
			t.Fatalf("visible(%q) = %q is not UTF-8", s, out)
		}
		for _, r := range out {
			if hidden(r) {
				t.Fatalf("visible(%q) = %q keeps %U", s, out, r)
			}
		}
		if visible(s) != out {
			t.Fatal("not deterministic")
		}
	})
}
