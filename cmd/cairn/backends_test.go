package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// testDatabase creates an empty database on the test cluster for one test
// and returns its URL; it is dropped when the test ends.
func testDatabase(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("CAIRN_TEST_PG_ADMIN")
	if admin == "" {
		t.Skip("CAIRN_TEST_PG_ADMIN is not set: no PostgreSQL to test against (scripts/services.sh start-pg; scripts/test always does)")
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "cmd_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	base, _, _ := strings.Cut(admin, "?")
	return base[:strings.LastIndex(base, "/")] + "/" + name + "?sslmode=disable"
}
