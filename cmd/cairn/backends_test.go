package main

import (
	"bytes"
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

// TestSharedSessionKey checks that two nodes on one database sign UI
// sessions with one key, and that the embedded store keeps its key across
// restarts.
func TestSharedSessionKey(t *testing.T) {
	url := testDatabase(t)
	flags := backendFlags{metadata: url}
	var keys [][]byte
	for range 2 {
		_, db, err := openBackends(t.Context(), t.TempDir(), flags, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		k, err := sharedSessionKey(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if len(keys[0]) != 32 || !bytes.Equal(keys[0], keys[1]) {
		t.Errorf("session keys of two nodes: %x and %x, want one key of 32 bytes", keys[0], keys[1])
	}
	dir := t.TempDir()
	var embedded [][]byte
	for range 2 {
		_, db, err := openBackends(t.Context(), dir, backendFlags{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		k, err := sharedSessionKey(t.Context(), db)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		embedded = append(embedded, k)
	}
	if len(embedded[0]) != 32 || !bytes.Equal(embedded[0], embedded[1]) {
		t.Errorf("embedded store across a restart: %x and %x, want one key of 32 bytes", embedded[0], embedded[1])
	}
}
