package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"cairn.dev/cairn/registry/auth"
)

// sessionCookie is the name of the session cookie.
const sessionCookie = "cairn_session"

// maxRevoked bounds the logged-out sessions remembered until they expire.
const maxRevoked = 100_000

// maxLoginField bounds the user name and password read from the form.
const maxLoginField = 1024

// sessions issues and checks session cookies: "PAYLOAD.MAC", PAYLOAD
// being base64url("ID|EXPIRES|PRINCIPAL") and MAC its HMAC-SHA256 under the
// session key. Nothing is stored per session but logouts, remembered
// (on this node) until the session would have expired.
type sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	revoked map[string]time.Time
}

func newSessions(key []byte, ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{key: key, ttl: ttl, now: now, revoked: map[string]time.Time{}}
}

func (s *sessions) mac(payload string) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// issue returns a new session cookie value for principal.
func (s *sessions) issue(principal string) (string, time.Time) {
	id := make([]byte, 16)
	rand.Read(id)
	exp := s.now().Add(s.ttl).Truncate(time.Second)
	payload := base64.RawURLEncoding.EncodeToString([]byte(hex.EncodeToString(id) + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" + principal))
	return payload + "." + s.mac(payload), exp
}

// check returns the principal of a valid, unexpired, not revoked session.
func (s *sessions) check(value string) (principal, id string, exp time.Time, ok bool) {
	payload, mac, found := strings.Cut(value, ".")
	if !found || !hmac.Equal([]byte(mac), []byte(s.mac(payload))) {
		return "", "", time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", "", time.Time{}, false
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 || parts[2] == "" {
		return "", "", time.Time{}, false
	}
	secs, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", "", time.Time{}, false
	}
	exp = time.Unix(secs, 0)
	if !s.now().Before(exp) {
		return "", "", time.Time{}, false
	}
	s.mu.Lock()
	_, gone := s.revoked[parts[0]]
	s.mu.Unlock()
	if gone {
		return "", "", time.Time{}, false
	}
	return parts[2], parts[0], exp, true
}

// revoke ends a session on this node.
func (s *sessions) revoke(id string, exp time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.revoked) >= maxRevoked {
		for k, e := range s.revoked {
			if !now.Before(e) {
				delete(s.revoked, k)
			}
		}
	}
	if len(s.revoked) < maxRevoked {
		s.revoked[id] = exp
	}
}

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

	auth      Authorizer
	sessionID string
	sessionEx time.Time
	readable  map[string]bool
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
		if ck, err := c.Cookie(sessionCookie); err == nil {
			if p, id, exp, ok := u.sessions.check(ck.Value); ok {
				v.Principal, v.sessionID, v.sessionEx = p, id, exp
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
	// lets the auth layer throttle failed logins per address too.
	principal, err := u.cfg.Auth.Login(auth.WithClientAddr(c.Request().Context(), c.RealIP()), user, password)
	if err != nil || principal == "" {
		u.log.Info("web: login refused", "user", user, "address", c.RealIP(), "err", err)
		var pe *Error
		if errors.As(err, &pe) {
			return fail(pe)
		}
		return fail(errLoginFailed)
	}
	v := viewerOf(c)
	if v.sessionID != "" {
		u.sessions.revoke(v.sessionID, v.sessionEx)
	}
	value, exp := u.sessions.issue(principal)
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: value, Path: "/", Expires: exp, HttpOnly: true,
		Secure: c.IsTLS(), SameSite: http.SameSiteLaxMode})
	u.log.Info("web: login", "principal", principal, "address", c.RealIP())
	return c.Redirect(http.StatusSeeOther, next)
}

func (u *UI) postLogout(c echo.Context) error {
	v := viewerOf(c)
	if v.sessionID != "" {
		u.sessions.revoke(v.sessionID, v.sessionEx)
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: c.IsTLS(), SameSite: http.SameSiteLaxMode})
	if u.cfg.Auth == nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}
