package client_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"cairn.dev/cairn/registry/client"
)

// Every move of a tag, as cairn history prints it.
func ExampleRemote_History() {
	ctx := context.Background()
	host, stop := exampleRegistry()
	defer stop()
	src, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(src)
	cache, _ := client.OpenCache(filepath.Join(src, ".cache"))
	model := filepath.Join(src, "model")
	os.MkdirAll(model, 0o755)
	repo, _ := client.Open(host+"/models/tiny:v1", client.Options{})
	for _, config := range []string{`{"model_type":"tiny"}`, `{"model_type":"tinier"}`} {
		os.WriteFile(filepath.Join(model, "config.json"), []byte(config), 0o644)
		if _, err := client.Push(ctx, repo, model, client.PushOptions{Cache: cache}); err != nil {
			fmt.Println("push:", err)
			return
		}
	}

	r := &client.Remote{Client: http.DefaultClient, Base: "http://" + host, Repository: "models/tiny"}
	moves, err := r.History(ctx, "v1")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range moves {
		fmt.Println(m.Tag, m.Old == "", m.New != "")
	}
	// Output:
	// v1 true true
	// v1 false true
}
