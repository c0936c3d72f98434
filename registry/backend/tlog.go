package backend

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
)

// TransparencyLogOptions say where the transparency log's key is and how
// the metadata store is kept.
type TransparencyLogOptions struct {
	// KeyFile is the signing key's file, created at first start.
	KeyFile string
	// Origin names a key created now (default DefaultLogOrigin()); a
	// non-empty Origin must be the name of an existing key.
	Origin string
	// Shared is set when other nodes share the metadata store: they must
	// all sign with one key, the one recorded by the first.
	Shared bool
	// Witnesses are submitted each new checkpoint (tlog.Config.Witnesses).
	Witnesses []tlog.Witness
	Logger    *slog.Logger
}

// tlogVerifierSecret names the verifier key recorded in a shared database
// (storage.Accounts secrets).
const tlogVerifierSecret = "tlog-verifier"

// OriginError is a log key whose name is not the origin asked for.
type OriginError struct{ Origin, File, KeyName string }

func (e *OriginError) Error() string {
	return fmt.Sprintf("origin %q: the key in %s is %q's", e.Origin, e.File, e.KeyName)
}

// KeyMismatchError is a node whose log key is not the one the shared
// database's log is signed with.
type KeyMismatchError struct{ File, Recorded string }

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("log key %s: this database's log is signed by %s; give every node the same key file", e.File, e.Recorded)
}

// DefaultLogOrigin names a new log key: this host's name, as a schema-less
// URL as C2SP tlog-checkpoint asks.
func DefaultLogOrigin() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, "+ \t\n") {
		h = "localhost"
	}
	return h + "/cairn"
}

// OpenTransparencyLog loads (or, at first start, creates) the log key and
// returns the server of the log of names, or nil when md keeps no log. A
// key that cannot be loaded is an *Error for "log-key".
func OpenTransparencyLog(ctx context.Context, md Metadata, o TransparencyLogOptions) (*tlog.Server, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	logs, ok := md.(storage.TransparencyLogs)
	if !ok {
		log.Warn("this metadata store keeps no transparency log: /_cairn/tlog/ is not served")
		return nil, nil
	}
	origin := o.Origin
	if origin == "" {
		origin = DefaultLogOrigin()
	}
	key, created, err := tlog.LoadOrCreateKey(o.KeyFile, origin)
	if err != nil {
		return nil, &Error{Option: "log-key", Err: err}
	}
	if created {
		log.Warn("created the transparency log key: keep a copy apart from the data, clients pin it", "file", o.KeyFile, "verifier", key.VerifierKey())
	} else if o.Origin != "" && o.Origin != key.Name() {
		return nil, &OriginError{Origin: o.Origin, File: o.KeyFile, KeyName: key.Name()}
	}
	// Nodes sharing one database share one log: the first records its
	// verifier key, and a node with another key refuses to start rather
	// than sign the same tree under a key clients do not know.
	if o.Shared {
		recorded, err := md.Secret(ctx, tlogVerifierSecret, []byte(key.VerifierKey()))
		if err != nil {
			return nil, fmt.Errorf("transparency log key: %w", err)
		}
		if string(recorded) != key.VerifierKey() {
			return nil, &KeyMismatchError{File: o.KeyFile, Recorded: string(recorded)}
		}
	}
	return tlog.New(tlog.Config{Store: logs, Key: key, Logger: log, Witnesses: o.Witnesses})
}
