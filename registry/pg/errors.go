package pg

import "errors"

var (
	// ErrURL means the --metadata URL is not a PostgreSQL connection URL
	// pgx can use.
	ErrURL = errors.New("invalid PostgreSQL URL")
	// ErrNoSchema means the connection's search_path names no schema that
	// exists, so there is nowhere to create the tables.
	ErrNoSchema = errors.New("no schema to use: the search_path names none that exists")
	// ErrSchemaTooNew means the database was migrated by a newer cairn.
	ErrSchemaTooNew = errors.New("metadata schema is newer than this cairn")
)
