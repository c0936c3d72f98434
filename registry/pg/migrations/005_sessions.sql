-- Web UI sessions: storage.Sessions. A session goes with its user.
CREATE TABLE sessions (
	id       text COLLATE "C" PRIMARY KEY,
	username text COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	created  timestamptz NOT NULL,
	expires  timestamptz NOT NULL,
	record   bytea NOT NULL
);
CREATE INDEX sessions_user ON sessions (username, created, id);
CREATE INDEX sessions_expires ON sessions (expires);
