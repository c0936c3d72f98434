package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
)

// shiftClock is a registry clock running offset from the real one.
type shiftClock struct{ offset atomic.Int64 }

func (c *shiftClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// TestGC_RacesPushes: 20 concurrent pushes reuse the blobs of deleted
// manifests (old, unreferenced: what GC removes) while online GC runs
// every 200 ms at the minimum grace (zero given). Every push succeeds, no
// upload or push gets an error, and every pushed manifest pulls back
// byte-identical with all its blobs.
func TestGC_RacesPushes(t *testing.T) {
	const pushes = 20
	clk := &shiftClock{}
	clk.offset.Store(int64(-time.Hour))
	srv := registrytest.NewServer(t, registry.Config{Now: clk.now})
	ctx := t.Context()

	// An hour ago: models pushed, then their manifests deleted. Their
	// blobs and links are an hour old and referenced by nothing.
	layers := make([][]byte, pushes)
	for i := range layers {
		layers[i] = make([]byte, 64<<10)
		rand.Read(layers[i])
	}
	pushModel := func(ctx context.Context, repo string, i int, tag string) (ocispec.Descriptor, error) {
		r := srv.Repository(t, repo)
		var descs []ocispec.Descriptor
		for _, b := range [][]byte{layers[i], layers[(i+1)%pushes]} {
			d := content.NewDescriptorFromBytes("application/octet-stream", b)
			if ok, err := r.Exists(ctx, d); err != nil {
				return ocispec.Descriptor{}, fmt.Errorf("HEAD %s: %w", d.Digest, err)
			} else if !ok {
				if err := r.Push(ctx, d, bytes.NewReader(b)); err != nil {
					return ocispec.Descriptor{}, fmt.Errorf("upload %s: %w", d.Digest, err)
				}
			}
			descs = append(descs, d)
		}
		return oras.PackManifest(ctx, r, oras.PackManifestVersion1_1, "application/vnd.example.model", oras.PackManifestOptions{
			Layers: descs, ManifestAnnotations: map[string]string{"tag": tag},
		})
	}
	for i := range pushes {
		old, err := pushModel(ctx, fmt.Sprintf("models/m%d", i), i, "old")
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Repository(t, fmt.Sprintf("models/m%d", i)).Delete(ctx, old); err != nil {
			t.Fatal(err)
		}
	}
	hourAgo := time.Now().Add(-time.Hour)
	filepath.WalkDir(filepath.Join(srv.Dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chtimes(p, hourAgo, hourAgo)
		}
		return nil
	})
	clk.offset.Store(0)

	// Now: GC every 200 ms at the minimum grace, beside 20 pushes of the
	// same blobs.
	gcCtx, stopGC := context.WithCancel(ctx)
	var collected atomic.Int64
	var gcErr atomic.Value
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			rep, err := srv.Registry.GC(gcCtx, registry.GCOptions{Grace: 0})
			if err != nil && gcCtx.Err() == nil {
				gcErr.Store(err)
			}
			collected.Add(int64(rep.BlobsRemoved))
			select {
			case <-gcCtx.Done():
				return
			case <-tick.C:
			}
		}
	})
	pushed := make([]ocispec.Descriptor, pushes)
	errs := make([]error, pushes)
	var pw sync.WaitGroup
	for i := range pushes {
		pw.Go(func() {
			// Each push waits a little differently so that GC runs land
			// between its blobs and its manifest.
			time.Sleep(time.Duration(i*37%200) * time.Millisecond)
			pushed[i], errs[i] = pushModel(ctx, fmt.Sprintf("models/m%d", i), i, "new")
		})
	}
	pw.Wait()
	// Let GC run a few more times over the new manifests.
	time.Sleep(600 * time.Millisecond)
	stopGC()
	wg.Wait()
	if err, _ := gcErr.Load().(error); err != nil {
		t.Fatalf("GC: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("push %d: %v", i, err)
		}
	}
	for i, d := range pushed {
		if errs[i] != nil {
			continue
		}
		r := srv.Repository(t, fmt.Sprintf("models/m%d", i))
		if _, err := content.FetchAll(ctx, r, d); err != nil {
			t.Errorf("pull manifest %d: %v", i, err)
			continue
		}
		for j, want := range [][]byte{layers[i], layers[(i+1)%pushes]} {
			got, err := content.FetchAll(ctx, r, content.NewDescriptorFromBytes("application/octet-stream", want))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("push %d (%s), blob %d: %v", i, d.Digest, j, err)
			}
		}
	}
	if collected.Load() == 0 {
		t.Fatal("GC removed no blob: nothing raced the pushes")
	}
	t.Logf("GC removed %d blobs during the pushes", collected.Load())
}
