package backend_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/backend"
)

// Open chooses the stores, as `cairn serve --data DIR [--storage URL]
// [--metadata URL]` does; here the embedded ones, served on loopback.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(dir)

	o := backend.Options{Dir: dir + "/data"}
	blobs, md, err := backend.Open(ctx, o)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer md.Close()
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: md})
	srv := httptest.NewServer(reg)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v2/")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, o.Shared())

	// A store URL that names no known store: the error says which option.
	_, _, err = backend.Open(ctx, backend.Options{Dir: dir + "/other", Storage: "ftp://bucket"})
	var be *backend.Error
	fmt.Println(errors.As(err, &be), be.Option)
	// Output:
	// 200 OK false
	// true storage
}

// The first start creates the log key; a later start that names another
// origin is refused with an *OriginError.
func ExampleOpenTransparencyLog() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(dir)
	_, db, err := backend.OpenEmbedded(dir, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	quiet := slog.New(slog.DiscardHandler)
	key := filepath.Join(dir, "log.key")
	srv, err := backend.OpenTransparencyLog(ctx, db, backend.TransparencyLogOptions{KeyFile: key, Origin: "example.test/cairn", Logger: quiet})
	fmt.Println(srv != nil, err)
	_, err = backend.OpenTransparencyLog(ctx, db, backend.TransparencyLogOptions{KeyFile: key, Origin: "other.test/cairn", Logger: quiet})
	var oe *backend.OriginError
	fmt.Println(errors.As(err, &oe), oe.KeyName)
	// Output:
	// true <nil>
	// true example.test/cairn
}
