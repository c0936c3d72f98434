package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"cairn.dev/cairn/registry"
)

// catalog answers GET /v2/_catalog with the repositories id may pull, paged
// as the registry pages it (n, last, a Link header when the page is full).
func (a *Auth) catalog(w http.ResponseWriter, r *http.Request, id identity) {
	ctx := r.Context()
	q := r.URL.Query()
	last := q.Get("last")
	n := a.pageSize
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			writeError(w, r, http.StatusBadRequest, codeUnsupported, fmt.Sprintf("invalid n %q", clip(s)), nil)
			return
		}
		n = min(v, a.pageSize)
	}
	repos := []string{}
	const batch = 500
	for n > 0 && len(repos) < n {
		names, err := a.meta.Repositories(ctx, last, batch)
		if err != nil {
			a.internalError(w, r, err)
			return
		}
		for _, name := range names {
			ok, err := a.may(ctx, id, TypeRepository, name, ActionPull)
			if err != nil {
				a.internalError(w, r, err)
				return
			}
			if ok {
				repos = append(repos, name)
				if len(repos) == n {
					break
				}
			}
		}
		if len(names) < batch {
			break
		}
		last = names[len(names)-1]
	}
	if n > 0 && len(repos) == n {
		v := url.Values{"n": {strconv.Itoa(n)}, "last": {repos[len(repos)-1]}}
		w.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?%s>; rel="next"`, v.Encode()))
	}
	b, _ := json.Marshal(map[string][]string{"repositories": repos})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// maxLineageAnswer bounds the lineage answer read back for filtering.
const maxLineageAnswer = 64 << 20

// lineage passes GET /v2/<name>/_cairn/lineage on and removes from the
// answer the edges into repositories id may not pull: the endpoint looks
// across the whole registry for what was built from a model.
func (a *Auth) lineage(w http.ResponseWriter, r *http.Request, id identity, next http.Handler) {
	rec := &bufferWriter{header: http.Header{}, code: http.StatusOK}
	next.ServeHTTP(rec, r)
	if rec.code != http.StatusOK || rec.overflow {
		if rec.overflow {
			a.internalError(w, r, fmt.Errorf("lineage answer larger than %d bytes", maxLineageAnswer))
			return
		}
		rec.copyTo(w)
		return
	}
	var lin registry.Lineage
	if err := json.Unmarshal(rec.body.Bytes(), &lin); err != nil {
		a.internalError(w, r, fmt.Errorf("decode lineage answer: %w", err))
		return
	}
	kept := lin.BuiltInto[:0]
	for _, e := range lin.BuiltInto {
		ok, err := a.may(r.Context(), id, TypeRepository, e.Repository, ActionPull)
		if err != nil {
			a.internalError(w, r, err)
			return
		}
		if ok {
			kept = append(kept, e)
		}
	}
	lin.BuiltInto = kept
	b, _ := json.Marshal(lin)
	rec.body.Reset()
	rec.body.Write(b)
	rec.header.Set("Content-Length", strconv.Itoa(len(b)))
	rec.copyTo(w)
}

// bufferWriter keeps a handler's answer in memory.
type bufferWriter struct {
	header   http.Header
	code     int
	body     bytes.Buffer
	overflow bool
}

func (b *bufferWriter) Header() http.Header  { return b.header }
func (b *bufferWriter) WriteHeader(code int) { b.code = code }
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.body.Len()+len(p) > maxLineageAnswer {
		b.overflow = true
		return 0, fmt.Errorf("answer too large")
	}
	return b.body.Write(p)
}

func (b *bufferWriter) copyTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.code)
	w.Write(b.body.Bytes())
}
