package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"cairn.dev/cairn/registry/auth"
)

// sessionCookie is the name of the session cookie.
const sessionCookie = "cairn_session"

// maxLoginField bounds the user name and password read from the form.
const maxLoginField = 1024

// maxSessionCookie bounds a session cookie's value before it is looked at.
const maxSessionCookie = 256

// viewer is who is looking at a page and what they may read.
type viewer struct {
	// Principal is the logged-in principal; "" when auth is off.
	Principal string
	// AuthOn is true when an Authorizer is configured.
	AuthOn bool
	// Admin is true when auth is off or the principal is an admin.
	Admin bool
	// CSRF is the token forms carry.
	CSRF string

	auth Authorizer
	// session is the secret of the visitor's live session, if any.
	session  string
	readable map[string]bool
}

// canRead reports whether the viewer may see repo, remembering answers
// for the request.
func (v *viewer) canRead(repo string) bool {
	if !v.AuthOn {
		return true
	}
	if ok, seen := v.readable[repo]; seen {
		return ok
	}
	ok := v.auth.CanRead(v.Principal, repo)
	if v.readable == nil {
		v.readable = map[string]bool{}
	}
	v.readable[repo] = ok
	return ok
}

// viewerKey is the echo context key of the *viewer.
const viewerKey = "cairn.viewer"

func viewerOf(c echo.Context) *viewer {
	v, _ := c.Get(viewerKey).(*viewer)
	if v == nil {
		v = &viewer{}
	}
	return v
}

// identify finds the visitor: the session cookie, else the Authorizer's own
// credentials. Anonymous visitors are sent to /login, except to the login
// page and the static files.
func (u *UI) identify(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		v := &viewer{Admin: true}
		if tok, ok := c.Get(csrfKey).(string); ok {
			v.CSRF = tok
		}
		c.Set(viewerKey, v)
		if u.cfg.Auth == nil {
			return next(c)
		}
		v.AuthOn, v.Admin, v.auth = true, false, u.cfg.Auth
		if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" && len(ck.Value) <= maxSessionCookie {
			if p, ok := u.cfg.Auth.Session(c.Request().Context(), ck.Value); ok && p != "" {
				v.Principal, v.session = p, ck.Value
			}
		}
		if v.Principal == "" {
			if p, ok := u.cfg.Auth.Authenticate(c.Request()); ok && p != "" {
				v.Principal = p
			}
		}
		if v.Principal != "" {
			v.Admin = u.cfg.Auth.IsAdmin(v.Principal)
			return next(c)
		}
		path := c.Request().URL.Path
		if path == "/login" || strings.HasPrefix(path, "/static/") {
			return next(c)
		}
		if c.Request().Method != http.MethodGet && c.Request().Method != http.MethodHead {
			return &Error{Code: http.StatusUnauthorized, Msg: "Log in first."}
		}
		return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
}

// safeNext returns next when it is a path on this site, else "/": a login
// must not redirect elsewhere.
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

// loginPage is the data of login.html.
type loginPage struct {
	Next  string
	User  string
	Error string
}

func (u *UI) getLogin(c echo.Context) error {
	if u.cfg.Auth == nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	next := safeNext(c.QueryParam("next"))
	if viewerOf(c).Principal != "" {
		return c.Redirect(http.StatusSeeOther, next)
	}
	return u.render(c, http.StatusOK, "login", "Log in", loginPage{Next: next})
}

func (u *UI) postLogin(c echo.Context) error {
	if u.cfg.Auth == nil {
		return ErrNotFound
	}
	user, password := c.FormValue("user"), c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	fail := func(e *Error) error {
		shown := user
		if len(shown) > maxLoginField || !utf8.ValidString(shown) {
			shown = ""
		}
		return u.render(c, e.Code, "login", "Log in", loginPage{Next: next, User: shown, Error: e.Msg})
	}
	if user == "" || password == "" || len(user) > maxLoginField || len(password) > maxLoginField {
		return fail(errLoginFailed)
	}
	// The address (the direct peer: forwarding headers are not trusted)
	// lets the auth layer throttle failed logins per address, and is
	// recorded with the session.
	ctx := auth.WithClientAddr(c.Request().Context(), c.RealIP())
	principal, err := u.cfg.Auth.Login(ctx, user, password)
	if err != nil || principal == "" {
		u.log.Info("web: login refused", "user", user, "address", c.RealIP(), "err", err)
		var pe *Error
		if errors.As(err, &pe) {
			return fail(pe)
		}
		var te *auth.ThrottledError
		if errors.As(err, &te) {
			secs := max(int64((te.RetryAfter+time.Second-1)/time.Second), 1)
			c.Response().Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			return fail(&Error{Code: http.StatusTooManyRequests, Msg: fmt.Sprintf("Too many failed logins from here; try again in %d seconds.", secs)})
		}
		return fail(errLoginFailed)
	}
	v := viewerOf(c)
	if v.session != "" {
		if err := u.cfg.Auth.EndSession(ctx, v.session); err != nil {
			u.log.Warn("web: ending the session replaced by a login", "err", err)
		}
	}
	value, exp, err := u.cfg.Auth.StartSession(ctx, principal, u.cfg.SessionTTL)
	if err != nil {
		u.log.Error("web: starting a session", "principal", principal, "err", err)
		return fail(&Error{Code: http.StatusServiceUnavailable, Msg: "The login could not be recorded; try again.", Err: err})
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: value, Path: "/", Expires: exp, HttpOnly: true,
		Secure: c.IsTLS(), SameSite: http.SameSiteLaxMode})
	u.log.Info("web: login", "principal", principal, "address", c.RealIP())
	return c.Redirect(http.StatusSeeOther, next)
}

func (u *UI) postLogout(c echo.Context) error {
	v := viewerOf(c)
	if v.session != "" {
		// The record goes, so the cookie is refused on every node and
		// after a restart, even if the browser keeps it.
		if err := u.cfg.Auth.EndSession(c.Request().Context(), v.session); err != nil {
			u.log.Error("web: ending a session", "principal", v.Principal, "err", err)
			return &Error{Code: http.StatusServiceUnavailable, Msg: "The logout could not be recorded; try again.", Err: err}
		}
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: c.IsTLS(), SameSite: http.SameSiteLaxMode})
	if u.cfg.Auth == nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}
