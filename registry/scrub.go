package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
)

// Problem is one inconsistency found by Scrub.
type Problem struct {
	// Kind is "corrupt-blob", "corrupt-manifest", "missing-blob",
	// "unreadable" or "log" (the transparency log disagrees with the
	// metadata, tlog.Audit).
	Kind   string
	Digest digest.Digest
	// Where names the repository (for manifests) or the store.
	Where  string
	Detail string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s %s (%s): %s", p.Kind, p.Digest, p.Where, p.Detail)
}

// ScrubReport summarises a scrub.
type ScrubReport struct {
	Blobs     int
	Bytes     int64
	Manifests int
	Problems  []Problem
}

// Scrub re-hashes every blob in blobs and, when meta is not nil, every
// manifest, and checks that each blob a manifest references is present
// and, when meta keeps a transparency log, the log against the history.
// Blobs are hashed in parallel.
func Scrub(ctx context.Context, blobs storage.BlobStore, meta storage.Metadata) (ScrubReport, error) {
	var rep ScrubReport
	var mu sync.Mutex
	add := func(p Problem) {
		mu.Lock()
		rep.Problems = append(rep.Problems, p)
		mu.Unlock()
	}
	present := map[digest.Digest]bool{}
	work := make(chan storage.BlobInfo)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if err := checkBlob(ctx, blobs, b); err != nil {
					kind := "corrupt-blob"
					if !errors.Is(err, storage.ErrDigestMismatch) {
						kind = "unreadable"
					}
					add(Problem{Kind: kind, Digest: b.Digest, Where: "blob store", Detail: err.Error()})
				}
			}
		}()
	}
	err := blobs.Walk(ctx, func(b storage.BlobInfo) error {
		present[b.Digest] = true
		rep.Blobs++
		rep.Bytes += b.Size
		select {
		case work <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	if err != nil {
		return rep, fmt.Errorf("scrub: walk blobs: %w", err)
	}
	if meta == nil {
		return rep, nil
	}
	err = meta.Manifests(ctx, func(m *storage.Manifest) error {
		rep.Manifests++
		if got := m.Digest.Algorithm().FromBytes(m.Content); got != m.Digest {
			add(Problem{Kind: "corrupt-manifest", Digest: m.Digest, Where: m.Repository, Detail: "content hashes to " + got.String()})
		}
		for _, b := range m.Blobs {
			if !present[b] {
				add(Problem{Kind: "missing-blob", Digest: b, Where: m.Repository, Detail: "referenced by manifest " + m.Digest.String()})
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("scrub: manifests: %w", err)
	}
	if logs, ok := meta.(storage.TransparencyLogs); ok {
		found, err := tlog.Audit(ctx, logs, meta)
		if err != nil {
			return rep, fmt.Errorf("scrub: transparency log: %w", err)
		}
		for _, f := range found {
			add(Problem{Kind: "log", Where: fmt.Sprintf("log of names, leaf %d", f.Leaf), Detail: f.Detail})
		}
	}
	if logs, ok := meta.(storage.TransparencyLogs); ok {
		if access, ok := meta.(storage.AccessLog); ok {
			_, err := tlog.AuditAccess(ctx, logs, access)
			switch {
			case errors.Is(err, tlog.ErrVerification):
				add(Problem{Kind: "log", Where: "access log", Detail: err.Error()})
			case err != nil:
				return rep, fmt.Errorf("scrub: access log: %w", err)
			}
		}
	}
	return rep, nil
}

func checkBlob(ctx context.Context, blobs storage.BlobStore, b storage.BlobInfo) error {
	f, err := blobs.Open(ctx, b.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	v := b.Digest.Verifier()
	n, err := io.Copy(v, f)
	if err != nil {
		return err
	}
	if !v.Verified() {
		return fmt.Errorf("%d bytes do not hash to the name: %w", n, storage.ErrDigestMismatch)
	}
	return nil
}
