package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"

	"cairn.dev/cairn/registry/storage"
)

// Error is an OCI distribution error: an HTTP status, a code from the spec's
// table, and a message for the client. Err, when set, is logged but not sent.
type Error struct {
	Status  int
	Code    string
	Message string
	Detail  any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error codes of the distribution spec.
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeUnauthorized        = "UNAUTHORIZED"
	codeDenied              = "DENIED"
	codeUnsupported         = "UNSUPPORTED"
	codeTooManyRequests     = "TOOMANYREQUESTS"
	codeTagInvalid          = "TAG_INVALID"
)

// codeUnknown is the distribution spec's catch-all (not in its table, but
// what registries and clients use for server-side failures).
const codeUnknown = "UNKNOWN"

// unavailable reports whether err is a failure to reach a store over the
// network (PostgreSQL or S3 down or restarting).
func unavailable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED)
}

// toError maps errors from the stores and handlers to an OCI error.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, storage.ErrBlobUnknown):
		return &Error{Status: http.StatusNotFound, Code: codeBlobUnknown, Message: "blob unknown to registry", Err: err}
	case errors.Is(err, storage.ErrManifestUnknown), errors.Is(err, storage.ErrTagUnknown):
		return &Error{Status: http.StatusNotFound, Code: codeManifestUnknown, Message: "manifest unknown", Err: err}
	case errors.Is(err, storage.ErrNameUnknown):
		return &Error{Status: http.StatusNotFound, Code: codeNameUnknown, Message: "repository name not known to registry", Err: err}
	case errors.Is(err, storage.ErrUploadUnknown):
		return &Error{Status: http.StatusNotFound, Code: codeBlobUploadUnknown, Message: "blob upload unknown to registry", Err: err}
	case errors.Is(err, storage.ErrDigestMismatch):
		return &Error{Status: http.StatusBadRequest, Code: codeDigestInvalid, Message: "provided digest did not match uploaded content", Err: err}
	case errors.Is(err, storage.ErrSizeMismatch):
		return &Error{Status: http.StatusBadRequest, Code: codeSizeInvalid, Message: "provided length did not match content length", Err: err}
	case errors.Is(err, storage.ErrUnsupportedDigest):
		return &Error{Status: http.StatusBadRequest, Code: codeDigestInvalid, Message: "unsupported digest (sha256 and sha512 are supported)", Err: err}
	case unavailable(err):
		return &Error{Status: http.StatusServiceUnavailable, Code: codeUnknown,
			Message: "a storage service of the registry is unavailable (the database or the blob store did not answer); retry later", Err: err}
	case storage.IsFull(err):
		// The spec has no code for it: DENIED (the write is refused, and
		// retrying will not help until an operator frees space), with 507.
		return &Error{Status: http.StatusInsufficientStorage, Code: codeDenied,
			Message: "storage is full: the registry cannot store this; an operator must free space (delete versions, then garbage-collect)", Err: err}
	case errors.Is(err, errBodyTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: codeSizeInvalid, Message: err.Error(), Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: "internal error", Err: err}
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError sends err as the OCI JSON error envelope.
func writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	b, _ := json.Marshal(errorBody{Errors: []errorEntry{{Code: e.Code, Message: e.Message, Detail: e.Detail}}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}
