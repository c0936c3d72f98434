package auth_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"golang.org/x/crypto/bcrypt"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/meta"
)

// A registry behind auth: an anonymous request is challenged, the realm
// exchanges a password for a token, and the token is enough for the next
// request.
func ExampleAuth_Wrap() {
	dir, _ := os.MkdirTemp("", "cairn-example")
	defer os.RemoveAll(dir)
	blobs, _ := cas.Open(dir)
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: db})
	// The first administrator, as cairn serve creates it.
	if _, err := (auth.Bootstrap{Password: "correct horse"}).Ensure(ctx, db); err != nil {
		log.Fatal(err)
	}
	a, err := auth.New(ctx, auth.Config{Accounts: db, Meta: db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(auth.SecurityHeaders(a.Wrap(reg), false))
	defer srv.Close()

	resp, _ := http.Get(srv.URL + "/v2/team-a/model/tags/list")
	resp.Body.Close()
	scheme, params, _ := auth.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
	fmt.Println(resp.StatusCode, scheme, params["scope"])

	req, _ := http.NewRequest("GET", params["realm"]+"?service="+params["service"]+"&scope="+params["scope"], nil)
	req.SetBasicAuth("admin", "correct horse")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Cache-Control"))
	// Output:
	// 401 bearer repository:team-a/model:pull
	// 200 no-store
}

func ExampleMatch() {
	for _, name := range []string{"team-a/llama", "team-a/llama/lora", "team-b/llama"} {
		fmt.Println(name, auth.Match("team-a/*", name), auth.Match("team-a/**", name), auth.Match("**", name))
	}
	// Output:
	// team-a/llama true true true
	// team-a/llama/lora false true true
	// team-b/llama false false true
}

func ExampleParseScope() {
	a, err := auth.ParseScope("repository:team-a/*:push,pull", true)
	fmt.Println(a.Type, a.Name, a.Actions, err)
	_, err = auth.ParseScope("repository:team-a/*:pull", false)
	fmt.Println(err)
	// Output:
	// repository team-a/* [pull push] <nil>
	// invalid scope: invalid repository name "team-a/*"
}

// The first start creates the administrator and says so; later starts
// find it there and say nothing.
func ExampleBootstrap_EnsureLogged() {
	dir, _ := os.MkdirTemp("", "cairn-example")
	defer os.RemoveAll(dir)
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	b := auth.Bootstrap{Password: "correct horse", CredentialFile: filepath.Join(dir, "admin-credential"), Cost: bcrypt.MinCost}
	for range 2 {
		if err := b.EnsureLogged(context.Background(), db, logger); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// level=INFO msg="created the administrator with the password in CAIRN_ADMIN_PASSWORD" user=admin
}
