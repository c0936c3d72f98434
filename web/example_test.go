package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/web"
)

// ExampleNew serves the registry API at /v2/ and the UI everywhere else,
// as cairn serve does.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "cairn-web")
	defer os.RemoveAll(dir)
	blobs, _ := cas.Open(dir)
	db, _ := meta.Open(filepath.Join(dir, "meta.db"), nil)
	defer db.Close()
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: db})
	ui, err := web.New(web.Config{Meta: db, Blobs: blobs}) // no Auth: everyone reads everything
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", ui.Watch(reg)) // Watch tells the UI of pushes
	mux.Handle("/", ui)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:5000/", nil))
	fmt.Println(rec.Code, strings.Contains(rec.Body.String(), "cairn push ./model 127.0.0.1:5000/models/name:v1"))
	fmt.Println(rec.Header().Get("X-Frame-Options"))
	// Output:
	// 200 true
	// DENY
}
