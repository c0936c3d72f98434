package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

// maxQuarantineReason bounds the reason text of a quarantine.
const maxQuarantineReason = 1024

// checkPull refuses a manifest that is quarantined or, for a GET (content,
// not a HEAD) by someone who may not push to the repository, that the pull
// gate refuses, with 403 DENIED and the reason.
func (r *Registry) checkPull(ctx context.Context, name, ref string, m *storage.Manifest, content bool) error {
	if qs, ok := r.meta.(storage.Quarantines); ok {
		q, err := qs.Quarantined(ctx, name, m.Digest)
		if err != nil {
			return err
		}
		if q != nil {
			return newError(http.StatusForbidden, codeDenied, "%s@%s is quarantined: %s (by %s, %s)",
				name, m.Digest, q.Reason, q.By, q.Time.UTC().Format("2006-01-02T15:04:05Z"))
		}
	}
	if r.gate != nil && content && !isWriter(ctx) {
		if err := r.gate.CheckManifest(ctx, name, ref, m); err != nil {
			return newError(http.StatusForbidden, codeDenied, "%s@%s: the registry's policy refuses this pull: %v", name, m.Digest, err)
		}
	}
	return nil
}

// checkBlobPull refuses the GET of a blob that the pull gate refuses.
func (r *Registry) checkBlobPull(ctx context.Context, name string, dgst digest.Digest) error {
	if r.gate == nil {
		return nil
	}
	if err := r.gate.CheckBlob(ctx, name, dgst); err != nil {
		return newError(http.StatusForbidden, codeDenied, "%s: the registry's policy refuses this pull: %v", name, err)
	}
	return nil
}

// quarantineRequest is the body of PUT /v2/<name>/_cairn/quarantine?digest=D.
type quarantineRequest struct {
	Reason string `json:"reason"`
}

// quarantine serves /v2/<name>/_cairn/quarantine: GET lists the
// repository's quarantined versions; PUT ?digest=D with {"reason": "..."}
// quarantines one; DELETE ?digest=D lifts it. Who may change a quarantine
// is the authorization layer's business (admins).
func (r *Registry) quarantine(w http.ResponseWriter, req *http.Request, name string) error {
	ctx := req.Context()
	qs, ok := r.meta.(storage.Quarantines)
	if !ok {
		return newError(http.StatusNotImplemented, codeUnsupported, "this metadata store does not record quarantines")
	}
	if req.Method == http.MethodGet {
		l, err := qs.ListQuarantines(ctx, name)
		if err != nil {
			return err
		}
		writeJSON(w, "application/json", l)
		return nil
	}
	d, err := ParseDigest(req.URL.Query().Get("digest"))
	if err != nil {
		return newError(http.StatusBadRequest, codeDigestInvalid, "quarantine needs ?digest=: %v", err)
	}
	if req.Method == http.MethodDelete {
		if err := qs.ClearQuarantine(ctx, name, d); err != nil {
			if errors.Is(err, storage.ErrNotQuarantined) {
				return newError(http.StatusNotFound, codeManifestUnknown, "%s@%s is not quarantined", name, d)
			}
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	body, err := io.ReadAll(newBodyReader(w, req, 16<<10, r.limits.BodyIdleTimeout, "quarantine"))
	if err != nil {
		return err
	}
	var qr quarantineRequest
	if err := json.Unmarshal(body, &qr); err != nil {
		return newError(http.StatusBadRequest, codeUnsupported, "quarantine body: want {\"reason\": \"...\"}: %v", err)
	}
	qr.Reason = strings.TrimSpace(qr.Reason)
	if qr.Reason == "" || len(qr.Reason) > maxQuarantineReason || !utf8.ValidString(qr.Reason) {
		return newError(http.StatusBadRequest, codeUnsupported, "quarantine reason: give 1 to %d bytes of UTF-8 text", maxQuarantineReason)
	}
	q := storage.Quarantine{Repository: name, Digest: d, Reason: qr.Reason, By: Principal(ctx), Time: r.now().UTC()}
	if err := qs.SetQuarantine(ctx, q); err != nil {
		if errors.Is(err, storage.ErrManifestUnknown) {
			return newError(http.StatusNotFound, codeManifestUnknown, "%s@%s: no such manifest", name, d)
		}
		return err
	}
	writeJSON(w, "application/json", q)
	return nil
}
