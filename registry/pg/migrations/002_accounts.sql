-- Users, grants, API tokens and signing secrets: storage.Accounts. Records
-- are the JSON of the storage types.

CREATE TABLE users (
	name   text COLLATE "C" PRIMARY KEY,
	record bytea NOT NULL
);

CREATE TABLE grants (
	username text COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	pattern  text COLLATE "C" NOT NULL,
	record   bytea NOT NULL,
	PRIMARY KEY (username, pattern)
);

CREATE TABLE tokens (
	id       text COLLATE "C" PRIMARY KEY,
	username text COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	record   bytea NOT NULL
);
CREATE INDEX tokens_user ON tokens (username);

CREATE TABLE secrets (
	name  text COLLATE "C" PRIMARY KEY,
	value bytea NOT NULL
);

-- Counters that writers bump in their transaction: "accounts" is
-- storage.Accounts.AccountsRevision.
CREATE TABLE counters (
	name  text COLLATE "C" PRIMARY KEY,
	value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('accounts', 0);
