package accesslog

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
)

// Limits on what Middleware reads from a request.
const (
	// MaxForwardedHops is how many X-Forwarded-For entries are looked at,
	// from the right.
	MaxForwardedHops = 16
	// maxTagsNoted is how many ?tag= parameters a push record names.
	maxTagsNoted = 16
)

// Middleware records the registry API requests next answers, after it
// answered them: a manifest GET is a pull, a manifest PUT a push, a
// manifest or blob DELETE a delete, a catalog GET a catalog read, and any
// answer 401 or 403 a denial (see the package documentation for what is
// not recorded). The principal is registry.Principal of the request as it
// reaches Middleware, so an authentication layer goes in front of it.
func (r *Recorder) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		cw := &captureWriter{statusWriter: sw, manifest: isManifestGet(req)}
		next.ServeHTTP(cw, req)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		var reason string
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			reason = refusalReason(cw.buf.Bytes())
		}
		r.recordRequest(req, status, w.Header(), reason)
		if cw.manifest && status == http.StatusOK && !cw.overflow {
			r.manifestFetched(req, cw.buf.Bytes())
		}
	})
}

// manifestFetched remembers a manifest a client fetched, so that its
// first layer GET records a download.
func (r *Recorder) manifestFetched(req *http.Request, body []byte) {
	layers := manifestLayers(body)
	if layers == nil {
		return
	}
	rt, _ := registry.ParseRoute(req.URL.EscapedPath())
	d := digest.FromBytes(body)
	key := pullKey(registry.Principal(req.Context()), ClientAddress(req.RemoteAddr, req.Header.Values("X-Forwarded-For"), r.trusted), rt.Name)
	r.downloads.manifest(key, &pendingPull{digest: d, reference: rt.Arg, layers: layers, at: r.now()})
}

// RecordRequest records what Middleware would for req answered with status
// and the response header h: for layers in front of Middleware that answer
// a request themselves.
func (r *Recorder) RecordRequest(req *http.Request, status int, h http.Header) {
	r.recordRequest(req, status, h, "")
}

// recordRequest is RecordRequest with the reason the registry gave for a
// refusal (the message of its error body), added to the record's Detail.
func (r *Recorder) recordRequest(req *http.Request, status int, h http.Header, reason string) {
	rec, ok := Classify(req, status, h)
	if ok && reason != "" && rec.Action == storage.ActionDenied {
		rec.Detail += ": " + reason
	}
	if !ok {
		repo, blob, isBlob := blobGet(req, status)
		if !isBlob {
			return
		}
		key := pullKey(registry.Principal(req.Context()), ClientAddress(req.RemoteAddr, req.Header.Values("X-Forwarded-For"), r.trusted), repo)
		p, done := r.downloads.layer(key, blob, r.now())
		if !done {
			return
		}
		rec = downloadRecord(repo, p)
	}
	rec.Time = r.now()
	rec.Principal = registry.Principal(req.Context())
	rec.Address = ClientAddress(req.RemoteAddr, req.Header.Values("X-Forwarded-For"), r.trusted)
	// A client that went away must not cost the log its record.
	r.Record(context.WithoutCancel(req.Context()), rec)
}

// Classify returns the record of a registry API request answered with
// status (Action, Result, Status, Repository, Reference, Digest, Detail;
// not Time, Principal or Address), and false for a request that is not
// recorded.
func Classify(req *http.Request, status int, h http.Header) (storage.AccessRecord, bool) {
	rt, routed := registry.ParseRoute(req.URL.EscapedPath())
	if !routed {
		rt = registry.Route{}
	}
	denied := status == http.StatusUnauthorized || status == http.StatusForbidden
	var rec storage.AccessRecord
	switch {
	case denied:
		if status == http.StatusUnauthorized && rt.Kind == "ping" && req.Header.Get("Authorization") == "" {
			// The challenge that starts every docker-style login.
			return rec, false
		}
		rec.Action = storage.ActionDenied
		rec.Detail = req.Method + " " + req.URL.Path
	case rt.Kind == "manifest" && req.Method == http.MethodGet:
		rec.Action = storage.ActionPull
	case rt.Kind == "manifest" && req.Method == http.MethodPut:
		rec.Action = storage.ActionPush
		if tags := req.URL.Query()["tag"]; len(tags) > 0 {
			rec.Detail = "tags " + strings.Join(tags[:min(len(tags), maxTagsNoted)], ",")
		}
	case (rt.Kind == "manifest" || rt.Kind == "blob") && req.Method == http.MethodDelete:
		rec.Action = storage.ActionDelete
	case rt.Kind == "catalog" && req.Method == http.MethodGet:
		rec.Action = storage.ActionCatalog
	default:
		return rec, false
	}
	rec.Status = status
	switch {
	case denied:
		rec.Result = storage.ResultDenied
	case status < 400:
		rec.Result = storage.ResultOK
	default:
		rec.Result = storage.ResultFailed
	}
	rec.Repository = rt.Name
	switch rt.Kind {
	case "manifest":
		rec.Reference = rt.Arg
		if d, err := digest.Parse(h.Get("Docker-Content-Digest")); err == nil {
			rec.Digest = d
		} else if d, err := digest.Parse(rt.Arg); err == nil {
			rec.Digest = d
		}
	case "blob", "referrers":
		if d, err := digest.Parse(rt.Arg); err == nil {
			rec.Digest = d
		} else {
			rec.Reference = rt.Arg
		}
	case "tags", "ping", "catalog", "uploads", "upload", "":
	default:
		rec.Reference = rt.Arg
	}
	return rec, true
}

// ClientAddress returns the client's IP address: the host of remoteAddr
// (a net/http Request.RemoteAddr), or, when that peer is in trusted, the
// right-most address of the X-Forwarded-For values xff that is not in
// trusted (looking at MaxForwardedHops entries at most). A malformed entry
// ends the walk at the last address believed.
func ClientAddress(remoteAddr string, xff []string, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	if len(trusted) == 0 || len(xff) == 0 {
		return host
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !inPrefixes(peer.Unmap(), trusted) {
		return host
	}
	best := host
	hops := 0
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			if hops++; hops > MaxForwardedHops {
				return best
			}
			var entry string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				v, entry = v[:j], v[j+1:]
			} else {
				v, entry = "", v
			}
			a, err := netip.ParseAddr(strings.TrimSpace(entry))
			if err != nil {
				return best
			}
			a = a.Unmap().WithZone("")
			best = a.String()
			if !inPrefixes(a, trusted) {
				return best
			}
		}
	}
	return best
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// statusWriter records the first final status code written. Unwrap keeps
// http.ResponseController (deadlines, flushes) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush implements http.Flusher for handlers that assert it.
func (s *statusWriter) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
