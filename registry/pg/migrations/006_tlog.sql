-- Transparency logs (storage.TransparencyLogs): leaf idx of a log holds its
-- entry and the stored hashes tlog.StoredHashes returned when it was
-- appended (concatenated, 32 bytes each), so the tree is never recomputed.
-- Appends are serialised by an advisory lock per log, taken by the
-- transaction of the change the leaf records.
CREATE TABLE tlog_leaves (
	log    text COLLATE "C" NOT NULL,
	idx    bigint NOT NULL,
	hashes bytea NOT NULL,
	entry  bytea NOT NULL,
	PRIMARY KEY (log, idx)
);
