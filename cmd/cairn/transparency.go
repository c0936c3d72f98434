package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/backend"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/tlogproof"
)

// logKeyFile is the default place of the log's signing key, under --data.
const logKeyFile = "log.key"

// tlogOptions are the flags of the transparency log.
type tlogOptions struct {
	key       string   // --log-key: the signing key's file
	origin    string   // --log-origin: the name of a key serve creates
	witnesses []string // --witness URL=KEY
}

// parseWitnesses reads the --witness URL=KEY flags: URL is the witness's
// base URL (add-checkpoint is appended unless it ends so), KEY its
// cosignature verifier key as cairn witness prints it.
func parseWitnesses(flags []string) ([]tlog.Witness, error) {
	if len(flags) > tlog.MaxWitnesses {
		return nil, fmt.Errorf("--witness: %d witnesses, at most %d", len(flags), tlog.MaxWitnesses)
	}
	var out []tlog.Witness
	for _, f := range flags {
		u, key, ok := strings.Cut(f, "=")
		pu, err := url.Parse(u)
		if !ok || err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || key == "" {
			return nil, fmt.Errorf("--witness %q: want URL=KEY, as --witness https://witness.example=witness.example+1234abcd+BASE64", f)
		}
		if !strings.HasSuffix(pu.Path, "/add-checkpoint") {
			pu.Path = strings.TrimSuffix(pu.Path, "/") + "/add-checkpoint"
		}
		out = append(out, tlog.Witness{URL: pu.String(), Key: key})
	}
	return out, nil
}

// openTransparencyLog opens the log of names (backend.OpenTransparencyLog)
// with the key of --log-key (default DATA/log.key); an error names the
// flag at fault.
func openTransparencyLog(o serveOptions, db metaStore, log *slog.Logger) (*tlog.Server, error) {
	witnesses, err := parseWitnesses(o.tlog.witnesses)
	if err != nil {
		return nil, err
	}
	file := o.tlog.key
	if file == "" {
		file = filepath.Join(o.data, logKeyFile)
	}
	srv, err := backend.OpenTransparencyLog(context.Background(), db, backend.TransparencyLogOptions{
		KeyFile: file, Origin: o.tlog.origin, Shared: o.backends.metadata != "", Witnesses: witnesses, Logger: log})
	var (
		be *backend.Error
		oe *backend.OriginError
		ke *backend.KeyMismatchError
	)
	switch {
	case errors.As(err, &be):
		return nil, fmt.Errorf("--%s: %w", be.Option, be.Err)
	case errors.As(err, &oe):
		return nil, fmt.Errorf("--log-origin %q: the key in %s is %q's", oe.Origin, oe.File, oe.KeyName)
	case errors.As(err, &ke):
		return nil, fmt.Errorf("--log-key %s: this database's log is signed by %s; give every node the same --log-key file", ke.File, ke.Recorded)
	}
	return srv, err
}

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

// accessTransparencyLogAPI serves the access log's transparency log
// (storage.LogAccess, origin tlog.AccessOrigin) under
// tlog.AccessPathPrefix in front of next, with the key of the log of
// names. Its leaves are records' times and hashes, and its checkpoints
// count the requests a registry answered: like the access log itself, the
// whole prefix is for administrators (admins nil: authentication off).
func accessTransparencyLogAPI(next http.Handler, names *tlog.Server, rec *accesslog.Recorder, admins accesslog.Admins) http.Handler {
	if names == nil {
		return next
	}
	srv := rec.AdminOnly(names.Log(storage.LogAccess, tlog.AccessOrigin(names.Key().Name())), admins,
		"the access log's transparency log is for administrators of the registry")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, tlog.AccessPathPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		srv.ServeHTTP(w, r)
	})
}

// tlogVerifyOptions are the flags of commands that check a registry's
// transparency log.
type tlogVerifyOptions struct {
	verify bool
	key    string // --log-key: a verifier key, or a file holding one
	policy string // --policy: its rule's logKey and witnesses apply
}

func (o *tlogVerifyOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.verify, "verify", false, "check every move against the registry's transparency log (exit 1 on a rollback, a fork or an entry not in the log)")
	cmd.Flags().StringVar(&o.key, "log-key", "", "the log's verifier key (NAME+HASH+BASE64) or a file holding it (default: the policy's logKey, else pinned on first use)")
	cmd.Flags().StringVar(&o.policy, "policy", "", "a policy file: the logKey and witnesses of the rule for the repository apply to --verify")
}

// update fetches and checks the log of names of registry host and stores
// the newer checkpoint. Failed checks exit 1.
func (o *tlogVerifyOptions) update(ctx context.Context, ro *remoteOptions, host, repository string) (*tlog.Verified, error) {
	key := o.key
	var w tlogproof.Witnesses
	if o.policy != "" {
		p, err := verify.LoadPolicy(o.policy)
		if err != nil {
			return nil, err
		}
		rule, err := p.Rule(host + "/" + repository)
		if err != nil {
			return nil, refused(err)
		}
		if key == "" {
			key = rule.LogKey
		}
		w = tlogproof.Witnesses{Keys: rule.Witnesses, Threshold: rule.WitnessThreshold}
	}
	if key != "" && !strings.Contains(key, "+") {
		b, err := os.ReadFile(key)
		if err != nil {
			return nil, fmt.Errorf("--log-key: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	if _, err := client.ConfigDir(); err != nil {
		return nil, err
	}
	v, err := client.UpdateTransparencyLog(ctx, host, key, w, ro.options())
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
