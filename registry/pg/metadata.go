package pg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.Metadata = (*DB)(nil)

// moveTag points tag at dgst (empty: deletes it) and records the move when
// the target changes: the history record is written when lb is flushed,
// with the move's leaf. The caller holds the repository's lock.
func moveTag(ctx context.Context, tx pgx.Tx, lb *leafBatch, id int64, repo, tag string, dgst digest.Digest, at time.Time, by string) (*storage.TagMove, error) {
	var old digest.Digest
	err := tx.QueryRow(ctx, "SELECT digest FROM tags WHERE repo_id = $1 AND tag = $2", id, tag).Scan(&old)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pg: tag %s:%s: %w", repo, tag, err)
	}
	if old == dgst {
		return nil, nil
	}
	if dgst == "" {
		_, err = tx.Exec(ctx, "DELETE FROM tags WHERE repo_id = $1 AND tag = $2", id, tag)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO tags (repo_id, tag, digest) VALUES ($1, $2, $3)
			ON CONFLICT (repo_id, tag) DO UPDATE SET digest = EXCLUDED.digest`, id, tag, string(dgst))
	}
	if err != nil {
		return nil, fmt.Errorf("pg: move tag %s:%s: %w", repo, tag, err)
	}
	mv := &storage.TagMove{Repository: repo, Tag: tag, Old: old, New: dgst, Time: at.UTC(), By: by}
	err = lb.add(storage.TagMoveEntry(*mv), func(leaf int64) error {
		mv.Leaf = &leaf
		rec, _ := json.Marshal(mv)
		if _, err := tx.Exec(ctx, "INSERT INTO tag_history (repo_id, tag, record) VALUES ($1, $2, $3)", id, tag, rec); err != nil {
			return fmt.Errorf("pg: record tag move: %w", err)
		}
		return nil
	})
	return mv, err
}

// digestStrings converts for an = ANY($n) argument.
func digestStrings(ds []digest.Digest) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d)
	}
	return out
}

// present returns which of want the query (with the digests as $2) finds.
func present(ctx context.Context, tx pgx.Tx, sql string, id int64, want []digest.Digest) (map[digest.Digest]bool, error) {
	found, err := collectStrings(tx.Query(ctx, sql, id, digestStrings(want)))
	if err != nil {
		return nil, err
	}
	m := map[digest.Digest]bool{}
	for _, d := range found {
		m[digest.Digest(d)] = true
	}
	return m, nil
}

// PutManifest implements storage.Metadata. The blob links and child
// manifests it checks are locked (FOR SHARE) until it commits, so a
// concurrent unlink or delete waits for it; the repository's row lock
// orders the tag moves.
func (db *DB) PutManifest(ctx context.Context, m *storage.Manifest, tags []string) ([]storage.TagMove, error) {
	rec, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("pg: encode manifest: %w", err)
	}
	var moved []*storage.TagMove
	err = db.tx(ctx, func(tx pgx.Tx) error {
		moved = moved[:0]
		lb := &leafBatch{log: storage.LogNames}
		// The collector's mark must not run between the checks below and
		// the commit: it would miss the new references.
		if err := lockXact(ctx, tx, lockGC, true); err != nil {
			return err
		}
		id, _, err := lockRepo(ctx, tx, m.Repository, true)
		if err != nil {
			return err
		}
		if len(m.Blobs) > 0 {
			linked, err := present(ctx, tx, "SELECT digest FROM blob_links WHERE repo_id = $1 AND digest = ANY($2) FOR SHARE", id, m.Blobs)
			if err != nil {
				return fmt.Errorf("pg: check blobs: %w", err)
			}
			for _, b := range m.Blobs {
				if !linked[b] {
					return fmt.Errorf("%s: %w", b, storage.ErrBlobUnknown)
				}
			}
		}
		if len(m.Children) > 0 {
			have, err := present(ctx, tx, "SELECT digest FROM manifests WHERE repo_id = $1 AND digest = ANY($2) FOR SHARE", id, m.Children)
			if err != nil {
				return fmt.Errorf("pg: check children: %w", err)
			}
			for _, c := range m.Children {
				if !have[c] {
					return fmt.Errorf("%s: %w", c, storage.ErrManifestUnknown)
				}
			}
		}
		var subject *string
		if m.Subject != "" {
			s := string(m.Subject)
			subject = &s
		}
		content := m.Content
		if content == nil {
			content = []byte{}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO manifests (repo_id, digest, subject, record, content) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (repo_id, digest) DO NOTHING`, id, string(m.Digest), subject, rec, content)
		if err != nil {
			return fmt.Errorf("pg: insert manifest: %w", err)
		}
		if tag.RowsAffected() == 1 {
			e := storage.LogEntry{Kind: storage.EntryManifestPush, Repository: m.Repository, Digest: m.Digest, Time: m.Pushed.UTC(), By: m.PushedBy}
			if err := lb.add(e, nil); err != nil {
				return err
			}
		}
		if tag.RowsAffected() == 1 && len(m.Blobs) > 0 {
			_, err := tx.Exec(ctx, `INSERT INTO manifest_blobs (repo_id, manifest, blob) SELECT $1, $2, unnest($3::text[])
				ON CONFLICT DO NOTHING`, id, string(m.Digest), digestStrings(m.Blobs))
			if err != nil {
				return fmt.Errorf("pg: insert manifest blobs: %w", err)
			}
		}
		for _, t := range tags {
			mv, err := moveTag(ctx, tx, lb, id, m.Repository, t, m.Digest, m.Pushed, m.PushedBy)
			if err != nil {
				return err
			}
			if mv != nil {
				moved = append(moved, mv)
			}
		}
		return lb.flush(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("put manifest %s@%s: %w", m.Repository, m.Digest, err)
	}
	moves := make([]storage.TagMove, len(moved))
	for i, mv := range moved {
		moves[i] = *mv
	}
	return moves, nil
}

func decodeManifest(rec, content []byte, withContent bool) (*storage.Manifest, error) {
	m, err := decode[storage.Manifest](rec, "manifest")
	if err != nil {
		return nil, err
	}
	if withContent {
		m.Content = content
		if m.Content == nil {
			m.Content = []byte{}
		}
	}
	return &m, nil
}

// Manifest implements storage.Metadata.
func (db *DB) Manifest(ctx context.Context, repo string, dgst digest.Digest) (*storage.Manifest, error) {
	var rec, content []byte
	err := db.pool.QueryRow(ctx, `SELECT m.record, m.content FROM manifests m JOIN repositories r ON r.id = m.repo_id
		WHERE r.name = $1 AND m.digest = $2`, repo, string(dgst)).Scan(&rec, &content)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", dgst, storage.ErrManifestUnknown)
	}
	if err != nil {
		return nil, fmt.Errorf("pg: manifest %s@%s: %w", repo, dgst, err)
	}
	return decodeManifest(rec, content, true)
}

// Resolve implements storage.Metadata.
func (db *DB) Resolve(ctx context.Context, repo, tag string) (digest.Digest, error) {
	var d string
	err := db.pool.QueryRow(ctx, `SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id
		WHERE r.name = $1 AND t.tag = $2`, repo, tag).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%s: %w", tag, storage.ErrTagUnknown)
	}
	if err != nil {
		return "", fmt.Errorf("pg: resolve %s:%s: %w", repo, tag, err)
	}
	return digest.Digest(d), nil
}

// DeleteManifest implements storage.Metadata.
func (db *DB) DeleteManifest(ctx context.Context, repo string, dgst digest.Digest, by string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		id, ok, err := lockRepo(ctx, tx, repo, false)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s: %w", dgst, storage.ErrManifestUnknown)
		}
		tags, err := collectStrings(tx.Query(ctx, "SELECT tag FROM tags WHERE repo_id = $1 AND digest = $2 ORDER BY tag", id, string(dgst)))
		if err != nil {
			return fmt.Errorf("pg: tags of %s: %w", dgst, err)
		}
		ct, err := tx.Exec(ctx, "DELETE FROM manifests WHERE repo_id = $1 AND digest = $2", id, string(dgst))
		if err != nil {
			return fmt.Errorf("pg: delete manifest %s: %w", dgst, err)
		}
		if ct.RowsAffected() == 0 {
			return fmt.Errorf("%s: %w", dgst, storage.ErrManifestUnknown)
		}
		now := db.now()
		lb := &leafBatch{log: storage.LogNames}
		for _, t := range tags {
			if _, err := moveTag(ctx, tx, lb, id, repo, t, "", now, by); err != nil {
				return err
			}
		}
		if err := lb.add(storage.LogEntry{Kind: storage.EntryManifestDelete, Repository: repo, Digest: dgst, Time: now.UTC(), By: by}, nil); err != nil {
			return err
		}
		return lb.flush(ctx, tx)
	})
}

// DeleteTag implements storage.Metadata.
func (db *DB) DeleteTag(ctx context.Context, repo, tag, by string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		id, ok, err := lockRepo(ctx, tx, repo, false)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s: %w", tag, storage.ErrTagUnknown)
		}
		lb := &leafBatch{log: storage.LogNames}
		mv, err := moveTag(ctx, tx, lb, id, repo, tag, "", db.now(), by)
		if err != nil {
			return err
		}
		if err := lb.flush(ctx, tx); err != nil {
			return err
		}
		if mv == nil {
			return fmt.Errorf("%s: %w", tag, storage.ErrTagUnknown)
		}
		return nil
	})
}

// Tags implements storage.Metadata.
func (db *DB) Tags(ctx context.Context, repo, last string, n int) ([]string, error) {
	id, ok, err := repoID(ctx, db.pool, repo, false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", repo, storage.ErrNameUnknown)
	}
	out, err := collectStrings(db.pool.Query(ctx, "SELECT tag FROM tags WHERE repo_id = $1 AND tag > $2 ORDER BY tag LIMIT $3", id, last, limit(n)))
	if err != nil {
		return nil, fmt.Errorf("pg: tags of %s: %w", repo, err)
	}
	return out, nil
}

// Repositories implements storage.Metadata.
func (db *DB) Repositories(ctx context.Context, last string, n int) ([]string, error) {
	out, err := collectStrings(db.pool.Query(ctx, "SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2", last, limit(n)))
	if err != nil {
		return nil, fmt.Errorf("pg: repositories: %w", err)
	}
	return out, nil
}

// Referrers implements storage.Metadata.
func (db *DB) Referrers(ctx context.Context, repo string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	recs, err := pgxCollect(db.pool.Query(ctx, `SELECT m.record FROM manifests m JOIN repositories r ON r.id = m.repo_id
		WHERE r.name = $1 AND m.subject = $2 ORDER BY m.digest`, repo, string(subject)))
	if err != nil {
		return nil, fmt.Errorf("pg: referrers of %s@%s: %w", repo, subject, err)
	}
	out := []ocispec.Descriptor{}
	for _, rec := range recs {
		m, err := decodeManifest(rec, nil, false)
		if err != nil {
			return nil, err
		}
		out = append(out, m.Descriptor())
	}
	return out, nil
}

// pgxCollect returns the first column of every row as bytes.
func pgxCollect(rows pgx.Rows, err error) ([][]byte, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[[]byte])
}

// History implements storage.Metadata.
func (db *DB) History(ctx context.Context, repo, tag string) ([]storage.TagMove, error) {
	id, ok, err := repoID(ctx, db.pool, repo, false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", repo, storage.ErrNameUnknown)
	}
	var recs [][]byte
	if tag != "" {
		recs, err = pgxCollect(db.pool.Query(ctx, "SELECT record FROM tag_history WHERE repo_id = $1 AND tag = $2 ORDER BY id", id, tag))
	} else {
		recs, err = pgxCollect(db.pool.Query(ctx, "SELECT record FROM tag_history WHERE repo_id = $1 ORDER BY tag, id", id))
	}
	if err != nil {
		return nil, fmt.Errorf("pg: history of %s: %w", repo, err)
	}
	var out []storage.TagMove
	for _, rec := range recs {
		mv, err := decode[storage.TagMove](rec, "tag move")
		if err != nil {
			return nil, err
		}
		out = append(out, mv)
	}
	if tag == "" {
		// As the embedded store does: by time, each tag's moves in order.
		sortStable(out, func(m storage.TagMove) time.Time { return m.Time })
	}
	return out, nil
}

// LinkBlob implements storage.Metadata.
// A new repository and its first link are one transaction.
func (db *DB) LinkBlob(ctx context.Context, repo string, dgst digest.Digest, size int64) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		id, _, err := repoID(ctx, tx, repo, true)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO blob_links (repo_id, digest, size, linked) VALUES ($1, $2, $3, $4)
			ON CONFLICT (repo_id, digest) DO UPDATE SET size = EXCLUDED.size, linked = EXCLUDED.linked`,
			id, string(dgst), size, db.now().UTC())
		if err != nil {
			return fmt.Errorf("pg: link %s to %s: %w", dgst, repo, err)
		}
		return nil
	})
}

// BlobLink implements storage.Metadata.
func (db *DB) BlobLink(ctx context.Context, repo string, dgst digest.Digest) (int64, error) {
	var size int64
	err := db.pool.QueryRow(ctx, `SELECT l.size FROM blob_links l JOIN repositories r ON r.id = l.repo_id
		WHERE r.name = $1 AND l.digest = $2`, repo, string(dgst)).Scan(&size)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
	}
	if err != nil {
		return 0, fmt.Errorf("pg: blob link %s in %s: %w", dgst, repo, err)
	}
	return size, nil
}

// AnyBlobLink implements storage.Metadata.
func (db *DB) AnyBlobLink(ctx context.Context, dgst digest.Digest) (int64, error) {
	var size int64
	err := db.pool.QueryRow(ctx, "SELECT size FROM blob_links WHERE digest = $1 LIMIT 1", string(dgst)).Scan(&size)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
	}
	if err != nil {
		return 0, fmt.Errorf("pg: blob link %s: %w", dgst, err)
	}
	return size, nil
}

// UnlinkBlob implements storage.Metadata.
func (db *DB) UnlinkBlob(ctx context.Context, repo string, dgst digest.Digest) error {
	ct, err := db.pool.Exec(ctx, `DELETE FROM blob_links l USING repositories r
		WHERE r.id = l.repo_id AND r.name = $1 AND l.digest = $2`, repo, string(dgst))
	if err != nil {
		return fmt.Errorf("pg: unlink %s from %s: %w", dgst, repo, err)
	}
	if ct.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
	}
	return nil
}

// PutUpload implements storage.Metadata.
func (db *DB) PutUpload(ctx context.Context, s storage.UploadSession) error {
	rec, _ := json.Marshal(s)
	_, err := db.pool.Exec(ctx, `INSERT INTO uploads (id, record) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record`, s.ID, rec)
	if err != nil {
		return fmt.Errorf("pg: put upload %s: %w", s.ID, err)
	}
	return nil
}

// Upload implements storage.Metadata.
func (db *DB) Upload(ctx context.Context, id string) (storage.UploadSession, error) {
	var rec []byte
	err := db.pool.QueryRow(ctx, "SELECT record FROM uploads WHERE id = $1", id).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.UploadSession{}, fmt.Errorf("%s: %w", id, storage.ErrUploadUnknown)
	}
	if err != nil {
		return storage.UploadSession{}, fmt.Errorf("pg: upload %s: %w", id, err)
	}
	return decode[storage.UploadSession](rec, "upload")
}

// DeleteUpload implements storage.Metadata.
func (db *DB) DeleteUpload(ctx context.Context, id string) error {
	ct, err := db.pool.Exec(ctx, "DELETE FROM uploads WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("pg: delete upload %s: %w", id, err)
	}
	if ct.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", id, storage.ErrUploadUnknown)
	}
	return nil
}

// Uploads implements storage.Metadata.
func (db *DB) Uploads(ctx context.Context, fn func(storage.UploadSession) error) error {
	recs, err := pgxCollect(db.pool.Query(ctx, "SELECT record FROM uploads ORDER BY id"))
	if err != nil {
		return fmt.Errorf("pg: uploads: %w", err)
	}
	for _, rec := range recs {
		s, err := decode[storage.UploadSession](rec, "upload")
		if err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// LiveBlobs implements storage.Metadata. It holds the collector's advisory
// lock exclusively, so no manifest is stored on any node while it marks.
func (db *DB) LiveBlobs(ctx context.Context, cutoff time.Time) (map[digest.Digest]bool, error) {
	return db.liveBlobs(ctx, cutoff, true)
}

// PreviewLiveBlobs implements storage.LivePreviewer: LiveBlobs's
// transaction, rolled back.
func (db *DB) PreviewLiveBlobs(ctx context.Context, cutoff time.Time) (map[digest.Digest]bool, error) {
	return db.liveBlobs(ctx, cutoff, false)
}

// errRollback ends a transaction that must change nothing.
var errRollback = errors.New("pg: rolled back")

func (db *DB) liveBlobs(ctx context.Context, cutoff time.Time, commit bool) (map[digest.Digest]bool, error) {
	live := map[digest.Digest]bool{}
	err := db.tx(ctx, func(tx pgx.Tx) error {
		clear(live)
		if err := lockXact(ctx, tx, lockGC, false); err != nil {
			return err
		}
		// Only manifest references protect old links: a recent link in one
		// repository does not keep an old one in another.
		_, err := tx.Exec(ctx, `DELETE FROM blob_links l WHERE l.linked < $1
			AND NOT EXISTS (SELECT 1 FROM manifest_blobs b WHERE b.blob = l.digest)`, cutoff.UTC())
		if err != nil {
			return fmt.Errorf("pg: remove stale links: %w", err)
		}
		ds, err := collectStrings(tx.Query(ctx, "SELECT blob FROM manifest_blobs UNION SELECT digest FROM blob_links"))
		if err != nil {
			return fmt.Errorf("pg: live blobs: %w", err)
		}
		for _, d := range ds {
			live[digest.Digest(d)] = true
		}
		if !commit {
			return errRollback
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRollback) {
		return nil, err
	}
	return live, nil
}

// BlobLive implements storage.Metadata.
func (db *DB) BlobLive(ctx context.Context, dgst digest.Digest) (bool, error) {
	var live bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blob_links WHERE digest = $1)
		OR EXISTS (SELECT 1 FROM manifest_blobs WHERE blob = $1)`, string(dgst)).Scan(&live)
	if err != nil {
		return false, fmt.Errorf("pg: blob %s live: %w", dgst, err)
	}
	return live, nil
}

// RepositoryManifests implements storage.Metadata.
func (db *DB) RepositoryManifests(ctx context.Context, repo string) ([]*storage.Manifest, error) {
	id, ok, err := repoID(ctx, db.pool, repo, false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", repo, storage.ErrNameUnknown)
	}
	rows, err := db.pool.Query(ctx, "SELECT record, content FROM manifests WHERE repo_id = $1 ORDER BY digest", id)
	if err != nil {
		return nil, fmt.Errorf("pg: manifests of %s: %w", repo, err)
	}
	var ms []*storage.Manifest
	var rec, content []byte
	_, err = pgx.ForEachRow(rows, []any{&rec, &content}, func() error {
		m, err := decodeManifest(rec, slices.Clone(content), true)
		if err != nil {
			return err
		}
		ms = append(ms, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pg: manifests of %s: %w", repo, err)
	}
	return ms, nil
}

// TagsByDigest implements storage.Metadata.
func (db *DB) TagsByDigest(ctx context.Context, repo string) (map[digest.Digest][]string, error) {
	id, ok, err := repoID(ctx, db.pool, repo, false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", repo, storage.ErrNameUnknown)
	}
	rows, err := db.pool.Query(ctx, "SELECT tag, digest FROM tags WHERE repo_id = $1 ORDER BY tag", id)
	if err != nil {
		return nil, fmt.Errorf("pg: tags of %s: %w", repo, err)
	}
	out := map[digest.Digest][]string{}
	var tag, d string
	_, err = pgx.ForEachRow(rows, []any{&tag, &d}, func() error {
		out[digest.Digest(d)] = append(out[digest.Digest(d)], tag)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pg: tags of %s: %w", repo, err)
	}
	return out, nil
}

// Manifests implements storage.Metadata. It reads one repository at a
// time and calls fn outside any transaction.
func (db *DB) Manifests(ctx context.Context, fn func(*storage.Manifest) error) error {
	repos, err := db.Repositories(ctx, "", 0)
	if err != nil {
		return err
	}
	for _, repo := range repos {
		ms, err := db.RepositoryManifests(ctx, repo)
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
