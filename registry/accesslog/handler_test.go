package accesslog_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/storage"
)

func getJSON(t *testing.T, srv *httptest.Server, path string, v any) int {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}

func TestHandler(t *testing.T) {
	db := openLog(t)
	var in []storage.AccessRecord
	for i := range 250 {
		r := pull(i)
		if i%10 == 0 {
			r.Repository, r.Action, r.Result, r.Principal = "secret/x", storage.ActionDenied, storage.ResultDenied, "bob"
		}
		in = append(in, r)
	}
	if _, err := db.AppendAccess(t.Context(), in...); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h := accesslog.Handler(db)
	mux.Handle("GET /_cairn/admin/log", h)
	mux.Handle("GET /_cairn/admin/log/verify", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var p accesslog.Page
	if code := getJSON(t, srv, "/_cairn/admin/log", &p); code != 200 || len(p.Records) != accesslog.DefaultPageSize || p.Records[0].Seq != 250 || p.Next != 151 {
		t.Fatalf("default page: %d, %d records from %d, next %d", code, len(p.Records), p.Records[0].Seq, p.Next)
	}
	// Page through the denials.
	var seqs []uint64
	q := url.Values{"repo": {"secret/x"}, "principal": {"bob"}, "action": {"denied"}, "result": {"denied"}, "limit": {"7"}}
	for {
		var p accesslog.Page
		if code := getJSON(t, srv, "/_cairn/admin/log?"+q.Encode(), &p); code != 200 {
			t.Fatalf("status %d", code)
		}
		for _, r := range p.Records {
			seqs = append(seqs, r.Seq)
			if r.Action != storage.ActionDenied || r.Principal != "bob" {
				t.Fatalf("filtered page holds %+v", r)
			}
		}
		if p.Next == 0 {
			break
		}
		q.Set("before", strings.TrimSpace(jsonNumber(p.Next)))
	}
	want := []uint64{}
	for s := 241; s >= 1; s -= 10 {
		want = append(want, uint64(s))
	}
	if !slices.Equal(seqs, want) {
		t.Errorf("paged denials: %v, want %v", seqs, want)
	}

	var st storage.AccessChainState
	if code := getJSON(t, srv, "/_cairn/admin/log/verify", &st); code != 200 || !st.OK || st.Records != 250 || st.HeadSeq != 250 {
		t.Errorf("verify: %d %+v", code, st)
	}

	for _, bad := range []string{"?limit=0", "?limit=1001", "?limit=x", "?before=0", "?before=-1", "?repo=a&repo=b", "?nope=1", "?%zz"} {
		var e accesslog.ErrorBody
		if code := getJSON(t, srv, "/_cairn/admin/log"+bad, &e); code != 400 || e.Error == "" {
			t.Errorf("GET %s: %d %+v, want 400", bad, code, e)
		}
	}
	resp, err := http.Post(srv.URL+"/_cairn/admin/log/verify", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
	// Handler itself refuses other methods too.
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("DELETE", "/x", nil))
	if rr.Code != http.StatusMethodNotAllowed || rr.Header().Get("Allow") != "GET" {
		t.Errorf("DELETE: %d %v", rr.Code, rr.Header())
	}
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestParseQuery(t *testing.T) {
	f, err := accesslog.ParseQuery(url.Values{"repo": {"a/b"}, "before": {"42"}, "limit": {"1000"}})
	if err != nil || f != (storage.AccessFilter{Repository: "a/b", Before: 42, Limit: 1000}) {
		t.Fatalf("ParseQuery = %+v, %v", f, err)
	}
	if f, err := accesslog.ParseQuery(nil); err != nil || f.Limit != accesslog.DefaultPageSize {
		t.Fatalf("ParseQuery(nil) = %+v, %v", f, err)
	}
	if _, err := accesslog.ParseQuery(url.Values{"repo": {strings.Repeat("a", storage.MaxAccessField+1)}}); !errors.Is(err, accesslog.ErrQuery) {
		t.Errorf("long repo: %v", err)
	}
	round := storage.AccessFilter{Repository: "r", Principal: "p", Action: "pull", Result: "ok", Before: 9, Limit: 5}
	if back, err := accesslog.ParseQuery(accesslog.Query(round)); err != nil || back != round {
		t.Errorf("ParseQuery(Query(%+v)) = %+v, %v", round, back, err)
	}
}
