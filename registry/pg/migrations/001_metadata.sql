-- Repositories, manifests, tags and their history, referrers, blob links,
-- upload sessions and quarantines: what storage.Metadata and
-- storage.Quarantines keep. Text that is listed in order uses the "C"
-- collation, so that order is byte order, as in the embedded store.

CREATE TABLE repositories (
	id   bigserial PRIMARY KEY,
	name text COLLATE "C" NOT NULL UNIQUE
);

-- record is the JSON of storage.Manifest (without the content); content is
-- the manifest exactly as pushed.
CREATE TABLE manifests (
	repo_id bigint NOT NULL REFERENCES repositories (id),
	digest  text COLLATE "C" NOT NULL,
	subject text COLLATE "C",
	record  bytea NOT NULL,
	content bytea NOT NULL,
	PRIMARY KEY (repo_id, digest)
);
CREATE INDEX manifests_subject ON manifests (repo_id, subject) WHERE subject IS NOT NULL;

-- The config and layer digests of each manifest (storage.Manifest.Blobs),
-- for the garbage collector's mark phase.
CREATE TABLE manifest_blobs (
	repo_id  bigint NOT NULL,
	manifest text COLLATE "C" NOT NULL,
	blob     text COLLATE "C" NOT NULL,
	PRIMARY KEY (repo_id, manifest, blob),
	FOREIGN KEY (repo_id, manifest) REFERENCES manifests (repo_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_blobs_blob ON manifest_blobs (blob);

CREATE TABLE tags (
	repo_id bigint NOT NULL REFERENCES repositories (id),
	tag     text COLLATE "C" NOT NULL,
	digest  text COLLATE "C" NOT NULL,
	PRIMARY KEY (repo_id, tag)
);
CREATE INDEX tags_digest ON tags (repo_id, digest);

-- Every move of a tag, in the order the moves were made (id); record is
-- the JSON of storage.TagMove.
CREATE TABLE tag_history (
	id      bigserial PRIMARY KEY,
	repo_id bigint NOT NULL REFERENCES repositories (id),
	tag     text COLLATE "C" NOT NULL,
	record  bytea NOT NULL
);
CREATE INDEX tag_history_tag ON tag_history (repo_id, tag, id);

CREATE TABLE blob_links (
	repo_id bigint NOT NULL REFERENCES repositories (id),
	digest  text COLLATE "C" NOT NULL,
	size    bigint NOT NULL,
	linked  timestamptz NOT NULL,
	PRIMARY KEY (repo_id, digest)
);
CREATE INDEX blob_links_digest ON blob_links (digest);

-- record is the JSON of storage.UploadSession.
CREATE TABLE uploads (
	id     text COLLATE "C" PRIMARY KEY,
	record bytea NOT NULL
);

-- record is the JSON of storage.Quarantine.
CREATE TABLE quarantines (
	repository text COLLATE "C" NOT NULL,
	digest     text COLLATE "C" NOT NULL,
	record     bytea NOT NULL,
	PRIMARY KEY (repository, digest)
);
