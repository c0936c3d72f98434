package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/meta"
)

// An administrator adds a user and gives it a role; the user, who is not
// an administrator, is refused the admin API with ErrForbidden.
func ExampleAdmin() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(dir)
	blobs, _ := cas.Open(dir)
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: db})
	if _, err := (auth.Bootstrap{Password: "correct horse"}).Ensure(ctx, db); err != nil {
		log.Fatal(err)
	}
	a, err := auth.New(ctx, auth.Config{Accounts: db, Meta: db, PasswordCost: bcrypt.MinCost, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(a.Wrap(reg))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	as := func(user, password string) *client.Admin {
		c := &orasauth.Client{Credential: orasauth.StaticCredential(host, orasauth.Credential{Username: user, Password: password})}
		return &client.Admin{Client: c, Base: srv.URL}
	}

	admin := as("admin", "correct horse")
	if err := admin.AddUser(ctx, "alice", "alice's password"); err != nil {
		log.Fatal(err)
	}
	g, err := admin.Grant(ctx, auth.GrantInfo{User: "alice", Pattern: "team-a/*", Role: "write"})
	fmt.Println(g.User, g.Role, g.Pattern, err)
	users, _ := admin.Users(ctx)
	for _, u := range users {
		fmt.Println(u.Name, len(u.Grants))
	}

	_, err = as("alice", "alice's password").Users(ctx)
	fmt.Println(errors.Is(err, client.ErrForbidden))
	_, err = as("alice", "wrong").Users(ctx)
	fmt.Println(errors.Is(err, client.ErrUnauthorized))
	// Output:
	// alice write team-a/* <nil>
	// admin 1
	// alice 1
	// true
	// true
}
