package model

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on what a manifest or a tar stream may describe.
const (
	// MaxFiles is the most layers a manifest may have, and the most entries
	// Scan returns.
	MaxFiles = 100000
	// MaxTarEntries is the most entries (files and directories) ExtractTar
	// accepts in one stream.
	MaxTarEntries = 100000
	// MaxPathLen is the longest path, in bytes.
	MaxPathLen = 4096
	// MaxNameLen is the longest path element, in bytes (NAME_MAX on Linux).
	MaxNameLen = 255
)

// metaDir is the directory at the root of a pulled model that holds cairn's
// own records (manifest, config, bundles, receipt). Scan skips it; Files and
// ExtractTar refuse paths under it.
const metaDir = ".cairn"

// checkPath returns a *PathError wrapping ErrUnsafePath unless p is a safe
// relative path (see pathProblem).
func checkPath(p string) error {
	if why := pathProblem(p); why != "" {
		return pathError(p, fmt.Errorf("%w: %s", ErrUnsafePath, why))
	}
	return nil
}

// pathProblem says why p is not a safe relative path, or returns "". A safe
// path is non-empty, at most MaxPathLen bytes, valid UTF-8 without control
// characters or backslashes, not absolute, without "", "." or ".."
// elements, with elements of at most MaxNameLen bytes, and neither .cairn
// nor under .cairn/ (in any letter case). Joined to a directory on Unix,
// such a path stays below it (symlinks aside: writers use os.Root for
// that).
func pathProblem(p string) string {
	switch {
	case p == "":
		return "empty"
	case len(p) > MaxPathLen:
		return fmt.Sprintf("longer than %d bytes", MaxPathLen)
	case !utf8.ValidString(p):
		return "not UTF-8"
	case p[0] == '/':
		return "absolute"
	}
	for _, r := range p {
		switch {
		case r == '\\':
			return "backslash"
		case r < 0x20 || r == 0x7f:
			return "control character"
		}
	}
	for i, el := range strings.Split(p, "/") {
		switch {
		case el == "":
			return "empty element"
		case el == ".", el == "..":
			return fmt.Sprintf("%q element", el)
		case len(el) > MaxNameLen:
			return fmt.Sprintf("element longer than %d bytes", MaxNameLen)
		case i == 0 && strings.EqualFold(el, metaDir):
			return "reserved for cairn metadata (" + metaDir + "/)"
		}
	}
	return ""
}

// pathSet detects duplicates among file paths: equal paths, paths equal
// after case folding (they collide on macOS and Windows), and a file whose
// path is a directory of another file.
type pathSet struct {
	files map[string]bool // folded file paths
	dirs  map[string]bool // folded directory paths
}

func newPathSet() *pathSet {
	return &pathSet{files: map[string]bool{}, dirs: map[string]bool{}}
}

// add records the file path p (already checked with checkPath).
func (s *pathSet) add(p string) error {
	f := foldPath(p)
	if s.files[f] {
		return pathError(p, fmt.Errorf("%w: listed twice (letter case is ignored)", ErrDuplicatePath))
	}
	if s.dirs[f] {
		return pathError(p, fmt.Errorf("%w: also a directory of another file", ErrDuplicatePath))
	}
	if i := strings.LastIndexByte(f, '/'); i > 0 {
		if err := s.addDir(f[:i]); err != nil {
			return pathError(p, fmt.Errorf("%w: a parent directory is also a file", ErrDuplicatePath))
		}
	}
	s.files[f] = true
	return nil
}

// addDir records the directory path p (already checked with checkPath) and
// its parents.
func (s *pathSet) addDir(p string) error {
	f := foldPath(p)
	var added []string
	for d := f; d != "" && !s.dirs[d]; {
		if s.files[d] {
			return pathError(p, fmt.Errorf("%w: a directory and a file", ErrDuplicatePath))
		}
		added = append(added, d)
		i := strings.LastIndexByte(d, '/')
		if i < 0 {
			break
		}
		d = d[:i]
	}
	// Parents of a recorded directory were recorded (and checked) with it.
	for _, d := range added {
		s.dirs[d] = true
	}
	return nil
}

// foldPath is the key under which paths collide on a case-insensitive file
// system. Unicode normalisation (NFC vs NFD, as macOS applies) is not
// considered.
func foldPath(p string) string { return strings.ToLower(p) }
