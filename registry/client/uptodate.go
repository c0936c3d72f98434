package client

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/verify/agent"
)

// pullState is what a pull into a directory left there, kept in the cache
// (never in the directory: whoever can write the directory must not be able
// to vouch for it): the manifest digest, the selection, and the StatKey of
// every file it wrote, .cairn included. A later pull of the same digest
// into a directory whose every file still has its key (no file written,
// replaced, added or removed since: a write changes the change time, which
// no unprivileged user can set back) has nothing to do.
type pullState struct {
	Digest  digest.Digest `json:"digest"`
	Include []string      `json:"include,omitempty"`
	// Referrers fingerprints the signatures and attestations recorded in
	// .cairn: a new one makes the pull worth doing again.
	Referrers string            `json:"referrers"`
	Files     map[string]string `json:"files"`
}

// maxPullState bounds a state file read back.
const maxPullState = 64 << 20

// statePath is where the state of the pull into dir is kept.
func (c *Cache) statePath(dir string) (string, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	h := sha256.Sum256([]byte(abs))
	return filepath.Join(c.root, "pulls", hex.EncodeToString(h[:])+".json"), true
}

// dirKeys returns the StatKey of every regular file of dir (the receipt
// and staging directories of .cairn left out), or ok false when one has
// none (a platform without StatKey, a symlink, a device).
func dirKeys(dir string) (map[string]string, bool) {
	keys := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == agent.MetaDir+"/"+agent.ReceiptFile {
			return nil
		}
		if d.IsDir() {
			if ok, _ := filepath.Match(agent.MetaDir+"/staging-*", rel); ok {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil || !fi.Mode().IsRegular() {
			return fs.ErrInvalid
		}
		k := StatKey(p, fi)
		if k == "" {
			return fs.ErrInvalid
		}
		keys[rel] = k
		return nil
	})
	return keys, err == nil
}

// saveState records the pull of d into dir; a failure only costs the next
// pull its shortcut.
func (c *Cache) saveState(dir string, d digest.Digest, include []string, referrers string) {
	p, ok := c.statePath(dir)
	if !ok {
		return
	}
	keys, ok := dirKeys(dir)
	if !ok {
		os.Remove(p)
		return
	}
	b, err := json.Marshal(pullState{Digest: d, Include: include, Referrers: referrers, Files: keys})
	if err != nil {
		return
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	tmp := p + ".tmp"
	if os.WriteFile(tmp, b, 0o644) == nil && os.Rename(tmp, p) != nil {
		os.Remove(tmp)
	}
}

// upToDate reports whether dir holds, unchanged, what an earlier pull of
// d with include wrote there.
func (c *Cache) upToDate(dir string, d digest.Digest, include []string, referrers string) bool {
	p, ok := c.statePath(dir)
	if !ok {
		return false
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var st pullState
	if err := json.NewDecoder(&limitedReader{f, maxPullState}).Decode(&st); err != nil {
		return false
	}
	if st.Digest != d || !slices.Equal(st.Include, include) || st.Referrers != referrers || len(st.Files) == 0 {
		return false
	}
	keys, ok := dirKeys(dir)
	if !ok || len(keys) != len(st.Files) {
		return false
	}
	for rel, k := range st.Files {
		if keys[rel] != k {
			return false
		}
	}
	return true
}

type limitedReader struct {
	f *os.File
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fs.ErrInvalid
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// referrersPrint fingerprints a target's bundles.
func referrersPrint(t *agent.Target) string {
	b, _ := json.Marshal(t.Bundles)
	return digest.FromBytes(b).String()
}
