package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	orasauth "oras.land/oras-go/v2/registry/remote/auth"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/meta"
)

// cairn login: a wrong password is refused and nothing is stored; a good
// one is stored where docker and oras find it.
func ExampleLogin() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(dir)
	// The credential store of this example is a docker config of its own.
	old, had := os.LookupEnv("DOCKER_CONFIG")
	os.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
	defer func() {
		if had {
			os.Setenv("DOCKER_CONFIG", old)
		} else {
			os.Unsetenv("DOCKER_CONFIG")
		}
	}()
	blobs, _ := cas.Open(dir)
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: db})
	(auth.Bootstrap{Password: "correct horse"}).Ensure(ctx, db)
	a, err := auth.New(ctx, auth.Config{Accounts: db, Meta: db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(a.Wrap(reg))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	store, err := client.CredentialStore()
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.Login(ctx, store, host, orasauth.Credential{Username: "admin", Password: "wrong"}, client.Options{})
	fmt.Println(err != nil)
	where, err := client.Login(ctx, store, host, orasauth.Credential{Username: "admin", Password: "correct horse"}, client.Options{})
	fmt.Println(filepath.Base(where), err)
	cred, _ := store.Get(ctx, host)
	fmt.Println(cred.Username)
	// Output:
	// true
	// config.json <nil>
	// admin
}
