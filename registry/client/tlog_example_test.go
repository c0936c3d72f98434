package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/backend"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/tlog"
	"cairn.dev/cairn/verify/tlogproof"
)

// cairn history --verify: the first check of a registry's log pins its
// key; the next one checks the new tree against the one seen before.
func ExampleUpdateTransparencyLog() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(dir)
	old, had := os.LookupEnv("CAIRN_CONFIG_DIR")
	os.Setenv("CAIRN_CONFIG_DIR", filepath.Join(dir, "config"))
	defer func() {
		if had {
			os.Setenv("CAIRN_CONFIG_DIR", old)
		} else {
			os.Unsetenv("CAIRN_CONFIG_DIR")
		}
	}()
	blobs, db, err := backend.OpenEmbedded(filepath.Join(dir, "data"), 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: db})
	names, err := backend.OpenTransparencyLog(ctx, db, backend.TransparencyLogOptions{
		KeyFile: filepath.Join(dir, "log.key"), Origin: "example.test/cairn", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle(tlog.PathPrefix, names)
	mux.Handle("/", reg)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	cache, _ := client.OpenCache(filepath.Join(dir, "cache"))
	model := filepath.Join(dir, "model")
	os.MkdirAll(model, 0o755)
	repo, _ := client.Open(host+"/models/tiny:v1", client.Options{})
	for _, config := range []string{`{"model_type":"tiny"}`, `{"model_type":"tinier"}`} {
		os.WriteFile(filepath.Join(model, "config.json"), []byte(config), 0o644)
		if _, err := client.Push(ctx, repo, model, client.PushOptions{Cache: cache}); err != nil {
			fmt.Println("push:", err)
			return
		}
		v, err := client.UpdateTransparencyLog(ctx, host, "", tlogproof.Witnesses{}, client.Options{})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(v.Origin, "pinned:", v.Pinned, "grew:", v.N > v.Previous)
	}
	// Output:
	// example.test/cairn pinned: true grew: true
	// example.test/cairn pinned: false grew: true
}
