package meta

import "errors"

var (
	// ErrLocked means another process (usually a running server) holds the
	// database.
	ErrLocked = errors.New("metadata database is in use by another process (is cairn serve running on this directory?)")
	// ErrSchemaTooNew means the database was written by a newer cairn.
	ErrSchemaTooNew = errors.New("metadata schema is newer than this cairn")
)
