package scan

import (
	"fmt"
	"strings"
)

// Format names reported in Report.Format: the weight format names a
// policy allows or refuses (verify.PolicyFormats).
const (
	FormatSafetensors = "safetensors"
	FormatGGUF        = "gguf"
	FormatPickle      = "pickle"
	FormatPyTorch     = "pytorch"
	FormatNumPy       = "numpy"
	FormatKeras       = "keras"
	// FormatUnknown is a file no scanner parses: text, an unrecognised
	// binary, an empty file, a generic zip (whose members are still
	// scanned), HDF5 and 7z (see Report.Variant).
	FormatUnknown = "unknown"
)

// Severity says how much a Finding matters.
type Severity string

const (
	// Info is a note that changes nothing: a persistent id in a plain
	// pickle, a member that was not scanned because no loader reads it.
	Info Severity = "info"
	// Warning is something a policy may want to refuse, although loading
	// the file does not run code by the file's own doing: TorchScript code,
	// an object-dtype NumPy array (whose pickle was scanned), a format that
	// is recognised but not parsed (HDF5), a name that contradicts the
	// content.
	Warning Severity = "warning"
	// Unsafe means that loading the file can run code, or that the scanner
	// could not prove that it does not (a malformed, truncated or
	// ambiguous file, a limit exceeded): refuse it.
	Unsafe Severity = "unsafe"
)

// Finding is one observation about a file. A finding is data, not an
// error: only I/O failures are errors.
type Finding struct {
	// Severity is Info, Warning or Unsafe.
	Severity Severity `json:"severity"`
	// Rule names the check, as "format.check" (for example pickle.global,
	// zip.encrypted, safetensors.offsets); doc.go lists them.
	Rule string `json:"rule"`
	// Message says what was found, naming globals, entries and values.
	Message string `json:"message"`
	// Entry is the archive member the finding is about ("archive/data.pkl";
	// members of nested archives are joined with "!/"), empty for the file
	// itself.
	Entry string `json:"entry,omitempty"`
	// Offset is the byte offset of the finding in Entry (or in the file
	// when Entry is empty), -1 when no offset applies.
	Offset int64 `json:"offset"`
}

// String formats f as "unsafe pickle.global: imports os.system
// (archive/data.pkl at offset 34)".
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", f.Severity, f.Rule, f.Message)
	switch {
	case f.Entry != "" && f.Offset >= 0:
		fmt.Fprintf(&b, " (%s at offset %d)", f.Entry, f.Offset)
	case f.Entry != "":
		fmt.Fprintf(&b, " (%s)", f.Entry)
	case f.Offset >= 0:
		fmt.Fprintf(&b, " (at offset %d)", f.Offset)
	}
	return b.String()
}

// Report is the result of scanning one file.
type Report struct {
	// Format is the weight format, one of the Format constants, decided by
	// the content (magic bytes and structure); the file name is only a
	// hint for content that has no magic.
	Format string `json:"format"`
	// Variant refines Format: "zip", "legacy" or "torchscript" for
	// pytorch; "npy" or "npz" for numpy; "keras" (a .keras zip) for keras;
	// "zip", "7z", "hdf5", "empty" or "" for unknown; empty otherwise.
	Variant string `json:"variant,omitempty"`
	// Findings are in the order found, at most MaxFindings of them (then a
	// last finding says how many were left out, with the highest severity
	// among them).
	Findings []Finding `json:"findings,omitempty"`
}

// Safe reports whether no finding is Unsafe.
func (r Report) Safe() bool {
	for _, f := range r.Findings {
		if f.Severity == Unsafe {
			return false
		}
	}
	return true
}

// Unsafe returns the Unsafe findings.
func (r Report) Unsafe() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity == Unsafe {
			out = append(out, f)
		}
	}
	return out
}

// Summary is a one-line verdict for messages: "safe", or the first unsafe
// finding and how many more there are.
func (r Report) Summary() string {
	u := r.Unsafe()
	switch len(u) {
	case 0:
		return "safe"
	case 1:
		return u[0].String()
	}
	return fmt.Sprintf("%s (and %d more unsafe findings)", u[0], len(u)-1)
}

// Verdict is what a scan proved about a file: one of three answers, never
// two. "Unknown" is never "safe".
type Verdict string

const (
	// VerdictSafe: a data-only format proved safe, or plainly data.
	VerdictSafe Verdict = "safe"
	// VerdictUnsafe: loading the file can run code, or the file is
	// malformed in a way its reference reader refuses.
	VerdictUnsafe Verdict = "unsafe"
	// VerdictNotScanned: content the scanner cannot judge (an unknown
	// binary, HDF5, 7z...): not proved safe.
	VerdictNotScanned Verdict = "not scanned"
)

// Verdict returns the report's verdict: unsafe when any finding is
// Unsafe, not scanned when the format is not one the scanner proves safe,
// safe otherwise.
func (r Report) Verdict() Verdict {
	if !r.Safe() {
		return VerdictUnsafe
	}
	if r.Format == FormatUnknown {
		return VerdictNotScanned
	}
	return VerdictSafe
}

// Formats of plain data: not weights, accepted whatever a policy's formats
// list says when their verdict is safe.
const (
	// FormatJSON is a valid JSON document (configs, tokenizers).
	FormatJSON = "json"
	// FormatText is UTF-8 text without control characters.
	FormatText = "text"
)

// PlainData reports whether format is plain data (JSON, text) rather
// than a weight format.
func PlainData(format string) bool { return format == FormatJSON || format == FormatText }
