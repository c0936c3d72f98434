package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

// TestAccess_Truth: the access log separates what was asked from how it
// ended (a denied pull is found by action=pull&result=denied), names the
// reason of each refusal, folds anonymous 401 challenges unless asked,
// links only versions that exist (never a blob), shows an action it does
// not know as it is, and answers bad parameters with a page that says
// what is wrong.
func TestAccess_Truth(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	v1 := e.pushModel("models/a", "v1", map[string]string{"config.json": "{}", "model.safetensors": safetensors(4)}, nil)
	blob := digest.FromString("a layer")
	gone := digest.FromString("a deleted manifest")
	recs := []storage.AccessRecord{
		{Principal: "anonymous", Address: "192.0.2.1", Action: storage.ActionDenied, Result: storage.ResultDenied, Status: 401, Repository: "models/a", Reference: "v1",
			Detail: "GET /v2/models/a/manifests/v1 needs repository:models/a:pull"},
		{Principal: "bob", Address: "192.0.2.2", Action: storage.ActionDenied, Result: storage.ResultDenied, Status: 403, Repository: "models/a", Reference: "v1",
			Detail: "GET /v2/models/a/manifests/v1: models/a@" + string(v1.Digest) + " is quarantined: licence withdrawn (by security)"},
		{Principal: "carol", Address: "192.0.2.3", Action: storage.ActionDenied, Result: storage.ResultDenied, Status: 403, Repository: "models/a", Digest: blob,
			Detail: "GET /v2/models/a/blobs/" + string(blob) + ": models/a: the registry's policy refuses this pull: no signature"},
		{Principal: "dave", Address: "192.0.2.4", Action: storage.ActionPull, Result: storage.ResultOK, Status: 200, Repository: "models/a", Reference: "old", Digest: gone},
		{Principal: "cairn", Action: "gap", Result: storage.ResultOK, Detail: "records 10-20 dropped"},
	}
	if _, err := e.Meta.AppendAccess(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	c := client(t)
	code, _, body := get(t, c, e.URL+"/access")
	if code != http.StatusOK {
		t.Fatalf("/access: %d", code)
	}
	mustContain(t, "access log", body, "quarantine", "licence withdrawn", "policy", "no signature", "1 anonymous 401 challenge",
		`<span class="action unknown">gap</span>`, "records 10-20 dropped", `href="/r/models/a@`+string(v1.Digest)+`"`)
	for _, bad := range []string{`href="/r/models/a@` + string(blob), `href="/r/models/a@` + string(gone), "192.0.2.1"} {
		if strings.Contains(body, bad) {
			t.Errorf("access log shows %q", bad)
		}
	}
	_, _, body = get(t, c, e.URL+"/access?challenges=show")
	mustContain(t, "challenges shown", body, "192.0.2.1", "credentials")

	_, _, body = get(t, c, e.URL+"/access?action=pull&result=denied")
	mustContain(t, "refused pulls", body, "bob", "carol")
	if strings.Contains(body, "dave") {
		t.Errorf("action=pull&result=denied shows an ok pull")
	}

	for q, want := range map[string]string{
		"before=abc":          `before: &#34;abc&#34; is not a record number`,
		"result=maybe":        "result: &#34;maybe&#34; is not a result",
		"repository=A%20B":    "is not a repository name",
		"action=%3Cscript%3E": "is not an action",
	} {
		code, _, body := get(t, c, e.URL+"/access?"+q)
		if code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", q, code)
		}
		mustContain(t, "?"+q, body, "Some filters could not be used", want, `<form class="filters"`)
	}
}
