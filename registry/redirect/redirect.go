package redirect

import (
	"log/slog"
	"net/http"
	"time"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
)

// DefaultTTL is how long a redirect URL stays valid when Options.TTL is
// zero: long enough for a client to start the GET, short enough that a URL
// seen in a log is soon useless.
const DefaultTTL = 10 * time.Minute

// Options configures New. The zero value is ready to use.
type Options struct {
	// TTL is how long each URL is valid; zero means DefaultTTL.
	TTL time.Duration
	// Logger receives failures to make a URL (the request is then served
	// by the registry); nil means slog.Default().
	Logger *slog.Logger
}

// New returns a handler that answers blob GETs with a redirect to the
// URL urls gives, after checking with meta that the blob is linked to the
// repository, and passes every other request to next.
func New(next http.Handler, meta storage.Metadata, urls storage.BlobURLer, opts Options) http.Handler {
	ttl := opts.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet {
			next.ServeHTTP(w, req)
			return
		}
		rt, ok := registry.ParseRoute(req.URL.EscapedPath())
		if !ok || rt.Kind != "blob" || !registry.ValidName(rt.Name) {
			next.ServeHTTP(w, req)
			return
		}
		dgst, err := registry.ParseDigest(rt.Arg)
		if err != nil {
			next.ServeHTTP(w, req)
			return
		}
		ctx := req.Context()
		// Unknown blobs get the registry's own 404.
		if _, err := meta.BlobLink(ctx, rt.Name, dgst); err != nil {
			next.ServeHTTP(w, req)
			return
		}
		u, err := urls.BlobURL(ctx, dgst, ttl)
		if err != nil {
			log.Warn("blob redirect: no URL, serving the blob", "digest", dgst, "err", err)
			next.ServeHTTP(w, req)
			return
		}
		h := w.Header()
		h.Set("Docker-Distribution-API-Version", "registry/2.0")
		h.Set("Docker-Content-Digest", dgst.String())
		h.Set("Location", u.String())
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
}
