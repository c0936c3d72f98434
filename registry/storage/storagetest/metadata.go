package storagetest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/storage"
)

// TestMetadata runs the conformance suite for storage.Metadata. newMeta must
// return a new, empty store each time it is called.
func TestMetadata(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	t.Run("PutManifest", func(t *testing.T) { testPutManifest(t, newMeta) })
	t.Run("PutManifestRefused", func(t *testing.T) { testPutManifestRefused(t, newMeta) })
	t.Run("Unknown", func(t *testing.T) { testMetaUnknown(t, newMeta) })
	t.Run("DeleteManifest", func(t *testing.T) { testDeleteManifest(t, newMeta) })
	t.Run("DeleteTag", func(t *testing.T) { testDeleteTag(t, newMeta) })
	t.Run("Tags", func(t *testing.T) { testTags(t, newMeta) })
	t.Run("Repositories", func(t *testing.T) { testRepositories(t, newMeta) })
	t.Run("Referrers", func(t *testing.T) { testReferrers(t, newMeta) })
	t.Run("History", func(t *testing.T) { testHistory(t, newMeta) })
	t.Run("BlobLinks", func(t *testing.T) { testBlobLinks(t, newMeta) })
	t.Run("Uploads", func(t *testing.T) { testUploads(t, newMeta) })
	t.Run("LiveBlobs", func(t *testing.T) { testLiveBlobs(t, newMeta) })
	t.Run("BlobLive", func(t *testing.T) { testBlobLive(t, newMeta) })
	t.Run("Manifests", func(t *testing.T) { testManifests(t, newMeta) })
	t.Run("RepositoryManifests", func(t *testing.T) { testRepositoryManifests(t, newMeta) })
	t.Run("TagsByDigest", func(t *testing.T) { testTagsByDigest(t, newMeta) })
	t.Run("ConcurrentTagMoves", func(t *testing.T) { testConcurrentTagMoves(t, newMeta) })
}

// pushTime is a fixed, sub-second time well in the past, so that moves
// recorded with the store's clock (deletes) sort after pushes.
var pushTime = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// newManifest returns an image manifest record of repo whose content is body
// and whose digest is the sha256 of body. blobs are its config and layers.
func newManifest(repo, body string, blobs ...digest.Digest) *storage.Manifest {
	content := []byte(body)
	return &storage.Manifest{
		Repository: repo,
		Digest:     digest.SHA256.FromBytes(content),
		MediaType:  ocispec.MediaTypeImageManifest,
		Size:       int64(len(content)),
		Content:    content,
		Blobs:      blobs,
		Pushed:     pushTime,
		PushedBy:   "alice",
	}
}

// newIndex returns an index record of repo over children.
func newIndex(repo, body string, children ...digest.Digest) *storage.Manifest {
	m := newManifest(repo, body)
	m.MediaType = ocispec.MediaTypeImageIndex
	m.Children = children
	return m
}

// blobDigest returns a digest for a blob that exists only as metadata.
func blobDigest(name string) digest.Digest { return digest.SHA256.FromString("blob " + name) }

func putManifest(t *testing.T, md storage.Metadata, m *storage.Manifest, tags ...string) []storage.TagMove {
	t.Helper()
	moves, err := md.PutManifest(t.Context(), m, tags)
	if err != nil {
		t.Fatalf("PutManifest(%s@%s, %q): %v", m.Repository, m.Digest, tags, err)
	}
	return moves
}

func linkBlob(t *testing.T, md storage.Metadata, repo string, d digest.Digest, size int64) {
	t.Helper()
	if err := md.LinkBlob(t.Context(), repo, d, size); err != nil {
		t.Fatalf("LinkBlob(%s, %s): %v", repo, d, err)
	}
}

// checkManifest checks that md returns exactly want for its digest.
func checkManifest(t *testing.T, md storage.Metadata, want *storage.Manifest) {
	t.Helper()
	got, err := md.Manifest(t.Context(), want.Repository, want.Digest)
	if err != nil {
		t.Fatalf("Manifest(%s, %s): %v", want.Repository, want.Digest, err)
	}
	if diff := diffManifest(got, want); diff != "" {
		t.Errorf("Manifest(%s, %s): %s", want.Repository, want.Digest, diff)
	}
}

// diffManifest describes how got differs from want, or returns "".
func diffManifest(got, want *storage.Manifest) string {
	var diffs []string
	field := func(name string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	field("Repository", got.Repository, want.Repository)
	field("Digest", got.Digest, want.Digest)
	field("MediaType", got.MediaType, want.MediaType)
	field("Size", got.Size, want.Size)
	field("ArtifactType", got.ArtifactType, want.ArtifactType)
	field("Annotations", got.Annotations, want.Annotations)
	field("Subject", got.Subject, want.Subject)
	field("Blobs", got.Blobs, want.Blobs)
	field("Children", got.Children, want.Children)
	field("PushedBy", got.PushedBy, want.PushedBy)
	if !got.Pushed.Equal(want.Pushed) {
		diffs = append(diffs, fmt.Sprintf("Pushed = %v, want %v", got.Pushed, want.Pushed))
	}
	if !bytes.Equal(got.Content, want.Content) {
		diffs = append(diffs, fmt.Sprintf("Content = %q, want %q", got.Content, want.Content))
	}
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprint(diffs)
}

func checkResolve(t *testing.T, md storage.Metadata, repo, tag string, want digest.Digest) {
	t.Helper()
	got, err := md.Resolve(t.Context(), repo, tag)
	if want == "" {
		if !errors.Is(err, storage.ErrTagUnknown) {
			t.Errorf("Resolve(%s, %s) = %s, %v, want ErrTagUnknown", repo, tag, got, err)
		}
		return
	}
	if err != nil || got != want {
		t.Errorf("Resolve(%s, %s) = %s, %v, want %s", repo, tag, got, err, want)
	}
}

func checkNoManifest(t *testing.T, md storage.Metadata, repo string, d digest.Digest) {
	t.Helper()
	if m, err := md.Manifest(t.Context(), repo, d); !errors.Is(err, storage.ErrManifestUnknown) {
		t.Errorf("Manifest(%s, %s) = %v, %v, want ErrManifestUnknown", repo, d, m, err)
	}
}

// move is the part of a TagMove the tests compare; Time is checked apart.
type move struct {
	Tag      string
	Old, New digest.Digest
	By       string
}

func moves(ms []storage.TagMove) []move {
	out := []move{}
	for _, m := range ms {
		out = append(out, move{m.Tag, m.Old, m.New, m.By})
	}
	return out
}

func checkMoves(t *testing.T, what string, got []storage.TagMove, repo string, want ...move) {
	t.Helper()
	if want == nil {
		want = []move{}
	}
	if g := moves(got); !slices.Equal(g, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, want)
	}
	for _, m := range got {
		if m.Repository != repo {
			t.Errorf("%s: move of %s has Repository %q, want %q", what, m.Tag, m.Repository, repo)
		}
		if m.Time.IsZero() {
			t.Errorf("%s: move of %s has no Time", what, m.Tag)
		}
	}
}

func history(t *testing.T, md storage.Metadata, repo, tag string) []storage.TagMove {
	t.Helper()
	h, err := md.History(t.Context(), repo, tag)
	if err != nil {
		t.Fatalf("History(%s, %q): %v", repo, tag, err)
	}
	return h
}

// okOr accepts nil or an error wrapping sentinel, for cases the contract
// leaves open.
func okOr(err, sentinel error) bool { return err == nil || errors.Is(err, sentinel) }

func testPutManifest(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	const repo = "library/model"
	cfg, layer := blobDigest("config"), blobDigest("layer")
	linkBlob(t, md, repo, cfg, 10)
	linkBlob(t, md, repo, layer, 20)

	m1 := newManifest(repo, `{"schemaVersion":2, "v":1}`+"\n\x00\xff", cfg, layer)
	m1.ArtifactType = "application/vnd.example.model"
	m1.Annotations = map[string]string{"org.opencontainers.image.title": "one"}
	m2 := newManifest(repo, `{"schemaVersion":2,"v":2}`, cfg)
	m2.Pushed = pushTime.Add(time.Minute)
	m2.PushedBy = "bob"

	checkMoves(t, "create a and b", putManifest(t, md, m1, "a", "b"), repo,
		move{"a", "", m1.Digest, "alice"}, move{"b", "", m1.Digest, "alice"})
	checkManifest(t, md, m1)
	checkResolve(t, md, repo, "a", m1.Digest)
	checkResolve(t, md, repo, "b", m1.Digest)

	checkMoves(t, "move a", putManifest(t, md, m2, "a"), repo, move{"a", m1.Digest, m2.Digest, "bob"})
	checkResolve(t, md, repo, "a", m2.Digest)
	checkResolve(t, md, repo, "b", m1.Digest)
	checkManifest(t, md, m2)
	checkManifest(t, md, m1)

	checkMoves(t, "same digest again", putManifest(t, md, m2, "a"), repo)
	checkMoves(t, "push again without tags", putManifest(t, md, m1), repo)
	checkMoves(t, "one of two tags moves", putManifest(t, md, m2, "a", "b", "c"), repo,
		move{"b", m1.Digest, m2.Digest, "bob"}, move{"c", "", m2.Digest, "bob"})
	checkMoves(t, "history of a", history(t, md, repo, "a"), repo,
		move{"a", "", m1.Digest, "alice"}, move{"a", m1.Digest, m2.Digest, "bob"})

	if got := history(t, md, repo, "a"); len(got) == 2 {
		if !got[0].Time.Equal(m1.Pushed) || !got[1].Time.Equal(m2.Pushed) {
			t.Errorf("history of a has times %v, %v, want the push times %v, %v", got[0].Time, got[1].Time, m1.Pushed, m2.Pushed)
		}
	}

	// The store keeps its own copy of the content, apart from both the
	// caller's and what it returns.
	got, err := md.Manifest(t.Context(), repo, m1.Digest)
	if err != nil {
		t.Fatal(err)
	}
	clear(got.Content)
	checkManifest(t, md, m1)
	m3 := newManifest(repo, "pushed from a buffer the caller reuses")
	want := *m3
	want.Content = bytes.Clone(m3.Content)
	putManifest(t, md, m3)
	clear(m3.Content)
	checkManifest(t, md, &want)

	t.Run("index", func(t *testing.T) {
		idx := newIndex(repo, `{"manifests":[1,2]}`, m1.Digest, m2.Digest)
		checkMoves(t, "tag index", putManifest(t, md, idx, "multi"), repo, move{"multi", "", idx.Digest, "alice"})
		checkManifest(t, md, idx)
		checkResolve(t, md, repo, "multi", idx.Digest)
	})
	t.Run("sha512 digest", func(t *testing.T) {
		m := newManifest(repo, `{"sha512":true}`)
		m.Digest = digest.SHA512.FromBytes(m.Content)
		putManifest(t, md, m, "long")
		checkManifest(t, md, m)
		checkResolve(t, md, repo, "long", m.Digest)
	})
}

func testPutManifestRefused(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	const repo, other = "team/app", "team/other"
	linked, unlinked, elsewhere := blobDigest("linked"), blobDigest("unlinked"), blobDigest("elsewhere")
	tests := []struct {
		name    string
		newRepo bool // the refused manifest is the repository's first write
		build   func(t *testing.T, md storage.Metadata) *storage.Manifest
		wantErr error
	}{
		{
			name: "blob not linked",
			build: func(t *testing.T, md storage.Metadata) *storage.Manifest {
				return newManifest(repo, "missing blob", linked, unlinked)
			},
			wantErr: storage.ErrBlobUnknown,
		},
		{
			name: "blob linked to another repository",
			build: func(t *testing.T, md storage.Metadata) *storage.Manifest {
				return newManifest(repo, "blob elsewhere", elsewhere)
			},
			wantErr: storage.ErrBlobUnknown,
		},
		{
			name:    "blob in a new repository",
			newRepo: true,
			build: func(t *testing.T, md storage.Metadata) *storage.Manifest {
				return newManifest("fresh/repo", "fresh", elsewhere)
			},
			wantErr: storage.ErrBlobUnknown,
		},
		{
			name: "blob unlinked before the push",
			build: func(t *testing.T, md storage.Metadata) *storage.Manifest {
				d := blobDigest("gone")
				linkBlob(t, md, repo, d, 1)
				if err := md.UnlinkBlob(t.Context(), repo, d); err != nil {
					t.Fatal(err)
				}
				return newManifest(repo, "unlinked blob", linked, d)
			},
			wantErr: storage.ErrBlobUnknown,
		},
		{
			name: "child missing",
			build: func(t *testing.T, md storage.Metadata) *storage.Manifest {
				child := newManifest(repo, "child", linked)
				putManifest(t, md, child)
				return newIndex(repo, "index missing child", child.Digest, digest.SHA256.FromString("no such manifest"))
			},
			wantErr: storage.ErrManifestUnknown,
		},
		{
			name: "child in another repository",
			build: func(t *testing.T, md storage.Metadata) *storage.Manifest {
				child := newManifest(other, "other child", elsewhere)
				putManifest(t, md, child)
				return newIndex(repo, "index with foreign child", child.Digest)
			},
			wantErr: storage.ErrManifestUnknown,
		},
		{
			name: "child deleted before the push",
			build: func(t *testing.T, md storage.Metadata) *storage.Manifest {
				child := newManifest(repo, "deleted child", linked)
				putManifest(t, md, child)
				if err := md.DeleteManifest(t.Context(), repo, child.Digest, "bob"); err != nil {
					t.Fatal(err)
				}
				return newIndex(repo, "index of deleted child", child.Digest)
			},
			wantErr: storage.ErrManifestUnknown,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md := newMeta(t)
			ctx := t.Context()
			linkBlob(t, md, repo, linked, 1)
			linkBlob(t, md, other, elsewhere, 2)
			existing := newManifest(repo, "existing", linked)
			putManifest(t, md, existing, "kept")
			subject := digest.SHA256.FromString("subject")

			m := tc.build(t, md)
			m.Subject = subject
			reposBefore, err := md.Repositories(ctx, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			histBefore := history(t, md, repo, "")
			got, err := md.PutManifest(ctx, m, []string{"new", "kept"})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("PutManifest = %v, %v, want %v", got, err, tc.wantErr)
			}
			if len(got) != 0 {
				t.Errorf("refused PutManifest returned moves %+v", got)
			}

			// Nothing was written.
			checkNoManifest(t, md, m.Repository, m.Digest)
			checkResolve(t, md, m.Repository, "new", "")
			if tc.newRepo {
				checkResolve(t, md, m.Repository, "kept", "")
				if _, err := md.Tags(ctx, m.Repository, "", 0); !errors.Is(err, storage.ErrNameUnknown) {
					t.Errorf("Tags of a repository whose only push was refused: %v, want ErrNameUnknown", err)
				}
			} else {
				checkResolve(t, md, repo, "kept", existing.Digest)
				checkMoves(t, "history", history(t, md, repo, ""), repo, moves(histBefore)...)
			}
			if h, err := md.History(ctx, m.Repository, "new"); !okOr(err, storage.ErrNameUnknown) || len(h) != 0 {
				t.Errorf("History(new) = %+v, %v, want nothing", h, err)
			}
			if refs, err := md.Referrers(ctx, m.Repository, subject); !okOr(err, storage.ErrNameUnknown) || len(refs) != 0 {
				t.Errorf("Referrers(subject) = %+v, %v, want nothing", refs, err)
			}
			if reposAfter, err := md.Repositories(ctx, "", 0); err != nil || !slices.Equal(reposAfter, reposBefore) {
				t.Errorf("Repositories = %q, %v, want %q", reposAfter, err, reposBefore)
			}
			err = md.Manifests(ctx, func(got *storage.Manifest) error {
				if got.Digest == m.Digest {
					t.Errorf("Manifests lists the refused manifest %s", m.Digest)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func testMetaUnknown(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const repo = "known"
	m := newManifest(repo, "known")
	putManifest(t, md, m, "tag")
	missing := digest.SHA256.FromString("missing")

	checkNoManifest(t, md, repo, missing)
	checkNoManifest(t, md, "unknown", m.Digest)
	checkNoManifest(t, md, "know", m.Digest)
	checkResolve(t, md, repo, "other", "")
	checkResolve(t, md, "unknown", "tag", "")
	if _, err := md.Tags(ctx, "unknown", "", 0); !errors.Is(err, storage.ErrNameUnknown) {
		t.Errorf("Tags(unknown) = %v, want ErrNameUnknown", err)
	}
	if err := md.DeleteManifest(ctx, repo, missing, "bob"); !errors.Is(err, storage.ErrManifestUnknown) {
		t.Errorf("DeleteManifest(missing) = %v, want ErrManifestUnknown", err)
	}
	if err := md.DeleteManifest(ctx, "unknown", m.Digest, "bob"); !errors.Is(err, storage.ErrManifestUnknown) {
		t.Errorf("DeleteManifest(unknown repository) = %v, want ErrManifestUnknown", err)
	}
	if err := md.DeleteTag(ctx, repo, "other", "bob"); !errors.Is(err, storage.ErrTagUnknown) {
		t.Errorf("DeleteTag(missing) = %v, want ErrTagUnknown", err)
	}
	if err := md.DeleteTag(ctx, "unknown", "tag", "bob"); !errors.Is(err, storage.ErrTagUnknown) {
		t.Errorf("DeleteTag(unknown repository) = %v, want ErrTagUnknown", err)
	}
	if h, err := md.History(ctx, repo, "other"); err != nil || len(h) != 0 {
		t.Errorf("History(unknown tag) = %+v, %v, want nothing", h, err)
	}
	if h, err := md.History(ctx, "unknown", ""); !okOr(err, storage.ErrNameUnknown) || len(h) != 0 {
		t.Errorf("History(unknown repository) = %+v, %v, want nothing", h, err)
	}
	if refs, err := md.Referrers(ctx, "unknown", m.Digest); !okOr(err, storage.ErrNameUnknown) || len(refs) != 0 {
		t.Errorf("Referrers(unknown repository) = %+v, %v, want nothing", refs, err)
	}
	// None of that changed anything.
	checkManifest(t, md, m)
	checkResolve(t, md, repo, "tag", m.Digest)
	checkMoves(t, "history", history(t, md, repo, ""), repo, move{"tag", "", m.Digest, "alice"})
}

func testDeleteManifest(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const repo = "del/me"
	cfg := blobDigest("config")
	linkBlob(t, md, repo, cfg, 3)
	m1 := newManifest(repo, "one", cfg)
	m2 := newManifest(repo, "two", cfg)
	sig := newManifest(repo, "signature of one")
	sig.Subject = m1.Digest
	sig.ArtifactType = "application/vnd.example.sig"
	putManifest(t, md, m1, "a", "b")
	putManifest(t, md, m2, "c")
	putManifest(t, md, sig, "sig")

	start := time.Now()
	if err := md.DeleteManifest(ctx, repo, m1.Digest, "carol"); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	checkNoManifest(t, md, repo, m1.Digest)
	checkResolve(t, md, repo, "a", "")
	checkResolve(t, md, repo, "b", "")
	checkResolve(t, md, repo, "c", m2.Digest)
	checkManifest(t, md, m2)
	if tags, err := md.Tags(ctx, repo, "", 0); err != nil || !slices.Equal(tags, []string{"c", "sig"}) {
		t.Errorf("Tags = %q, %v, want [c sig]", tags, err)
	}
	for _, tag := range []string{"a", "b"} {
		h := history(t, md, repo, tag)
		checkMoves(t, "history of "+tag, h, repo, move{tag, "", m1.Digest, "alice"}, move{tag, m1.Digest, "", "carol"})
		if len(h) == 2 && h[1].Time.Before(start.Add(-time.Second)) {
			t.Errorf("delete of %s recorded at %v, want about now (%v)", tag, h[1].Time, start)
		}
	}
	// The referrer outlives its subject, as the referrers API allows.
	if refs, err := md.Referrers(ctx, repo, m1.Digest); err != nil || len(refs) != 1 || refs[0].Digest != sig.Digest {
		t.Errorf("Referrers(deleted subject) = %+v, %v, want the signature", refs, err)
	}

	if err := md.DeleteManifest(ctx, repo, sig.Digest, "carol"); err != nil {
		t.Fatalf("DeleteManifest(referrer): %v", err)
	}
	if refs, err := md.Referrers(ctx, repo, m1.Digest); err != nil || len(refs) != 0 {
		t.Errorf("Referrers after deleting the referrer = %+v, %v, want none", refs, err)
	}
	checkResolve(t, md, repo, "sig", "")
	if err := md.DeleteManifest(ctx, repo, m1.Digest, "carol"); !errors.Is(err, storage.ErrManifestUnknown) {
		t.Errorf("second DeleteManifest = %v, want ErrManifestUnknown", err)
	}

	// A deleted manifest can be pushed again, and its tags start afresh.
	checkMoves(t, "push again", putManifest(t, md, m1, "a"), repo, move{"a", "", m1.Digest, "alice"})
	checkManifest(t, md, m1)
}

func testDeleteTag(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const repo = "tags/del"
	m := newManifest(repo, "m")
	putManifest(t, md, m, "a", "b")
	if err := md.DeleteTag(ctx, repo, "a", "dave"); err != nil {
		t.Fatalf("DeleteTag: %v", err)
	}
	checkResolve(t, md, repo, "a", "")
	checkResolve(t, md, repo, "b", m.Digest)
	checkManifest(t, md, m)
	checkMoves(t, "history of a", history(t, md, repo, "a"), repo,
		move{"a", "", m.Digest, "alice"}, move{"a", m.Digest, "", "dave"})
	if err := md.DeleteTag(ctx, repo, "a", "dave"); !errors.Is(err, storage.ErrTagUnknown) {
		t.Errorf("second DeleteTag = %v, want ErrTagUnknown", err)
	}
	checkMoves(t, "history of a after a refused delete", history(t, md, repo, "a"), repo,
		move{"a", "", m.Digest, "alice"}, move{"a", m.Digest, "", "dave"})
	checkMoves(t, "recreate", putManifest(t, md, m, "a"), repo, move{"a", "", m.Digest, "alice"})
}

func testTags(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const repo = "tags/list"
	all := []string{"v1.10", "latest", "V2", "1.0", "_x", "v1.9", "v1.0", "a", "a-b", "a.b", "ab"}
	m1 := newManifest(repo, "m1")
	m2 := newManifest(repo, "m2")
	putManifest(t, md, m1, all[:5]...)
	putManifest(t, md, m2, all[5:]...)
	sorted := slices.Clone(all)
	sort.Strings(sorted)

	tests := []struct {
		name string
		last string
		n    int
		want []string
	}{
		{name: "all", want: sorted},
		{name: "all with negative n", n: -1, want: sorted},
		{name: "first page", n: 3, want: sorted[:3]},
		{name: "second page", last: sorted[2], n: 3, want: sorted[3:6]},
		{name: "last page", last: sorted[8], n: 3, want: sorted[9:]},
		{name: "after the last", last: sorted[len(sorted)-1], want: nil},
		{name: "n larger than the rest", last: sorted[5], n: 100, want: sorted[6:]},
		{name: "last not a tag", last: "a-", want: []string{"a-b", "a.b", "ab", "latest", "v1.0", "v1.10", "v1.9"}},
		{name: "last before all", last: "0", n: 1, want: []string{"1.0"}},
		{name: "last after all", last: "zzz", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := md.Tags(ctx, repo, tc.last, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 0 || len(tc.want) != 0 {
				if !slices.Equal(got, tc.want) {
					t.Errorf("Tags(%q, %d) = %q, want %q", tc.last, tc.n, got, tc.want)
				}
			}
		})
	}

	t.Run("pages cover everything", func(t *testing.T) {
		var got []string
		last := ""
		for range len(all) + 1 {
			page, err := md.Tags(ctx, repo, last, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			last = page[len(page)-1]
		}
		if !slices.Equal(got, sorted) {
			t.Errorf("pages = %q, want %q", got, sorted)
		}
	})

	t.Run("repository without tags", func(t *testing.T) {
		putManifest(t, md, newManifest("untagged", "untagged"))
		if got, err := md.Tags(ctx, "untagged", "", 0); err != nil || len(got) != 0 {
			t.Errorf("Tags(untagged) = %q, %v, want none", got, err)
		}
	})
}

func testRepositories(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	if got, err := md.Repositories(ctx, "", 0); err != nil || len(got) != 0 {
		t.Fatalf("Repositories of an empty store = %q, %v", got, err)
	}
	names := []string{"b", "a/x", "a", "c/d/e", "a-b", "a.b", "a_b", "ab", "z"}
	for _, name := range names {
		putManifest(t, md, newManifest(name, "content of "+name), "latest")
	}
	sorted := slices.Clone(names)
	sort.Strings(sorted)
	tests := []struct {
		name string
		last string
		n    int
		want []string
	}{
		{name: "all", want: sorted},
		{name: "first page", n: 2, want: sorted[:2]},
		{name: "second page", last: sorted[1], n: 2, want: sorted[2:4]},
		{name: "after a name with slashes", last: "a/x", want: sorted[slices.Index(sorted, "a/x")+1:]},
		{name: "last not a repository", last: "a/", n: 1, want: []string{"a/x"}},
		{name: "after the last", last: "z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := md.Repositories(ctx, tc.last, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) != 0 || len(tc.want) != 0) && !slices.Equal(got, tc.want) {
				t.Errorf("Repositories(%q, %d) = %q, want %q", tc.last, tc.n, got, tc.want)
			}
		})
	}
}

func testReferrers(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const repo, other = "ref/app", "ref/other"
	subject := newManifest(repo, "subject")
	putManifest(t, md, subject, "v1")
	unrelated := newManifest(repo, "unrelated")
	putManifest(t, md, unrelated)

	sig := newManifest(repo, "signature")
	sig.Subject = subject.Digest
	sig.ArtifactType = "application/vnd.example.sig"
	sig.Annotations = map[string]string{"org.example.signer": "alice", "org.opencontainers.image.created": "2024-05-06T07:08:09Z"}
	sbom := newIndex(repo, "sbom index")
	sbom.Subject = subject.Digest
	sbom.ArtifactType = "application/spdx+json"
	otherRef := newManifest(repo, "refers to another")
	otherRef.Subject = unrelated.Digest
	foreign := newManifest(other, "foreign signature")
	foreign.Subject = subject.Digest
	foreign.ArtifactType = "application/vnd.example.sig"
	// A referrer may arrive before its subject.
	early := newManifest(repo, "early")
	early.Subject = digest.SHA256.FromString("not pushed yet")
	for _, m := range []*storage.Manifest{sig, sbom, otherRef, foreign, early} {
		putManifest(t, md, m)
	}

	refs, err := md.Referrers(ctx, repo, subject.Digest)
	if err != nil {
		t.Fatal(err)
	}
	want := []ocispec.Descriptor{sig.Descriptor(), sbom.Descriptor()}
	slices.SortFunc(want, func(a, b ocispec.Descriptor) int { return cmp.Compare(a.Digest, b.Digest) })
	slices.SortFunc(refs, func(a, b ocispec.Descriptor) int { return cmp.Compare(a.Digest, b.Digest) })
	if fmt.Sprint(refs) != fmt.Sprint(want) {
		t.Errorf("Referrers(subject):\n got %+v\nwant %+v", refs, want)
	}
	for _, r := range refs {
		if r.Digest == sig.Digest && !maps.Equal(r.Annotations, sig.Annotations) {
			t.Errorf("signature annotations = %v, want %v", r.Annotations, sig.Annotations)
		}
	}

	if refs, err := md.Referrers(ctx, repo, early.Subject); err != nil || len(refs) != 1 || refs[0].Digest != early.Digest {
		t.Errorf("Referrers(not pushed) = %+v, %v, want the early referrer", refs, err)
	}
	if refs, err := md.Referrers(ctx, repo, sig.Digest); err != nil || len(refs) != 0 {
		t.Errorf("Referrers(without referrers) = %+v, %v, want none", refs, err)
	}
	if refs, err := md.Referrers(ctx, other, subject.Digest); err != nil || len(refs) != 1 || refs[0].Digest != foreign.Digest {
		t.Errorf("Referrers in the other repository = %+v, %v, want only its own", refs, err)
	}
}

func testHistory(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const repo = "hist/repo"
	push := func(body, by string, at time.Duration, tags ...string) *storage.Manifest {
		t.Helper()
		m := newManifest(repo, body)
		m.Pushed = pushTime.Add(at)
		m.PushedBy = by
		putManifest(t, md, m, tags...)
		return m
	}
	m1 := push("one", "alice", 0, "a")
	m2 := push("two", "bob", time.Minute, "b")
	m3 := push("three", "carol", 2*time.Minute, "a")
	// A delete is recorded with the store's clock, later than the pushes.
	if err := md.DeleteTag(ctx, repo, "b", "dave"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		tag   string
		want  []move
		times []time.Time // zero: the store's clock, checked to be recent
	}{
		{tag: "a", want: []move{{"a", "", m1.Digest, "alice"}, {"a", m1.Digest, m3.Digest, "carol"}},
			times: []time.Time{m1.Pushed, m3.Pushed}},
		{tag: "b", want: []move{{"b", "", m2.Digest, "bob"}, {"b", m2.Digest, "", "dave"}},
			times: []time.Time{m2.Pushed, {}}},
		{tag: "c"},
	}
	for _, tc := range tests {
		t.Run("tag "+tc.tag, func(t *testing.T) {
			h := history(t, md, repo, tc.tag)
			checkMoves(t, "History", h, repo, tc.want...)
			for i, mv := range h {
				if i >= len(tc.times) {
					break
				}
				if tc.times[i].IsZero() {
					if time.Since(mv.Time) > time.Minute {
						t.Errorf("move %d at %v, want about now", i, mv.Time)
					}
				} else if !mv.Time.Equal(tc.times[i]) {
					t.Errorf("move %d at %v, want %v", i, mv.Time, tc.times[i])
				}
			}
		})
	}

	t.Run("all tags", func(t *testing.T) {
		h := history(t, md, repo, "")
		// Oldest first across tags.
		checkMoves(t, "History", h, repo,
			move{"a", "", m1.Digest, "alice"},
			move{"b", "", m2.Digest, "bob"},
			move{"a", m1.Digest, m3.Digest, "carol"},
			move{"b", m2.Digest, "", "dave"})
		if !slices.IsSortedFunc(h, func(a, b storage.TagMove) int { return a.Time.Compare(b.Time) }) {
			t.Errorf("History is not oldest first: %+v", h)
		}
	})
}

func testBlobLinks(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const repo, other = "links/a", "links/b"
	d, shared := blobDigest("d"), blobDigest("shared")
	linkBlob(t, md, repo, d, 42)
	linkBlob(t, md, repo, shared, 7)
	linkBlob(t, md, other, shared, 7)

	if size, err := md.BlobLink(ctx, repo, d); err != nil || size != 42 {
		t.Errorf("BlobLink = %d, %v, want 42", size, err)
	}
	if _, err := md.BlobLink(ctx, other, d); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("BlobLink(other repository) = %v, want ErrBlobUnknown", err)
	}
	if _, err := md.BlobLink(ctx, "unknown", d); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("BlobLink(unknown repository) = %v, want ErrBlobUnknown", err)
	}
	if size, err := md.AnyBlobLink(ctx, d); err != nil || size != 42 {
		t.Errorf("AnyBlobLink = %d, %v, want 42", size, err)
	}
	if _, err := md.AnyBlobLink(ctx, blobDigest("never")); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("AnyBlobLink(never linked) = %v, want ErrBlobUnknown", err)
	}

	// Linking again is harmless.
	linkBlob(t, md, repo, d, 42)
	if size, err := md.BlobLink(ctx, repo, d); err != nil || size != 42 {
		t.Errorf("BlobLink after a second link = %d, %v, want 42", size, err)
	}

	if err := md.UnlinkBlob(ctx, repo, d); err != nil {
		t.Fatalf("UnlinkBlob: %v", err)
	}
	if _, err := md.BlobLink(ctx, repo, d); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("BlobLink after UnlinkBlob = %v, want ErrBlobUnknown", err)
	}
	if _, err := md.AnyBlobLink(ctx, d); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("AnyBlobLink after UnlinkBlob = %v, want ErrBlobUnknown", err)
	}
	if err := md.UnlinkBlob(ctx, repo, d); !okOr(err, storage.ErrBlobUnknown) {
		t.Errorf("second UnlinkBlob = %v, want nil or ErrBlobUnknown", err)
	}

	// Unlinking from one repository leaves the others.
	if err := md.UnlinkBlob(ctx, repo, shared); err != nil {
		t.Fatal(err)
	}
	if size, err := md.BlobLink(ctx, other, shared); err != nil || size != 7 {
		t.Errorf("BlobLink(other, shared) = %d, %v, want 7", size, err)
	}
	if size, err := md.AnyBlobLink(ctx, shared); err != nil || size != 7 {
		t.Errorf("AnyBlobLink(shared) = %d, %v, want 7", size, err)
	}
}

func testUploads(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	s1 := storage.UploadSession{ID: "0123456789abcdef", Repository: "up/a", Started: pushTime, By: "alice"}
	s2 := storage.UploadSession{ID: "fedcba9876543210", Repository: "up/b", Started: pushTime.Add(time.Hour)}
	for _, s := range []storage.UploadSession{s1, s2} {
		if err := md.PutUpload(ctx, s); err != nil {
			t.Fatalf("PutUpload(%s): %v", s.ID, err)
		}
	}
	same := func(a, b storage.UploadSession) bool {
		return a.ID == b.ID && a.Repository == b.Repository && a.By == b.By && a.Started.Equal(b.Started)
	}
	list := func() map[string]storage.UploadSession {
		t.Helper()
		got := map[string]storage.UploadSession{}
		if err := md.Uploads(ctx, func(s storage.UploadSession) error { got[s.ID] = s; return nil }); err != nil {
			t.Fatalf("Uploads: %v", err)
		}
		return got
	}

	if got, err := md.Upload(ctx, s1.ID); err != nil || !same(got, s1) {
		t.Errorf("Upload(s1) = %+v, %v, want %+v", got, err, s1)
	}
	if _, err := md.Upload(ctx, "unknown"); !errors.Is(err, storage.ErrUploadUnknown) {
		t.Errorf("Upload(unknown) = %v, want ErrUploadUnknown", err)
	}
	if got := list(); len(got) != 2 || !same(got[s1.ID], s1) || !same(got[s2.ID], s2) {
		t.Errorf("Uploads = %+v, want s1 and s2", got)
	}
	var calls int
	if err := md.Uploads(ctx, func(storage.UploadSession) error { calls++; return errStop }); !errors.Is(err, errStop) || calls != 1 {
		t.Errorf("Uploads with a failing callback = %v after %d calls, want errStop after 1", err, calls)
	}

	if err := md.DeleteUpload(ctx, s1.ID); err != nil {
		t.Fatalf("DeleteUpload: %v", err)
	}
	if _, err := md.Upload(ctx, s1.ID); !errors.Is(err, storage.ErrUploadUnknown) {
		t.Errorf("Upload after DeleteUpload = %v, want ErrUploadUnknown", err)
	}
	if got := list(); len(got) != 1 || !same(got[s2.ID], s2) {
		t.Errorf("Uploads after DeleteUpload = %+v, want s2", got)
	}
	if err := md.DeleteUpload(ctx, s1.ID); !okOr(err, storage.ErrUploadUnknown) {
		t.Errorf("second DeleteUpload = %v, want nil or ErrUploadUnknown", err)
	}
}

// sleepPast waits until the clock has moved on, so that times taken before
// and after differ on systems with a coarse clock.
func sleepPast(t *testing.T) time.Time {
	t.Helper()
	time.Sleep(5 * time.Millisecond)
	now := time.Now()
	time.Sleep(5 * time.Millisecond)
	return now
}

func testLiveBlobs(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const a, b = "live/a", "live/b"
	cfg, layer := blobDigest("config"), blobDigest("layer")
	oldOrphan := blobDigest("old orphan")
	sharedOld := blobDigest("old in a, new in b")
	sharedNew := blobDigest("new in a, old in b")
	foreignRef := blobDigest("linked old in b, referenced in a")
	unlinkedRef := blobDigest("referenced, then unlinked")

	linkBlob(t, md, a, cfg, 1)
	linkBlob(t, md, a, layer, 2)
	linkBlob(t, md, a, foreignRef, 3)
	linkBlob(t, md, a, unlinkedRef, 4)
	linkBlob(t, md, a, oldOrphan, 5)
	linkBlob(t, md, a, sharedOld, 6)
	linkBlob(t, md, b, sharedNew, 7)
	linkBlob(t, md, b, foreignRef, 3)
	putManifest(t, md, newManifest(a, "image", cfg, layer, foreignRef, unlinkedRef), "latest")
	if err := md.UnlinkBlob(ctx, a, unlinkedRef); err != nil {
		t.Fatal(err)
	}

	cutoff := sleepPast(t)

	fresh := blobDigest("fresh")
	linkBlob(t, md, a, fresh, 8)
	linkBlob(t, md, b, sharedOld, 6)
	linkBlob(t, md, a, sharedNew, 7)

	// A preview (the garbage collector's dry run) computes the same set
	// and removes no link.
	var preview map[digest.Digest]bool
	if p, ok := md.(storage.LivePreviewer); ok {
		var err error
		if preview, err = p.PreviewLiveBlobs(ctx, cutoff); err != nil {
			t.Fatalf("PreviewLiveBlobs: %v", err)
		}
		if _, err := md.BlobLink(ctx, a, oldOrphan); err != nil {
			t.Errorf("BlobLink(old orphan) after PreviewLiveBlobs = %v: the preview removed a link", err)
		}
	}

	live, err := md.LiveBlobs(ctx, cutoff)
	if err != nil {
		t.Fatalf("LiveBlobs: %v", err)
	}
	if preview != nil && !maps.Equal(preview, live) {
		t.Errorf("PreviewLiveBlobs %v, LiveBlobs %v", preview, live)
	}
	want := []digest.Digest{cfg, layer, foreignRef, unlinkedRef, fresh, sharedOld, sharedNew}
	var got []digest.Digest
	for d, ok := range live {
		if ok {
			got = append(got, d)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("LiveBlobs:\n got %v\nwant %v", got, want)
	}

	// Old links to unreferenced blobs are gone, whichever repository is
	// visited first; everything else stays.
	links := []struct {
		repo string
		d    digest.Digest
		kept bool
	}{
		{a, cfg, true},
		{a, layer, true},
		{a, foreignRef, true},
		{b, foreignRef, true},
		{a, fresh, true},
		{a, oldOrphan, false},
		{a, sharedOld, false},
		{b, sharedOld, true},
		{a, sharedNew, true},
		{b, sharedNew, false},
	}
	for _, l := range links {
		_, err := md.BlobLink(ctx, l.repo, l.d)
		if l.kept && err != nil {
			t.Errorf("BlobLink(%s, %s) after LiveBlobs = %v, want it kept", l.repo, l.d, err)
		}
		if !l.kept && !errors.Is(err, storage.ErrBlobUnknown) {
			t.Errorf("BlobLink(%s, %s) after LiveBlobs = %v, want ErrBlobUnknown (an old link to an unreferenced blob)", l.repo, l.d, err)
		}
	}
	if _, err := md.AnyBlobLink(ctx, oldOrphan); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("AnyBlobLink(old orphan) = %v, want ErrBlobUnknown", err)
	}

	// A second collection with the same cutoff finds the same set.
	again, err := md.LiveBlobs(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(again, live) {
		t.Errorf("second LiveBlobs = %v, want %v", again, live)
	}
	// With a cutoff in the future, only referenced blobs stay.
	later, err := md.LiveBlobs(ctx, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[digest.Digest]bool{cfg: true, layer: true, foreignRef: true, unlinkedRef: true}; !maps.Equal(later, want) {
		t.Errorf("LiveBlobs(future cutoff) = %v, want %v", later, want)
	}
	if _, err := md.BlobLink(ctx, a, fresh); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("BlobLink(fresh) after a later collection = %v, want ErrBlobUnknown", err)
	}
	if size, err := md.BlobLink(ctx, a, cfg); err != nil || size != 1 {
		t.Errorf("BlobLink(config) after a later collection = %d, %v, want 1", size, err)
	}
}

func testBlobLive(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const repo = "live/one"
	referenced, linked, neither := blobDigest("referenced"), blobDigest("linked"), blobDigest("neither")
	linkBlob(t, md, repo, referenced, 1)
	linkBlob(t, md, repo, linked, 2)
	m := newManifest(repo, "m", referenced)
	putManifest(t, md, m)
	if err := md.UnlinkBlob(ctx, repo, referenced); err != nil {
		t.Fatal(err)
	}
	// A manifest that merely contains the digest in its content does not
	// reference it.
	putManifest(t, md, newManifest(repo, "mentions "+string(neither)))

	check := func(what string, d digest.Digest, want bool) {
		t.Helper()
		if got, err := md.BlobLive(ctx, d); err != nil || got != want {
			t.Errorf("BlobLive(%s) %s = %v, %v, want %v", d, what, got, err, want)
		}
	}
	check("referenced by a manifest", referenced, true)
	check("linked", linked, true)
	check("neither", neither, false)
	check("a manifest's own digest", m.Digest, false)

	if err := md.DeleteManifest(ctx, repo, m.Digest, "bob"); err != nil {
		t.Fatal(err)
	}
	check("after its manifest was deleted", referenced, false)
	if err := md.UnlinkBlob(ctx, repo, linked); err != nil {
		t.Fatal(err)
	}
	check("after UnlinkBlob", linked, false)
}

func testManifests(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	var all []*storage.Manifest
	for _, repo := range []string{"m/a", "m/b", "m/a/c"} {
		cfg := blobDigest(repo)
		linkBlob(t, md, repo, cfg, 1)
		img := newManifest(repo, "image of "+repo, cfg)
		img.Annotations = map[string]string{"repo": repo}
		idx := newIndex(repo, "index of "+repo, img.Digest)
		idx.Subject = digest.SHA256.FromString("subject")
		idx.ArtifactType = "application/vnd.example"
		putManifest(t, md, img, "img")
		putManifest(t, md, idx)
		all = append(all, img, idx)
	}
	// The same bytes pushed to two repositories are two records.
	dup := newManifest("m/b", "image of m/a", blobDigest("m/b"))
	putManifest(t, md, dup)
	all = append(all, dup)

	got := map[string]*storage.Manifest{}
	err := md.Manifests(ctx, func(m *storage.Manifest) error {
		key := m.Repository + "@" + m.Digest.String()
		if _, ok := got[key]; ok {
			t.Errorf("Manifests lists %s twice", key)
		}
		got[key] = m
		return nil
	})
	if err != nil {
		t.Fatalf("Manifests: %v", err)
	}
	if len(got) != len(all) {
		t.Errorf("Manifests lists %d manifests, want %d", len(got), len(all))
	}
	for _, want := range all {
		key := want.Repository + "@" + want.Digest.String()
		m, ok := got[key]
		if !ok {
			t.Errorf("Manifests does not list %s", key)
			continue
		}
		if diff := diffManifest(m, want); diff != "" {
			t.Errorf("Manifests: %s: %s", key, diff)
		}
	}

	var calls int
	if err := md.Manifests(ctx, func(*storage.Manifest) error { calls++; return errStop }); !errors.Is(err, errStop) || calls != 1 {
		t.Errorf("Manifests with a failing callback = %v after %d calls, want errStop after 1", err, calls)
	}
}

func testRepositoryManifests(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const repo, other, prefix = "rm/a", "rm/a/b", "rm/"
	cfg := blobDigest("config")
	linkBlob(t, md, repo, cfg, 1)
	linkBlob(t, md, other, cfg, 1)
	m1 := newManifest(repo, "one", cfg)
	m1.Annotations = map[string]string{"k": "v"}
	m2 := newManifest(repo, "two", cfg)
	m2.Pushed = pushTime.Add(time.Minute)
	m2.PushedBy = "bob"
	sig := newManifest(repo, "signature of two")
	sig.Subject = m2.Digest
	sig.ArtifactType = "application/vnd.example.sig"
	idx := newIndex(repo, "index", m1.Digest, m2.Digest)
	gone := newManifest(repo, "deleted")
	putManifest(t, md, m1, "v1")
	putManifest(t, md, m2, "v2", "latest")
	putManifest(t, md, sig)
	putManifest(t, md, idx, "multi")
	putManifest(t, md, gone, "gone")
	if err := md.DeleteManifest(ctx, repo, gone.Digest, "carol"); err != nil {
		t.Fatal(err)
	}
	// Another repository, whose name extends this one's, holds the same
	// bytes and one manifest of its own.
	putManifest(t, md, newManifest(other, "one", cfg), "v1")
	putManifest(t, md, newManifest(other, "only in the other"))
	putManifest(t, md, newManifest("rm", "parent"))

	list := func(repo string) map[digest.Digest]*storage.Manifest {
		t.Helper()
		ms, err := md.RepositoryManifests(ctx, repo)
		if err != nil {
			t.Fatalf("RepositoryManifests(%s): %v", repo, err)
		}
		got := map[digest.Digest]*storage.Manifest{}
		for _, m := range ms {
			if _, ok := got[m.Digest]; ok {
				t.Errorf("RepositoryManifests(%s) lists %s twice", repo, m.Digest)
			}
			got[m.Digest] = m
		}
		return got
	}
	got := list(repo)
	want := []*storage.Manifest{m1, m2, sig, idx}
	if len(got) != len(want) {
		t.Errorf("RepositoryManifests(%s) lists %d manifests, want %d", repo, len(got), len(want))
	}
	for _, w := range want {
		m, ok := got[w.Digest]
		if !ok {
			t.Errorf("RepositoryManifests(%s) does not list %s", repo, w.Digest)
			continue
		}
		if diff := diffManifest(m, w); diff != "" {
			t.Errorf("RepositoryManifests(%s): %s: %s", repo, w.Digest, diff)
		}
	}
	if _, ok := got[gone.Digest]; ok {
		t.Errorf("RepositoryManifests(%s) lists the deleted manifest", repo)
	}
	if got := list(other); len(got) != 2 || got[m1.Digest] == nil || got[m1.Digest].Repository != other {
		t.Errorf("RepositoryManifests(%s) = %v, want its own two manifests", other, slices.Collect(maps.Keys(got)))
	}

	// The caller owns what it gets.
	clear(got[m1.Digest].Content)
	checkManifest(t, md, m1)

	for _, name := range []string{"unknown", prefix, "rm/a/"} {
		if ms, err := md.RepositoryManifests(ctx, name); !errors.Is(err, storage.ErrNameUnknown) {
			t.Errorf("RepositoryManifests(%s) = %d manifests, %v, want ErrNameUnknown", name, len(ms), err)
		}
	}
}

func testTagsByDigest(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	md := newMeta(t)
	ctx := t.Context()
	const repo, other = "tbd/a", "tbd/b"
	m1 := newManifest(repo, "one")
	m2 := newManifest(repo, "two")
	untagged := newManifest(repo, "untagged")
	putManifest(t, md, m1, "v1", "latest", "stable")
	putManifest(t, md, m2, "v2", "latest")
	putManifest(t, md, untagged)
	if err := md.DeleteTag(ctx, repo, "stable", "dave"); err != nil {
		t.Fatal(err)
	}
	putManifest(t, md, newManifest(other, "one"), "elsewhere")

	check := func(what string, want map[digest.Digest][]string) {
		t.Helper()
		got, err := md.TagsByDigest(ctx, repo)
		if err != nil {
			t.Fatalf("TagsByDigest(%s) %s: %v", repo, what, err)
		}
		for d, tags := range got {
			slices.Sort(tags)
			if len(tags) == 0 {
				delete(got, d)
			}
		}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("TagsByDigest(%s) %s = %v, want %v", repo, what, got, want)
		}
	}
	check("after a move and a delete", map[digest.Digest][]string{m1.Digest: {"v1"}, m2.Digest: {"latest", "v2"}})

	if err := md.DeleteManifest(ctx, repo, m2.Digest, "carol"); err != nil {
		t.Fatal(err)
	}
	check("after the manifest was deleted", map[digest.Digest][]string{m1.Digest: {"v1"}})

	if got, err := md.TagsByDigest(ctx, "unknown"); !okOr(err, storage.ErrNameUnknown) || len(got) != 0 {
		t.Errorf("TagsByDigest(unknown) = %v, %v, want nothing", got, err)
	}
}

func testConcurrentTagMoves(t *testing.T, newMeta func(t *testing.T) storage.Metadata) {
	const (
		repo    = "race/tag"
		workers = 8
		pushes  = 10
	)
	md := newMeta(t)
	cfg := blobDigest("config")
	linkBlob(t, md, repo, cfg, 1)

	var (
		mu       sync.Mutex
		returned []storage.TagMove
		pushed   = map[digest.Digest]bool{}
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range pushes {
				m := newManifest(repo, fmt.Sprintf("worker %d push %d", w, i), cfg)
				m.PushedBy = fmt.Sprintf("worker-%d", w)
				mv, err := md.PutManifest(t.Context(), m, []string{"latest", fmt.Sprintf("w%d", w)})
				if err != nil {
					t.Errorf("worker %d: PutManifest: %v", w, err)
					return
				}
				mu.Lock()
				returned = append(returned, mv...)
				pushed[m.Digest] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	var latest []storage.TagMove
	for _, mv := range returned {
		if mv.Tag == "latest" {
			latest = append(latest, mv)
		}
	}
	if len(latest) != workers*pushes {
		t.Errorf("PutManifest returned %d moves of latest, want %d", len(latest), workers*pushes)
	}
	if len(returned) != 2*workers*pushes {
		t.Errorf("PutManifest returned %d moves in all, want %d", len(returned), 2*workers*pushes)
	}

	h := history(t, md, repo, "latest")
	if len(h) != workers*pushes {
		t.Fatalf("History(latest) has %d moves, want %d", len(h), workers*pushes)
	}
	// The moves form one chain: each starts where the previous ended.
	var prev digest.Digest
	seen := map[digest.Digest]bool{}
	for i, mv := range h {
		if mv.Old != prev {
			t.Errorf("move %d: %s -> %s, want it to start at %s", i, mv.Old, mv.New, prev)
		}
		if !pushed[mv.New] || seen[mv.New] {
			t.Errorf("move %d: to %s, which was not pushed or was reached twice", i, mv.New)
		}
		seen[mv.New] = true
		prev = mv.New
	}
	checkResolve(t, md, repo, "latest", prev)
	if all := history(t, md, repo, ""); len(all) != 2*workers*pushes {
		t.Errorf("History of all tags has %d moves, want %d", len(all), 2*workers*pushes)
	}
	for w := range workers {
		if h := history(t, md, repo, fmt.Sprintf("w%d", w)); len(h) != pushes {
			t.Errorf("History(w%d) has %d moves, want %d", w, len(h), pushes)
		}
	}
}
