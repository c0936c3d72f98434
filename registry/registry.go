package registry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

// Config configures a Registry. Blobs and Meta are required; the rest have
// documented zero values.
type Config struct {
	Blobs storage.BlobStore
	Meta  storage.Metadata
	// Limits bounds client input; zero fields take the defaults.
	Limits Limits
	// Logger receives one line per failed request; nil means slog.Default().
	Logger *slog.Logger
	// Metrics, when set, counts requests and bytes.
	Metrics *Metrics
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// PullGate, when set, is asked before the content of a manifest or a
	// blob is served (GET; HEAD resolves names and is not asked). An error
	// refuses the request with 403 DENIED and the error's text as the
	// reason: the server's policy (cairn serve --policy, package gate).
	// Quarantined versions are refused (GET and HEAD) before the gate is
	// asked, when Meta implements storage.Quarantines.
	PullGate PullGate
	// Reserve, when set, is released when a write that frees space (a
	// DELETE, garbage collection) fails for a full disk, and the write is
	// tried once more; GC makes it again once it freed space.
	Reserve *storage.Reserve
}

// PullGate decides what a reader may fetch (see Config.PullGate).
type PullGate interface {
	// CheckManifest decides the GET of manifest m of repo, asked for as
	// reference (a tag or a digest).
	CheckManifest(ctx context.Context, repo, reference string, m *storage.Manifest) error
	// CheckBlob decides the GET of blob dgst of repo.
	CheckBlob(ctx context.Context, repo string, dgst digest.Digest) error
}

// Registry is the OCI distribution API over a blob store and a metadata
// store. It is an http.Handler for the /v2/ tree.
type Registry struct {
	blobs   storage.BlobStore
	meta    storage.Metadata
	limits  Limits
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	gate    PullGate
	reserve *storage.Reserve

	// gcMu makes "commit a blob, then link it" atomic with respect to the
	// garbage collector's "check the blob is unreferenced, then delete it".
	gcMu sync.RWMutex
	// uploadLocks serialises requests on one upload session.
	uploadLocks keyedMutex
}

// New returns a Registry for cfg.
func New(cfg Config) (*Registry, error) {
	if cfg.Blobs == nil || cfg.Meta == nil {
		return nil, errors.New("registry: Config.Blobs and Config.Meta are required")
	}
	r := &Registry{
		blobs:   cfg.Blobs,
		meta:    cfg.Meta,
		limits:  cfg.Limits.withDefaults(),
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		now:     cfg.Now,
		gate:    cfg.PullGate,
		reserve: cfg.Reserve,
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

type principalKey struct{}

type writerKey struct{}

// WithWriterCheck returns a context whose request may be made by someone
// allowed to push to the repository, as mayPush (called at most once, and
// only when the pull gate asks) tells. The pull gate lets such a writer
// read any manifest, so that it can be signed and attested through a
// registry that enforces a policy (cosign reads the manifest it signs);
// blobs stay gated for everyone. The authorization layer sets it; without
// authentication nobody is known to be a writer.
func WithWriterCheck(ctx context.Context, mayPush func() bool) context.Context {
	return context.WithValue(ctx, writerKey{}, mayPush)
}

// isWriter reports what the WithWriterCheck of ctx says.
func isWriter(ctx context.Context) bool {
	f, ok := ctx.Value(writerKey{}).(func() bool)
	return ok && f()
}

// WithPrincipal returns a context that names who makes the request; the
// registry records it in tag history and upload sessions.
func WithPrincipal(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, principalKey{}, name)
}

// Principal returns the name set by WithPrincipal, or "anonymous".
func Principal(ctx context.Context) string {
	if s, ok := ctx.Value(principalKey{}).(string); ok && s != "" {
		return s
	}
	return "anonymous"
}

// route is a parsed /v2/ path.
type route struct {
	kind string // ping, catalog, tags, manifest, blob, uploads, upload, referrers, history
	name string
	arg  string
}

// parseRoute splits an escaped /v2/ path. Repository names may contain
// slashes, so the kind is found from the end of the path; the name and the
// argument are unescaped only after the split, so an encoded slash cannot
// move a path element from one to the other.
func parseRoute(path string) (route, bool) {
	rt, ok := splitRoute(path)
	if !ok {
		return rt, false
	}
	var err1, err2 error
	rt.name, err1 = url.PathUnescape(rt.name)
	rt.arg, err2 = url.PathUnescape(rt.arg)
	return rt, err1 == nil && err2 == nil
}

func splitRoute(path string) (route, bool) {
	p, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: "ping"}, true
		}
		return route{}, false
	}
	switch p {
	case "":
		return route{kind: "ping"}, true
	case "_catalog":
		return route{kind: "catalog"}, true
	}
	if name, ok := strings.CutSuffix(p, "/tags/list"); ok {
		return route{kind: "tags", name: name}, true
	}
	if name, ok := strings.CutSuffix(p, "/blobs/uploads/"); ok {
		return route{kind: "uploads", name: name}, true
	}
	if name, ok := strings.CutSuffix(p, "/blobs/uploads"); ok {
		return route{kind: "uploads", name: name}, true
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return route{}, false
	}
	head, arg := p[:i], p[i+1:]
	for _, k := range []struct{ suffix, kind string }{
		{"/blobs/uploads", "upload"},
		{"/blobs", "blob"},
		{"/manifests", "manifest"},
		{"/referrers", "referrers"},
		{"/_cairn", "ext"},
	} {
		if name, ok := strings.CutSuffix(head, k.suffix); ok {
			if k.kind == "ext" {
				return route{kind: arg, name: name}, arg == "history" || arg == "versions" || arg == "lineage" || arg == "quarantine"
			}
			return route{kind: k.kind, name: name, arg: arg}, true
		}
	}
	return route{}, false
}

// ServeHTTP implements http.Handler.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parseRoute(req.URL.EscapedPath())
	if !ok {
		r.fail(w, req, newError(http.StatusNotFound, codeNameUnknown, "no such endpoint"))
		return
	}
	if rt.kind != "ping" && rt.kind != "catalog" {
		if err := checkName(rt.name); err != nil {
			r.fail(w, req, err)
			return
		}
	}
	var err error
	switch rt.kind + " " + req.Method {
	case "ping GET", "ping HEAD":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		if req.Method == http.MethodGet {
			w.Write([]byte("{}"))
		}
	case "catalog GET":
		err = r.catalog(w, req)
	case "tags GET":
		err = r.tags(w, req, rt.name)
	case "history GET":
		err = r.history(w, req, rt.name)
	case "versions GET":
		err = r.versions(w, req, rt.name)
	case "lineage GET":
		err = r.lineage(w, req, rt.name)
	case "quarantine GET", "quarantine PUT", "quarantine DELETE":
		err = r.quarantine(w, req, rt.name)
	case "referrers GET":
		err = r.referrers(w, req, rt.name, rt.arg)
	case "manifest GET", "manifest HEAD":
		err = r.getManifest(w, req, rt.name, rt.arg)
	case "manifest PUT":
		err = r.putManifest(w, req, rt.name, rt.arg)
	case "manifest DELETE":
		err = r.reserve.RetryFull(func() error { return r.deleteManifest(w, req, rt.name, rt.arg) })
	case "blob GET", "blob HEAD":
		err = r.getBlob(w, req, rt.name, rt.arg)
	case "blob DELETE":
		err = r.reserve.RetryFull(func() error { return r.deleteBlob(w, req, rt.name, rt.arg) })
	case "uploads POST":
		err = r.startUpload(w, req, rt.name)
	case "upload GET":
		err = r.uploadStatus(w, req, rt.name, rt.arg)
	case "upload PATCH":
		err = r.patchUpload(w, req, rt.name, rt.arg)
	case "upload PUT":
		err = r.putUpload(w, req, rt.name, rt.arg)
	case "upload DELETE":
		err = r.reserve.RetryFull(func() error { return r.cancelUpload(w, req, rt.name, rt.arg) })
	default:
		err = newError(http.StatusMethodNotAllowed, codeUnsupported, "%s is not supported on this endpoint", req.Method)
	}
	if storage.IsFull(err) && (rt.kind == "upload" || rt.kind == "uploads") && rt.arg != "" {
		// A session whose bytes cannot be written is over: its partial
		// bytes go now, not after the grace.
		ctx := context.WithoutCancel(req.Context())
		r.reserve.RetryFull(func() error {
			r.blobs.DeleteUpload(ctx, rt.arg)
			return r.meta.DeleteUpload(ctx, rt.arg)
		})
	}
	if err != nil && err != errAnswered {
		r.fail(w, req, err)
	}
}

func (r *Registry) fail(w http.ResponseWriter, req *http.Request, err error) {
	e := toError(err)
	if e.Status >= 500 {
		r.log.Error("request failed", "method", req.Method, "path", req.URL.Path, "status", e.Status, "err", err)
	} else {
		r.log.Debug("request refused", "method", req.Method, "path", req.URL.Path, "status", e.Status, "code", e.Code, "err", err)
	}
	// A body the handler did not read must not be parsed as the next
	// request; closing the connection is cheaper than draining a large one.
	if req.Body != nil && req.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	writeError(w, req, e)
}

// keyedMutex is a set of mutexes by key, created on demand and dropped when
// unused.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
