package client

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
)

// Cache is a local content-addressed store of verified blobs, shared by
// pulls.
type Cache struct {
	root string
}

// OpenCache opens (creating) a cache rooted at dir.
func OpenCache(dir string) (*Cache, error) {
	for _, d := range []string{"blobs/sha256", "ingest", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
	}
	return &Cache{root: dir}, nil
}

// CacheEnv names the environment variable that chooses the cache
// directory shared by cairn's commands.
const CacheEnv = "CAIRN_CACHE"

// DefaultCacheDir is the cache directory when none is given: $CAIRN_CACHE,
// or "cairn" in the user's cache directory (os.UserCacheDir).
func DefaultCacheDir() (string, error) {
	if dir := os.Getenv(CacheEnv); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set %s: %w", CacheEnv, err)
	}
	return filepath.Join(base, "cairn"), nil
}

// Root returns the cache directory.
func (c *Cache) Root() string { return c.root }

func checkSHA256(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %s: only sha256 blobs are cached", d)
	}
	return nil
}

// Path returns where a verified blob lives in the cache.
func (c *Cache) Path(d digest.Digest) string {
	return filepath.Join(c.root, "blobs", "sha256", d.Encoded())
}

// Lookup reports whether the cache holds d. The file is re-hashed before it
// is trusted: the cache is an optimisation, never a source of truth, and a
// blob that no longer matches is removed.
func (c *Cache) Lookup(d digest.Digest, size int64) (string, bool, error) {
	if err := checkSHA256(d); err != nil {
		return "", false, err
	}
	p := c.Path(d)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	if err != nil {
		return "", false, err
	}
	if n != size || hex.EncodeToString(h.Sum(nil)) != d.Encoded() {
		os.Remove(p)
		return "", false, nil
	}
	return p, true, nil
}

// commit moves a verified ingest file into blobs/.
func (c *Cache) commit(tmp string, d digest.Digest) (string, error) {
	dst := c.Path(d)
	if err := os.Chmod(tmp, 0o444); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	return dst, nil
}

// Place puts a cached blob at dst: a hard link when the cache and dst share a
// filesystem (no copy; the file is read-only), a copy otherwise, and always
// a copy for an executable file (mode with an execute bit), since a link
// shares the cache's read-only mode. The file appears at dst only complete,
// by rename.
func (c *Cache) Place(d digest.Digest, dst string, mode fs.FileMode) error {
	src := c.Path(d)
	tmp := dst + ".cairn-tmp"
	os.Remove(tmp)
	exec := mode&0o111 != 0
	if exec || os.Link(src, tmp) != nil {
		if err := copyFile(src, tmp); err != nil {
			os.Remove(tmp)
			return err
		}
		if exec {
			if err := os.Chmod(tmp, 0o555); err != nil {
				os.Remove(tmp)
				return err
			}
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// CacheEntry is one blob of the cache.
type CacheEntry struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	// Cached is when the blob entered the cache (its file's modification
	// time: a pull that finds it does not change it, since the same file
	// is hard-linked into pulled directories).
	Cached time.Time `json:"cached"`
}

// List returns the blobs of the cache, oldest first, and the partial
// downloads and push records beside them (files under ingest/ and
// uploads/).
func (c *Cache) List() (blobs []CacheEntry, partial int, err error) {
	entries, err := os.ReadDir(filepath.Join(c.root, "blobs", "sha256"))
	if err != nil {
		return nil, 0, fmt.Errorf("cache: %w", err)
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		blobs = append(blobs, CacheEntry{Digest: d, Size: fi.Size(), Cached: fi.ModTime()})
	}
	slices.SortFunc(blobs, func(a, b CacheEntry) int { return a.Cached.Compare(b.Cached) })
	for _, d := range []string{"ingest", "uploads"} {
		es, _ := os.ReadDir(filepath.Join(c.root, d))
		partial += len(es)
	}
	return blobs, partial, nil
}

// Prune removes the blobs that entered the cache before cutoff, and the
// partial downloads and push records not written since (a pull or push
// still running writes its files; one interrupted for longer than the cut
// starts over). Pulled directories keep their files: they are links or
// copies, not the cache's. It returns the blobs removed.
func (c *Cache) Prune(cutoff time.Time) ([]CacheEntry, error) {
	blobs, _, err := c.List()
	if err != nil {
		return nil, err
	}
	var removed []CacheEntry
	for _, b := range blobs {
		if !b.Cached.Before(cutoff) {
			continue
		}
		if err := os.Remove(c.Path(b.Digest)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("cache: %w", err)
		}
		removed = append(removed, b)
	}
	for _, d := range []string{"ingest", "uploads"} {
		dir := filepath.Join(c.root, d)
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
	return removed, nil
}
