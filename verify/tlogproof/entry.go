package tlogproof

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Kinds of Entry a client reads (the log of names has others).
const (
	KindTag          = "tag"           // a tag created, moved (New) or deleted (New empty)
	KindManifestPush = "manifest.push" // a manifest stored (Digest)
)

// Entry is a leaf of the log of names as a client reads it: the JSON
// object registry/storage.LogEntry writes. The leaf hash covers the bytes,
// not this struct: decode only bytes already proven.
type Entry struct {
	Kind       string        `json:"kind"`
	Repository string        `json:"repository"`
	Tag        string        `json:"tag,omitempty"`
	Old        digest.Digest `json:"old,omitempty"`
	New        digest.Digest `json:"new,omitempty"`
	Digest     digest.Digest `json:"digest,omitempty"`
	Time       time.Time     `json:"time"`
	By         string        `json:"by,omitempty"`
}

// ParseEntry decodes a leaf of the log of names.
func ParseEntry(b []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, fmt.Errorf("%w: log entry: %v", ErrMalformed, err)
	}
	return e, nil
}

// Claim is what a leaf is brought to prove: that Tag of Repository (a
// repository name within the registry, without its host) was last moved to
// Digest or, when Tag is empty, that the manifest Digest was pushed to
// Repository.
type Claim struct {
	Repository string
	Tag        string
	Digest     digest.Digest
}

// String says the claim as a user would write it.
func (c Claim) String() string {
	if c.Tag != "" {
		return fmt.Sprintf("%s:%s -> %s", c.Repository, c.Tag, c.Digest)
	}
	return fmt.Sprintf("%s@%s pushed", c.Repository, c.Digest)
}

// Says reports whether e is the leaf that makes c true: a move of the tag
// to the digest, or (no tag) the push of the manifest to the repository.
func (e Entry) Says(c Claim) bool {
	if e.Repository != c.Repository {
		return false
	}
	if c.Tag != "" {
		return e.Kind == KindTag && e.Tag == c.Tag && e.New == c.Digest
	}
	return e.Kind == KindManifestPush && e.Digest == c.Digest
}
