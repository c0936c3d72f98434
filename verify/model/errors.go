package model

import (
	"errors"
	"strconv"
)

var (
	// ErrUnsafePath means a path could write outside the destination or
	// collide with cairn's own metadata: it is absolute, has "..", "." or
	// empty elements, backslashes, NUL or other control characters, is not
	// UTF-8, is too long, or lies under .cairn/.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrDuplicatePath means two files have the same path, paths that differ
	// only in letter case, or one file's path is a directory of another.
	ErrDuplicatePath = errors.New("duplicate path")
	// ErrUnsupportedFile means a file that is not packed or unpacked: a
	// symlink that does not lead to a regular file, a device, a FIFO, a
	// socket, or a tar entry that is a link, a device or sparse.
	ErrUnsupportedFile = errors.New("unsupported file type")
	// ErrUnsupportedMediaType means a layer whose media type cairn cannot
	// turn into files (for example a tar+zstd layer).
	ErrUnsupportedMediaType = errors.New("unsupported layer media type")
	// ErrInvalidManifest means a manifest that does not parse or is not an
	// OCI image manifest.
	ErrInvalidManifest = errors.New("invalid manifest")
	// ErrTooMany means a count above one of the package's limits (MaxFiles,
	// MaxTarEntries).
	ErrTooMany = errors.New("too many files")
	// ErrChanged means a file changed on disk between Scan and Open.
	ErrChanged = errors.New("file changed while packing")
	// ErrEmpty means there is nothing to pack: Build got no entries.
	ErrEmpty = errors.New("no files to pack")
)

// PathError records an error about one file: a path in the model directory,
// in a manifest, or an entry name in a tar stream.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return strconv.Quote(e.Path) + ": " + e.Err.Error() }

func (e *PathError) Unwrap() error { return e.Err }

func pathError(p string, err error) error { return &PathError{Path: p, Err: err} }
