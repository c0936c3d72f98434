package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/opencontainers/go-digest"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// staticETags are the ETags of the static files: a hash of each.
var staticETags = func() map[string]string {
	m := map[string]string{}
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		m[strings.TrimPrefix(p, "static/")] = `"` + digest.FromBytes(b).Encoded()[:16] + `"`
		return nil
	})
	return m
}()

// ContentSecurityPolicy is sent with every response: scripts, styles and
// images only from /static (and data: images), never inline, forms only
// to this site, never framed. The one script, static/copy.js, adds the
// copy buttons; every page works without it.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxFormBody bounds a form post.
const maxFormBody = "16K"

// csrfKey is the echo context key of the CSRF token.
const csrfKey = "cairn.csrf"

// csrfCookie is the name of the double-submit CSRF cookie.
const csrfCookie = "cairn_csrf"

// pageNames are the templates/NAME.html files rendered inside layout.html.
var pageNames = []string{"index", "repo", "version", "access", "login", "error", "compare", "namespace"}

var funcs = template.FuncMap{
	"size":    humanSize,
	"short":   shortDigest,
	"time":    formatTime,
	"isoTime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"repoURL": repoURL,
	"versionURL": func(repo string, d digest.Digest) string {
		return versionURL(repo, d)
	},
	"accessURL":  accessURL,
	"rawURL":     rawURL,
	"clip":       clip,
	"pathEscape": escapePath,
	"add":        func(a, b int) int { return a + b },
	"pageQuery": func(sort string, page int) string {
		if sort == "time" {
			sort = ""
		}
		return urlValues("sort", sort, "page", strconv.Itoa(page))
	},
	"maxMembers": func() int { return MaxArchiveMembers },
	"compareURL": func(repo string, d digest.Digest) string {
		return versionURL(repo, d) + "/compare"
	},
	// visible escapes invisible and bidirectional characters (see
	// visible): every string a user chose goes through it.
	"visible": func(v any) string {
		if s, ok := v.(string); ok {
			return visible(s)
		}
		if v == nil {
			return ""
		}
		return visible(fmt.Sprint(v))
	},
	// wbr is visible, escaped, with a line break opportunity after each
	// slash: long repository names wrap between their elements.
	"wbr": func(s string) template.HTML {
		return template.HTML(strings.ReplaceAll(template.HTMLEscapeString(visible(s)), "/", "/<wbr>"))
	},
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	},
}

func parsePages(now func() time.Time) (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	ago := template.FuncMap{"ago": func(t time.Time) string { return relativeTime(t, now()) }}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).Funcs(ago).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// page is what layout.html gets: the page's own data in Data.
type page struct {
	// Now is when the page is rendered, for relative times.
	Now   time.Time
	Title string
	V     *viewer
	Nav   string
	Data  any
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes a page into a buffer, so that a template error becomes
// an error page rather than half a page.
func (u *UI) render(c echo.Context, code int, name, title string, data any) error {
	t := u.pages[name]
	if t == nil {
		return fmt.Errorf("web: no page %q", name)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := t.ExecuteTemplate(buf, "layout", page{Now: u.now(), Title: visible(title), V: viewerOf(c), Nav: name, Data: data}); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	return c.HTMLBlob(code, buf.Bytes())
}

// routes builds the echo app.
func (u *UI) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// RealIP is the direct peer: X-Forwarded-For and X-Real-IP are not
	// trusted, so a client cannot name another address in the logs or
	// dodge the per-address login budget.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = u.handleError
	e.Use(securityHeaders)
	// Pages and static files are gzipped for clients that accept it;
	// downloads (file bytes, already compressed weights) are sent as
	// they are.
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{
		Level:     5,
		MinLength: 1024,
		Skipper: func(c echo.Context) bool {
			return strings.Contains(c.Request().URL.Path, "/raw/")
		},
	}))
	e.Use(middleware.BodyLimit(maxFormBody))
	e.Use(u.csrf())
	e.Use(u.identify)

	e.GET("/", u.index)
	e.GET("/r/*", u.repository)
	e.GET("/access", u.accessLog)
	e.GET("/login", u.getLogin)
	e.POST("/login", u.postLogin)
	e.POST("/logout", u.postLogout)
	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	e.GET("/static/*", func(c echo.Context) error {
		if strings.HasSuffix(c.Request().URL.Path, "/") {
			return ErrNotFound // no directory listings
		}
		// Static files change only with the binary: cached for a day and
		// revalidated by their ETag (a hash of the content) after that.
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		if tag, ok := staticETags[strings.TrimPrefix(c.Request().URL.Path, "/static/")]; ok {
			c.Response().Header().Set("ETag", tag)
		}
		fileServer.ServeHTTP(c.Response(), c.Request())
		return nil
	})
	e.RouteNotFound("/*", func(c echo.Context) error { return ErrNotFound })
	return e
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// csrf protects every form post: a browser that sends Sec-Fetch-Site must
// say same-origin; otherwise the form's _csrf field must match the
// cairn_csrf cookie (double submit). The cookie is HttpOnly,
// SameSite=Strict and Secure under TLS.
func (u *UI) csrf() echo.MiddlewareFunc {
	mk := func(secure bool) echo.MiddlewareFunc {
		return middleware.CSRFWithConfig(middleware.CSRFConfig{
			Skipper:        func(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/static/") },
			TokenLookup:    "form:_csrf",
			ContextKey:     csrfKey,
			CookieName:     csrfCookie,
			CookiePath:     "/",
			CookieHTTPOnly: true,
			CookieSecure:   secure,
			CookieSameSite: http.SameSiteStrictMode,
			AllowSecFetchSiteFunc: func(c echo.Context) (bool, error) {
				return false, &Error{Code: http.StatusForbidden, Msg: "Refused: the form was sent from another site."}
			},
		})
	}
	plain, tls := mk(false), mk(true)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		p, t := plain(next), tls(next)
		return func(c echo.Context) error {
			if c.IsTLS() {
				return t(c)
			}
			return p(c)
		}
	}
}

// humanSize formats a byte count in binary units.
func humanSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(n) / 1024
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f < 10 {
		return strconv.FormatFloat(f, 'f', 1, 64) + " " + units[i]
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + " " + units[i]
}

// shortDigest is "sha256:" and the first 12 hex digits.
func shortDigest(d digest.Digest) string {
	s := string(d)
	i := strings.IndexByte(s, ':')
	if i < 0 || len(s) < i+13 {
		return s
	}
	return s[:i+13]
}

// formatTime is the exact time, to the second, in UTC.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// relativeTime says how long before now t was, in the largest whole unit
// ("3 minutes ago", "2 days ago"); pages show it with the exact time
// (formatTime) on hover and to screen readers.
func relativeTime(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in the future"
	}
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{365 * 24 * time.Hour, "year"}, {30 * 24 * time.Hour, "month"}, {7 * 24 * time.Hour, "week"}, {24 * time.Hour, "day"},
		{time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if n := int(d / u.d); n >= 1 {
			if n == 1 {
				return "1 " + u.name + " ago"
			}
			return strconv.Itoa(n) + " " + u.name + "s ago"
		}
	}
	return "just now"
}

// repoURL is the page of a repository. Names are validated repository
// names, which need no escaping in a path, but are escaped all the same.
func repoURL(repo string) string { return "/r/" + escapePath(repo) }

// versionURL is the page of one version: /r/REPO@DIGEST. '@' cannot occur
// in a repository name, so the route is never confused with a repository.
func versionURL(repo string, d digest.Digest) string {
	return "/r/" + escapePath(repo) + "@" + url.PathEscape(string(d))
}

// escapePath escapes each element of a slash-separated path.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// accessURL is /access with filters, given as name, value pairs; empty
// values are left out.
func accessURL(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return "/access"
	}
	return "/access?" + q.Encode()
}
