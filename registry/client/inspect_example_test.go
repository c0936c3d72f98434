package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify"
)

// pushExample pushes a directory holding files (name to content) to ref
// and returns the repository and the digest pushed.
func pushExample(ctx context.Context, ref string, files map[string]string) (*client.Repository, string) {
	dir, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(dir)
	for name, content := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	cache, _ := client.OpenCache(filepath.Join(dir, ".cache"))
	repo, _ := client.Open(ref, client.Options{})
	res, err := client.Push(ctx, repo, dir, client.PushOptions{Cache: cache})
	if err != nil {
		panic(err)
	}
	return repo, res.Digest.String()
}

// Versions lists a repository's versions, newest first, as `cairn ls`
// does; Tag points another tag at a version, as `cairn tag` does.
func ExampleVersions() {
	ctx := context.Background()
	host, stop := exampleRegistry()
	defer stop()
	pushExample(ctx, host+"/models/tiny:v1", map[string]string{"config.json": `{"v":1}`})
	r2, v2 := pushExample(ctx, host+"/models/tiny:v2", map[string]string{"config.json": `{"v":2}`})
	if _, err := client.Tag(ctx, r2, "latest"); err != nil {
		fmt.Println(err)
		return
	}

	repo, _ := client.Open(host+"/models/tiny", client.Options{})
	list, err := client.Versions(ctx, repo, client.VersionsOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(list.Source, len(list.Versions), "versions")
	for _, v := range list.Versions {
		fmt.Println(strings.Join(v.Tags, ","), v.Digest.String() == v2, "signed:", v.Signed, v.Created != nil)
	}
	// Output:
	// versions 2 versions
	// latest,v2 true signed: false true
	// v1 false signed: false true
}

// Inspect reads what a model declares (manifest, config, files,
// referrers, lineage) without fetching its files.
func ExampleInspect() {
	ctx := context.Background()
	host, stop := exampleRegistry()
	defer stop()
	repo, d := pushExample(ctx, host+"/models/tiny:v1", map[string]string{
		"config.json": `{"model_type":"tiny"}`, "README.md": "# tiny\n", "tokenizer/vocab.txt": "a\nb\n",
	})

	res, err := client.Inspect(ctx, repo, client.InspectOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Digest.String() == d, res.ArtifactType, res.Model.Config["format"] != nil)
	for _, f := range res.Files {
		fmt.Println(f.Label(), f.Kind, f.Size, f.Mode)
	}
	fmt.Println("total", res.TotalSize, "referrers", len(res.Referrers))
	fmt.Println("built from", len(res.Lineage.BuiltFrom), "built into", len(res.Lineage.BuiltInto))

	// A tag that does not exist.
	missing, _ := client.Open(host+"/models/tiny:nope", client.Options{})
	_, err = client.Inspect(ctx, missing, client.InspectOptions{})
	fmt.Println(err != nil, errors.Is(err, verify.ErrVerification))
	// Output:
	// true application/vnd.cncf.model.manifest.v1+json false
	// README.md doc 7 0644
	// config.json weight.config 21 0644
	// tokenizer/vocab.txt weight.config 4 0644
	// total 32 referrers 0
	// built from 0 built into 0
	// true false
}

// Diff compares two versions' files by path, fetching only the two
// manifests, as `cairn diff` does.
func ExampleDiff() {
	ctx := context.Background()
	host, stop := exampleRegistry()
	defer stop()
	v1, _ := pushExample(ctx, host+"/models/tiny:v1", map[string]string{
		"config.json": `{"v":1}`, "old.txt": "gone\n", "README.md": "# tiny\n",
	})
	v2, _ := pushExample(ctx, host+"/models/tiny:v2", map[string]string{
		"config.json": `{"v":2}`, "new.txt": "here\n", "README.md": "# tiny\n",
	})

	d, err := client.Diff(ctx, v1, v2)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range d.Added {
		fmt.Println("added", f.Path, f.Size)
	}
	for _, f := range d.Removed {
		fmt.Println("removed", f.Path, f.Size)
	}
	for _, c := range d.Changed {
		fmt.Println("changed", c.Path, c.From.Digest != c.To.Digest)
	}
	fmt.Println("unchanged", d.Unchanged, "empty", d.Empty())
	// Output:
	// added new.txt 5
	// removed old.txt 5
	// changed config.json true
	// unchanged 1 empty false
}

// Quarantine makes the registry refuse every pull of a version, with a
// reason; Release lifts it (by tag, although the tag no longer resolves).
func ExampleQuarantine() {
	ctx := context.Background()
	host, stop := exampleRegistry()
	defer stop()
	repo, d := pushExample(ctx, host+"/models/tiny:v1", map[string]string{"config.json": `{}`})

	q, err := client.Quarantine(ctx, repo, "CVE-2026-0001: pickle payload")
	fmt.Println(q.String() == d, err)
	_, _, err = repo.FetchManifest(ctx)
	fmt.Println("refused:", errors.Is(err, verify.ErrVerification), strings.Contains(err.Error(), "CVE-2026-0001"))

	whole, _ := client.Open(host+"/models/tiny", client.Options{})
	qs, _ := client.Quarantines(ctx, whole)
	for _, q := range qs {
		fmt.Println(q.Digest.String() == d, q.Reason)
	}

	r, err := client.Release(ctx, repo)
	fmt.Println(r.String() == d, err)
	_, _, err = repo.FetchManifest(ctx)
	fmt.Println("after release:", err)
	// Output:
	// true <nil>
	// refused: true true
	// true CVE-2026-0001: pickle payload
	// true <nil>
	// after release: <nil>
}

// DefaultCacheDir is where cairn's commands keep the blob cache unless
// told otherwise: $CAIRN_CACHE, or "cairn" in the user's cache directory.
func ExampleDefaultCacheDir() {
	old, had := os.LookupEnv(client.CacheEnv)
	os.Setenv(client.CacheEnv, "/var/cache/cairn-ci")
	dir, err := client.DefaultCacheDir()
	fmt.Println(dir, err)
	if had {
		os.Setenv(client.CacheEnv, old)
	} else {
		os.Unsetenv(client.CacheEnv)
	}
	// Output:
	// /var/cache/cairn-ci <nil>
}
