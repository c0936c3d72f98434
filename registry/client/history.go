package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"cairn.dev/cairn/registry/storage"
)

// maxHistoryAnswer bounds the tag history a registry may send.
const maxHistoryAnswer = 64 << 20

// History returns every move of tag in the repository, oldest first, or
// of every tag of it when tag is "" (cairn's /_cairn/history extension).
// An answer other than 200 is a *StatusError.
func (r *Remote) History(ctx context.Context, tag string) ([]storage.TagMove, error) {
	u := r.url("/_cairn/history")
	if tag != "" {
		u += "?tag=" + url.QueryEscape(tag)
	}
	resp, err := r.do(ctx, false, http.MethodGet, u, nil, 0, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHistoryAnswer))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Method: http.MethodGet, URL: resp.Request.URL.Redacted(), Status: resp.StatusCode, Body: string(body)}
	}
	var moves []storage.TagMove
	if err := json.Unmarshal(body, &moves); err != nil {
		return nil, fmt.Errorf("decode history: %w", err)
	}
	return moves, nil
}
