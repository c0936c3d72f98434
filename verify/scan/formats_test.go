package scan_test

import (
	"slices"
	"testing"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/scan"
)

// TestReport_FormatsInPolicy: every format a Report names is one a policy
// can list.
func TestReport_FormatsInPolicy(t *testing.T) {
	known := verify.PolicyFormats()
	formats := []string{scan.FormatSafetensors, scan.FormatGGUF, scan.FormatPickle, scan.FormatPyTorch,
		scan.FormatNumPy, scan.FormatKeras, scan.FormatJoblib, scan.FormatJSON, scan.FormatText,
		scan.FormatArchive, scan.FormatUnknown}
	for _, f := range fixtures() {
		if !slices.Contains(formats, f.format) {
			t.Errorf("%s: format %q is not a Format constant", f.path, f.format)
		}
	}
	for _, f := range formats {
		in := slices.Contains(known, f)
		switch {
		case scan.PlainData(f) && in:
			// Plain data passes any formats list (verify.Rule.CheckFile):
			// listing it would mean nothing.
			t.Errorf("plain data format %q is in verify.PolicyFormats()", f)
		case !scan.PlainData(f) && !in:
			t.Errorf("format %q is not in verify.PolicyFormats()", f)
		}
	}
}
