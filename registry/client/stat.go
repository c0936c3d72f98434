package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"
)

// maxStatEntries bounds the stat cache; past it the cache starts afresh.
const maxStatEntries = 100000

// StatCache remembers the digests of local files by StatKey, so a second
// push of the same files knows their digests before reading them and can
// skip what the registry already has.
type StatCache struct {
	path string
	mu   sync.Mutex
	m    map[string]digest.Digest
}

// StatCache loads the cache's stat.json.
func (c *Cache) StatCache() *StatCache {
	s := &StatCache{path: filepath.Join(c.root, "stat.json"), m: map[string]digest.Digest{}}
	if b, err := os.ReadFile(s.path); err == nil {
		json.Unmarshal(b, &s.m)
	}
	return s
}

// Get returns the digest recorded for key.
func (s *StatCache) Get(key string) (digest.Digest, bool) {
	if key == "" {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.m[key]
	return d, ok && d.Validate() == nil
}

// Put records a digest.
func (s *StatCache) Put(key string, d digest.Digest) {
	if key == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxStatEntries {
		s.m = map[string]digest.Digest{}
	}
	s.m[key] = d
}

// Save writes the cache back, atomically.
func (s *StatCache) Save() error {
	s.mu.Lock()
	b, err := json.Marshal(s.m)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}
