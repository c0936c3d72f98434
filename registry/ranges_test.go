package registry_test

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
)

// TestHandler_BlobRanges: range requests answer as RFC 9110 says. Every
// unsatisfiable or invalid range set gets 416 with Content-Range: bytes
// */SIZE; satisfiable ranges get 206 (several as multipart/byteranges,
// unsatisfiable ones among them left out); a unit other than bytes, more
// than registry.MaxRanges ranges, or an If-Range for another entity tag get
// the whole blob.
func TestHandler_BlobRanges(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	content := []byte("0123456789")
	pushArtifact(t, srv, "models/m", "v1", map[string][]byte{"a": content}, nil)
	dgst := digest.FromBytes(content)
	url := srv.URL + "/v2/models/m/blobs/" + dgst.String()
	size := strconv.Itoa(len(content))
	many := make([]string, registry.MaxRanges+1)
	for i := range many {
		many[i] = strconv.Itoa(i%10) + "-" + strconv.Itoa(i%10)
	}
	type part struct{ contentRange, body string }
	for _, tc := range []struct {
		name    string
		rng     string
		header  map[string]string
		status  int
		cr      string // Content-Range of a single answer
		body    string
		parts   []part // for multipart/byteranges
		method  string
		noRange bool
	}{
		{name: "zero-length suffix", rng: "bytes=-0", status: 416, cr: "bytes */" + size},
		{name: "last before first", rng: "bytes=5-4", status: 416, cr: "bytes */" + size},
		{name: "at the end", rng: "bytes=10-", status: 416, cr: "bytes */" + size},
		{name: "beyond the end", rng: "bytes=100-200", status: 416, cr: "bytes */" + size},
		{name: "several, none satisfiable", rng: "bytes=20-30, -0", status: 416, cr: "bytes */" + size},
		{name: "malformed", rng: "bytes=x", status: 416, cr: "bytes */" + size},
		{name: "no ranges", rng: "bytes=", status: 416, cr: "bytes */" + size},
		{name: "one invalid among valid", rng: "bytes=0-1,5-4", status: 416, cr: "bytes */" + size},
		{name: "HEAD, unsatisfiable", method: "HEAD", rng: "bytes=-0", status: 416, cr: "bytes */" + size},
		{name: "first bytes", rng: "bytes=0-3", status: 206, cr: "bytes 0-3/" + size, body: "0123"},
		{name: "open end", rng: "bytes=7-", status: 206, cr: "bytes 7-9/" + size, body: "789"},
		{name: "last clipped", rng: "bytes=8-100", status: 206, cr: "bytes 8-9/" + size, body: "89"},
		{name: "suffix", rng: "bytes=-3", status: 206, cr: "bytes 7-9/" + size, body: "789"},
		{name: "suffix longer than the blob", rng: "bytes=-20", status: 206, cr: "bytes 0-9/" + size, body: "0123456789"},
		{name: "one satisfiable among unsatisfiable", rng: "bytes=20-30,-0,2-3", status: 206, cr: "bytes 2-3/" + size, body: "23"},
		{name: "several", rng: "bytes=0-1, 5-6", status: 206, parts: []part{{"bytes 0-1/" + size, "01"}, {"bytes 5-6/" + size, "56"}}},
		{name: "other unit", rng: "items=0-1", status: 200, body: "0123456789"},
		{name: "more than MaxRanges", rng: "bytes=" + strings.Join(many, ","), status: 200, body: "0123456789"},
		{name: "If-Range for another tag", rng: "bytes=-0", header: map[string]string{"If-Range": `"sha256:other"`}, status: 200, body: "0123456789"},
		{name: "If-Range for this blob", rng: "bytes=0-1", header: map[string]string{"If-Range": `"` + dgst.String() + `"`}, status: 206, cr: "bytes 0-1/" + size, body: "01"},
		{name: "If-None-Match first", rng: "bytes=-0", header: map[string]string{"If-None-Match": `"` + dgst.String() + `"`}, status: 304},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, url, nil)
			req.Header.Set("Range", tc.rng)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Content-Range"); got != tc.cr {
				t.Errorf("Content-Range %q, want %q", got, tc.cr)
			}
			if tc.parts == nil {
				if method == http.MethodGet && tc.body != "" && string(body) != tc.body {
					t.Errorf("body %q, want %q", body, tc.body)
				}
				return
			}
			mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if mt != "multipart/byteranges" {
				t.Fatalf("Content-Type %q, want multipart/byteranges", resp.Header.Get("Content-Type"))
			}
			mr := multipart.NewReader(strings.NewReader(string(body)), params["boundary"])
			for i, want := range tc.parts {
				p, err := mr.NextPart()
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				b, _ := io.ReadAll(p)
				if p.Header.Get("Content-Range") != want.contentRange || string(b) != want.body {
					t.Errorf("part %d: %q %q, want %q %q", i, p.Header.Get("Content-Range"), b, want.contentRange, want.body)
				}
			}
			if _, err := mr.NextPart(); err != io.EOF {
				t.Errorf("more parts than %d", len(tc.parts))
			}
		})
	}
}
