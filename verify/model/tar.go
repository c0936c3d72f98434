package model

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

const (
	tarBlock = 512
	// tarTrailerSize is the end-of-archive marker: two zero blocks.
	tarTrailerSize = 2 * tarBlock
)

// epoch is the modification time of every packed file.
var epoch = time.Unix(0, 0).UTC()

// memberHeader encodes the tar header of a group member: regular file, the
// member's path and size, mode 0644 or 0755, uid and gid 0, no user or
// group names, mtime at the Unix epoch, no access or change times. The
// header is USTAR when the name fits (100 bytes, or a 155-byte prefix split
// at a slash, ASCII) and GNU otherwise (a ././@LongLink record carries the
// name); never PAX, so no records vary with the platform.
func memberHeader(e Entry) ([]byte, error) {
	var buf bytes.Buffer
	for _, f := range []tar.Format{tar.FormatUSTAR, tar.FormatGNU} {
		buf.Reset()
		h := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     e.Path,
			Size:     e.Size,
			Mode:     int64(normMode(e.Mode)),
			ModTime:  epoch,
			Format:   f,
		}
		// WriteHeader writes the whole header (and a GNU long-name record)
		// to buf at once; the file's bytes follow in the group reader.
		if err := tar.NewWriter(&buf).WriteHeader(h); err == nil {
			return buf.Bytes(), nil
		}
	}
	return nil, pathError(e.Path, fmt.Errorf("%w: name cannot be stored in a tar header", ErrUnsupportedFile))
}

// tarRecordSize is the bytes a member takes in a group's tar stream: its
// header, its content, and padding to a 512-byte block.
func tarRecordSize(e Entry) (int64, error) {
	h, err := memberHeader(e)
	if err != nil {
		return 0, err
	}
	return int64(len(h)) + padded(e.Size), nil
}

func padded(n int64) int64 { return (n + tarBlock - 1) / tarBlock * tarBlock }

var zeroBlocks [tarTrailerSize]byte

// groupReader streams the tar of a group: for each member, its header, its
// bytes and zero padding; then two zero blocks. It produces the same bytes
// as archive/tar's Writer given the same headers.
type groupReader struct {
	members []Entry
	seg     int // next segment: 3 per member (header, content, padding), then the trailer
	cur     io.Reader
	file    io.Closer
	err     error
}

func newGroupReader(members []Entry) (*groupReader, error) {
	if len(members) == 0 {
		return nil, errors.New("model: entry has neither a source file nor members")
	}
	return &groupReader{members: members}, nil
}

func (g *groupReader) next() error {
	if g.file != nil {
		g.file.Close()
		g.file = nil
	}
	i, part := g.seg/3, g.seg%3
	g.seg++
	if i >= len(g.members) {
		if i == len(g.members) && part == 0 {
			g.cur = bytes.NewReader(zeroBlocks[:])
			return nil
		}
		return io.EOF
	}
	m := g.members[i]
	switch part {
	case 0:
		h, err := memberHeader(m)
		if err != nil {
			return err
		}
		g.cur = bytes.NewReader(h)
	case 1:
		if m.Source == "" {
			return pathError(m.Path, errors.New("group member without a source file"))
		}
		rc, err := m.Open()
		if err != nil {
			return err
		}
		g.cur, g.file = rc, rc
	case 2:
		g.cur = bytes.NewReader(zeroBlocks[:padded(m.Size)-m.Size])
	}
	return nil
}

func (g *groupReader) Read(p []byte) (int, error) {
	for g.err == nil {
		if g.cur == nil {
			if g.err = g.next(); g.err != nil {
				break
			}
		}
		n, err := g.cur.Read(p)
		if err == io.EOF {
			g.cur = nil
			err = nil
		}
		if err != nil {
			g.err = err
		}
		if n > 0 || len(p) == 0 {
			return n, err
		}
	}
	return 0, g.err
}

func (g *groupReader) Close() error {
	if g.file != nil {
		g.file.Close()
		g.file = nil
	}
	if g.err == nil {
		g.err = errors.New("model: read after close")
	}
	return nil
}

// ExtractTar writes the regular files and directories of a tar stream under
// dir (created if needed) and returns the slash-separated paths of the files
// it wrote, in stream order. A gzip-compressed stream is recognised by its
// magic bytes and decompressed, so callers pass tar and tar+gzip layers
// alike.
//
// Entry names are checked like manifest paths (see Files): a leading "./"
// is dropped, and absolute names, "..", ".", empty elements, backslashes,
// control characters and names under .cairn/ are refused, as are duplicates
// (letter case ignored) and a file whose name is a directory of another.
// Symlinks, hard links, devices, FIFOs, sparse files and any other type are
// refused. PAX global headers are skipped. Every error is a *PathError
// naming the entry. At most MaxTarEntries entries are read.
//
// ExtractTar never writes outside dir: all writes go through an os.Root
// opened on dir, and an existing path that is not a regular file (a symlink
// left in dir, say) is refused rather than followed. Files get mode 0644, or
// 0755 when the entry had any execute bit; directories 0755; ownership and
// times are not restored. An existing regular file of the same name is
// overwritten. On error, the files this call created are removed (the
// directories are left).
//
// ExtractTar reads r to its end, past the end-of-archive marker, so that a
// caller hashing r as it flows sees every byte of the layer. A compressed
// stream may expand far beyond its layer size; callers that extract
// untrusted layers should watch free space.
func ExtractTar(r io.Reader, dir string) ([]string, error) {
	return extractTar(r, dir, false)
}

// ExtractTarExclusive is ExtractTar, except that a member whose path
// already exists in dir (a file of another layer, or of another archive)
// is refused, with a *PathError wrapping ErrDuplicatePath, instead of
// overwriting it: what a verifier extracting several layers into one
// directory needs, so that one layer cannot replace another's checked file.
func ExtractTarExclusive(r io.Reader, dir string) ([]string, error) {
	return extractTar(r, dir, true)
}

func extractTar(r io.Reader, dir string, exclusive bool) ([]string, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()

	x := extractor{root: root, seen: newPathSet(), exclusive: exclusive}
	err = x.run(tar.NewReader(src))
	if err == nil {
		// Read what follows the end-of-archive marker, so that a caller
		// hashing r sees the whole layer.
		_, err = io.Copy(io.Discard, br)
	}
	if err != nil {
		for _, p := range x.written {
			root.Remove(p)
		}
		return nil, err
	}
	return x.written, nil
}

type extractor struct {
	exclusive bool
	root      *os.Root
	seen      *pathSet
	written   []string
}

func (x *extractor) run(tr *tar.Reader) error {
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, tar.ErrInsecurePath) && hdr != nil { // GODEBUG=tarinsecurepath=0
			return pathError(hdr.Name, fmt.Errorf("%w: %v", ErrUnsafePath, err))
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		if n >= MaxTarEntries {
			return fmt.Errorf("tar: %w: more than %d entries", ErrTooMany, MaxTarEntries)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name := hdr.Name
		clean := name
		for strings.HasPrefix(clean, "./") {
			clean = clean[2:]
		}
		if hdr.Typeflag == tar.TypeDir {
			clean = strings.TrimSuffix(clean, "/")
			if clean == "" || clean == "." {
				continue // the root itself
			}
		}
		if why := pathProblem(clean); why != "" {
			return pathError(name, fmt.Errorf("%w: %s", ErrUnsafePath, why))
		}
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return pathError(name, fmt.Errorf("%w: sparse file", ErrUnsupportedFile))
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := x.seen.addDir(clean); err != nil {
				return pathError(name, errors.Unwrap(err))
			}
			if err := x.root.MkdirAll(clean, 0o755); err != nil {
				return pathError(name, err)
			}
		case tar.TypeReg, '\x00':
			if err := x.seen.add(clean); err != nil {
				return pathError(name, errors.Unwrap(err))
			}
			if err := x.file(clean, hdr, tr); err != nil {
				return pathError(name, err)
			}
		default:
			return pathError(name, fmt.Errorf("%w: %s", ErrUnsupportedFile, typeName(hdr.Typeflag)))
		}
	}
}

// file writes one regular file from the tar stream.
func (x *extractor) file(name string, hdr *tar.Header, r io.Reader) error {
	if d := path.Dir(name); d != "." {
		if err := x.root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if _, err := x.root.Lstat(name); err == nil && x.exclusive {
		return fmt.Errorf("%w: the path exists already, from another layer", ErrDuplicatePath)
	}
	if fi, err := x.root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: a %s already exists at this path", ErrUnsupportedFile, describeType(fi.Mode().Type()))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	mode := normMode(fs.FileMode(hdr.Mode))
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	x.written = append(x.written, name)
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(mode) // the umask may have narrowed it, or the file existed
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	case tar.TypeCont:
		return "contiguous file"
	case tar.TypeGNUSparse:
		return "sparse file"
	}
	return fmt.Sprintf("tar entry type %q", t)
}
