package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Error is an error with a message that is safe to show: the UI shows Msg
// with the status Code and logs Err, which may say more (paths, internal
// state), as tailscale's vizerror and tsweb.HTTPError do.
type Error struct {
	// Code is the HTTP status.
	Code int
	// Msg is what the visitor sees.
	Msg string
	// Err is the cause, logged and never shown; may be nil.
	Err error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// publicError returns an *Error with a formatted public message.
func publicError(code int, err error, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

var (
	// ErrNotFound is shown for a page, repository or version that does not
	// exist or that the visitor may not read: the two look the same, so
	// that names cannot be probed.
	ErrNotFound = &Error{Code: http.StatusNotFound, Msg: "Not found: no such page, repository or version (or you may not read it)."}
	// ErrBadRequest is shown for a malformed query or form.
	ErrBadRequest = &Error{Code: http.StatusBadRequest, Msg: "Bad request."}
	// ErrCardTooLarge means a model card is larger than MaxCardSize.
	ErrCardTooLarge = errors.New("model card too large")
	// errLoginFailed is what a refused login shows, whatever the cause.
	errLoginFailed = &Error{Code: http.StatusUnauthorized, Msg: "Wrong user name or password."}
)

// errorPage is the data of error.html.
type errorPage struct {
	Code int
	Text string
	Msg  string
}

// handleError is echo's HTTPErrorHandler: it logs the wrapped error and
// renders only the public message.
func (u *UI) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		u.log.Warn("web: error after the response started", "path", c.Request().URL.Path, "err", err)
		return
	}
	code, msg := http.StatusInternalServerError, "Something went wrong on the server; the error is in its log."
	var pe *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
		code, msg = pe.Code, pe.Msg
	case errors.As(err, &he):
		code = he.Code
		switch code {
		case http.StatusNotFound:
			msg = ErrNotFound.Msg
		case http.StatusMethodNotAllowed:
			msg = "That method is not allowed here."
		case http.StatusForbidden:
			msg = "Refused: the form was not sent from this site, or its security token is missing or stale. Reload the page and try again."
		case http.StatusRequestEntityTooLarge:
			msg = "The form is too large."
		default:
			if code < 500 {
				msg = http.StatusText(code)
			}
		}
	}
	if code >= 500 {
		u.log.Error("web: request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "status", code, "err", err)
	} else {
		u.log.Debug("web: request refused", "method", c.Request().Method, "path", c.Request().URL.Path, "status", code, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(code)
		return
	}
	if rerr := u.render(c, code, "error", "Error", errorPage{Code: code, Text: http.StatusText(code), Msg: msg}); rerr != nil {
		u.log.Error("web: render error page", "err", rerr)
	}
}
