package tlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Key is a log's Ed25519 signing key as a C2SP signed-note signer, with its
// verifier key ("<name>+<hash>+<base64>") for clients.
type Key struct {
	note.Signer
	verifier string
}

// VerifierKey returns the note verifier key clients pin.
func (k *Key) VerifierKey() string { return k.verifier }

// ParseKey reads a note signer key as note.GenerateKey writes it
// ("PRIVATE+KEY+<name>+<hash>+<base64>").
func ParseKey(skey string) (*Key, error) {
	skey = strings.TrimSpace(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("tlog: log key: %w", err)
	}
	// The verifier key is derived from the seed: the last field holds the
	// algorithm byte (1, Ed25519) and the 32-byte seed.
	// PRIVATE+KEY+<name>+<hash>+<base64>, and base64 may hold '+'.
	f := strings.SplitN(skey, "+", 5)
	if len(f) != 5 {
		return nil, errors.New("tlog: log key: not a note signer key")
	}
	b, err := base64.StdEncoding.DecodeString(f[4])
	if err != nil || len(b) != 1+ed25519.SeedSize || b[0] != 1 {
		return nil, errors.New("tlog: log key: not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(b[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("tlog: log key: %w", err)
	}
	return &Key{Signer: s, verifier: vkey}, nil
}

// LoadOrCreateKey reads the signing key at path or, when there is none,
// creates one named name (the log's origin) and writes it with mode 0600.
// created reports which happened.
func LoadOrCreateKey(path, name string) (k *Key, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := ParseKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, false, fmt.Errorf("tlog: create log key %q: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	// Written to a temporary file and linked into place: a concurrent start
	// never reads half a key, and only one key wins.
	f, err := os.CreateTemp(filepath.Dir(path), ".logkey-*")
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, false, err
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	if err := os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
		return LoadOrCreateKey(path, name)
	} else if err != nil {
		return nil, false, err
	}
	k, err = ParseKey(skey)
	return k, true, err
}
