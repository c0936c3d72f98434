package web_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/storage"
)

// layers returns the layer descriptors of a pushed manifest.
func layers(t *testing.T, e *env, repo string, d ocispec.Descriptor) []ocispec.Descriptor {
	t.Helper()
	m, err := e.Meta.Manifest(t.Context(), repo, d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(m.Content, &man); err != nil {
		t.Fatal(err)
	}
	return man.Layers
}

// TestRaw_Gate: a file of a version downloads with its name only when a
// pull of the version would be allowed: the signed version under the
// policy, not the unsigned one (refused) nor a quarantined one, and a
// digest that is not one of the version's files is not served at all.
// A dataset's archive member downloads by its path.
func TestRaw_Gate(t *testing.T) {
	e := newEnv(t, envOptions{Policy: testPolicy})
	ctx := t.Context()
	files := map[string]string{"config.json": "{}", "model.safetensors": safetensors(4), "docs/notes.txt": "hello notes\n"}
	signed := e.pushModel("models/a", "signed", files, nil)
	e.sign("models/a", signed)
	files["docs/notes.txt"] = "other notes\n"
	unsigned := e.pushModel("models/a", "unsigned", files, nil)
	c := client(t)
	notes := func(d ocispec.Descriptor) digest.Digest {
		for _, l := range layers(t, e, "models/a", d) {
			if l.Annotations["org.cncf.model.filepath"] == "docs/notes.txt" {
				return l.Digest
			}
		}
		t.Fatal("no docs/notes.txt layer")
		return ""
	}
	base := e.URL + "/r/models/a@"
	resp, err := c.Get(base + string(signed.Digest) + "/raw/" + string(notes(signed)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello notes\n" {
		t.Fatalf("signed version's file: %d %q", resp.StatusCode, body)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename=notes.txt` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("a download is sent with Content-Encoding %q", ce)
	}
	for name, tc := range map[string]struct {
		url  string
		code int
	}{
		"refused by the policy":     {base + string(unsigned.Digest) + "/raw/" + string(notes(unsigned)), http.StatusForbidden},
		"another version's file":    {base + string(signed.Digest) + "/raw/" + string(notes(unsigned)), http.StatusNotFound},
		"not a file of the version": {base + string(signed.Digest) + "/raw/" + string(digest.FromString("x")), http.StatusNotFound},
		"a member of a raw file":    {base + string(signed.Digest) + "/raw/" + string(notes(signed)) + "/x", http.StatusNotFound},
		"a repository that is not":  {e.URL + "/r/models/b@" + string(signed.Digest) + "/raw/" + string(notes(signed)), http.StatusNotFound},
	} {
		if code, _, _ := get(t, c, tc.url); code != tc.code {
			t.Errorf("%s: %d, want %d", name, code, tc.code)
		}
	}
	if err := e.Meta.SetQuarantine(ctx, storage.Quarantine{Repository: "models/a", Digest: signed.Digest, Reason: "withdrawn", By: "sec", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := get(t, c, base+string(signed.Digest)+"/raw/"+string(notes(signed))); code != http.StatusForbidden {
		t.Errorf("quarantined version's file: %d, want 403", code)
	}

	// A dataset member, by its path in the tar layer.
	ds := e.pushModel("datasets/d", "v1", map[string]string{"a/one.jsonl": "{}\n", "b/two.jsonl": `{"x":2}` + "\n"}, nil)
	e.sign("datasets/d", ds)
	tarLayer := layers(t, e, "datasets/d", ds)[0].Digest
	code, h, body2 := get(t, c, e.URL+"/r/datasets/d@"+string(ds.Digest)+"/raw/"+string(tarLayer)+"/b/two.jsonl")
	if code != http.StatusOK || body2 != `{"x":2}`+"\n" || h.Get("Content-Disposition") != "attachment; filename=two.jsonl" {
		t.Errorf("dataset member: %d %q %q", code, body2, h.Get("Content-Disposition"))
	}
	if code, _, _ := get(t, c, e.URL+"/r/datasets/d@"+string(ds.Digest)+"/raw/"+string(tarLayer)+"/c/none.jsonl"); code != http.StatusNotFound {
		t.Errorf("missing member: %d, want 404", code)
	}
}

// TestPages_Compressed: pages are gzipped for a client that accepts it,
// and static files carry cache headers.
func TestPages_Compressed(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := range 3 {
		e.pushModel("models/z", "v"+string(rune('1'+i)), map[string]string{"config.json": "{}", "model.safetensors": safetensors(4 + i)}, nil)
	}
	tr := &http.Transport{DisableCompression: true}
	c := &http.Client{Transport: tr}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, e.URL+"/r/models/z", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("page Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(zr)
	if !strings.Contains(string(page), "models/z") {
		t.Errorf("gzipped page does not decode to the page")
	}
	for _, f := range []string{"/static/style.css", "/static/copy.js"} {
		code, h, _ := get(t, client(t), e.URL+f)
		if code != http.StatusOK || h.Get("Cache-Control") != "public, max-age=86400" || h.Get("ETag") == "" {
			t.Errorf("%s: %d, Cache-Control %q, ETag %q", f, code, h.Get("Cache-Control"), h.Get("ETag"))
		}
		req, _ := http.NewRequest(http.MethodGet, e.URL+f, nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s revalidated: %d, want 304", f, resp.StatusCode)
		}
	}
}
