package accesslog_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/meta"
)

// The access log served to administrators only, in front of the rest of
// the server.
func ExampleRecorder_AdminAPI() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "accesslog-example")
	defer os.RemoveAll(dir)
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if _, err := (auth.Bootstrap{Password: "correct horse"}).Ensure(ctx, db); err != nil {
		panic(err)
	}
	a, err := auth.New(ctx, auth.Config{Accounts: db, Meta: db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	rec := accesslog.New(db, accesslog.Options{})
	defer rec.Close(ctx)
	srv := httptest.NewServer(rec.AdminAPI(http.NotFoundHandler(), "/_cairn/admin/log", db, a))
	defer srv.Close()

	for _, password := range []string{"", "correct horse"} {
		req, _ := http.NewRequest("GET", srv.URL+"/_cairn/admin/log/verify", nil)
		if password != "" {
			req.SetBasicAuth(auth.AdminUser, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	resp, _ := http.Get(srv.URL + "/elsewhere")
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// 401
	// 200
	// 404
}
