package registrytest

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/meta"
)

// Server is a running registry and its stores.
type Server struct {
	*httptest.Server
	Registry *registry.Registry
	Blobs    *cas.Store
	Meta     *meta.DB
	// Dir is the data directory (blobs, ingest, meta.db).
	Dir string
	// Host is the server's host:port, for references.
	Host string
}

// NewServer starts a registry over a fresh data directory. cfg may set
// Limits and Now (the database's clock too); its Blobs and Meta are
// replaced. The server and database
// are closed when the test ends.
func NewServer(t testing.TB, cfg registry.Config) *Server {
	t.Helper()
	return newServer(t, cfg, false)
}

// NewServerNoSync is NewServer with the database's fsync off (meta.Options
// NoSync): for tests that push thousands of manifests, where a commit's
// fsync is all the time spent and durability is not what is tested.
func NewServerNoSync(t testing.TB, cfg registry.Config) *Server {
	t.Helper()
	return newServer(t, cfg, true)
}

func newServer(t testing.TB, cfg registry.Config, noSync bool) *Server {
	t.Helper()
	dir := t.TempDir()
	blobs, err := cas.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The database keeps link times by the registry's clock.
	db, err := meta.Open(filepath.Join(dir, "meta.db"), &meta.Options{Now: cfg.Now, NoSync: noSync})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Blobs, cfg.Meta = blobs, db
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	return &Server{
		Server:   srv,
		Registry: reg,
		Blobs:    blobs,
		Meta:     db,
		Dir:      dir,
		Host:     strings.TrimPrefix(srv.URL, "http://"),
	}
}

// Repository returns an oras-go client for a repository of the server, as
// an independent client would use it.
func (s *Server) Repository(t testing.TB, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(s.Host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	return repo
}
