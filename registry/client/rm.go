package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Removed says what Remove removed.
type Removed struct {
	// Tag is the tag removed, or "" when a version was.
	Tag string
	// Digest is the version (manifest) removed, or the one the tag named.
	Digest digest.Digest
}

// Remove deletes, as `cairn rm` does, the repository's reference: a tag
// (the version stays, reachable by digest and by its other tags), or with
// version (or a reference by digest) the version itself, its manifest,
// and every tag naming it. A cairn registry records each tag's removal in
// the tag's history and the manifest's deletion in its transparency log;
// the blobs go at the next garbage collection.
func Remove(ctx context.Context, r *Repository, version bool) (Removed, error) {
	ref := r.Repo.Reference
	if ref.Reference == "" {
		return Removed{}, fmt.Errorf("%s: name the tag or digest to remove", ref)
	}
	desc, err := r.Repo.Resolve(ctx, ref.Reference)
	if err != nil {
		return Removed{}, r.notFoundOr(ctx, fmt.Errorf("resolve %s: %w", ref, err))
	}
	if version || r.ByDigest() {
		if err := r.deleteManifest(ctx, desc.Digest.String()); err != nil {
			return Removed{}, err
		}
		return Removed{Digest: desc.Digest}, nil
	}
	if err := r.deleteManifest(ctx, ref.Reference); err != nil {
		return Removed{}, err
	}
	return Removed{Tag: ref.Reference, Digest: desc.Digest}, nil
}

// notFoundOr explains a resolve that found nothing (notFound), or returns
// err.
func (r *Repository) notFoundOr(ctx context.Context, err error) error {
	var er *errcode.ErrorResponse
	if errors.As(err, &er) && er.StatusCode == http.StatusNotFound || errors.Is(err, errdef.ErrNotFound) {
		return r.notFound(ctx, err)
	}
	return err
}

// deleteManifest sends DELETE /v2/REPO/manifests/REF (a tag or a digest;
// the distribution spec allows both) with a push-and-delete scope.
func (r *Repository) deleteManifest(ctx context.Context, reference string) error {
	u := r.Remote.url("/manifests/" + reference)
	ctx = auth.AppendRepositoryScope(r.Remote.scoped(ctx, true), refFor(r.Repo.Reference.Registry, r.Remote.Repository), auth.ActionDelete)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return err
	}
	resp, err := r.Remote.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		return nil
	}
	// An ErrorResponse like oras-go's, so that Explain reads it.
	er := &errcode.ErrorResponse{Method: req.Method, URL: resp.Request.URL, StatusCode: resp.StatusCode}
	var body struct{ Errors errcode.Errors }
	if b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody)); json.Unmarshal(b, &body) == nil {
		er.Errors = body.Errors
	}
	if er.URL == nil {
		er.URL, _ = url.Parse(u)
	}
	return fmt.Errorf("delete %s: %w", reference, er)
}
