package oms

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"strconv"
	"strings"
)

// Serialization methods and the hash type this package computes.
const (
	// MethodFiles hashes every file whole; a resource is a file.
	MethodFiles = "files"
	// MethodShards hashes every file in ShardSize pieces; a resource is a
	// shard, named path:start:end.
	MethodShards = "shards"
	// HashSHA256 is the only hash_type Serialize computes.
	HashSHA256 = "sha256"
)

// DefaultShardSize is the reference implementation's shard size (1 GB),
// for Serialization.ShardSize with MethodShards.
const DefaultShardSize = 1_000_000_000

// DefaultIgnorePaths are left out of every model, as the reference
// implementation does by default (its --ignore-git-paths).
var DefaultIgnorePaths = []string{".git", ".gitattributes", ".github", ".gitignore"}

// Serialization says how a model was turned into resources: the
// predicate's "serialization" object. The zero Method means MethodFiles and
// the zero HashType HashSHA256.
type Serialization struct {
	Method        string
	HashType      string
	AllowSymlinks bool
	// ShardSize is the size of a shard in bytes, for MethodShards.
	ShardSize int64
	// IgnorePaths are slash paths, relative to the model directory, left
	// out of the model with everything under them. Signatures made by the
	// reference implementation from v1.1 on record them, and Verify leaves
	// them out again.
	IgnorePaths []string
}

func (s Serialization) method() string {
	if s.Method == "" {
		return MethodFiles
	}
	return s.Method
}

func (s Serialization) hashType() string {
	if s.HashType == "" {
		return HashSHA256
	}
	return s.HashType
}

// algorithm is the name of a resource digest: the hash type, or for
// shards hash-sharded-SIZE (for example sha256-sharded-1000000000).
func (s Serialization) algorithm() string {
	if s.method() == MethodShards {
		return s.hashType() + "-sharded-" + strconv.FormatInt(s.ShardSize, 10)
	}
	return s.hashType()
}

// Resource is one entry of the predicate's "resources": a file (its slash
// path relative to the model, or "." when the model is a single file) or
// a shard of one (path:start:end), and its digest.
type Resource struct {
	Name      string
	Algorithm string
	Digest    []byte
}

// Manifest is what an OMS signature covers: the model's name (the last
// element of its path; informative only), how it was serialized, and its
// resources.
type Manifest struct {
	Name          string
	Serialization Serialization
	// Resources are in canonical order when Serialize made them: by path,
	// compared element by element, then by shard offset. ParseStatement
	// keeps the statement's order.
	Resources []Resource
	// legacy marks a v0.2 statement (predicate PredicateTypeV01), whose
	// subjects are the files and which has no manifest digest.
	legacy bool
}

// Digest is the statement's subject digest: SHA-256 over the resources'
// raw digests, concatenated in order.
func (m *Manifest) Digest() []byte {
	h := sha256.New()
	for _, r := range m.Resources {
		h.Write(r.Digest)
	}
	return h.Sum(nil)
}

// Compare checks that got (a model on disk, from Serialize) has exactly
// the resources of signed, with the same algorithms and digests; the
// model names and order do not matter. It returns nil or a *MismatchError.
func Compare(signed, got *Manifest) error {
	want := make(map[string]Resource, len(signed.Resources))
	for _, r := range signed.Resources {
		want[r.Name] = r
	}
	e := &MismatchError{Signed: len(signed.Resources)}
	seen := make(map[string]bool, len(got.Resources))
	for _, r := range got.Resources {
		seen[r.Name] = true
		w, ok := want[r.Name]
		switch {
		case !ok:
			e.Extra = append(e.Extra, r.Name)
		case w.Algorithm != r.Algorithm || !bytes.Equal(w.Digest, r.Digest):
			e.Changed = append(e.Changed, Change{Name: r.Name, Algorithm: r.Algorithm, Signed: w.Digest, Actual: r.Digest})
			if w.Algorithm != r.Algorithm {
				e.Changed[len(e.Changed)-1].Algorithm = w.Algorithm + " vs " + r.Algorithm
			}
		}
	}
	for _, r := range signed.Resources {
		if !seen[r.Name] {
			e.Missing = append(e.Missing, r.Name)
		}
	}
	if len(e.Changed) == 0 && len(e.Missing) == 0 && len(e.Extra) == 0 {
		return nil
	}
	return e
}

// ComparePaths orders slash paths element by element, as the reference
// implementation sorts resources (Python's PurePosixPath ordering): "a/b"
// sorts before "a.b", because "a" < "a.b".
func ComparePaths(a, b string) int {
	for {
		ae, arest, amore := strings.Cut(a, "/")
		be, brest, bmore := strings.Cut(b, "/")
		if c := strings.Compare(ae, be); c != 0 {
			return c
		}
		switch {
		case !amore && !bmore:
			return 0
		case !amore:
			return -1
		case !bmore:
			return 1
		}
		a, b = arest, brest
	}
}

// compareShards orders shards by path, then start, then end.
func compareShards(a, b shard) int {
	if c := ComparePaths(a.path, b.path); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end))
}

type shard struct {
	path       string
	start, end int64
}

func (s shard) name() string {
	return s.path + ":" + strconv.FormatInt(s.start, 10) + ":" + strconv.FormatInt(s.end, 10)
}
