package web_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	cairn "cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/storage"
)

// TestPulls_Counted: what cairn tag (read the manifest, push it under a
// new tag), a manifest HEAD and cairn ls (the versions endpoint) do leaves
// the pull count alone; cairn pull raises it by one, however many layers
// it fetches; the repository page shows the count.
func TestPulls_Counted(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	e.pushModel("models/count", "v1", map[string]string{"config.json": "{}", "model.safetensors": safetensors(8), "README.md": "# count\n"}, nil)
	open := func(ref string) *cairn.Repository {
		r, err := cairn.Open(e.Host+"/models/count"+ref, cairn.Options{PlainHTTP: true, Client: http.DefaultClient})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	counted := func(what string, want int) {
		t.Helper()
		if got := e.UI.PullCounts(ctx)["models/count"]; got != want {
			t.Errorf("after %s: %d pulls, want %d", what, got, want)
		}
	}
	counted("the push", 0)

	if _, err := cairn.Tag(ctx, open(":v1"), "stable"); err != nil { // cairn tag
		t.Fatal(err)
	}
	counted("cairn tag", 0)

	if _, err := open(":v1").Repo.Resolve(ctx, "stable"); err != nil { // a manifest HEAD
		t.Fatal(err)
	}
	counted("a HEAD", 0)

	if _, err := cairn.Versions(ctx, open(""), cairn.VersionsOptions{}); err != nil { // cairn ls
		t.Fatal(err)
	}
	counted("cairn ls", 0)

	cache, err := cairn.OpenCache(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cairn.Pull(ctx, open(":v1"), filepath.Join(t.TempDir(), "out"), cairn.PullOptions{Cache: cache}); err != nil { // cairn pull
		t.Fatal(err)
	}
	counted("cairn pull", 1)

	// The tag's manifest read is in the log as what it was, a pull
	// record; the pull also has its download record.
	var actions []string
	e.Meta.Access(ctx, storage.AccessFilter{Repository: "models/count"}, func(r storage.AccessRecord) error {
		actions = append(actions, r.Action)
		return nil
	})
	if got := strings.Join(actions, " "); !strings.Contains(got, "download") || strings.Count(got, "download") != 1 {
		t.Errorf("access log actions (newest first): %s; want exactly one download", got)
	}
	_, _, body := get(t, client(t), e.URL+"/r/models/count")
	mustContain(t, "repository page", body, "1 pull")
}
