package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/storage"
	ctlog "cairn.dev/cairn/registry/tlog"
)

// accessTreeOptions are the flags of cairn log verify that check the
// access log against its transparency log.
type accessTreeOptions struct {
	checkpoint string        // --checkpoint: a checkpoint kept earlier
	key        string        // --log-key: the verifier key, or a file
	retention  retentionFlag // --retention: the server's --log-retention
}

func (o *accessTreeOptions) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.checkpoint, "checkpoint", "", "a checkpoint of the access log kept earlier (GET /_cairn/tlog/access/checkpoint, or a witness's): the log must extend it")
	fl.StringVar(&o.key, "log-key", "", "the log's verifier key (NAME+HASH+BASE64) or a file holding it or the signing key (default: DATA/log.key with --data, the key pinned on first use with --registry)")
	fl.Var(&o.retention, "retention", "the server's --log-retention: a prune that removed records younger than this is forged (0: not checked)")
}

// accessTree is an access log's transparency log as a source holds it.
type accessTree struct {
	leaves [][]byte
	// tree is what the leaves must hash to: the store's stored hashes, or
	// the checkpoint the registry signed.
	tree tlog.Tree
	// vkey checks checkpoints ("" when none is known).
	vkey string
	// note is the checkpoint the registry signed, when read from one.
	note []byte
	// live is true for a running server's log: records appended after its
	// checkpoint (this check's own requests among them) are the next
	// checkpoint's, not checked now.
	live bool
}

// readKey returns the verifier key a --log-key value names: a key, or a
// file holding a verifier or a signing key.
func readKey(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if _, err := note.NewVerifier(v); err == nil {
		return v, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "PRIVATE+KEY") {
		k, err := ctlog.ParseKey(s)
		if err != nil {
			return "", err
		}
		return k.VerifierKey(), nil
	}
	return s, nil
}

// accessTree reads the local store's log: its leaves and the root of its
// stored hashes; the key is --log-key or DATA/log.key when there is one.
func (l localLog) accessTree(ctx context.Context, o *accessTreeOptions, data string) (*accessTree, error) {
	leaves, tree, err := ctlog.ReadAccessLog(ctx, l)
	if err != nil {
		return nil, err
	}
	keyArg := o.key
	if keyArg == "" {
		if _, err := os.Stat(filepath.Join(data, logKeyFile)); err == nil {
			keyArg = filepath.Join(data, logKeyFile)
		}
	}
	vkey, err := readKey(keyArg)
	if err != nil {
		return nil, fmt.Errorf("--log-key: %w", err)
	}
	return &accessTree{leaves: leaves, tree: tree, vkey: vkey}, nil
}

// accessTree fetches the registry's access log checkpoint and leaves as
// an administrator, checking the checkpoint against the one this user
// stored for it before (a rollback or a fork is refused) and storing it.
func (r remoteLog) accessTree(ctx context.Context, o *accessTreeOptions, _ string) (*accessTree, error) {
	vkey, err := readKey(o.key)
	if err != nil {
		return nil, fmt.Errorf("--log-key: %w", err)
	}
	dir, err := client.ConfigDir()
	if err != nil {
		return nil, err
	}
	host := r.o.registry
	hc, err := r.o.client(host)
	if err != nil {
		return nil, err
	}
	c := &ctlog.Client{
		URL:    r.o.baseURL(host) + ctlog.AccessPathPrefix,
		HTTP:   hc,
		Key:    vkey,
		State:  client.LogState(dir, host, storage.LogAccess),
		Origin: ctlog.AccessOrigin,
	}
	v, err := c.Update(ctx)
	if err != nil {
		return nil, err
	}
	leaves, err := v.Leaves()
	if err != nil {
		return nil, err
	}
	if vkey == "" {
		b, err := os.ReadFile(filepath.Join(c.State, "verifier"))
		if err != nil {
			return nil, err
		}
		vkey = strings.TrimSpace(string(b))
	}
	return &accessTree{leaves: leaves, tree: v.Tree, vkey: vkey, note: v.Note, live: true}, nil
}

// checkAccessTree checks the access log of src against its transparency
// log and, with --checkpoint, against a checkpoint kept earlier. A failed
// check exits 1 naming it.
func (o *accessTreeOptions) check(ctx context.Context, w io.Writer, src logSource, data string, asJSON bool) error {
	at, err := src.accessTree(ctx, o, data)
	if errors.Is(err, ctlog.ErrVerification) {
		return refused(fmt.Errorf("access log's transparency log: %w", err))
	}
	if err != nil {
		return fmt.Errorf("read the access log's transparency log: %w", err)
	}
	in := ctlog.AccessLogInput{Leaves: at.leaves, Tree: &at.tree, Retention: time.Duration(o.retention)}
	if o.checkpoint != "" {
		if at.vkey == "" {
			return errors.New("--checkpoint needs the log's key: give --log-key")
		}
		msg, err := os.ReadFile(o.checkpoint)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		v, err := note.NewVerifier(at.vkey)
		if err != nil {
			return fmt.Errorf("--log-key: %w", err)
		}
		kept, err := ctlog.OpenCheckpointOf(msg, at.vkey, ctlog.AccessOrigin(v.Name()))
		if err != nil {
			return refused(fmt.Errorf("--checkpoint %s: %w", o.checkpoint, err))
		}
		in.Kept = &kept.Tree
	}
	err = src.walk(ctx, storage.AccessFilter{}, func(r storage.AccessRecord) error {
		if !at.live || r.Seq <= uint64(at.tree.N) {
			in.Records = append(in.Records, r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the access log: %w", err)
	}
	if at.tree.N == 0 && len(in.Records) > 0 && in.Kept == nil {
		if !asJSON {
			fmt.Fprintln(w, "the access log has no transparency log yet: the server creates it with the next record it appends")
		}
		return nil
	}
	rep, err := ctlog.CheckAccess(ctx, in)
	if errors.Is(err, ctlog.ErrVerification) {
		if !asJSON {
			fmt.Fprintf(w, "access log BROKEN: %v\n", err)
		}
		return refused(err)
	}
	if err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(w, "transparency log: %d leaves, root %s: %d records match their leaves", rep.Tree.N, rep.Tree.Hash, rep.Records)
		if rep.Pruned > 0 {
			fmt.Fprintf(w, ", %d removed by retention (their leaves kept)", rep.Pruned)
		}
		fmt.Fprintln(w)
		if in.Kept != nil {
			fmt.Fprintf(w, "it extends the checkpoint kept in %s (%d leaves)\n", o.checkpoint, in.Kept.N)
		}
	}
	return nil
}
