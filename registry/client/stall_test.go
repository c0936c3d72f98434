package client_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/registrytest"
)

// stallTransport passes the first limit bytes of the first stalls
// responses, then sends nothing more until the request is cancelled: a
// registry whose storage stopped answering mid-blob.
type stallTransport struct {
	limit  int64
	stalls atomic.Int64
}

func (s *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || s.stalls.Add(-1) < 0 {
		return resp, err
	}
	resp.Body = &stallBody{rc: resp.Body, left: s.limit, done: req.Context().Done()}
	return resp, nil
}

type stallBody struct {
	rc   io.ReadCloser
	left int64
	done <-chan struct{}
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		<-b.done
		return 0, errors.New("stalled body: request cancelled")
	}
	n, err := b.rc.Read(p[:min(int64(len(p)), b.left)])
	b.left -= int64(n)
	return n, err
}

func (b *stallBody) Close() error { return b.rc.Close() }

// TestFetch_Stalls: a download that stops receiving is retried from where
// it got and completes when the registry answers again; one that never
// progresses fails, after DownloadAttempts tries, with an error naming the
// blob, instead of hanging.
func TestFetch_Stalls(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	data := randomBytes(t, 2<<20)
	cache, _ := client.OpenCache(t.TempDir())
	desc, err := cache.Upload(t.Context(), newRemote(t, srv, "models/m"), bytesSource("", data), 0, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("recovers", func(t *testing.T) {
		st := &stallTransport{limit: 512 << 10}
		st.stalls.Store(2)
		r := &client.Remote{Client: &http.Client{Transport: st}, Base: srv.URL, Repository: "models/m", StallTimeout: 300 * time.Millisecond}
		fresh, _ := client.OpenCache(t.TempDir())
		p, _, err := fresh.Fetch(t.Context(), r, desc, "w", nil)
		if err != nil {
			t.Fatalf("a download that stalled twice, then flowed: %v", err)
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
			t.Fatal("the resumed download differs")
		}
	})

	t.Run("fails naming the blob", func(t *testing.T) {
		st := &stallTransport{limit: 0}
		st.stalls.Store(100)
		r := &client.Remote{Client: &http.Client{Transport: st}, Base: srv.URL, Repository: "models/m", StallTimeout: 200 * time.Millisecond}
		fresh, _ := client.OpenCache(t.TempDir())
		_, _, err := fresh.Fetch(t.Context(), r, desc, "w", nil)
		var se *client.StallError
		if !errors.Is(err, client.ErrStalled) || !errors.As(err, &se) || se.Attempts != client.DownloadAttempts ||
			!strings.Contains(err.Error(), desc.Digest.String()) || !strings.Contains(err.Error(), "no progress for 200ms") {
			t.Fatalf("got %v, want a StallError naming %s after %d attempts", err, desc.Digest, client.DownloadAttempts)
		}
	})
}
