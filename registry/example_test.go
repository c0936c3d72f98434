package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/meta"
)

// CollectOnce collects garbage as `cairn gc` does: on a metadata store
// that several nodes share it first takes the collector's lease; on the
// embedded store (here) it simply collects.
func ExampleRegistry_CollectOnce() {
	dir, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(dir)
	blobs, _ := cas.Open(dir)
	db, _ := meta.Open(filepath.Join(dir, "meta.db"), nil)
	defer db.Close()
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: db, Now: later})
	srv := httptest.NewServer(reg)
	defer srv.Close()

	// A blob uploaded that no manifest references.
	orphan := []byte("orphan bytes")
	resp, err := http.Post(srv.URL+"/v2/models/m/blobs/uploads/?digest="+digest.FromBytes(orphan).String(), "application/octet-stream", bytes.NewReader(orphan))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	rep, err := reg.CollectOnce(context.Background(), "example", registry.GCOptions{Grace: time.Hour})
	fmt.Println(err, rep.BlobsRemoved, rep.BytesFreed, rep.Removed[0] == digest.FromBytes(orphan))
	// Output:
	// <nil> 1 12 true
}
