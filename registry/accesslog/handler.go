package accesslog

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"cairn.dev/cairn/registry/storage"
)

// Page sizes of Handler.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// ErrQuery means the query parameters of a log request are not valid.
var ErrQuery = errors.New("invalid access log query")

// Page is the JSON answer of Handler's list endpoint: records newest first.
type Page struct {
	Records []storage.AccessRecord `json:"records"`
	// Next, when not zero, is the before parameter of the next (older)
	// page.
	Next uint64 `json:"next,omitempty"`
}

// queryKeys are the parameters ParseQuery knows.
var queryKeys = []string{"repo", "principal", "action", "result", "before", "limit"}

// ParseQuery reads an access filter from query parameters: repo,
// principal, action and result (exact matches), before (a seq: only older
// records) and limit (1 to MaxPageSize; DefaultPageSize when absent). A
// parameter given twice, unknown, empty where a number is wanted or longer
// than storage.MaxAccessField is refused with ErrQuery.
func ParseQuery(q url.Values) (storage.AccessFilter, error) {
	f := storage.AccessFilter{Limit: DefaultPageSize}
	for k, vs := range q {
		known := false
		for _, qk := range queryKeys {
			known = known || qk == k
		}
		if !known {
			return f, fmt.Errorf("%w: unknown parameter %.64q", ErrQuery, k)
		}
		if len(vs) != 1 {
			return f, fmt.Errorf("%w: %s given %d times", ErrQuery, k, len(vs))
		}
		if v := vs[0]; len(v) > storage.MaxAccessField || !utf8.ValidString(v) {
			return f, fmt.Errorf("%w: %s is too long or not UTF-8", ErrQuery, k)
		}
	}
	f.Repository, f.Principal, f.Action, f.Result = q.Get("repo"), q.Get("principal"), q.Get("action"), q.Get("result")
	if q.Has("before") {
		n, err := strconv.ParseUint(q.Get("before"), 10, 64)
		if err != nil || n == 0 {
			return f, fmt.Errorf("%w: before must be a seq (a positive integer)", ErrQuery)
		}
		f.Before = n
	}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > MaxPageSize {
			return f, fmt.Errorf("%w: limit must be from 1 to %d", ErrQuery, MaxPageSize)
		}
		f.Limit = n
	}
	return f, nil
}

// Query encodes f as the parameters ParseQuery reads (a Limit above
// MaxPageSize is cut to it, zero left out).
func Query(f storage.AccessFilter) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"repo": f.Repository, "principal": f.Principal, "action": f.Action, "result": f.Result} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Before > 0 {
		q.Set("before", strconv.FormatUint(f.Before, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(min(f.Limit, MaxPageSize)))
	}
	return q
}

// Handler serves the access log for remote readers (cairn log --registry,
// the web UI). GET on any path ending in /verify answers the chain state
// (storage.AccessChainState) as JSON; GET on any other path answers a Page
// selected by the query (see ParseQuery). It does no authorization:
// mount it behind an admin-only gate.
func Handler(store storage.AccessLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		if req.Method != http.MethodGet {
			h.Set("Allow", http.MethodGet)
			writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		if strings.HasSuffix(req.URL.Path, "/verify") {
			st, err := store.VerifyAccess(req.Context())
			if err != nil {
				writeJSONError(w, http.StatusInternalServerError, "cannot read the access log: "+err.Error())
				return
			}
			writeJSON(w, http.StatusOK, st)
			return
		}
		q, err := url.ParseQuery(req.URL.RawQuery)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("%v: %v", ErrQuery, err))
			return
		}
		f, err := ParseQuery(q)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		limit := f.Limit
		f.Limit = limit + 1 // one more tells whether there is a next page
		page := Page{Records: make([]storage.AccessRecord, 0, min(limit, 128))}
		err = store.Access(req.Context(), f, func(r storage.AccessRecord) error {
			page.Records = append(page.Records, r)
			return nil
		})
		if err != nil {
			writeJSONError(w, http.StatusInternalServerError, "cannot read the access log: "+err.Error())
			return
		}
		if len(page.Records) > limit {
			page.Records = page.Records[:limit]
			page.Next = page.Records[limit-1].Seq
		}
		writeJSON(w, http.StatusOK, page)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// ErrorBody is the JSON body of Handler's errors.
type ErrorBody struct {
	Error string `json:"error"`
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(ErrorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
