package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
)

// logKeyFile is the default place of the log's signing key, under --data.
const logKeyFile = "log.key"

// tlogOptions are the flags of the transparency log.
type tlogOptions struct {
	key    string // --log-key: the signing key's file
	origin string // --log-origin: the name of a key serve creates
}

// defaultLogOrigin names a new log key: this host's name, as a schema-less
// URL as C2SP tlog-checkpoint asks.
func defaultLogOrigin() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, "+ \t\n") {
		h = "localhost"
	}
	return h + "/cairn"
}

// openTransparencyLog loads (or, at first start, creates) the log key and
// returns the server of the log of names, or nil when the metadata store
// keeps no log.
func openTransparencyLog(o serveOptions, db metaStore, log *slog.Logger) (*tlog.Server, error) {
	logs, ok := db.(storage.TransparencyLogs)
	if !ok {
		log.Warn("this metadata store keeps no transparency log: /_cairn/tlog/ is not served")
		return nil, nil
	}
	file := o.tlog.key
	if file == "" {
		file = filepath.Join(o.data, logKeyFile)
	}
	origin := o.tlog.origin
	if origin == "" {
		origin = defaultLogOrigin()
	}
	key, created, err := tlog.LoadOrCreateKey(file, origin)
	if err != nil {
		return nil, fmt.Errorf("--log-key: %w", err)
	}
	if created {
		log.Warn("created the transparency log key: keep a copy apart from the data, clients pin it", "file", file, "verifier", key.VerifierKey())
	} else if o.tlog.origin != "" && o.tlog.origin != key.Name() {
		return nil, fmt.Errorf("--log-origin %q: the key in %s is %q's", o.tlog.origin, file, key.Name())
	}
	// Nodes sharing one database share one log: the first records its
	// verifier key, and a node with another key refuses to start rather
	// than sign the same tree under a key clients do not know.
	if o.backends.metadata != "" {
		recorded, err := db.Secret(context.Background(), tlogVerifierSecret, []byte(key.VerifierKey()))
		if err != nil {
			return nil, fmt.Errorf("transparency log key: %w", err)
		}
		if string(recorded) != key.VerifierKey() {
			return nil, fmt.Errorf("--log-key %s: this database's log is signed by %s; give every node the same --log-key file", file, recorded)
		}
	}
	return tlog.New(tlog.Config{Store: logs, Key: key, Logger: log})
}

// tlogVerifierSecret names the verifier key recorded in a shared database
// (storage.Accounts secrets).
const tlogVerifierSecret = "tlog-verifier"

// transparencyLogAPI serves the log under tlog.PathPrefix in front of
// next. Checkpoints, the verifier key and hash tiles are public (they hold
// only sizes and hashes); entry bundles name repositories, tags and
// principals, so with auth on they need a login.
func transparencyLogAPI(next http.Handler, srv *tlog.Server, authn *auth.Auth) http.Handler {
	if srv == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, tlog.PathPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		if authn != nil && strings.HasPrefix(r.URL.Path, tlog.PathPrefix+"tile/entries/") {
			if _, ok := authn.Authenticate(r); !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="cairn"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		srv.ServeHTTP(w, r)
	})
}

// configDir is cairn's directory in the user configuration directory, or
// $CAIRN_CONFIG_DIR.
func configDir() (string, error) {
	if d := os.Getenv("CAIRN_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory to keep checkpoints in (set CAIRN_CONFIG_DIR): %w", err)
	}
	return filepath.Join(d, "cairn"), nil
}

// tlogVerifyOptions are the flags of commands that check a registry's
// transparency log.
type tlogVerifyOptions struct {
	verify bool
	key    string // --log-key: a verifier key, or a file holding one
}

func (o *tlogVerifyOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.verify, "verify", false, "check every move against the registry's transparency log (exit 1 on a rollback, a fork or an entry not in the log)")
	cmd.Flags().StringVar(&o.key, "log-key", "", "the log's verifier key (NAME+HASH+BASE64) or a file holding it (default: pinned on first use)")
}

// update fetches and checks the log of names of registry host and stores
// the newer checkpoint. Failed checks exit 1.
func (o *tlogVerifyOptions) update(ctx context.Context, ro *remoteOptions, host string) (*tlog.Verified, error) {
	key := o.key
	if key != "" && !strings.Contains(key, "+") {
		b, err := os.ReadFile(key)
		if err != nil {
			return nil, fmt.Errorf("--log-key: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	dir, err := configDir()
	if err != nil {
		return nil, err
	}
	c := &tlog.Client{
		URL:   ro.baseURL(host) + tlog.PathPrefix,
		HTTP:  ro.client(),
		Key:   key,
		State: filepath.Join(dir, "tlog", strings.ReplaceAll(host, ":", "_"), storage.LogNames),
	}
	v, err := c.Update(ctx)
	if errors.Is(err, tlog.ErrVerification) {
		return nil, refused(fmt.Errorf("%s: %w", host, err))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: transparency log: %w", host, err)
	}
	return v, nil
}

// report says on w what was checked.
func (o *tlogVerifyOptions) report(w io.Writer, v *tlog.Verified, entries int) {
	switch {
	case v.Pinned:
		fmt.Fprintf(w, "verified %d entries in %s at size %d; first use: pinned its key\n", entries, v.Origin, v.N)
	case v.Previous > 0:
		fmt.Fprintf(w, "verified %d entries in %s at size %d, consistent with size %d seen before\n", entries, v.Origin, v.N, v.Previous)
	default:
		fmt.Fprintf(w, "verified %d entries in %s at size %d\n", entries, v.Origin, v.N)
	}
}
