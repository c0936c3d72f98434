package accesslog

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
)

// Limits of the download tracker.
const (
	// DownloadWindow is how long after a manifest GET a GET of one of its
	// layers by the same client makes the pair a download.
	DownloadWindow = 10 * time.Minute
	// MaxPendingPulls bounds the manifest GETs waiting for a layer GET;
	// past it the expired ones go, then all of them.
	MaxPendingPulls = 65_536
	// maxManifestCapture is the largest manifest body read for its layers
	// (the registry's own manifest limit is 4 MiB).
	maxManifestCapture = 4 << 20
	// maxLayersTracked bounds the layers remembered of one manifest.
	maxLayersTracked = 4096
)

// pendingPull is a manifest a client fetched, waiting for a layer GET.
type pendingPull struct {
	digest    digest.Digest
	reference string
	layers    map[digest.Digest]bool
	at        time.Time
}

// downloads pairs manifest GETs with the layer GETs that follow them.
type downloads struct {
	mu      sync.Mutex
	pending map[string]*pendingPull // principal, address, repository
}

// pullKey is who fetched what repository.
func pullKey(principal, address, repo string) string {
	return principal + "\x00" + address + "\x00" + repo
}

// manifest remembers a manifest fetched with its layers.
func (d *downloads) manifest(key string, p *pendingPull) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending == nil {
		d.pending = map[string]*pendingPull{}
	}
	if len(d.pending) >= MaxPendingPulls {
		for k, v := range d.pending {
			if p.at.Sub(v.at) > DownloadWindow {
				delete(d.pending, k)
			}
		}
		if len(d.pending) >= MaxPendingPulls {
			clear(d.pending)
		}
	}
	d.pending[key] = p
}

// layer reports the manifest that a GET of blob at now completes as a
// download, once: the pending pull is forgotten.
func (d *downloads) layer(key string, blob digest.Digest, now time.Time) (*pendingPull, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.pending[key]
	if p == nil || !p.layers[blob] {
		return nil, false
	}
	delete(d.pending, key)
	if now.Sub(p.at) > DownloadWindow {
		return nil, false
	}
	return p, true
}

// manifestLayers are the layer digests of an image manifest (none for an
// index or anything else).
func manifestLayers(body []byte) map[digest.Digest]bool {
	var m struct {
		Layers []struct {
			Digest digest.Digest `json:"digest"`
		} `json:"layers"`
	}
	if json.Unmarshal(body, &m) != nil || len(m.Layers) == 0 {
		return nil
	}
	out := make(map[digest.Digest]bool, min(len(m.Layers), maxLayersTracked))
	for _, l := range m.Layers[:min(len(m.Layers), maxLayersTracked)] {
		out[l.Digest] = true
	}
	return out
}

// isManifestGet and isBlobGet classify a request for the tracker.
func isManifestGet(req *http.Request) bool {
	rt, ok := registry.ParseRoute(req.URL.EscapedPath())
	return ok && rt.Kind == "manifest" && req.Method == http.MethodGet
}

func blobGet(req *http.Request, status int) (repo string, d digest.Digest, ok bool) {
	if req.Method != http.MethodGet {
		return "", "", false
	}
	switch status {
	case http.StatusOK, http.StatusPartialContent, http.StatusFound, http.StatusTemporaryRedirect:
	default:
		return "", "", false
	}
	rt, routed := registry.ParseRoute(req.URL.EscapedPath())
	if !routed || rt.Kind != "blob" {
		return "", "", false
	}
	d, err := digest.Parse(rt.Arg)
	if err != nil {
		return "", "", false
	}
	return rt.Name, d, true
}

// maxReasonCapture is how much of a refusal's error body is read for its
// reason, and maxReason the longest reason recorded.
const (
	maxReasonCapture = 8 << 10
	maxReason        = 1024
)

// captureWriter keeps a copy of the body of a manifest GET (up to
// maxManifestCapture bytes) or of a 401 or 403 answer (up to
// maxReasonCapture bytes, the error envelope with the refusal's reason).
type captureWriter struct {
	*statusWriter
	manifest bool
	buf      bytes.Buffer
	overflow bool
}

func (c *captureWriter) Write(b []byte) (int, error) {
	n, err := c.statusWriter.Write(b)
	limit := 0
	switch {
	case c.status == http.StatusUnauthorized || c.status == http.StatusForbidden:
		limit = maxReasonCapture
	case c.manifest && c.status == http.StatusOK:
		limit = maxManifestCapture
	}
	if !c.overflow && limit > 0 {
		if c.buf.Len()+n > limit {
			c.overflow = true
			c.buf = bytes.Buffer{}
		} else {
			c.buf.Write(b[:n])
		}
	}
	return n, err
}

// refusalReason is the message of an OCI error envelope, cut to
// maxReason bytes; "" when body is not one.
func refusalReason(body []byte) string {
	var e struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	msg := strings.TrimSpace(e.Errors[0].Message)
	if len(msg) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// downloadRecord is the record of a download: the manifest pull that a
// layer GET completed.
func downloadRecord(repo string, p *pendingPull) storage.AccessRecord {
	return storage.AccessRecord{Action: storage.ActionDownload, Result: storage.ResultOK, Status: http.StatusOK,
		Repository: repo, Digest: p.digest, Reference: p.reference}
}
