package scan

import "errors"

// ErrNotRegular is returned, in an *fs.PathError, by File for a path that
// is not a regular file (a directory, a device, a FIFO, a socket).
var ErrNotRegular = errors.New("not a regular file")

// errBudget is the read error of an archive member once the scan has
// decompressed MaxZipDecompressed bytes.
var errBudget = errors.New("decompression limit reached")
