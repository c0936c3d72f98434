package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Remote is one repository of a registry, addressed with raw distribution
// API requests through an (authenticating) HTTP client.
type Remote struct {
	// Client sends the requests; an *auth.Client from oras-go adds
	// credentials and tokens.
	Client remote.Client
	// Base is the scheme and host, e.g. "http://127.0.0.1:5000".
	Base string
	// Repository is the repository name.
	Repository string
	// StallTimeout fails a blob download that receives nothing for this
	// long (a *StallError naming the blob), after DownloadAttempts tries,
	// each resuming where the last stopped; zero means
	// DefaultStallTimeout.
	StallTimeout time.Duration
}

// DefaultStallTimeout is how long a download may receive nothing before
// it is retried, then failed.
const DefaultStallTimeout = 30 * time.Second

// DownloadAttempts is how many times a stalled or cut download is tried
// (resuming with a range request), with a backoff of 1 s, 2 s, 4 s between.
const DownloadAttempts = 4

func (r *Remote) stallTimeout() time.Duration {
	if r.StallTimeout > 0 {
		return r.StallTimeout
	}
	return DefaultStallTimeout
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 4 << 10

func (r *Remote) url(suffix string) string {
	return r.Base + "/v2/" + r.Repository + suffix
}

// scoped adds the token scope oras-go's auth client needs for raw requests.
func (r *Remote) scoped(ctx context.Context, push bool) context.Context {
	host := strings.TrimPrefix(strings.TrimPrefix(r.Base, "https://"), "http://")
	actions := []string{auth.ActionPull}
	if push {
		actions = append(actions, auth.ActionPush)
	}
	return auth.AppendRepositoryScope(ctx, refFor(host, r.Repository), actions...)
}

func (r *Remote) do(ctx context.Context, push bool, method, url string, body io.Reader, size int64, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.scoped(ctx, push), method, url, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return r.Client.Do(req)
}

// statusError reads a bounded part of an unexpected answer.
func statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	return &StatusError{Method: resp.Request.Method, URL: resp.Request.URL.Redacted(), Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
}

// resolveLocation turns a Location header into an absolute URL.
func resolveLocation(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%s %s: no Location in the answer", resp.Request.Method, resp.Request.URL.Redacted())
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("bad Location %q: %w", loc, err)
	}
	return u.String(), nil
}
