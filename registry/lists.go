package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/storage"
)

// pageParams reads n and last, capping n at the page limit.
func (r *Registry) pageParams(req *http.Request) (n int, last string, err error) {
	q := req.URL.Query()
	last = q.Get("last")
	n = r.limits.MaxPageSize
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, "", newError(http.StatusBadRequest, codeUnsupported, "invalid n %q", truncate(s))
		}
		n = min(v, r.limits.MaxPageSize)
	}
	return n, last, nil
}

func writeJSON(w http.ResponseWriter, contentType string, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// setNextLink adds the RFC 5988 Link header of the next page when the page
// is full.
func setNextLink(w http.ResponseWriter, path string, items []string, n int) {
	if n == 0 || len(items) < n {
		return
	}
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {items[len(items)-1]}}
	w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, path, q.Encode()))
}

func (r *Registry) catalog(w http.ResponseWriter, req *http.Request) error {
	n, last, err := r.pageParams(req)
	if err != nil {
		return err
	}
	repos := []string{}
	if n > 0 {
		repos, err = r.meta.Repositories(req.Context(), last, n)
		if err != nil {
			return err
		}
	}
	setNextLink(w, "/v2/_catalog", repos, n)
	writeJSON(w, "application/json", map[string][]string{"repositories": nonNil(repos)})
	return nil
}

func (r *Registry) tags(w http.ResponseWriter, req *http.Request, name string) error {
	n, last, err := r.pageParams(req)
	if err != nil {
		return err
	}
	tags, err := r.meta.Tags(req.Context(), name, last, max(n, 1))
	if err != nil {
		return err
	}
	if n == 0 {
		tags = nil
	}
	setNextLink(w, "/v2/"+name+"/tags/list", tags, n)
	writeJSON(w, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, nonNil(tags)})
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// referrers answers the referrers API a page at a time, in digest order:
// at most Limits.ReferrersPageSize descriptors (or n, when smaller), with a
// Link header to the next page when there may be more (the OCI
// distribution spec's pagination; oras-go and cairn's clients follow it).
// Nothing is cut: every referrer is on some page.
func (r *Registry) referrers(w http.ResponseWriter, req *http.Request, name, ref string) error {
	dgst, err := digestParam(ref)
	if err != nil {
		return err
	}
	q := req.URL.Query()
	n := r.limits.ReferrersPageSize
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return newError(http.StatusBadRequest, codeUnsupported, "invalid n %q", truncate(s))
		}
		n = min(v, r.limits.ReferrersPageSize)
	}
	last, at := q.Get("last"), q.Get("artifactType")
	page, more, err := r.referrersPage(req, name, dgst, at, last, n)
	if err != nil {
		return err
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	if more {
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {string(page[len(page)-1].Digest)}}
		if at != "" {
			next.Set("artifactType", at)
		}
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/referrers/%s?%s>; rel="next"`, name, dgst, next.Encode()))
	}
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: page,
	}
	writeJSON(w, ocispec.MediaTypeImageIndex, idx)
	return nil
}

// referrersPage lists one page of referrers: through the store's
// ReferrerPager when it has one, else from the whole list.
func (r *Registry) referrersPage(req *http.Request, name string, dgst digest.Digest, at, last string, n int) ([]ocispec.Descriptor, bool, error) {
	if p, ok := r.meta.(storage.ReferrerPager); ok {
		return p.ReferrersPage(req.Context(), name, dgst, at, last, n)
	}
	descs, err := r.meta.Referrers(req.Context(), name, dgst)
	if err != nil {
		return nil, false, err
	}
	slices.SortFunc(descs, func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	page := make([]ocispec.Descriptor, 0, min(len(descs), n))
	for _, d := range descs {
		if (at != "" && d.ArtifactType != at) || (last != "" && string(d.Digest) <= last) {
			continue
		}
		if len(page) == n {
			return page, true, nil
		}
		page = append(page, d)
	}
	return page, false, nil
}

func (r *Registry) history(w http.ResponseWriter, req *http.Request, name string) error {
	tag := req.URL.Query().Get("tag")
	if tag != "" && !ValidTag(tag) {
		return newError(http.StatusBadRequest, codeTagInvalid, "invalid tag %q", truncate(tag))
	}
	moves, err := r.meta.History(req.Context(), name, tag)
	if err != nil {
		return err
	}
	if moves == nil {
		return newError(http.StatusNotFound, codeManifestUnknown, "no history for %s:%s", name, tag)
	}
	writeJSON(w, "application/json", moves)
	return nil
}

// Version is one manifest of a repository as GET
// /v2/<name>/_cairn/versions lists it: cairn ls and the web UI read it.
type Version struct {
	Digest       digest.Digest `json:"digest"`
	MediaType    string        `json:"mediaType"`
	ArtifactType string        `json:"artifactType,omitempty"`
	// Size is the manifest plus every blob it references.
	Size     int64     `json:"size"`
	Tags     []string  `json:"tags"`
	Pushed   time.Time `json:"pushed"`
	PushedBy string    `json:"pushedBy,omitempty"`
	// Subject is set for referrers (signatures, attestations).
	Subject digest.Digest `json:"subject,omitempty"`
	// Referrers counts the manifests whose subject is this one, by
	// artifact type.
	Referrers map[string]int `json:"referrers,omitempty"`
}

// versions lists a repository's manifests, newest first.
func (r *Registry) versions(w http.ResponseWriter, req *http.Request, name string) error {
	ctx := req.Context()
	ms, err := r.meta.RepositoryManifests(ctx, name)
	if err != nil {
		return err
	}
	tags, err := r.meta.TagsByDigest(ctx, name)
	if err != nil {
		return err
	}
	refs := map[digest.Digest]map[string]int{}
	for _, m := range ms {
		if m.Subject != "" {
			if refs[m.Subject] == nil {
				refs[m.Subject] = map[string]int{}
			}
			refs[m.Subject][m.ArtifactType]++
		}
	}
	out := make([]Version, 0, len(ms))
	for _, m := range ms {
		v := Version{Digest: m.Digest, MediaType: m.MediaType, ArtifactType: m.ArtifactType, Size: m.Size + ContentSize(m.Content),
			Tags: nonNil(tags[m.Digest]), Pushed: m.Pushed, PushedBy: m.PushedBy, Subject: m.Subject, Referrers: refs[m.Digest]}
		slices.Sort(v.Tags)
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b Version) int {
		if c := b.Pushed.Compare(a.Pushed); c != 0 {
			return c
		}
		return strings.Compare(string(a.Digest), string(b.Digest))
	})
	writeJSON(w, "application/json", out)
	return nil
}

// ContentSize sums the config and layer sizes a manifest declares: with
// the manifest's own size, what the versions endpoint and the web UI show
// as a version's size.
func ContentSize(content []byte) int64 {
	var m struct {
		Config *ocispec.Descriptor  `json:"config"`
		Layers []ocispec.Descriptor `json:"layers"`
	}
	if json.Unmarshal(content, &m) != nil {
		return 0
	}
	var n int64
	if m.Config != nil {
		n += m.Config.Size
	}
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}
