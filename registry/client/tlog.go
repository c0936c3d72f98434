package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
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
// saw of it, kept under ConfigDir()/tlog, and stores the newer one. A
// failed check is an error wrapping tlog.ErrVerification.
func UpdateTransparencyLog(ctx context.Context, host, key string, o Options) (*tlog.Verified, error) {
	dir, err := ConfigDir()
	if err != nil {
		return nil, err
	}
	host, o = o.WithScheme(host)
	hc, err := o.HTTPClient(host)
	if err != nil {
		return nil, err
	}
	c := &tlog.Client{
		URL:   o.BaseURL(host) + tlog.PathPrefix,
		HTTP:  hc,
		Key:   key,
		State: filepath.Join(dir, "tlog", strings.ReplaceAll(host, ":", "_"), storage.LogNames),
	}
	return c.Update(ctx)
}
