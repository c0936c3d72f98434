package model

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Default grouping of dataset files (see ScanOptions).
const (
	DefaultSmallFile = 1 << 20
	DefaultGroupSize = 256 << 20
	// maxGroupMembers caps the files in one tar group, so that ExtractTar's
	// MaxTarEntries is never reached by a stream cairn made.
	maxGroupMembers = 10000
	// maxDatasetFiles bounds the files of one dataset directory.
	maxDatasetFiles = 10_000_000
)

// Entry is one layer to push: a single file, or (datasets) a group of small
// files packed as one deterministic tar.
type Entry struct {
	// Path is the slash-separated path relative to the scanned root. For a
	// tar group it is the synthetic name "cairn-group-NNNNN.tar" (NNNNN from
	// 00001, in path order); pullers extract the group and never create a
	// file of that name.
	Path string
	// Source is the absolute path of the bytes on disk, with symlinks
	// resolved; empty for a tar group.
	Source string
	// Size is the layer's size in bytes: the file's size, or the exact
	// length of the tar stream of a group (computed without writing it).
	Size int64
	// Mode is 0644, or 0755 if any execute bit was set.
	Mode fs.FileMode
	// Kind says what the file is for; it selects MediaType.
	Kind Kind
	// MediaType is the layer media type (MediaTypeDatasetTar for a group).
	MediaType string
	// LinkTarget is set when Path was a symlink to a regular file: the
	// link's text as stored (os.Readlink, first hop only). Callers report it.
	LinkTarget string
	// Members are the files of a tar group, sorted by Path.
	Members []Entry

	guessed bool // Kind came from no rule of Classify
}

// Open returns the layer's bytes: the file, or the tar stream of a group's
// members (see the package documentation for its exact layout). The reader
// fails with ErrChanged if a file's size no longer matches Size.
func (e Entry) Open() (io.ReadCloser, error) {
	if e.Members != nil || e.Source == "" {
		return newGroupReader(e.Members)
	}
	f, err := os.Open(e.Source)
	if err != nil {
		return nil, pathError(e.Path, err)
	}
	return &sizedFile{f: f, path: e.Path, left: e.Size}, nil
}

// sizedFile reads exactly the size Scan saw and reports ErrChanged
// otherwise.
type sizedFile struct {
	f    *os.File
	path string
	left int64
	done bool
}

func (s *sizedFile) Read(p []byte) (int, error) {
	if s.done {
		return 0, io.EOF
	}
	if s.left == 0 {
		// Expect EOF now: a longer file changed since Scan.
		var one [1]byte
		n, err := s.f.Read(one[:])
		if n > 0 {
			return 0, pathError(s.path, fmt.Errorf("%w: larger than when scanned", ErrChanged))
		}
		if err != nil && err != io.EOF {
			return 0, pathError(s.path, err)
		}
		s.done = true
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.f.Read(p)
	s.left -= int64(n)
	if err == io.EOF {
		if s.left > 0 {
			return n, pathError(s.path, fmt.Errorf("%w: smaller than when scanned", ErrChanged))
		}
		err = nil
	} else if err != nil {
		err = pathError(s.path, err)
	}
	return n, err
}

func (s *sizedFile) Close() error { return s.f.Close() }

// ScanOptions configures Scan. The zero value packs a model.
type ScanOptions struct {
	// Dataset packs a dataset: every file has kind dataset, and files
	// smaller than SmallFile are grouped into tar layers of at most
	// GroupSize bytes (and at most 10000 files).
	Dataset bool
	// SmallFile and GroupSize in bytes; zero means DefaultSmallFile and
	// DefaultGroupSize.
	SmallFile, GroupSize int64
	// Ignore lists patterns of paths to leave out, in path.Match syntax,
	// matched against slash-separated paths relative to the root:
	//
	//   - "dir/**" leaves out what the pattern "dir" matches and everything
	//     below it (".git/**", "data/*/cache/**");
	//   - a pattern with a slash is matched against the whole path
	//     ("data/*.tmp" matches data/a.tmp but not data/x/a.tmp);
	//   - a pattern without a slash is matched against the last element of
	//     every path, at any depth (".git", "*.tmp", "__pycache__").
	//
	// A matching directory is skipped whole. Negation ("!p") and "**" in
	// other positions are not supported: such patterns are an error.
	Ignore []string
}

// Scan walks dir and returns its entries sorted by Path.
//
// A symlink to a regular file is packed as that file's content, with
// LinkTarget set: Hugging Face cache snapshots are symlinks into
// ../../blobs, outside the model directory, and work. Every other symlink
// (to a directory, dangling, a loop) and every device, FIFO and socket is
// refused with a *PathError naming the path (ErrUnsupportedFile). The
// .cairn entry at the root (pull metadata) is skipped. Directories are not
// layers; empty directories are not recorded.
//
// Paths that Files would refuse (see checkPath: control characters,
// backslashes, names over 255 bytes, case-only duplicates...) are refused
// here too, so that whatever cairn packs it can pull.
func Scan(dir string, opts ScanOptions) ([]Entry, error) {
	if opts.SmallFile <= 0 {
		opts.SmallFile = DefaultSmallFile
	}
	if opts.GroupSize <= 0 {
		opts.GroupSize = DefaultGroupSize
	}
	ign, err := compileIgnore(opts.Ignore)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}

	var files []Entry
	seen := newPathSet()
	err = filepath.WalkDir(root, func(name string, d fs.DirEntry, walkErr error) error {
		if name == root {
			return walkErr
		}
		rel, err := filepath.Rel(root, name)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if walkErr != nil {
			return pathError(rel, walkErr)
		}
		if strings.EqualFold(rel, metaDir) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if ign.match(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if err := checkPath(rel); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if limit := maxScanFiles(opts.Dataset); len(files) >= limit {
			return fmt.Errorf("%s: %w: more than %d files", dir, ErrTooMany, limit)
		}
		e := Entry{Path: rel, Source: name}
		var fi fs.FileInfo
		switch t := d.Type(); {
		case t.IsRegular():
			if fi, err = d.Info(); err != nil {
				return pathError(rel, err)
			}
		case t&fs.ModeSymlink != 0:
			if fi, err = resolveLink(&e); err != nil {
				return err
			}
		default:
			return pathError(rel, fmt.Errorf("%w: %s", ErrUnsupportedFile, describeType(t)))
		}
		if err := seen.add(rel); err != nil {
			return err
		}
		e.Size = fi.Size()
		e.Mode = normMode(fi.Mode())
		if opts.Dataset {
			e.Kind = KindDataset
		} else {
			e.Kind, e.guessed = Classify(rel)
		}
		e.MediaType = e.Kind.rawMediaType()
		files = append(files, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	if opts.Dataset {
		return group(files, opts.SmallFile, opts.GroupSize, seen)
	}
	return files, nil
}

// maxScanFiles is the most files Scan accepts: MaxFiles for a model (one
// layer each), maxDatasetFiles for a dataset, whose small files share
// layers (the layer count is checked against MaxFiles after grouping).
func maxScanFiles(dataset bool) int {
	if dataset {
		return maxDatasetFiles
	}
	return MaxFiles
}

// resolveLink fills e.Source and e.LinkTarget for a symlink and returns the
// target's info; it refuses links that do not end at a regular file.
func resolveLink(e *Entry) (fs.FileInfo, error) {
	target, err := os.Readlink(e.Source)
	if err != nil {
		return nil, pathError(e.Path, err)
	}
	fi, err := os.Stat(e.Source)
	if err != nil {
		why := "dangling symlink"
		if !errors.Is(err, fs.ErrNotExist) {
			why = "unresolvable symlink (" + err.Error() + ")"
		}
		return nil, pathError(e.Path, fmt.Errorf("%w: %s to %q", ErrUnsupportedFile, why, target))
	}
	if !fi.Mode().IsRegular() {
		return nil, pathError(e.Path, fmt.Errorf("%w: symlink to a %s (%q)", ErrUnsupportedFile, describeType(fi.Mode().Type()), target))
	}
	src, err := filepath.EvalSymlinks(e.Source)
	if err != nil {
		return nil, pathError(e.Path, err)
	}
	e.Source, e.LinkTarget = src, target
	return fi, nil
}

func describeType(t fs.FileMode) string {
	switch {
	case t.IsDir():
		return "directory"
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t&fs.ModeNamedPipe != 0:
		return "FIFO"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "block device"
	case t&fs.ModeIrregular != 0:
		return "irregular file"
	}
	return "special file (" + t.String() + ")"
}

// normMode is 0755 if any execute bit is set, else 0644.
func normMode(m fs.FileMode) fs.FileMode {
	if m&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

// ignoreSet holds compiled ScanOptions.Ignore patterns.
type ignoreSet struct {
	base []string // matched against the last element
	full []string // matched against the whole path
	tree []string // matched against the path and its parents
}

func compileIgnore(patterns []string) (*ignoreSet, error) {
	s := &ignoreSet{}
	for _, p := range patterns {
		orig := p
		p = strings.TrimPrefix(p, "./")
		tree := false
		if q, ok := strings.CutSuffix(p, "/**"); ok {
			p, tree = q, true
		}
		p = strings.TrimSuffix(p, "/")
		if p == "" || strings.HasPrefix(p, "!") || strings.Contains(p, "**") || strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("ignore pattern %q: unsupported (see ScanOptions.Ignore)", orig)
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("ignore pattern %q: %w", orig, err)
		}
		switch {
		case tree:
			s.tree = append(s.tree, p)
		case strings.Contains(p, "/"):
			s.full = append(s.full, p)
		default:
			s.base = append(s.base, p)
		}
	}
	return s, nil
}

func (s *ignoreSet) match(rel string) bool {
	base := path.Base(rel)
	for _, p := range s.base {
		if ok, _ := path.Match(p, base); ok {
			return true
		}
	}
	for _, p := range s.full {
		if ok, _ := path.Match(p, rel); ok {
			return true
		}
	}
	// A "dir/**" pattern matches dir itself; Scan skips dir whole, so the
	// paths below it are never asked about. Parents are still checked for
	// callers that ask about a file path directly.
	for _, p := range s.tree {
		for q := rel; q != "." && q != ""; q = path.Dir(q) {
			if ok, _ := path.Match(p, q); ok {
				return true
			}
		}
	}
	return false
}

// group packs the files smaller than small into tar groups of at most
// size bytes, in path order, and returns all entries sorted by Path.
func group(files []Entry, small, size int64, seen *pathSet) ([]Entry, error) {
	var out []Entry
	var cur []Entry
	var curSize int64
	n := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		n++
		name := fmt.Sprintf("cairn-group-%05d.tar", n)
		if err := seen.add(name); err != nil {
			return pathError(name, fmt.Errorf("%w: a file has the name of a dataset tar group", ErrDuplicatePath))
		}
		out = append(out, Entry{
			Path:      name,
			Size:      curSize + tarTrailerSize,
			Mode:      0o644,
			Kind:      KindDataset,
			MediaType: MediaTypeDatasetTar,
			Members:   cur,
		})
		cur, curSize = nil, 0
		return nil
	}
	for _, f := range files {
		if f.Size >= small {
			out = append(out, f)
			continue
		}
		rec, err := tarRecordSize(f)
		if err != nil {
			return nil, err
		}
		if len(cur) > 0 && (curSize+rec+tarTrailerSize > size || len(cur) >= maxGroupMembers) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		cur = append(cur, f)
		curSize += rec
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(out) > MaxFiles {
		return nil, fmt.Errorf("%w: more than %d layers", ErrTooMany, MaxFiles)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}
