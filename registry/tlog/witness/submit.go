package witness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Doer sends HTTP requests (an *http.Client).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Submit sends req to the witness whose add-checkpoint endpoint is url and
// returns its cosignature lines (ParseCosignatures; not yet checked
// against its key). A 409 naming the size the witness last cosigned is a
// *ConflictError, so the log can retry from that size; any other refusal
// is an error with the status.
func Submit(ctx context.Context, hc Doer, url string, req Request) ([][]byte, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req.Marshal()))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", url, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return ParseCosignatures(body)
	case resp.StatusCode == http.StatusConflict && resp.Header.Get("Content-Type") == "text/x.tlog.size":
		line, ok := strings.CutSuffix(string(body), "\n")
		n, err := strconv.ParseInt(line, 10, 64)
		if !ok || err != nil || n < 0 || line != strconv.FormatInt(n, 10) {
			return nil, fmt.Errorf("witness %s: 409 with a size of %q", url, body)
		}
		return nil, &ConflictError{Size: n}
	}
	return nil, fmt.Errorf("witness %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body[:min(len(body), 200)])))
}
