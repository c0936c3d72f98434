package pg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/pg"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/storage/storagetest"
)

// testURL is the database the tests use; scripts/services.sh starts one.
func testURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("CAIRN_TEST_POSTGRES")
	if u == "" {
		t.Skip("CAIRN_TEST_POSTGRES is not set: no PostgreSQL to test against (scripts/services.sh start-pg starts one; scripts/test always does)")
	}
	return u
}

var (
	adminOnce sync.Once
	admin     *pgxpool.Pool
	adminErr  error
)

// newSchema creates an empty schema for one test and returns a URL whose
// search_path selects it; the schema is dropped when the test ends.
func newSchema(t testing.TB) string {
	t.Helper()
	base := testURL(t)
	adminOnce.Do(func() { admin, adminErr = pgxpool.New(context.Background(), base) })
	if adminErr != nil {
		t.Fatal(adminErr)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// openDB opens a fresh database schema, closed when the test ends.
func openDB(t testing.TB) *pg.DB {
	t.Helper()
	return openURL(t, newSchema(t))
}

func openURL(t testing.TB, u string) *pg.DB {
	t.Helper()
	db, err := pg.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDB_Conformance(t *testing.T) {
	storagetest.TestMetadata(t, func(t *testing.T) storage.Metadata { return openDB(t) })
}

func TestDB_Quarantines(t *testing.T) {
	storagetest.TestQuarantines(t, func(t *testing.T) storagetest.QuarantineStore { return openDB(t) })
}

func TestDB_Accounts(t *testing.T) {
	storagetest.TestAccounts(t, func(t *testing.T) storage.Accounts { return openDB(t) })
}

// TestDB_TwoNodes runs the concurrent tag moves with two stores (two
// pools, as two nodes have) on one schema, and checks the one history.
func TestDB_TwoNodes(t *testing.T) {
	u := newSchema(t)
	a, b := openURL(t, u), openURL(t, u)
	ctx := t.Context()
	const repo = "nodes/model"
	cfg := blobDigest("config")
	if err := a.LinkBlob(ctx, repo, cfg, 1); err != nil {
		t.Fatal(err)
	}
	const moves = 50
	var wg sync.WaitGroup
	errs := make(chan error, moves)
	for i := range moves {
		node := a
		if i%2 == 1 {
			node = b
		}
		wg.Go(func() {
			m := newManifest(repo, "push "+string(rune('A'+i%26))+string(rune('a'+i/26)), cfg)
			if _, err := node.PutManifest(ctx, m, []string{"latest"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	h, err := b.History(ctx, repo, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != moves {
		t.Fatalf("history has %d moves, want %d", len(h), moves)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Old != h[i-1].New {
			t.Errorf("move %d starts at %s, the one before ended at %s", i, h[i].Old, h[i-1].New)
		}
	}
}

func TestDB_Migrations(t *testing.T) {
	u := newSchema(t)
	db := openURL(t, u)
	ctx := t.Context()
	if v, err := db.Schema(ctx); err != nil || v != pg.SchemaVersion || v < 4 {
		t.Fatalf("Schema = %d, %v, want %d", v, err, pg.SchemaVersion)
	}
	// Opening again (another node) migrates nothing and keeps the data.
	if err := db.LinkBlob(ctx, "kept", blobDigest("x"), 1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			d, err := pg.Open(ctx, u)
			if err != nil {
				t.Error(err)
				return
			}
			d.Close()
		})
	}
	wg.Wait()
	if repos, err := db.Repositories(ctx, "", 0); err != nil || len(repos) != 1 {
		t.Errorf("Repositories after reopening = %v, %v", repos, err)
	}
	// A schema from a newer binary is refused.
	if _, err := db.Pool().Exec(ctx, "UPDATE schema_version SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Open(ctx, u); !errors.Is(err, pg.ErrSchemaTooNew) {
		t.Errorf("Open of a newer schema = %v, want ErrSchemaTooNew", err)
	}
}

func TestDB_OpenRefused(t *testing.T) {
	ctx := t.Context()
	for _, u := range []string{"mysql://x", "postgres://%zz", "", "s3://bucket"} {
		if _, err := pg.Open(ctx, u); !errors.Is(err, pg.ErrURL) {
			t.Errorf("Open(%q) = %v, want ErrURL", u, err)
		}
	}
	// A password never shows in the error.
	_, err := pg.Open(ctx, "postgres://user:s3cret-pass@127.0.0.1:1/db?connect_timeout=1")
	if err == nil || contains(err.Error(), "s3cret-pass") {
		t.Errorf("Open with a bad host = %v, want an error without the password", err)
	}
	base := testURL(t)
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", "no_such_schema")
	u.RawQuery = q.Encode()
	if _, err := pg.Open(ctx, u.String()); !errors.Is(err, pg.ErrNoSchema) {
		t.Errorf("Open with a missing schema = %v, want ErrNoSchema", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func blobDigest(name string) digest.Digest { return digest.FromString("blob " + name) }

func newManifest(repo, body string, blobs ...digest.Digest) *storage.Manifest {
	return &storage.Manifest{
		Repository: repo, Digest: digest.FromString(body), MediaType: ocispec.MediaTypeImageManifest,
		Size: int64(len(body)), Content: []byte(body), Blobs: blobs, Pushed: time.Now().UTC(),
	}
}

func TestDB_Lease(t *testing.T) {
	db := openDB(t)
	ctx := t.Context()
	if err := db.AcquireLease(ctx, "gc", "node-a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.AcquireLease(ctx, "gc", "node-a", time.Minute); err != nil {
		t.Errorf("renewal: %v", err)
	}
	if err := db.AcquireLease(ctx, "gc", "node-b", time.Minute); !errors.Is(err, storage.ErrLeaseHeld) {
		t.Errorf("AcquireLease by another holder = %v, want ErrLeaseHeld", err)
	}
	if err := db.AcquireLease(ctx, "other", "node-b", time.Minute); err != nil {
		t.Errorf("another lease: %v", err)
	}
	if err := db.ReleaseLease(ctx, "gc", "node-b"); err != nil {
		t.Fatal(err)
	}
	if err := db.AcquireLease(ctx, "gc", "node-b", time.Minute); !errors.Is(err, storage.ErrLeaseHeld) {
		t.Errorf("a release by a non-holder freed the lease: %v", err)
	}
	if err := db.ReleaseLease(ctx, "gc", "node-a"); err != nil {
		t.Fatal(err)
	}
	if err := db.AcquireLease(ctx, "gc", "node-b", 50*time.Millisecond); err != nil {
		t.Errorf("after release: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := db.AcquireLease(ctx, "gc", "node-a", time.Minute); err != nil {
		t.Errorf("after expiry: %v", err)
	}
	// Only one of many concurrent takers gets a free lease.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 8 {
		wg.Go(func() {
			if err := db.AcquireLease(ctx, "race", string(rune('a'+i)), time.Minute); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d concurrent takers got the lease, want 1", won)
	}
}

func TestDB_TransparencyLogs(t *testing.T) {
	storagetest.TestTransparencyLogs(t, func(t *testing.T) storagetest.LogStore { return openDB(t) })
}
