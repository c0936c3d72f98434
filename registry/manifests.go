package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/storage"
)

// Manifest media types the registry accepts.
const (
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerForeign  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// maxTagParams bounds the ?tag= parameters of one manifest PUT.
const maxTagParams = 100

// rawManifest is the union of the fields the registry reads from image
// manifests and indexes (OCI and Docker schema 2).
type rawManifest struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// ParseManifest checks a manifest's structure and returns what the registry
// records about it. contentType is the request's Content-Type; it may be
// empty when the manifest names its own media type.
func ParseManifest(contentType string, body []byte) (*storage.Manifest, error) {
	invalid := func(format string, args ...any) error {
		return newError(http.StatusBadRequest, codeManifestInvalid, format, args...)
	}
	var raw rawManifest
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, invalid("manifest is not valid JSON: %v", err)
	}
	if raw.SchemaVersion == nil || *raw.SchemaVersion != 2 {
		return nil, invalid("schemaVersion must be 2")
	}
	mt := raw.MediaType
	if contentType != "" {
		ct, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, invalid("invalid Content-Type %q", truncate(contentType))
		}
		if mt != "" && mt != ct {
			return nil, invalid("Content-Type %q does not match the manifest's mediaType %q", truncate(ct), truncate(mt))
		}
		mt = ct
	}
	m := &storage.Manifest{MediaType: mt, Annotations: raw.Annotations, ArtifactType: raw.ArtifactType}
	checkDesc := func(what string, d ocispec.Descriptor) error {
		if _, err := ParseDigest(string(d.Digest)); err != nil {
			return newError(http.StatusBadRequest, codeManifestInvalid, "%s digest %q: %v", what, truncate(string(d.Digest)), err)
		}
		if d.Size < 0 {
			return invalid("%s %s has a negative size", what, d.Digest)
		}
		if d.MediaType == "" {
			return invalid("%s %s has no mediaType", what, d.Digest)
		}
		return nil
	}
	switch mt {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		if raw.Config == nil {
			return nil, invalid("image manifest has no config")
		}
		if raw.Manifests != nil {
			return nil, invalid("image manifest must not have manifests")
		}
		if err := checkDesc("config", *raw.Config); err != nil {
			return nil, err
		}
		m.Blobs = append(m.Blobs, raw.Config.Digest)
		for _, l := range raw.Layers {
			if err := checkDesc("layer", l); err != nil {
				return nil, err
			}
			if nonDistributable(l) {
				continue // not pushed here by design
			}
			m.Blobs = append(m.Blobs, l.Digest)
		}
		if m.ArtifactType == "" {
			m.ArtifactType = raw.Config.MediaType
		}
	case ocispec.MediaTypeImageIndex, mediaTypeDockerList:
		if raw.Config != nil || raw.Layers != nil {
			return nil, invalid("index must not have config or layers")
		}
		for _, c := range raw.Manifests {
			if err := checkDesc("manifest", c); err != nil {
				return nil, err
			}
			m.Children = append(m.Children, c.Digest)
		}
	case "":
		return nil, invalid("manifest media type unknown: set Content-Type or mediaType")
	default:
		return nil, newError(http.StatusBadRequest, codeManifestInvalid, "unsupported manifest media type %q", truncate(mt))
	}
	if raw.Subject != nil {
		if err := checkDesc("subject", *raw.Subject); err != nil {
			return nil, err
		}
		m.Subject = raw.Subject.Digest
	}
	m.Blobs = dedupe(m.Blobs)
	m.Children = dedupe(m.Children)
	return m, nil
}

func nonDistributable(d ocispec.Descriptor) bool {
	return len(d.URLs) > 0 || strings.Contains(d.MediaType, ".nondistributable.") || d.MediaType == mediaTypeDockerForeign
}

func dedupe(ds []digest.Digest) []digest.Digest {
	seen := make(map[digest.Digest]bool, len(ds))
	out := ds[:0]
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// resolve turns a tag or digest reference into a digest.
func (r *Registry) resolve(req *http.Request, name, ref string) (digest.Digest, error) {
	if strings.Contains(ref, ":") {
		d, err := ParseDigest(ref)
		if err != nil {
			return "", &Error{Status: http.StatusBadRequest, Code: codeDigestInvalid, Message: fmt.Sprintf("invalid digest %q: %v", truncate(ref), err)}
		}
		return d, nil
	}
	if !ValidTag(ref) {
		return "", newError(http.StatusBadRequest, codeTagInvalid, "invalid tag %q", truncate(ref))
	}
	return r.meta.Resolve(req.Context(), name, ref)
}

func (r *Registry) getManifest(w http.ResponseWriter, req *http.Request, name, ref string) error {
	dgst, err := r.resolve(req, name, ref)
	if err != nil {
		return err
	}
	m, err := r.meta.Manifest(req.Context(), name, dgst)
	if err != nil {
		return err
	}
	if err := r.checkPull(req.Context(), name, ref, m, req.Method != http.MethodHead); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", m.MediaType)
	h.Set("Docker-Content-Digest", dgst.String())
	h.Set("Etag", `"`+dgst.String()+`"`)
	h.Set("Content-Length", fmt.Sprint(len(m.Content)))
	if inm := req.Header.Get("If-None-Match"); inm != "" && inm == h.Get("Etag") {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		w.Write(m.Content)
	}
	return nil
}

func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, name, ref string) error {
	ctx := req.Context()
	var tags []string
	var want digest.Digest
	if strings.Contains(ref, ":") {
		d, err := ParseDigest(ref)
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Code: codeDigestInvalid, Message: fmt.Sprintf("invalid digest %q: %v", truncate(ref), err)}
		}
		want = d
	} else {
		if !ValidTag(ref) {
			return newError(http.StatusBadRequest, codeTagInvalid, "invalid tag %q", truncate(ref))
		}
		tags = append(tags, ref)
	}
	params := req.URL.Query()["tag"]
	if len(params) > maxTagParams {
		return newError(http.StatusBadRequest, codeTagInvalid, "at most %d tag parameters", maxTagParams)
	}
	for _, t := range params {
		if !ValidTag(t) {
			return newError(http.StatusBadRequest, codeTagInvalid, "invalid tag %q", truncate(t))
		}
		tags = append(tags, t)
	}
	if req.ContentLength > r.limits.MaxManifestSize {
		return fmt.Errorf("manifest of %d bytes exceeds the limit of %d: %w", req.ContentLength, r.limits.MaxManifestSize, errBodyTooLarge)
	}
	body, err := io.ReadAll(newBodyReader(w, req, r.limits.MaxManifestSize, r.limits.BodyIdleTimeout, "manifest"))
	if err != nil {
		return err
	}
	m, err := ParseManifest(req.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	alg := digest.Canonical
	if want != "" {
		alg = want.Algorithm()
	}
	m.Digest = alg.FromBytes(body)
	if want != "" && m.Digest != want {
		return &Error{Status: http.StatusBadRequest, Code: codeDigestInvalid, Message: fmt.Sprintf("manifest digest is %s, not %s", m.Digest, want)}
	}
	m.Repository = name
	m.DependsOn = r.dependencies(ctx, m, body)
	m.Content = body
	m.Size = int64(len(body))
	m.Pushed = r.now().UTC()
	m.PushedBy = Principal(ctx)
	if _, err := r.meta.PutManifest(ctx, m, dedupeStrings(tags)); err != nil {
		if errors.Is(err, storage.ErrBlobUnknown) || errors.Is(err, storage.ErrManifestUnknown) {
			return &Error{Status: http.StatusBadRequest, Code: codeManifestBlobUnknown, Message: "manifest references content not in this repository: " + unwrapMessage(err), Err: err}
		}
		return err
	}
	h := w.Header()
	h.Set("Location", fmt.Sprintf("/v2/%s/manifests/%s", name, m.Digest))
	h.Set("Docker-Content-Digest", m.Digest.String())
	if m.Subject != "" {
		h.Set("OCI-Subject", m.Subject.String())
	}
	if len(params) > 0 {
		h.Set("OCI-Tag", strings.Join(dedupeStrings(params), ","))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// unwrapMessage returns the innermost useful part of a store error: the
// digest that was missing.
func unwrapMessage(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i > 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func dedupeStrings(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (r *Registry) deleteManifest(w http.ResponseWriter, req *http.Request, name, ref string) error {
	ctx := req.Context()
	var err error
	if strings.Contains(ref, ":") {
		var d digest.Digest
		d, err = r.resolve(req, name, ref)
		if err == nil {
			err = r.meta.DeleteManifest(ctx, name, d, Principal(ctx))
		}
	} else {
		if !ValidTag(ref) {
			return newError(http.StatusBadRequest, codeTagInvalid, "invalid tag %q", truncate(ref))
		}
		err = r.meta.DeleteTag(ctx, name, ref, Principal(ctx))
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
