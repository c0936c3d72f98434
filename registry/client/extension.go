package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"oras.land/oras-go/v2/registry/remote"
)

// Limits on what cairn's extension endpoints (/v2/<name>/_cairn/...) may
// answer.
const (
	// MaxVersionsResponse bounds the versions answer.
	MaxVersionsResponse = 64 << 20
	// MaxLineageResponse bounds the lineage answer.
	MaxLineageResponse = 16 << 20
	// MaxAdminResponse bounds the answer of an administrative endpoint
	// (the quarantine list).
	MaxAdminResponse = 16 << 20
)

// extensionURL is the URL of the repository's extension endpoint path
// (which may carry a query).
func (r *Repository) extensionURL(path string) string {
	return r.Remote.url("/_cairn/" + path)
}

// extension GETs a cairn extension endpoint of the repository and returns
// the body, at most limit bytes. ok is false when the registry does not
// have the endpoint (404, 405 or 501): it is not cairn, or an older one.
func (r *Repository) extension(ctx context.Context, path string, limit int) (body []byte, ok bool, err error) {
	what, _, _ := strings.Cut(path, "?")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.extensionURL(path), nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := r.Remote.Client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return nil, false, nil
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, false, fmt.Errorf("%s: %s: %s", what, resp.Status, b)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	if len(body) > limit {
		return nil, false, fmt.Errorf("%s: answer exceeds %d bytes", what, limit)
	}
	return body, true, nil
}

// call sends a request with an optional JSON body to an extension URL and
// returns the body of a 2xx answer (at most MaxAdminResponse bytes), or an
// error with the registry's OCI error code and message.
func (r *Repository) call(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.Remote.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAdminResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
			return nil, fmt.Errorf("%s %s: %s: %s", method, u, e.Errors[0].Code, e.Errors[0].Message)
		}
		return nil, fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	return b, nil
}

// sibling returns another repository (and reference) of the same registry,
// reached the same way.
func (r *Repository) sibling(repository, reference string) *Repository {
	ref := r.Repo.Reference
	ref.Repository, ref.Reference = repository, reference
	return &Repository{
		Repo:   &remote.Repository{Client: r.Repo.Client, Reference: ref, PlainHTTP: r.Repo.PlainHTTP},
		Remote: &Remote{Client: r.Remote.Client, Base: r.Remote.Base, Repository: repository},
	}
}

// name is HOST/REPO of the repository.
func (r *Repository) name() string {
	return r.Repo.Reference.Registry + "/" + r.Repo.Reference.Repository
}
