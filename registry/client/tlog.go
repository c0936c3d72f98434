package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
	"cairn.dev/cairn/verify/tlogproof"
)

// ConfigDir is cairn's directory in the user configuration directory, or
// $CAIRN_CONFIG_DIR.
func ConfigDir() (string, error) {
	if d := os.Getenv("CAIRN_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory to keep checkpoints in (set CAIRN_CONFIG_DIR): %w", err)
	}
	return filepath.Join(d, "cairn"), nil
}

// UpdateTransparencyLog fetches and checks the log of names of the
// registry at host (tlog.Client.Update) against key (a verifier key;
// empty: the key pinned on first use) and the last checkpoint this user
// saw of it, kept under ConfigDir()/tlog, and stores the newer one; w is
// what the checkpoint's witnesses must have cosigned (the zero value:
// nothing). A failed check is an error wrapping tlog.ErrVerification.
func UpdateTransparencyLog(ctx context.Context, host, key string, w tlogproof.Witnesses, o Options) (*tlog.Verified, error) {
	host, o = o.WithScheme(host)
	hc, err := o.HTTPClient(host)
	if err != nil {
		return nil, err
	}
	return updateLog(ctx, o.BaseURL(host), hc, host, key, w)
}

// logState is the directory of the client state of the log of names of
// the registry at host.
func logState(dir, host string) string { return LogState(dir, host, storage.LogNames) }

// LogState is the directory, under the configuration directory dir, of
// this user's state (pinned key, last checkpoint) of the registry's log
// named log (storage.LogNames, storage.LogAccess).
func LogState(dir, host, log string) string {
	return filepath.Join(dir, "tlog", strings.ReplaceAll(host, ":", "_"), log)
}

// PinnedLogKey returns the verifier key of the log of names of the
// registry at host that this user pinned (UpdateTransparencyLog), or ""
// when none is: what an offline check of a pulled directory checks its
// checkpoint with when the policy names no key.
func PinnedLogKey(host string) (string, error) {
	dir, err := ConfigDir()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(logState(dir, host), "verifier"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

// ProveTransparency fetches from the registry's transparency log the
// proof of what t's reference means, as rule demands
// (verify.Rule.Transparency), into t.Transparency: the checkpoint is
// checked against rule.LogKey (or the pinned key), rule's witnesses and
// the last checkpoint this user saw of that registry (which it then
// replaces); for a tag, the tag's history is checked leaf by leaf and its
// latest move in the log must name t's digest; for a digest, the
// manifest's latest push or delete in the log must be a push. A failed
// check wraps verify.ErrVerification; agent.Agent.CheckMetadata then
// checks the evidence itself.
func ProveTransparency(ctx context.Context, r *Repository, t *agent.Target, rule *verify.Rule) error {
	c := tlogproof.Claim{Repository: t.Repository, Tag: t.Tag, Digest: t.Desc.Digest}
	var moves []storage.TagMove
	if c.Tag != "" {
		var err error
		moves, err = r.Remote.History(ctx, c.Tag)
		if se := (*StatusError)(nil); errors.As(err, &se) {
			return fmt.Errorf("%w: %s: the registry does not answer the history of %s (%d)", tlogproof.ErrNotInLog, t.Registry, c.Tag, se.Status)
		} else if err != nil {
			return err
		}
	}
	// The checkpoint is fetched after the history, so it covers every
	// leaf the history names.
	v, err := updateLog(ctx, r.Remote.Base, r.Remote.Client, t.Registry, rule.LogKey, tlogproof.Witnesses{Keys: rule.Witnesses, Threshold: rule.WitnessThreshold})
	if err != nil {
		return fmt.Errorf("%s: %w", t.Registry, err)
	}
	ev, err := v.Prove(c, moves)
	if err != nil {
		return fmt.Errorf("%s: %w", t.Registry, err)
	}
	t.Transparency = ev
	return nil
}

// updateLog checks the log of names of the registry at host, reached at
// base ("http://HOST") through hc: the one path of UpdateTransparencyLog
// and ProveTransparency (which reuses its repository's scheme and client).
func updateLog(ctx context.Context, base string, hc remote.Client, host, key string, w tlogproof.Witnesses) (*tlog.Verified, error) {
	dir, err := ConfigDir()
	if err != nil {
		return nil, err
	}
	c := &tlog.Client{
		URL:       base + tlog.PathPrefix,
		HTTP:      hc,
		Key:       key,
		State:     logState(dir, host),
		Witnesses: w,
	}
	return c.Update(ctx)
}
