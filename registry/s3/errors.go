package s3

import "errors"

var (
	// ErrURL means the --storage URL is not one ParseURL accepts.
	ErrURL = errors.New("invalid s3:// URL")
	// ErrNoBucket means the bucket the URL names does not exist.
	ErrNoBucket = errors.New("no such bucket")
	// ErrBadState means an upload's state object (or a chunk it names) is
	// not one this store wrote: the upload cannot be resumed.
	ErrBadState = errors.New("invalid upload state")
	// ErrUploadChanged means another writer (on another node) saved the
	// upload since this one opened it; what this one wrote is dropped.
	ErrUploadChanged = errors.New("upload changed by another writer")
)
