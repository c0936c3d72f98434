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
	// FormatJoblib is a pickle written by joblib.dump: one that imports
	// joblib's array wrappers, or that carries joblib's own compression
	// header. joblib.load reads it.
	FormatJoblib = "joblib"
	// FormatJSON is a valid JSON document (UTF-8 text): plainly data.
	FormatJSON = "json"
	// FormatText is UTF-8 text without control characters other than tab,
	// line feed, form feed and carriage return (Variant "empty" for an
	// empty file): plainly data. A protocol 0 pickle is ASCII too; it is
	// reported as a pickle, which is tried first.
	FormatText = "text"
	// FormatArchive is a tar or zip of several members that is no weight
	// format (Variant "tar" or "zip"); every member is scanned and the
	// worst verdict of its members is the archive's.
	FormatArchive = "archive"
	// FormatUnknown is content no scanner parses or recognises: an
	// unrecognised binary, HDF5 and 7z (see Report.Variant). Its verdict
	// is VerdictNotScanned.
	FormatUnknown = "unknown"
)

// Verdict is what a scan concludes about a file: one of three values,
// never two.
type Verdict string

const (
	// VerdictSafe: the content is a data-only format the scanner proved
	// safe (safetensors, GGUF, a .npy without objects, a pickle that imports
	// only allow-listed globals...) or plainly data (JSON, text), and no
	// finding is Unsafe or NotScanned.
	VerdictSafe Verdict = "safe"
	// VerdictUnsafe: loading the file can run code, or the file is
	// malformed in a way its reference reader refuses or readers disagree
	// on, or it reached a limit meant to stop an attack (a decompression
	// bomb): at least one finding is Unsafe.
	VerdictUnsafe Verdict = "unsafe"
	// VerdictNotScanned: the scanner cannot judge (part of) the content: an
	// unknown binary, HDF5, 7z, content that needs random access inside a
	// compressed stream over MaxWrappedInMemory, a joblib array stored
	// inline... No finding is Unsafe and at least one is NotScanned (or the
	// format is FormatUnknown). Not proved safe: refuse it unless told
	// otherwise.
	VerdictNotScanned Verdict = "not scanned"
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
	// NotScanned means that the scanner could not judge part of the
	// content (an unrecognised binary, HDF5, 7z, an array joblib stores
	// inline): the verdict is VerdictNotScanned unless another finding is
	// Unsafe.
	NotScanned Severity = "not scanned"
	// Unsafe means that loading the file can run code, or that the scanner
	// could not prove that it does not (a malformed, truncated or
	// ambiguous file, a limit exceeded): refuse it.
	Unsafe Severity = "unsafe"
)

// Finding is one observation about a file. A finding is data, not an
// error: only I/O failures are errors.
type Finding struct {
	// Severity is Info, Warning, NotScanned or Unsafe.
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
	// Variant refines Format: "zip", "legacy", "torchscript" or "tar" (the
	// tar checkpoints torch.save wrote before PyTorch 0.4) for pytorch;
	// "npy" or "npz" for numpy; "keras" (a .keras zip) for keras; "tar" or
	// "zip" for archive; "empty" for text; "zip", "tar", "7z", "hdf5" or
	// "" for unknown; empty otherwise.
	Variant string `json:"variant,omitempty"`
	// Verdict is safe, unsafe or not scanned (see the Verdict constants).
	// Every Report a scan returns has one; a zero Report is not safe.
	Verdict Verdict `json:"verdict"`
	// Wrappers are the containers the content was found in, outermost
	// first: "gzip", "zlib", "bz2", "xz", "lzma", "zstd", "tar" and "zip"
	// (a tar or zip of one member). Format is the format of the content
	// inside: a gzip-wrapped pickle is Format "pickle", Wrappers ["gzip"].
	// Empty when the file is the content itself.
	Wrappers []string `json:"wrappers,omitempty"`
	// Findings are in the order found, at most MaxFindings of them (then a
	// last finding says how many were left out, with the highest severity
	// among them).
	Findings []Finding `json:"findings,omitempty"`
}

// Safe reports whether the verdict is VerdictSafe.
func (r Report) Safe() bool { return r.Verdict == VerdictSafe }

// PlainData reports whether the file is plainly data, proved so: JSON or
// text with the safe verdict (possibly inside Wrappers). Such a file is
// no weight format: a policy's list of weight formats is not about it,
// but a file a loader will read as weights should not be plain data
// either.
func (r Report) PlainData() bool {
	return r.Judge() == VerdictSafe && PlainData(r.Format)
}

// judge is the verdict of a format and its findings: unsafe if any finding
// is Unsafe, else not scanned if any finding is NotScanned or the format
// is unknown, else safe.
func judge(format string, findings []Finding) Verdict {
	v := VerdictSafe
	if format == FormatUnknown || format == "" {
		v = VerdictNotScanned
	}
	for _, f := range findings {
		switch f.Severity {
		case Unsafe:
			return VerdictUnsafe
		case NotScanned:
			v = VerdictNotScanned
		}
	}
	return v
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

// Summary is a one-line verdict for messages: "safe", the first unsafe
// finding and how many more there are, or "not scanned" and the first
// reason.
func (r Report) Summary() string {
	v := r.Verdict
	if v == "" { // a Report built by hand: judge its findings
		v = judge(r.Format, r.Findings)
	}
	switch v {
	case VerdictSafe:
		return "safe"
	case VerdictNotScanned:
		for _, f := range r.Findings {
			if f.Severity == NotScanned {
				return "not scanned: " + f.String()
			}
		}
		return "not scanned: " + describeFormat(r.Format, r.Variant) + " content"
	}
	u := r.Unsafe()
	switch len(u) {
	case 0:
		return "unsafe"
	case 1:
		return u[0].String()
	}
	return fmt.Sprintf("%s (and %d more unsafe findings)", u[0], len(u)-1)
}

// Judge returns the report's verdict: Verdict, or, for a Report built by
// hand without one, the verdict its format and findings give.
func (r Report) Judge() Verdict {
	if r.Verdict != "" {
		return r.Verdict
	}
	return judge(r.Format, r.Findings)
}

// PlainData reports whether format is plain data (JSON, text) rather
// than a weight format.
func PlainData(format string) bool { return format == FormatJSON || format == FormatText }
