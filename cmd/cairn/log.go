package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
)

// accessLogPath is where cairn serve answers the access log (admin only).
const accessLogPath = client.AccessLogPath

// DefaultLogRetention is how long cairn serve keeps access records.
const defaultLogRetention = 365 * 24 * time.Hour

// logOptions are the flags shared by cairn log and cairn log verify.
type logOptions struct {
	adminOptions // --registry, --plain-http, --json
	data         string
}

func (o *logOptions) addFlags(cmd *cobra.Command) {
	o.adminOptions.addFlags(cmd, true)
	cmd.Flags().Lookup("registry").Usage = "read the log from this running server, HOST:PORT, as an administrator (default $CAIRN_REGISTRY); log in first with cairn login"
	cmd.Flags().StringVar(&o.data, "data", "./cairn-data", "read the log from this data directory (the server must be stopped)")
}

// logSource is where the records are read from: the database file or a
// running server.
type logSource interface {
	walk(ctx context.Context, f storage.AccessFilter, fn func(storage.AccessRecord) error) error
	verify(ctx context.Context) (storage.AccessChainState, error)
	// accessTree reads the access log's transparency log (logtree.go).
	accessTree(ctx context.Context, o *accessTreeOptions, data string) (*accessTree, error)
	Close() error
}

// open returns the source the flags name: --registry when set, else --data.
func (o *logOptions) open(cmd *cobra.Command) (logSource, error) {
	fl := cmd.Flags()
	if fl.Changed("data") && fl.Changed("registry") {
		return nil, errors.New("--data and --registry: give one")
	}
	if o.registry != "" && !fl.Changed("data") {
		return remoteLog{o: &o.adminOptions}, nil
	}
	path := filepath.Join(o.data, "meta.db")
	db, err := meta.OpenReadOnly(path, &meta.Options{LockTimeout: 500 * time.Millisecond})
	switch {
	case errors.Is(err, meta.ErrLocked):
		return nil, fmt.Errorf("%s is held by a running cairn serve: read the log from the server instead, cairn log --registry HOST:PORT (as an administrator)", path)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no registry database at %s (give the server's --data, or --registry HOST:PORT)", path)
	case err != nil:
		return nil, err
	}
	return localLog{db}, nil
}

type localLog struct{ *meta.DB }

func (l localLog) walk(ctx context.Context, f storage.AccessFilter, fn func(storage.AccessRecord) error) error {
	return l.Access(ctx, f, fn)
}

func (l localLog) verify(ctx context.Context) (storage.AccessChainState, error) {
	return l.VerifyAccess(ctx)
}

// remoteLog reads the admin endpoint of a running server, a page at a
// time.
type remoteLog struct{ o *adminOptions }

func (remoteLog) Close() error { return nil }

func (r remoteLog) walk(ctx context.Context, f storage.AccessFilter, fn func(storage.AccessRecord) error) error {
	return r.o.admin(ctx, func(ctx context.Context, a *client.Admin) error { return a.AccessLog(ctx, f, fn) })
}

func (r remoteLog) verify(ctx context.Context) (st storage.AccessChainState, err error) {
	err = r.o.admin(ctx, func(ctx context.Context, a *client.Admin) (err error) {
		st, err = a.VerifyAccessLog(ctx)
		return err
	})
	return st, err
}

func newLogCmd() *cobra.Command {
	var (
		o     logOptions
		f     storage.AccessFilter
		limit int
	)
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Print the access log: who pulled, pushed, deleted, logged in or was denied",
		Long: `Print the registry's access log, newest first: every pull (manifest GET), push,
delete, catalog read, login, API token use and denial, with the time, the
principal, the client address and the result. Blob downloads are not
recorded separately: a pull is its manifest GET.

The log is read from the database under --data while the server is stopped,
or from a running server with --registry HOST:PORT (as an administrator,
with the credential cairn login stored).

The log is a hash chain, and each record is a leaf of the access log's
transparency log (/_cairn/tlog/access/, administrators only); cairn log
verify checks both.`,
		Example: `  cairn log --data ./cairn-data --repo models/llama
  cairn log --registry 127.0.0.1:5000 --action denied --limit 20
  cairn log --data ./cairn-data --principal alice --json --limit 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return errors.New("--limit must be 0 (all) or more")
			}
			f.Limit = limit
			src, err := o.open(cmd)
			if err != nil {
				return err
			}
			defer src.Close()
			return printLog(cmd.Context(), cmd.OutOrStdout(), src, f, o.json)
		},
	}
	o.addFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.Repository, "repo", "", "only records of this repository")
	fl.StringVar(&f.Principal, "principal", "", `only records of this principal (a user, "token:<id>" or "anonymous")`)
	fl.StringVar(&f.Action, "action", "", "only this action: pull, push, delete, catalog, login, token, denied, admin, quarantine, prune, dropped")
	fl.StringVar(&f.Result, "result", "", "only this result: ok, denied, refused, failed")
	fl.Uint64Var(&f.Before, "before", 0, "only records older than this seq (to page)")
	fl.IntVar(&limit, "limit", 100, "at most this many records (0: all)")
	cmd.AddCommand(newLogVerifyCmd())
	return cmd
}

// printLog writes the records f selects as a table, or as a JSON array
// with one record per line.
func printLog(ctx context.Context, w io.Writer, src logSource, f storage.AccessFilter, asJSON bool) error {
	if asJSON {
		n := 0
		io.WriteString(w, "[")
		err := src.walk(ctx, f, func(r storage.AccessRecord) error {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			sep := ",\n"
			if n == 0 {
				sep = "\n"
			}
			n++
			_, err = io.WriteString(w, sep+string(b))
			return err
		})
		if n > 0 {
			io.WriteString(w, "\n")
		}
		io.WriteString(w, "]\n")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tPRINCIPAL\tADDRESS\tACTION\tRESULT\tSTATUS\tTARGET\tDETAIL")
	err := src.walk(ctx, f, func(r storage.AccessRecord) error {
		status := "-"
		if r.Status != 0 {
			status = strconv.Itoa(r.Status)
		}
		_, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Format(time.RFC3339), cell(r.Principal), cell(r.Address),
			r.Action, cell(r.Result), status, cell(recordTarget(r)), cell(r.Detail))
		return err
	})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// recordTarget is what a record is about: repository, tag or reference, digest.
func recordTarget(r storage.AccessRecord) string {
	s := r.Repository
	if r.Reference != "" && r.Reference != r.Digest.String() {
		if s != "" {
			s += ":"
		}
		s += r.Reference
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// cell makes a field safe for one table cell: no tabs, newlines or other
// control characters (records hold what clients sent), "-" when empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func newLogVerifyCmd() *cobra.Command {
	var (
		o    logOptions
		head string
		tree accessTreeOptions
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the access log against its hash chain and its transparency log: exit 0 intact, 1 broken, 2 could not read",
		Long: `Re-compute the access log's hash chain from its anchor to its head and report
the first record that was edited, removed, moved or inserted. Then check
every record against its leaf in the access log's transparency log (the
record's seq, time and SHA-256 of its JSON) and the leaves against the tree:
a removed, edited or reordered record, a truncated tail and a forged prune
are each named. Exit 0 when everything verifies, printing how many records
were checked and the head (SEQ:HASH); exit 1 when anything is broken,
naming it; exit 2 when the log could not be read.

Someone with the database file could rewrite the chain and rebuild the
transparency log consistently. Keep a checkpoint of the access log
somewhere the registry's host cannot write (GET /_cairn/tlog/access/checkpoint
as an administrator, or a witness's copy): --checkpoint FILE checks that
the log still extends it (a rebuilt log is a fork, a shorter one a
truncation). Retention removes records but keeps their leaves; every
removed record must be covered by a prune record in the log whose cutoff
it is older than, and --retention (the server's --log-retention) also
refuses a prune that removed records younger than that. With --registry,
the newest checkpoint is remembered under the user configuration directory
and a later one must extend it. --head SEQ:HASH checks that a head printed
earlier is still part of the chain.`,
		Example: `  cairn log verify --data ./cairn-data
  cairn log verify --registry 127.0.0.1:5000 --checkpoint access.checkpoint --retention 365d
  cairn log verify --data ./cairn-data --head 1234:9f86d081884c7d65...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var want *accesslog.ChainPoint
			if head != "" {
				p, err := accesslog.ParseChainPoint(head)
				if err != nil {
					return fmt.Errorf("--head %w", err)
				}
				want = &p
			}
			src, err := o.open(cmd)
			if err != nil {
				return err
			}
			defer src.Close()
			st, err := src.verify(cmd.Context())
			if err != nil {
				return fmt.Errorf("read the access log: %w", err)
			}
			out := cmd.OutOrStdout()
			if o.json {
				if err := printJSON(out, st); err != nil {
					return err
				}
			}
			if !st.OK {
				if !o.json {
					fmt.Fprintf(out, "access log BROKEN: %s\n", breakText(st))
					fmt.Fprintf(out, "%d records verified before the break; the head recorded is %d:%s\n", st.Records, st.HeadSeq, st.Head)
				}
				return refused(st.Err())
			}
			if !o.json {
				fmt.Fprintf(out, "access log intact: %d records verified (seq %d to %d", st.Records, st.First, st.Last)
				if st.AnchorSeq > 0 {
					fmt.Fprintf(out, ", after the %d records retention removed", st.AnchorSeq)
				}
				fmt.Fprintf(out, ")\nhead %d:%s\n", st.HeadSeq, st.Head)
				if err := printGaps(cmd.Context(), out, src); err != nil {
					return err
				}
			}
			if want != nil {
				if err := accesslog.CheckHead(cmd.Context(), src.walk, st, *want); errors.Is(err, storage.ErrAccessChainBroken) {
					return refused(err)
				} else if err != nil {
					return err
				}
				if !o.json {
					fmt.Fprintf(out, "the head %s exported earlier is in the chain\n", want)
				}
			}
			return tree.check(cmd.Context(), out, src, o.data, o.json)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&head, "head", "", "a head printed by an earlier verify (SEQ:HASH) that must still be in the chain")
	tree.addFlags(cmd)
	return cmd
}

func breakText(st storage.AccessChainState) string {
	if st.Break == nil {
		return "unknown problem"
	}
	return fmt.Sprintf("record %d: %s", st.Break.Seq, st.Break.Problem)
}

// retentionFlag is a duration that also takes days ("90d"); 0 keeps
// forever.
type retentionFlag time.Duration

func (r *retentionFlag) Set(s string) error {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n > 100*365 {
			return fmt.Errorf("%q: want days (90d) or a duration (2160h)", s)
		}
		*r = retentionFlag(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("%q: want days (90d) or a duration (2160h)", s)
	}
	*r = retentionFlag(d)
	return nil
}

func (r retentionFlag) String() string {
	d := time.Duration(r)
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (retentionFlag) Type() string { return "duration" }

// closeAccessLog flushes the recorder at shutdown.
func closeAccessLog(rec *accesslog.Recorder, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		log.Error("access log: not everything recorded was written", "err", err)
	}
}

// printGaps reports the gaps the log notes in itself: the records the
// server dropped (a full disk, a stalled store) and wrote down as one
// "dropped" record each. The chain can be intact with gaps: they are what
// was never recorded, not what was removed.
func printGaps(ctx context.Context, out io.Writer, src logSource) error {
	var gaps, lost uint64
	var seqs []string
	err := src.walk(ctx, storage.AccessFilter{Action: storage.ActionDropped}, func(r storage.AccessRecord) error {
		gaps++
		var n uint64
		if _, err := fmt.Sscanf(r.Detail, "%d ", &n); err == nil {
			lost += n
		}
		if len(seqs) < 10 {
			seqs = append(seqs, fmt.Sprint(r.Seq))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the log's gaps: %w", err)
	}
	if gaps > 0 {
		more := ""
		if gaps > uint64(len(seqs)) {
			more = ", ..."
		}
		fmt.Fprintf(out, "gaps: %d records were dropped and never recorded, noted in %d records (seq %s%s)\n", lost, gaps, strings.Join(seqs, ", "), more)
	}
	return nil
}
