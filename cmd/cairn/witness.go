package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/tlog/witness"
)

// witnessKeyFile is the default place of a witness's key, under --data.
const witnessKeyFile = "witness.key"

type witnessOptions struct {
	addr     string
	data     string
	key      string   // --key: the witness's signing key file
	name     string   // --name: the name of a key created now
	logs     []string // --log: verifier keys of the logs it witnesses
	logLevel string
}

func newWitnessCmd() *cobra.Command {
	var o witnessOptions
	cmd := &cobra.Command{
		Use:   "witness --data DIR --log KEY...",
		Short: "Run a transparency log witness (C2SP tlog-witness) for cairn registries",
		Long: `Run a witness: a small server that cosigns the checkpoints of the logs it
is told about (--log, each registry's verifier key, as GET /_cairn/tlog/verifier
answers it), and refuses any checkpoint that is not consistent with the last
one it cosigned for that log. A registry whose history was rolled back and
grown again (a fork) gets no cosignature, so clients whose policy requires
this witness refuse it, even clients that never saw the registry before.

The protocol is C2SP tlog-witness: POST /add-checkpoint with the old size, a
consistency proof and the new checkpoint; the answer is a C2SP
tlog-cosignature/v1 line, or 409 Conflict when the old size is not the size
last cosigned (the log retries from the size given) or 422 when the proof
does not show the new checkpoint extends it.

The witness's Ed25519 key is created at first start (DATA/witness.key, or
--key FILE) and its verifier key printed: give it to the registry
(cairn serve --witness URL=KEY) and to the policies that require it
(witnesses: keys). The last checkpoint cosigned for each log is kept in
DATA, one file per log: back it up, because a witness restored from an old
copy would cosign a fork of what it had already seen.`,
		Example: `  cairn witness --data /var/lib/cairn-witness --addr :5050 \
      --log reg.example/cairn+1a2b3c4d+AXk...
  cairn serve --witness http://witness.example:5050=witness.example+5e6f7a8b+BHm...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWitness(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:5050", "address to listen on")
	f.StringVar(&o.data, "data", "", "directory of the witness's state: the last checkpoint cosigned for each log (required)")
	f.StringVar(&o.key, "key", "", "the witness's signing key, created at first start (default DATA/witness.key)")
	f.StringVar(&o.name, "name", "", "the name of a key created at first start (default HOSTNAME/witness)")
	f.StringArrayVar(&o.logs, "log", nil, "verifier key of a log to witness (NAME+HASH+BASE64, or a file holding it); repeatable")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runWitness(cmd *cobra.Command, o witnessOptions) error {
	if o.data == "" {
		return errors.New("--data is required: the witness keeps the last checkpoint it cosigned for each log there")
	}
	if len(o.logs) == 0 {
		return errors.New("--log is required: the verifier key of each log to witness")
	}
	var logs []string
	for _, l := range o.logs {
		if !strings.Contains(l, "+") {
			b, err := readBounded(l, 1<<10)
			if err != nil {
				return fmt.Errorf("--log: %w", err)
			}
			l = strings.TrimSpace(string(b))
		}
		logs = append(logs, l)
	}
	log := newLogger(o.logLevel, "text")
	keyFile := o.key
	if keyFile == "" {
		keyFile = filepath.Join(o.data, witnessKeyFile)
	}
	name := o.name
	if name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		name = h + "/witness"
	}
	key, created, err := witness.LoadOrCreateKey(keyFile, name)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	if created {
		log.Warn("created the witness key: keep a copy", "file", keyFile)
	}
	w, err := witness.New(witness.Config{Dir: filepath.Join(o.data, "checkpoints"), Key: key, Logs: logs, Logger: log})
	if err != nil {
		return fmt.Errorf("--log: %w", err)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "witness key: %s\n", key.VerifierKey())
	srv := &http.Server{Handler: w, ReadHeaderTimeout: registry.ReadHeaderTimeout, IdleTimeout: registry.IdleTimeout, MaxHeaderBytes: registry.MaxHeaderBytes}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() {
		log.Info("witness serving", "url", "http://"+ln.Addr().String()+"/add-checkpoint", "logs", len(logs))
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
