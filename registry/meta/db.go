package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"cairn.dev/cairn/registry/storage"
)

// DB is a storage.Metadata in one bbolt file.
type DB struct {
	db  *bolt.DB
	now func() time.Time
}

var _ storage.Metadata = (*DB)(nil)

// Options configures Open. The zero value is ready to use.
type Options struct {
	// LockTimeout is how long Open waits for another process to release the
	// file; zero means one second.
	LockTimeout time.Duration
	// NoSync skips fsync on commit; only for tests and benchmarks.
	NoSync bool
	// Now is the clock of link and session times; nil means time.Now.
	// Tests set it to the registry's clock (registry.Config.Now).
	Now func() time.Time
}

// Open opens or creates the database at path and migrates it to the current
// schema.
func Open(path string, opts *Options) (*DB, error) {
	if opts == nil {
		opts = &Options{}
	}
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: opts.NoSync, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("meta: open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("meta: open %s: %w", path, err)
	}
	db := &DB{db: bdb, now: time.Now}
	if opts.Now != nil {
		db.now = opts.Now
	}
	if err := db.migrate(); err != nil {
		bdb.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.db.Close() }

// Bolt exposes the underlying database to packages that keep their own
// buckets in the same file (access log, users).
func (db *DB) Bolt() *bolt.DB { return db.db }

// blobLink is the value of a repos/<name>/blobs entry.
type blobLink struct {
	Size   int64     `json:"size"`
	Linked time.Time `json:"linked"`
}

func repoBucket(tx *bolt.Tx, repo string) *bolt.Bucket {
	return tx.Bucket(bucketRepos).Bucket([]byte(repo))
}

func createRepo(tx *bolt.Tx, repo string) (*bolt.Bucket, error) {
	rb, err := tx.Bucket(bucketRepos).CreateBucketIfNotExists([]byte(repo))
	if err != nil {
		return nil, fmt.Errorf("meta: create repository %s: %w", repo, err)
	}
	for _, name := range repoBuckets {
		if _, err := rb.CreateBucketIfNotExists(name); err != nil {
			return nil, fmt.Errorf("meta: create repository %s: %w", repo, err)
		}
	}
	return rb, nil
}

func historyKey(tag string, seq uint64) []byte {
	k := make([]byte, len(tag)+1+8)
	copy(k, tag)
	binary.BigEndian.PutUint64(k[len(tag)+1:], seq)
	return k
}

func referrerKey(subject, referrer digest.Digest) []byte {
	return []byte(string(subject) + "\x00" + string(referrer))
}

// moveTag points tag at dgst (empty: deletes it) and appends the move to the
// history when the target changes.
func moveTag(rb *bolt.Bucket, repo, tag string, dgst digest.Digest, at time.Time, by string) (*storage.TagMove, error) {
	tags := rb.Bucket(bucketTags)
	old := digest.Digest(tags.Get([]byte(tag)))
	if old == dgst {
		return nil, nil
	}
	var err error
	if dgst == "" {
		err = tags.Delete([]byte(tag))
	} else {
		err = tags.Put([]byte(tag), []byte(dgst))
	}
	if err != nil {
		return nil, fmt.Errorf("meta: move tag %s:%s: %w", repo, tag, err)
	}
	mv := storage.TagMove{Repository: repo, Tag: tag, Old: old, New: dgst, Time: at.UTC(), By: by}
	// The leaf is appended in the same transaction as the move: an
	// acknowledged move is always in the log of names.
	leaf, err := appendEntry(rb.Tx(), storage.TagMoveEntry(mv))
	if err != nil {
		return nil, err
	}
	mv.Leaf = &leaf
	hb := rb.Bucket(bucketHistory)
	seq, _ := hb.NextSequence()
	v, _ := json.Marshal(mv)
	if err := hb.Put(historyKey(tag, seq), v); err != nil {
		return nil, fmt.Errorf("meta: record tag move: %w", err)
	}
	return &mv, nil
}

// PutManifest implements storage.Metadata.
func (db *DB) PutManifest(ctx context.Context, m *storage.Manifest, tags []string) ([]storage.TagMove, error) {
	rec, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("meta: encode manifest: %w", err)
	}
	var moves []storage.TagMove
	err = db.db.Update(func(tx *bolt.Tx) error {
		moves = moves[:0]
		rb, err := createRepo(tx, m.Repository)
		if err != nil {
			return err
		}
		blobs := rb.Bucket(bucketBlobs)
		for _, b := range m.Blobs {
			if blobs.Get([]byte(b)) == nil {
				return fmt.Errorf("%s: %w", b, storage.ErrBlobUnknown)
			}
		}
		mans := rb.Bucket(bucketManifests)
		for _, c := range m.Children {
			if mans.Get([]byte(c)) == nil {
				return fmt.Errorf("%s: %w", c, storage.ErrManifestUnknown)
			}
		}
		key := []byte(m.Digest)
		if prev := mans.Get(key); prev == nil {
			if err := mans.Put(key, rec); err != nil {
				return err
			}
			if err := rb.Bucket(bucketContent).Put(key, m.Content); err != nil {
				return err
			}
			if m.Subject != "" {
				if err := rb.Bucket(bucketReferrers).Put(referrerKey(m.Subject, m.Digest), nil); err != nil {
					return err
				}
			}
			e := storage.LogEntry{Kind: storage.EntryManifestPush, Repository: m.Repository, Digest: m.Digest, Time: m.Pushed.UTC(), By: m.PushedBy}
			if _, err := appendEntry(tx, e); err != nil {
				return err
			}
		}
		for _, t := range tags {
			mv, err := moveTag(rb, m.Repository, t, m.Digest, m.Pushed, m.PushedBy)
			if err != nil {
				return err
			}
			if mv != nil {
				moves = append(moves, *mv)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("put manifest %s@%s: %w", m.Repository, m.Digest, err)
	}
	return moves, nil
}

func decodeManifest(rb *bolt.Bucket, dgst digest.Digest, withContent bool) (*storage.Manifest, error) {
	v := rb.Bucket(bucketManifests).Get([]byte(dgst))
	if v == nil {
		return nil, fmt.Errorf("%s: %w", dgst, storage.ErrManifestUnknown)
	}
	var m storage.Manifest
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, fmt.Errorf("meta: decode manifest %s: %w", dgst, err)
	}
	if withContent {
		m.Content = bytes.Clone(rb.Bucket(bucketContent).Get([]byte(dgst)))
	}
	return &m, nil
}

// Manifest implements storage.Metadata.
func (db *DB) Manifest(ctx context.Context, repo string, dgst digest.Digest) (*storage.Manifest, error) {
	var m *storage.Manifest
	err := db.db.View(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil {
			return fmt.Errorf("%s: %w", dgst, storage.ErrManifestUnknown)
		}
		var err error
		m, err = decodeManifest(rb, dgst, true)
		return err
	})
	return m, err
}

// Resolve implements storage.Metadata.
func (db *DB) Resolve(ctx context.Context, repo, tag string) (digest.Digest, error) {
	var d digest.Digest
	err := db.db.View(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil {
			return fmt.Errorf("%s: %w", tag, storage.ErrTagUnknown)
		}
		v := rb.Bucket(bucketTags).Get([]byte(tag))
		if v == nil {
			return fmt.Errorf("%s: %w", tag, storage.ErrTagUnknown)
		}
		d = digest.Digest(v)
		return nil
	})
	return d, err
}

// DeleteManifest implements storage.Metadata.
func (db *DB) DeleteManifest(ctx context.Context, repo string, dgst digest.Digest, by string) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil {
			return fmt.Errorf("%s: %w", dgst, storage.ErrManifestUnknown)
		}
		m, err := decodeManifest(rb, dgst, false)
		if err != nil {
			return err
		}
		now := db.now()
		var drop []string
		c := rb.Bucket(bucketTags).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if digest.Digest(v) == dgst {
				drop = append(drop, string(k))
			}
		}
		for _, t := range drop {
			if _, err := moveTag(rb, repo, t, "", now, by); err != nil {
				return err
			}
		}
		if m.Subject != "" {
			if err := rb.Bucket(bucketReferrers).Delete(referrerKey(m.Subject, dgst)); err != nil {
				return err
			}
		}
		if err := rb.Bucket(bucketContent).Delete([]byte(dgst)); err != nil {
			return err
		}
		if _, err := appendEntry(tx, storage.LogEntry{Kind: storage.EntryManifestDelete, Repository: repo, Digest: dgst, Time: now.UTC(), By: by}); err != nil {
			return err
		}
		return rb.Bucket(bucketManifests).Delete([]byte(dgst))
	})
}

// DeleteTag implements storage.Metadata.
func (db *DB) DeleteTag(ctx context.Context, repo, tag, by string) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil || rb.Bucket(bucketTags).Get([]byte(tag)) == nil {
			return fmt.Errorf("%s: %w", tag, storage.ErrTagUnknown)
		}
		_, err := moveTag(rb, repo, tag, "", db.now(), by)
		return err
	})
}

// listAfter returns up to n keys of b after last (n <= 0: all).
func listAfter(b *bolt.Bucket, last string, n int, keep func(k []byte) bool) []string {
	var out []string
	c := b.Cursor()
	var k []byte
	if last == "" {
		k, _ = c.First()
	} else {
		k, _ = c.Seek([]byte(last))
		if k != nil && string(k) == last {
			k, _ = c.Next()
		}
	}
	for ; k != nil && (n <= 0 || len(out) < n); k, _ = c.Next() {
		if keep == nil || keep(k) {
			out = append(out, string(k))
		}
	}
	return out
}

// Tags implements storage.Metadata.
func (db *DB) Tags(ctx context.Context, repo, last string, n int) ([]string, error) {
	var out []string
	err := db.db.View(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil {
			return fmt.Errorf("%s: %w", repo, storage.ErrNameUnknown)
		}
		out = listAfter(rb.Bucket(bucketTags), last, n, nil)
		return nil
	})
	return out, err
}

// Repositories implements storage.Metadata.
func (db *DB) Repositories(ctx context.Context, last string, n int) ([]string, error) {
	var out []string
	err := db.db.View(func(tx *bolt.Tx) error {
		out = listAfter(tx.Bucket(bucketRepos), last, n, nil)
		return nil
	})
	return out, err
}

// Referrers implements storage.Metadata.
func (db *DB) Referrers(ctx context.Context, repo string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	out := []ocispec.Descriptor{}
	err := db.db.View(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil {
			return nil
		}
		prefix := []byte(string(subject) + "\x00")
		c := rb.Bucket(bucketReferrers).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			m, err := decodeManifest(rb, digest.Digest(k[len(prefix):]), false)
			if err != nil {
				return err
			}
			out = append(out, m.Descriptor())
		}
		return nil
	})
	return out, err
}

var _ storage.ReferrerPager = (*DB)(nil)

// ReferrersPage implements storage.ReferrerPager: a cursor from last, so a
// page decodes only the referrers it looks at.
func (db *DB) ReferrersPage(ctx context.Context, repo string, subject digest.Digest, artifactType, last string, n int) ([]ocispec.Descriptor, bool, error) {
	out := []ocispec.Descriptor{}
	more := false
	err := db.db.View(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil {
			return nil
		}
		prefix := []byte(string(subject) + "\x00")
		c := rb.Bucket(bucketReferrers).Cursor()
		k, _ := c.Seek(append(bytes.Clone(prefix), last...))
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			d := string(k[len(prefix):])
			if last != "" && d <= last {
				continue
			}
			m, err := decodeManifest(rb, digest.Digest(d), false)
			if err != nil {
				return err
			}
			if artifactType != "" && m.ArtifactType != artifactType {
				continue
			}
			if len(out) == n {
				more = true
				return nil
			}
			out = append(out, m.Descriptor())
		}
		return nil
	})
	return out, more, err
}

// History implements storage.Metadata.
func (db *DB) History(ctx context.Context, repo, tag string) ([]storage.TagMove, error) {
	var out []storage.TagMove
	err := db.db.View(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil {
			return fmt.Errorf("%s: %w", repo, storage.ErrNameUnknown)
		}
		var prefix []byte
		if tag != "" {
			prefix = []byte(tag + "\x00")
		}
		c := rb.Bucket(bucketHistory).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var mv storage.TagMove
			if err := json.Unmarshal(v, &mv); err != nil {
				return fmt.Errorf("meta: decode history: %w", err)
			}
			out = append(out, mv)
		}
		return nil
	})
	if err == nil && tag == "" {
		slices.SortStableFunc(out, func(a, b storage.TagMove) int { return a.Time.Compare(b.Time) })
	}
	return out, err
}

// LinkBlob implements storage.Metadata.
func (db *DB) LinkBlob(ctx context.Context, repo string, dgst digest.Digest, size int64) error {
	v, _ := json.Marshal(blobLink{Size: size, Linked: db.now().UTC()})
	return db.db.Update(func(tx *bolt.Tx) error {
		rb, err := createRepo(tx, repo)
		if err != nil {
			return err
		}
		return rb.Bucket(bucketBlobs).Put([]byte(dgst), v)
	})
}

func decodeLink(v []byte) (blobLink, error) {
	var l blobLink
	err := json.Unmarshal(v, &l)
	return l, err
}

// BlobLink implements storage.Metadata.
func (db *DB) BlobLink(ctx context.Context, repo string, dgst digest.Digest) (int64, error) {
	var size int64
	err := db.db.View(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		var v []byte
		if rb != nil {
			v = rb.Bucket(bucketBlobs).Get([]byte(dgst))
		}
		if v == nil {
			return fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
		}
		l, err := decodeLink(v)
		size = l.Size
		return err
	})
	return size, err
}

// AnyBlobLink implements storage.Metadata.
func (db *DB) AnyBlobLink(ctx context.Context, dgst digest.Digest) (int64, error) {
	var size int64 = -1
	err := db.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRepos).ForEachBucket(func(name []byte) error {
			if size >= 0 {
				return nil
			}
			if v := tx.Bucket(bucketRepos).Bucket(name).Bucket(bucketBlobs).Get([]byte(dgst)); v != nil {
				l, err := decodeLink(v)
				if err != nil {
					return err
				}
				size = l.Size
			}
			return nil
		})
	})
	if err == nil && size < 0 {
		err = fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
	}
	return size, err
}

// UnlinkBlob implements storage.Metadata.
func (db *DB) UnlinkBlob(ctx context.Context, repo string, dgst digest.Digest) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil || rb.Bucket(bucketBlobs).Get([]byte(dgst)) == nil {
			return fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
		}
		return rb.Bucket(bucketBlobs).Delete([]byte(dgst))
	})
}

// PutUpload implements storage.Metadata.
func (db *DB) PutUpload(ctx context.Context, s storage.UploadSession) error {
	v, _ := json.Marshal(s)
	return db.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUploads).Put([]byte(s.ID), v)
	})
}

// Upload implements storage.Metadata.
func (db *DB) Upload(ctx context.Context, id string) (storage.UploadSession, error) {
	var s storage.UploadSession
	err := db.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUploads).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%s: %w", id, storage.ErrUploadUnknown)
		}
		return json.Unmarshal(v, &s)
	})
	return s, err
}

// DeleteUpload implements storage.Metadata.
func (db *DB) DeleteUpload(ctx context.Context, id string) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketUploads).Get([]byte(id)) == nil {
			return fmt.Errorf("%s: %w", id, storage.ErrUploadUnknown)
		}
		return tx.Bucket(bucketUploads).Delete([]byte(id))
	})
}

// Uploads implements storage.Metadata.
func (db *DB) Uploads(ctx context.Context, fn func(storage.UploadSession) error) error {
	var all []storage.UploadSession
	err := db.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUploads).ForEach(func(k, v []byte) error {
			var s storage.UploadSession
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("meta: decode upload %s: %w", k, err)
			}
			all = append(all, s)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, s := range all {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// LiveBlobs implements storage.Metadata.
func (db *DB) LiveBlobs(ctx context.Context, cutoff time.Time) (map[digest.Digest]bool, error) {
	return db.liveBlobs(ctx, cutoff, true)
}

// PreviewLiveBlobs implements storage.LivePreviewer: LiveBlobs's
// transaction, rolled back.
func (db *DB) PreviewLiveBlobs(ctx context.Context, cutoff time.Time) (map[digest.Digest]bool, error) {
	return db.liveBlobs(ctx, cutoff, false)
}

// errRollback ends a transaction that must change nothing.
var errRollback = errors.New("meta: rolled back")

func (db *DB) liveBlobs(ctx context.Context, cutoff time.Time, commit bool) (map[digest.Digest]bool, error) {
	live := map[digest.Digest]bool{}
	err := db.db.Update(func(tx *bolt.Tx) error {
		clear(live)
		repos := tx.Bucket(bucketRepos)
		err := repos.ForEachBucket(func(name []byte) error {
			return repos.Bucket(name).Bucket(bucketManifests).ForEach(func(k, v []byte) error {
				var m storage.Manifest
				if err := json.Unmarshal(v, &m); err != nil {
					return fmt.Errorf("meta: decode manifest %s: %w", k, err)
				}
				for _, b := range m.Blobs {
					live[b] = true
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		// A recent link in one repository must not keep an old link in
		// another: only manifest references protect old links.
		referenced := maps.Clone(live)
		err = repos.ForEachBucket(func(name []byte) error {
			blobs := repos.Bucket(name).Bucket(bucketBlobs)
			var stale [][]byte
			err := blobs.ForEach(func(k, v []byte) error {
				d := digest.Digest(k)
				if referenced[d] {
					return nil
				}
				l, err := decodeLink(v)
				if err == nil && l.Linked.Before(cutoff) {
					stale = append(stale, bytes.Clone(k))
					return nil
				}
				live[d] = true
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range stale {
				if err := blobs.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil && !commit {
			return errRollback
		}
		return err
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	return live, err
}

// BlobLive implements storage.Metadata.
func (db *DB) BlobLive(ctx context.Context, dgst digest.Digest) (bool, error) {
	found := errors.New("found")
	err := db.db.View(func(tx *bolt.Tx) error {
		repos := tx.Bucket(bucketRepos)
		return repos.ForEachBucket(func(name []byte) error {
			rb := repos.Bucket(name)
			if rb.Bucket(bucketBlobs).Get([]byte(dgst)) != nil {
				return found
			}
			return rb.Bucket(bucketManifests).ForEach(func(k, v []byte) error {
				if bytes.Contains(v, []byte(dgst)) {
					var m storage.Manifest
					if json.Unmarshal(v, &m) == nil && slices.Contains(m.Blobs, dgst) {
						return found
					}
				}
				return nil
			})
		})
	})
	if err == found {
		return true, nil
	}
	return false, err
}

// RepositoryManifests implements storage.Metadata.
func (db *DB) RepositoryManifests(ctx context.Context, repo string) ([]*storage.Manifest, error) {
	var ms []*storage.Manifest
	err := db.db.View(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil {
			return fmt.Errorf("%s: %w", repo, storage.ErrNameUnknown)
		}
		return rb.Bucket(bucketManifests).ForEach(func(k, v []byte) error {
			m, err := decodeManifest(rb, digest.Digest(k), true)
			if err != nil {
				return err
			}
			ms = append(ms, m)
			return nil
		})
	})
	return ms, err
}

// TagsByDigest implements storage.Metadata.
func (db *DB) TagsByDigest(ctx context.Context, repo string) (map[digest.Digest][]string, error) {
	out := map[digest.Digest][]string{}
	err := db.db.View(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, repo)
		if rb == nil {
			return fmt.Errorf("%s: %w", repo, storage.ErrNameUnknown)
		}
		return rb.Bucket(bucketTags).ForEach(func(k, v []byte) error {
			d := digest.Digest(v)
			out[d] = append(out[d], string(k))
			return nil
		})
	})
	return out, err
}

// Manifests implements storage.Metadata.
func (db *DB) Manifests(ctx context.Context, fn func(*storage.Manifest) error) error {
	repos, err := db.Repositories(ctx, "", 0)
	if err != nil {
		return err
	}
	for _, repo := range repos {
		// One read transaction per repository: fn may be slow (scrub
		// hashes), and bbolt's write lock must not wait for all of it.
		ms, err := db.RepositoryManifests(ctx, repo)
		if errors.Is(err, storage.ErrNameUnknown) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := fn(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// migrations run in order; migrations[i] takes the schema from version i to
// i+1. Append, never edit.
var migrations = []func(tx *bolt.Tx) error{
	// 0 -> 1: the initial layout.
	func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRepos, bucketUploads} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
	// 1 -> 2: accounts (users, grants, API tokens, signing secrets).
	func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketGrants, bucketTokens, bucketSecrets} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
}

// SchemaVersion is the schema this binary writes.
var SchemaVersion = uint64(len(migrations))

func (db *DB) migrate() error {
	return db.db.Update(func(tx *bolt.Tx) error {
		mb, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("meta: migrate: %w", err)
		}
		var v uint64
		if b := mb.Get(keySchema); len(b) == 8 {
			v = binary.BigEndian.Uint64(b)
		}
		if v > SchemaVersion {
			return fmt.Errorf("meta: schema %d, this binary knows %d: %w", v, SchemaVersion, ErrSchemaTooNew)
		}
		for ; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("meta: migrate to schema %d: %w", v+1, err)
			}
		}
		return mb.Put(keySchema, binary.BigEndian.AppendUint64(nil, v))
	})
}

// Schema returns the database's schema version.
func (db *DB) Schema() (uint64, error) {
	var v uint64
	err := db.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get(keySchema); len(b) == 8 {
			v = binary.BigEndian.Uint64(b)
		}
		return nil
	})
	return v, err
}
