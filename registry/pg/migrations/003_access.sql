-- The access log (storage.AccessLog), a hash chain. enc is
-- storage.EncodeAccessRecord of the record, hash its SHA-256. repository,
-- principal, action and result repeat the record's fields (as bytes: a
-- field may hold any UTF-8, NUL included) so that filtered reads are
-- answered by the database, by index for the first two; VerifyAccess checks
-- that they match the record.
CREATE TABLE access_log (
	seq        bigint PRIMARY KEY,
	hash       bytea NOT NULL,
	enc        bytea NOT NULL,
	repository bytea,
	principal  bytea,
	action     bytea NOT NULL,
	result     bytea NOT NULL
);
CREATE INDEX access_log_repository ON access_log (repository, seq) WHERE repository IS NOT NULL;
CREATE INDEX access_log_principal ON access_log (principal, seq) WHERE principal IS NOT NULL;

-- 'head': the newest record ever appended; 'anchor': the last record
-- retention removed (no row: never pruned).
CREATE TABLE access_chain (
	name text COLLATE "C" PRIMARY KEY,
	seq  bigint NOT NULL,
	hash bytea NOT NULL
);
