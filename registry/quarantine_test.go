package registry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/registry/storage"
)

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHandler_Quarantine(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	bad := pushArtifact(t, srv, "models/m", "v1", map[string][]byte{"w": []byte("bad")}, nil)
	good := pushArtifact(t, srv, "models/m", "v2", map[string][]byte{"w": []byte("good")}, nil)
	base := srv.URL + "/v2/models/m"
	q := base + "/_cairn/quarantine?digest=" + bad.Digest.String()

	if code, body := do(t, http.MethodPut, q, `{"reason":"CVE-2026-0001: pickle payload in w"}`); code != http.StatusOK {
		t.Fatalf("PUT quarantine: %d %s", code, body)
	}
	for _, ref := range []string{"v1", bad.Digest.String()} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			code, body := do(t, method, base+"/manifests/"+ref, "")
			if code != http.StatusForbidden || (method == http.MethodGet && (!strings.Contains(body, "DENIED") || !strings.Contains(body, "CVE-2026-0001"))) {
				t.Errorf("%s %s of a quarantined version: %d %s", method, ref, code, body)
			}
		}
	}
	if code, _ := do(t, http.MethodGet, base+"/manifests/v2", ""); code != http.StatusOK {
		t.Errorf("another version: %d", code)
	}
	if code, body := do(t, http.MethodGet, base+"/_cairn/quarantine", ""); code != http.StatusOK || !strings.Contains(body, bad.Digest.String()) || strings.Contains(body, good.Digest.String()) {
		t.Errorf("list: %d %s", code, body)
	}
	for _, tc := range []struct {
		method, url, body string
		want              int
	}{
		{http.MethodPut, q, `{"reason":""}`, http.StatusBadRequest},
		{http.MethodPut, q, `{"reason":"` + strings.Repeat("x", 2000) + `"}`, http.StatusBadRequest},
		{http.MethodPut, q, `not json`, http.StatusBadRequest},
		{http.MethodPut, base + "/_cairn/quarantine", `{"reason":"x"}`, http.StatusBadRequest},
		{http.MethodPut, base + "/_cairn/quarantine?digest=sha256:" + strings.Repeat("0", 64), `{"reason":"x"}`, http.StatusNotFound},
		{http.MethodDelete, base + "/_cairn/quarantine?digest=" + good.Digest.String(), "", http.StatusNotFound},
		{http.MethodPost, q, `{"reason":"x"}`, http.StatusMethodNotAllowed},
	} {
		if code, body := do(t, tc.method, tc.url, tc.body); code != tc.want {
			t.Errorf("%s %s %.40q: %d, want %d: %s", tc.method, tc.url, tc.body, code, tc.want, body)
		}
	}
	if code, body := do(t, http.MethodDelete, q, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE quarantine: %d %s", code, body)
	}
	if code, _ := do(t, http.MethodGet, base+"/manifests/v1", ""); code != http.StatusOK {
		t.Errorf("after release: %d", code)
	}
}

// byDigestGate refuses manifests asked for by tag and blobs named in
// refused.
type byDigestGate struct{ refused map[digest.Digest]bool }

func (g byDigestGate) CheckManifest(ctx context.Context, repo, ref string, m *storage.Manifest) error {
	if !strings.Contains(ref, ":") {
		return errors.New("pull by digest (pinDigest)")
	}
	return nil
}

func (g byDigestGate) CheckBlob(ctx context.Context, repo string, d digest.Digest) error {
	if g.refused[d] {
		return errors.New("no allowed version references it")
	}
	return nil
}

func TestHandler_PullGate(t *testing.T) {
	refused := map[digest.Digest]bool{digest.FromString("x"): true}
	srv := registrytest.NewServer(t, registry.Config{PullGate: byDigestGate{refused}})
	d := pushArtifact(t, srv, "models/m", "v1", map[string][]byte{"w": []byte("x")}, nil)
	if code, body := do(t, http.MethodGet, srv.URL+"/v2/models/m/manifests/v1", ""); code != http.StatusForbidden || !strings.Contains(body, "pull by digest") {
		t.Errorf("by tag: %d %s", code, body)
	}
	if code, body := do(t, http.MethodGet, srv.URL+"/v2/models/m/manifests/"+d.Digest.String(), ""); code != http.StatusOK {
		t.Errorf("by digest: %d %s", code, body)
	}
	// HEAD resolves a name: the gate guards content.
	if code, body := do(t, http.MethodHead, srv.URL+"/v2/models/m/manifests/v1", ""); code != http.StatusOK {
		t.Errorf("HEAD by tag: %d %s", code, body)
	}
	blob := srv.URL + "/v2/models/m/blobs/" + digest.FromString("x").String()
	if code, body := do(t, http.MethodGet, blob, ""); code != http.StatusForbidden || !strings.Contains(body, "no allowed version") {
		t.Errorf("GET of a refused blob: %d %s", code, body)
	}
	if code, _ := do(t, http.MethodHead, blob, ""); code != http.StatusOK {
		t.Errorf("HEAD of a refused blob: %d", code)
	}
}
