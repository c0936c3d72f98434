package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cairn.dev/cairn/registry/client"
)

// Remove a tag, then a whole version, as `cairn rm` does; a missing tag is
// explained with the tags that exist (client.Explain's wording).
func ExampleRemove() {
	ctx := context.Background()
	host, stop := exampleRegistry()
	defer stop()
	work, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(work)
	cache, _ := client.OpenCache(filepath.Join(work, "cache"))
	src := filepath.Join(work, "model")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "config.json"), []byte(`{"model_type":"tiny"}`), 0o644)
	for _, tag := range []string{"v1", "v2"} {
		repo, _ := client.Open(host+"/models/tiny:"+tag, client.Options{})
		if _, err := client.Push(ctx, repo, src, client.PushOptions{Cache: cache}); err != nil {
			fmt.Println("push:", err)
			return
		}
	}

	repo, _ := client.Open(host+"/models/tiny:v2", client.Options{})
	res, err := client.Remove(ctx, repo, false)
	fmt.Println("removed tag", res.Tag, err)

	repo, _ = client.Open(host+"/models/tiny:v2", client.Options{})
	_, _, err = repo.FetchManifest(ctx)
	var ex *client.Explained
	fmt.Println(errors.As(err, &ex), ex.Msg[:len(`tag "v2" not found in `)], "...", ex.Msg[len(ex.Msg)-len("its tags: v1"):])

	repo, _ = client.Open(host+"/models/tiny:v1", client.Options{})
	res, err = client.Remove(ctx, repo, true)
	fmt.Println("removed version", res.Digest == "", err)
	// Output:
	// removed tag v2 <nil>
	// true tag "v2" not found in  ... its tags: v1
	// removed version false <nil>
}

// List the pull cache and prune what entered it before a cut, as `cairn
// cache ls` and `cairn cache prune --keep-days N` do.
func ExampleCache_Prune() {
	work, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(work)
	cache, _ := client.OpenCache(work)
	blobs, partial, _ := cache.List()
	fmt.Println(len(blobs), "blobs,", partial, "partial")

	removed, err := cache.Prune(time.Now().Add(-30 * 24 * time.Hour))
	fmt.Println("removed", len(removed), err)
	// Output:
	// 0 blobs, 0 partial
	// removed 0 <nil>
}

// The scheme rule: plain HTTP for loopback (as docker does) unless HTTPS
// is asked for by an https:// prefix, a CA file or Insecure; HTTPS for
// any other registry unless PlainHTTP.
func ExampleOptions_Plain() {
	for _, ref := range []string{"127.0.0.1:5000/models/m:v1", "https://127.0.0.1:5000/models/m:v1", "reg.example.com/models/m:v1"} {
		rest, o := client.Options{}.WithScheme(ref)
		host := rest[:strings.Index(rest, "/")]
		fmt.Println(o.BaseURL(host))
	}
	fmt.Println(client.Options{CAFile: "ca.pem"}.BaseURL("localhost:5000"))
	fmt.Println(client.Options{PlainHTTP: true}.BaseURL("reg.example.com"))
	// Output:
	// http://127.0.0.1:5000
	// https://127.0.0.1:5000
	// https://reg.example.com
	// https://localhost:5000
	// http://reg.example.com
}
