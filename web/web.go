package web

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify"
)

// DefaultScanMaxSize is the largest file the version page scans when
// Config.ScanMaxSize is zero: larger files are listed as not scanned, with
// a note to run cairn scan on the pulled copy, unless they are
// safetensors or GGUF files, whose scan reads only their headers.
const DefaultScanMaxSize = 64 << 20

// DefaultSessionTTL is how long a login lasts when Config.SessionTTL is
// zero.
const DefaultSessionTTL = 12 * time.Hour

// SummaryTTL is how long a repository's summary (latest version, size,
// signature) is reused before it is read again. Pushes through this
// server's Watch invalidate it at once; the TTL bounds how stale a
// summary gets when another node or tool changed the store.
const SummaryTTL = 30 * time.Second

// ChainTTL is how long the access log's verified chain state is shown
// before the chain is verified again.
const ChainTTL = time.Minute

// Authorizer is what the UI asks about who a visitor is and what they may
// read. A nil Authorizer means authentication is off: every visitor reads
// everything. registry/auth implements it.
type Authorizer interface {
	// Authenticate recognises credentials a request carries by the auth
	// layer's own means (basic credentials, a bearer token); ok is false
	// when there are none or they are not valid. The UI's session cookie
	// is checked before it is asked.
	Authenticate(r *http.Request) (principal string, ok bool)
	// Login checks a user's password and returns the principal to record
	// in the session. An error refuses the login; the visitor is told only
	// that it failed (or the error's public message, when it is a
	// *web.Error), and the error is logged.
	Login(ctx context.Context, user, password string) (principal string, err error)
	// StartSession records a session of principal (as Login returned it)
	// lasting ttl, and returns the secret the session cookie carries and
	// when the session ends. The client's address is in ctx
	// (auth.WithClientAddr).
	StartSession(ctx context.Context, principal string, ttl time.Duration) (secret string, expires time.Time, err error)
	// Session returns the principal of the live session whose cookie
	// carries secret; ok is false for a session that ended (logout,
	// password or role change, the user deleted), expired or never was.
	Session(ctx context.Context, secret string) (principal string, ok bool)
	// EndSession ends the session whose cookie carries secret, on every
	// node that serves the registry.
	EndSession(ctx context.Context, secret string) error
	// CanRead reports whether principal may read (pull) repository.
	CanRead(principal, repository string) bool
	// IsAdmin reports whether principal administers the registry: admins
	// see every access record, others only those of repositories they
	// can read and their own.
	IsAdmin(principal string) bool
}

// AccessReader is the part of the access log (storage.AccessLog) the UI
// reads: the /access page, the chain state and the pull counts.
type AccessReader interface {
	// Access calls fn for the records f selects, newest first.
	Access(ctx context.Context, f storage.AccessFilter, fn func(storage.AccessRecord) error) error
	// VerifyAccess re-computes the hash chain and reports its state.
	VerifyAccess(ctx context.Context) (storage.AccessChainState, error)
}

// Config configures the UI. Meta and Blobs are required; every other
// field has a documented zero value.
type Config struct {
	// Meta is the registry's metadata store. When it implements
	// storage.Quarantines, version pages show quarantines; when it
	// implements AccessReader (and Access is nil), the access log is shown.
	Meta storage.Metadata
	// Blobs is the registry's blob store: configs, signature bundles and
	// files to scan are read from it.
	Blobs storage.BlobStore
	// Access is the access log; nil means Meta, when Meta implements
	// AccessReader, and otherwise no access log (the page says so and
	// pull counts are left out).
	Access AccessReader
	// Gate is the registry's pull gate (cairn serve --policy): every
	// version shows the gate's verdict (allowed, naming the rule and its
	// signers, or refused, with the gate's reason), and each bundle is
	// verified against the trust of the rule the gate applied, to name its
	// signer. Nil means the registry has no policy: versions show what is
	// attached ("signed by KEYID, not checked", "attested", "unsigned").
	// Quarantined versions show so either way.
	Gate Gate
	// Policy is the gate's policy, set exactly when Gate is: the UI reads
	// it only to replace the server's file paths (the policy file, key
	// files, trusted roots) in what the gate says by what they name
	// (rules[N] "MATCH", key KEYID), never to decide anything.
	Policy *verify.Policy
	// PolicyHost is the registry's host[:port] as policy rules name it
	// (cairn serve --policy-host, else --addr): rules are matched against
	// PolicyHost/repository, as the pull gate matches them. Empty means the
	// request's Host header. Pull commands always show the Host the
	// browser used.
	PolicyHost string
	// Auth decides who is logged in and what they may read; nil turns
	// authentication off.
	Auth Authorizer
	// SessionTTL is how long a login lasts; zero means DefaultSessionTTL.
	SessionTTL time.Duration
	// ScanMaxSize is the largest file the version page scans (safetensors
	// and GGUF files are scanned at any size); zero means
	// DefaultScanMaxSize, negative disables scanning.
	ScanMaxSize int64
	// Logger receives failed requests; nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// UI is the web UI, an http.Handler for every path but /v2/.
type UI struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	access AccessReader
	quar   storage.Quarantines
	e      *echo.Echo
	pages  map[string]*template.Template

	summaries *summaryCache
	verdicts  *boundedCache[*bundleSet]
	scrub     *strings.Replacer
	scans     *boundedCache[*scanResult]
	cards     *boundedCache[*card]
	listings  *boundedCache[*listing]
	configs   *boundedCache[*configSummary]
	search    *refresher[searchIndex]
	lineage   *refresher[*registry.LineageIndex]
	pulls     *refresher[map[string]int]           // nil without an access log
	chain     *refresher[storage.AccessChainState] // nil without an access log
}

// New returns the UI for cfg.
func New(cfg Config) (*UI, error) {
	if cfg.Meta == nil || cfg.Blobs == nil {
		return nil, errors.New("web: Config.Meta and Config.Blobs are required")
	}
	if (cfg.Gate == nil) != (cfg.Policy == nil) {
		return nil, errors.New("web: Config.Gate and Config.Policy are set together: the gate decides, the policy names")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.ScanMaxSize == 0 {
		cfg.ScanMaxSize = DefaultScanMaxSize
	}
	u := &UI{
		cfg:       cfg,
		log:       cfg.Logger,
		now:       cfg.Now,
		access:    cfg.Access,
		summaries: newSummaryCache(),
		verdicts:  newBoundedCache[*bundleSet](maxVerdicts),
		scrub:     newScrubber(cfg.Policy),
		scans:     newBoundedCache[*scanResult](maxScans),
		cards:     newBoundedCache[*card](maxCards),
		listings:  newBoundedCache[*listing](maxListings),
		configs:   newBoundedCache[*configSummary](maxVerdicts),
	}
	if u.access == nil {
		u.access, _ = cfg.Meta.(AccessReader)
	}
	u.newRefreshers()
	u.quar, _ = cfg.Meta.(storage.Quarantines)
	pages, err := parsePages(u.now)
	if err != nil {
		return nil, err
	}
	u.pages = pages
	u.e = u.routes()
	return u, nil
}

// ServeHTTP implements http.Handler.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.e.ServeHTTP(w, r) }

// Watch wraps the registry API so that the UI learns of changes made
// through it at once: after a manifest is pushed or deleted, a tag
// deleted or a quarantine changed, the repository's summary and (for
// provenance) the lineage index are dropped from the caches. cairn serve
// mounts the API behind it; changes made elsewhere show within SummaryTTL.
func (u *UI) Watch(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			api.ServeHTTP(w, r)
			return
		}
		rt, ok := registry.ParseRoute(r.URL.EscapedPath())
		if !ok || (rt.Kind != "manifest" && rt.Kind != "quarantine") {
			api.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		api.ServeHTTP(sw, r)
		if sw.status < 300 {
			u.changed(r.Context(), rt.Name, sw.Header().Get("Docker-Content-Digest"), r.Method)
		}
	})
}

// changed drops what the caches know about repo after a write.
func (u *UI) changed(ctx context.Context, repo, dgst, method string) {
	u.summaries.drop(repo)
	if method != http.MethodPut || dgst == "" {
		u.lineage.invalidate()
		return
	}
	// A pushed manifest changes the lineage only when it is provenance.
	d, err := registry.ParseDigest(dgst)
	if err != nil {
		u.lineage.invalidate()
		return
	}
	m, err := u.cfg.Meta.Manifest(context.WithoutCancel(ctx), repo, d)
	if err != nil || len(m.DependsOn) > 0 {
		u.lineage.invalidate()
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// policyHost is the registry's name in policy rules.
func (u *UI) policyHost(r *http.Request) string {
	if u.cfg.PolicyHost != "" {
		return strings.ToLower(u.cfg.PolicyHost)
	}
	return strings.ToLower(r.Host)
}
