package promote_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/promote"
	"cairn.dev/cairn/registry/registrytest"
)

func syncOpts(src, dst string) promote.SyncOptions {
	return promote.SyncOptions{
		Source:      src,
		Destination: dst,
		Open:        func(ref string) (*client.Repository, error) { return client.Open(ref, client.Options{}) },
	}
}

// tagsAt maps each tag of repo to its digest.
func tagsAt(t *testing.T, repo string) map[string]string {
	t.Helper()
	r := open(t, repo)
	out := map[string]string{}
	err := r.Repo.Tags(t.Context(), "", func(tags []string) error {
		for _, tag := range tags {
			d, err := r.Repo.Resolve(t.Context(), tag)
			if err != nil {
				return err
			}
			out[tag] = d.Digest.String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTags checks that dst has every tag of src, naming the same version.
func sameTags(t *testing.T, src, dst string) {
	t.Helper()
	want, got := tagsAt(t, src), tagsAt(t, dst)
	for tag, d := range want {
		if strings.HasPrefix(tag, "sha256-") {
			continue
		}
		if got[tag] != d {
			t.Fatalf("%s:%s is %q, want %s", dst, tag, got[tag], d)
		}
	}
}

func TestSync_Mirror(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	key := newKey(t)
	ctx := t.Context()
	src := a.Host + "/team-a/tiny"
	var versions []*model
	for i := 1; i <= 20; i++ {
		var k = key
		if i%5 != 1 { // v1, v6, v11, v16 are signed and attested
			k = nil
		}
		versions = append(versions, pushModel(t, fmt.Sprintf("%s:v%d", src, i), k))
	}
	// An earlier version only the tag history names: rc moved away from it.
	rc := pushModel(t, src+":rc", nil)
	repo := open(t, src)
	if err := repo.Repo.Tag(ctx, versions[19].desc, "rc"); err != nil {
		t.Fatal(err)
	}
	// latest moved twice.
	for _, v := range []*model{versions[0], versions[19]} {
		if err := repo.Repo.Tag(ctx, v.desc, "latest"); err != nil {
			t.Fatal(err)
		}
	}
	pushModel(t, a.Host+"/team-a/deep/other:v1", nil)
	pushModel(t, a.Host+"/team-b/tiny:v1", nil)

	o := syncOpts(a.Host+"/team-a/**", b.Host+"/mirror/")
	var progress strings.Builder
	o.Progress = &progress
	first, err := promote.Sync(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first: %+v", first)
	if first.Repositories != 2 || first.Versions != 22 || first.Tags != 23 || first.TagsSet != 23 || first.Blobs == 0 || first.Bytes == 0 {
		t.Fatalf("first sync: %+v", first)
	}
	if !strings.Contains(progress.String(), "synced "+src+"@") {
		t.Fatalf("progress: %q", progress.String())
	}
	sameTags(t, src, b.Host+"/mirror/tiny")
	sameTags(t, a.Host+"/team-a/deep/other", b.Host+"/mirror/deep/other")
	for _, c := range catalog(t, b.Host) {
		if strings.Contains(c, "team-b") {
			t.Fatalf("%s was synced: the pattern does not match it", c)
		}
	}
	if ok, err := open(t, b.Host+"/mirror/tiny").Repo.Exists(ctx, rc.desc); !ok {
		t.Fatalf("the earlier version of rc is not at the destination (%v)", err)
	}
	for _, i := range []int{0, 5, 10, 15} {
		checkAt(t, fmt.Sprintf("%s/mirror/tiny:v%d", b.Host, i+1), versions[i], gate(t, key))
	}

	second, err := promote.Sync(ctx, syncOpts(a.Host+"/team-a/**", b.Host+"/mirror/"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second: %+v", second)
	if second.Blobs != 0 || second.Bytes != 0 || second.VersionsCopied != 0 || second.TagsSet != 0 || second.TagsMoved != 0 || second.Versions != first.Versions {
		t.Fatalf("second sync sent something: %+v", second)
	}

	// A new version, and latest moved back to v5, at the source.
	v21 := pushModel(t, src+":v21", key)
	if err := repo.Repo.Tag(ctx, versions[4].desc, "latest"); err != nil {
		t.Fatal(err)
	}
	third, err := promote.Sync(ctx, syncOpts(a.Host+"/team-a/**", b.Host+"/mirror/"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("third: %+v", third)
	if third.VersionsCopied != 1 || third.TagsSet != 1 || third.TagsMoved != 1 || third.Blobs == 0 {
		t.Fatalf("third sync: %+v", third)
	}
	sameTags(t, src, b.Host+"/mirror/tiny")
	checkAt(t, b.Host+"/mirror/tiny:v21", v21, gate(t, key))
	moves, err := open(t, b.Host+"/mirror/tiny").Remote.History(ctx, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(moves); n != 2 || moves[1].Old != versions[19].desc.Digest || moves[1].New != versions[4].desc.Digest {
		t.Fatalf("destination history of latest: %+v", moves)
	}
}

// An interrupted sync, run again, leaves the destination complete.
func TestSync_Resumes(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	key := newKey(t)
	var versions []*model
	for i := 1; i <= 6; i++ {
		versions = append(versions, pushModel(t, fmt.Sprintf("%s/team-a/tiny:v%d", a.Host, i), key))
	}
	cctx, cancel := context.WithCancel(t.Context())
	o := syncOpts(a.Host+"/team-a/*", b.Host+"/mirror")
	// A signed version is ten blobs and manifests: the cut comes in the
	// middle of the second one, after some of its blobs landed.
	var mu sync.Mutex
	sent := 0
	o.Concurrency = 1
	o.OnCopied = func(ocispec.Descriptor) {
		mu.Lock()
		defer mu.Unlock()
		if sent++; sent == 13 {
			cancel()
		}
	}
	cut, err := promote.Sync(cctx, o)
	cancel()
	if err == nil {
		t.Fatalf("the interrupted sync completed: %+v", cut)
	}
	if cut.Blobs != 13 || cut.TagsSet != 1 {
		t.Fatalf("the interrupted sync: %+v", cut)
	}
	if ok, _ := open(t, b.Host+"/mirror/tiny").Repo.Exists(t.Context(), versions[1].desc); ok {
		t.Fatal("the second version is complete: nothing was interrupted")
	}
	done, err := promote.Sync(t.Context(), syncOpts(a.Host+"/team-a/*", b.Host+"/mirror"))
	if err != nil {
		t.Fatal(err)
	}
	if done.VersionsCopied != 5 {
		t.Fatalf("the rerun copied %d versions, want the ones the first did not finish: %+v", done.VersionsCopied, done)
	}
	sameTags(t, a.Host+"/team-a/tiny", b.Host+"/mirror/tiny")
	for i, v := range versions {
		checkAt(t, fmt.Sprintf("%s/mirror/tiny:v%d", b.Host, i+1), v, gate(t, key))
	}
}

// The gate refuses the unsigned version and the sync goes on.
func TestSync_Refused(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	key := newKey(t)
	signed := pushModel(t, a.Host+"/team-a/signed:v1", key)
	unsigned := pushModel(t, a.Host+"/team-a/unsigned:v1", nil)
	o := syncOpts(a.Host+"/team-a/*", b.Host)
	o.Agent = gate(t, key)
	res, err := promote.Sync(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Refused) != 1 || !strings.Contains(res.Refused[0], "unsigned") {
		t.Fatalf("refused: %q", res.Refused)
	}
	checkAt(t, b.Host+"/signed:v1", signed, o.Agent)
	if _, err := open(t, b.Host+"/unsigned").Repo.Resolve(t.Context(), unsigned.desc.Digest.String()); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("the refused version reached the destination: %v", err)
	}
}

func TestSync_BadArguments(t *testing.T) {
	for _, tc := range []struct{ name, src, dst string }{
		{"no pattern", "reg.example", "reg-b.example"},
		{"upper case", "reg.example/Team/**", "reg-b.example"},
		{"three stars", "reg.example/***", "reg-b.example"},
		{"no destination", "reg.example/a/**", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := promote.Sync(t.Context(), syncOpts(tc.src, tc.dst)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// cairn -> distribution -> cairn with Sync: a registry without cairn's
// tag history is synced from its tags, referrers included.
func TestSync_ThroughDistribution(t *testing.T) {
	d := startDistribution(t, distribution(t))
	a := registrytest.NewServer(t, registry.Config{})
	c := registrytest.NewServer(t, registry.Config{})
	key := newKey(t)
	v1 := pushModel(t, a.Host+"/team-a/tiny:v1", key)
	v2 := pushModel(t, a.Host+"/team-a/tiny:v2", key)
	if _, err := promote.Sync(t.Context(), syncOpts(a.Host+"/team-a/**", d+"/mirror")); err != nil {
		t.Fatal(err)
	}
	res, err := promote.Sync(t.Context(), syncOpts(d+"/mirror/*", c.Host+"/prod"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Repositories != 1 || res.Versions != 2 || res.TagsSet != 2 {
		t.Fatalf("sync from distribution: %+v", res)
	}
	checkAt(t, c.Host+"/prod/tiny:v1", v1, gate(t, key))
	checkAt(t, c.Host+"/prod/tiny:v2", v2, gate(t, key))
}
