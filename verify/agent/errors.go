package agent

import "errors"

// ErrNoRepository is returned, wrapped, when a directory is checked under
// a policy whose rule depends on the repository and the caller named none:
// the directory's own record of where it came from is not trusted.
var ErrNoRepository = errors.New("name the repository whose policy rule applies")

// ErrArchiveOffline is returned, wrapped, when a directory holds the
// members of archive layers, whose digests cannot be checked from the
// extracted files: such a model is verified while it is pulled.
var ErrArchiveOffline = errors.New("archive layers cannot be verified from the extracted files")

// ErrNotPulled is returned, wrapped, when a directory has no record of a
// pull (DIR/.cairn/manifest.json).
var ErrNotPulled = errors.New("not a directory pulled by cairn")
