package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/gate"
	"cairn.dev/cairn/registry/redirect"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/web"
)

// shutdownTimeout bounds how long serve waits for requests in flight.
const shutdownTimeout = 30 * time.Second

type serveOptions struct {
	addr        string
	data        string
	tlsCert     string
	tlsKey      string
	maxBlobSize sizeFlag
	uploadTTL   time.Duration
	gcInterval  time.Duration
	gcGrace     time.Duration
	logLevel    string
	logFormat   string
	policy      string // --policy: refuse pulls the verification policy refuses
	policyHost  string // --policy-host: this registry's name in policy rules

	// auth turns authentication on for a loopback address; insecureNoAuth
	// turns it off for any other.
	auth           bool
	insecureNoAuth bool

	// backends are --storage and --metadata; redirectBlobs answers blob
	// GETs with a redirect to the blob store.
	backends      backendFlags
	redirectBlobs bool
	// realm is the token endpoint URL in auth challenges (--realm);
	// trustedProxies the peers whose X-Forwarded-For is believed.
	realm          string
	trustedProxies []string

	// logRetention is how long access records are kept (0: forever).
	logRetention retentionFlag
	// tlog is the transparency log (--log-key, --log-origin).
	tlog tlogOptions
}

func newServeCmd() *cobra.Command {
	o := serveOptions{maxBlobSize: registry.DefaultMaxBlobSize, logRetention: retentionFlag(defaultLogRetention)}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry (OCI distribution API at /v2/)",
		Long: `Run the registry on its embedded storage: blobs as files and metadata in a
bbolt database, both under --data. Nothing else needs to be started.

Endpoints: the OCI distribution API at /v2/, the web UI at / (repositories,
versions, signatures, lineage, the access log), /healthz, and Prometheus
metrics at /metrics (with auth, for administrators and API tokens with the
scope registry:metrics:*). SIGINT or SIGTERM stops the server gracefully.

Every pull, push, delete, login and denial is appended to the access log, a
hash chain in the metadata store: read it with cairn log (administrators
reach it at /_cairn/admin/log), check it with cairn log verify.

Every tag move, manifest push or delete and quarantine is a leaf of the
transparency log of names, served as C2SP tlog-tiles at /_cairn/tlog/ with
checkpoints signed by the log key (created at first start in DATA/log.key,
or --log-key FILE: keep it off the machine's data disk in production, so
that whoever can rewrite the database cannot sign). cairn history --verify
checks it. With --witness URL=KEY (repeatable), each new checkpoint is also
submitted to those witnesses (cairn witness), in the background and with a
timeout (a witness that is down never blocks a write), and served with the
cosignatures they answered, so that a client whose policy requires witnesses
accepts it.
Every access record is a leaf of a second log, the access log's
(origin KEYNAME/access, same key), served to administrators at
/_cairn/tlog/access/; retention removes records, never their leaves, and
cairn log verify --checkpoint checks the records against it.

Authentication is on whenever --addr is not a loopback address (unless
--insecure-no-auth) and on loopback with --auth: docker-style token auth, the
realm at /token, so cairn login, oras, crane, skopeo and cosign log in as
usual. The first start with auth creates the user admin with the password in
CAIRN_ADMIN_PASSWORD or, without it, a generated one written to
DATA/admin-credential (mode 0600). Manage users, roles and API tokens with
cairn user, cairn access and cairn token.

Failed logins are throttled: 10 per user name from one client address, then
one per 6s; 30 per address, then one per 2s; past either, logins from that
address get 429 with Retry-After (seconds until the next attempt is
checked). 20 failures for one user from all addresses together, then one
per 3s, only delay that user's logins (by up to 1s), never refuse them.
Tokens and web sessions are never throttled. Web sessions are kept in the
metadata store and end on every node at logout, a password or role change,
the user's removal or cairn user sessions revoke. See docs/security.md.

--tls-cert/--tls-key serve HTTPS (with HSTS); every answer carries nosniff, a
referrer policy and, on the API, a content security policy that allows
nothing.

Several nodes can serve one registry: give each the same --storage (an
S3-compatible bucket) and --metadata (a PostgreSQL database). Uploads started
on one node finish on any other, tag moves from all of them land in one
history, and one node at a time (holding a lease in the database) collects
garbage. With --redirect-blobs, blob GETs are answered 307 with a presigned
URL of the bucket, so the bytes do not pass through the node.`,
		Example: `  cairn serve
  cairn serve --addr 0.0.0.0:5000 --data /var/lib/cairn
  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... cairn serve --addr 0.0.0.0:5000 \
    --storage 's3://cairn-blobs?endpoint=http://minio:9000&region=us-east-1' \
    --metadata 'postgres://cairn@db:5432/cairn' --redirect-blobs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:5000", "address to listen on")
	f.StringVar(&o.data, "data", "./cairn-data", "directory for blobs and metadata")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS with --tls-key")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	f.Var(&o.maxBlobSize, "max-blob-size", "largest blob accepted (e.g. 500GiB)")
	f.DurationVar(&o.uploadTTL, "upload-ttl", registry.DefaultUploadTTL, "how long an upload session may stay open")
	f.DurationVar(&o.gcInterval, "gc-interval", 24*time.Hour, "collect garbage this often while serving (0 disables)")
	f.DurationVar(&o.gcGrace, "gc-grace", registry.DefaultGCGrace, "age below which unreferenced blobs and idle uploads are kept; at least 2m (0s means 2m), which keeps uploads in progress safe")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "text or json")
	f.BoolVar(&o.auth, "auth", false, "require authentication on a loopback address too (it is always on elsewhere)")
	f.BoolVar(&o.insecureNoAuth, "insecure-no-auth", false, "serve a non-loopback address WITHOUT authentication: anyone who reaches it may push, pull and delete")
	f.StringVar(&o.policy, "policy", "", "verification policy (YAML, as for cairn verify): it guards content, not names: tags resolve (HEAD) and signature referrers are readable; the GET of a refused version's manifest, and of any blob no allowed version references, is answered 403 with the reason (users who may push may read manifests, to sign them)")
	f.StringVar(&o.policyHost, "policy-host", "", "this registry's host[:port] as policy rules name it (default: --addr)")
	f.StringVar(&o.backends.storage, "storage", "", storageFlagHelp)
	f.StringVar(&o.backends.metadata, "metadata", "", metadataFlagHelp)
	f.StringVar(&o.realm, "realm", "", "token endpoint URL sent in auth challenges, for a server behind a TLS-terminating proxy (default: scheme://HOST/token of each request)")
	f.StringArrayVar(&o.trustedProxies, "trusted-proxy", nil, "address or CIDR of a proxy whose X-Forwarded-For the access log believes for the client address; repeatable")
	f.BoolVar(&o.redirectBlobs, "redirect-blobs", false, "answer blob GETs with 307 to a presigned URL of the --storage bucket")
	f.StringVar(&o.tlog.key, "log-key", "", "the transparency log's signing key, created at first start (default DATA/log.key); keep it apart from the database in production")
	f.StringArrayVar(&o.tlog.witnesses, "witness", nil, "a witness of the transparency log, URL=KEY (cairn witness prints KEY): each new checkpoint is submitted to it and served with its cosignature; repeatable")
	f.StringVar(&o.tlog.origin, "log-origin", "", "the name of the log key created at first start, its checkpoints' origin (default HOSTNAME/cairn)")
	f.Var(&o.logRetention, "log-retention", "prune access records older than this, daily (e.g. 90d; 0 keeps them forever)")
	return cmd
}

func runServe(ctx context.Context, o serveOptions) error {
	log := newLogger(o.logLevel, o.logFormat)
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	authOn, err := authEnabled(o)
	if err != nil {
		return err
	}
	blobs, db, err := openBackends(ctx, o.data, o.backends, 2*time.Second)
	if err != nil {
		return err
	}
	defer db.Close()
	o.gcGrace = registry.EffectiveGrace(o.gcGrace, false)
	protectRecent(blobs, o.gcGrace)
	// The access log, appended in batches; flushed after the server has
	// stopped and before the database closes.
	proxies, err := accesslog.ParsePrefixes(o.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxy %w", err)
	}
	reserve, err := openReserve(o.data, o.backends)
	if err != nil {
		return err
	}
	rec := accesslog.New(db, accesslog.Options{Logger: log, TrustedProxies: proxies, Reserve: reserve})
	defer closeAccessLog(rec, log)
	names, err := openTransparencyLog(o, db, log)
	if err != nil {
		return err
	}

	var pullGate *gate.Gate
	var policy *verify.Policy
	host := o.policyHost
	if host == "" {
		host = o.addr
	}
	if o.policy != "" {
		p, err := verify.LoadPolicy(o.policy)
		if err != nil {
			return err
		}
		policy = p
		pullGate = gate.New(p, host, db, blobs)
		log.Info("pulls are checked against the policy", "policy", o.policy, "as", host)
	}

	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := registry.NewMetrics(promReg)
	rcfg := registry.Config{
		Blobs:   blobs,
		Meta:    db,
		Logger:  log,
		Metrics: metrics,
		Limits:  registry.Limits{MaxBlobSize: int64(o.maxBlobSize), UploadTTL: o.uploadTTL},
		Reserve: reserve,
	}
	// The UI shows the gate's verdicts: it asks the gate, never decides.
	var uiGate web.Gate
	if pullGate != nil {
		rcfg.PullGate, uiGate = pullGate, pullGate
	}
	reg, err := registry.New(rcfg)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
	// Authentication (when on) sits in front of everything and tells the UI
	// who a visitor is and what they may read.
	var authn *auth.Auth
	var uiAuth web.Authorizer
	if authOn {
		if authn, err = setupAuth(ctx, o, db, log, rec); err != nil {
			return err
		}
		uiAuth = authn
	}
	// The web UI answers every other path; Watch tells it of pushes. Its
	// sessions are records in the metadata store, kept by the auth layer.
	ui, err := web.New(web.Config{Meta: db, Blobs: blobs, Gate: uiGate, Policy: policy, PolicyHost: host, Logger: log, Auth: uiAuth})
	if err != nil {
		return err
	}
	mux.Handle("/", ui)
	var regHandler http.Handler = reg
	if o.redirectBlobs {
		urls, ok := blobs.(storage.BlobURLer)
		if !ok {
			return errors.New("--redirect-blobs needs a --storage that can make URLs (s3://)")
		}
		regHandler = redirect.New(reg, db, urls, redirect.Options{Logger: log})
	}
	api := ui.Watch(metrics.Middleware(rec.Middleware(regHandler)))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The API is dispatched before ServeMux, which would answer
		// unclean paths (.., //) with a redirect instead of an OCI error.
		if r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/") {
			api.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})

	var front http.Handler = handler
	if authn != nil {
		front = authn.Wrap(front)
	} else {
		log.Warn("authentication is off: anyone who reaches this address may push, pull and delete", "addr", o.addr)
	}
	if cleartextAuth(o, authn != nil) {
		log.Warn("PASSWORDS IN CLEAR TEXT: authentication is on over plain HTTP on a non-loopback address, so passwords and tokens cross the network readable by anyone on the path; serve HTTPS with --tls-cert and --tls-key, or behind a TLS-terminating proxy named by --realm https://HOST/token", "addr", o.addr)
	}
	var admins accesslog.Admins // nil, not a nil *auth.Auth, when auth is off
	if authn != nil {
		admins = authn
	}
	front = rec.AdminAPI(front, accessLogPath, db, admins) // GET /_cairn/admin/log[/verify], administrators only
	// GET /_cairn/tlog/...: the transparency log of names.
	front = transparencyLogAPI(front, names, authn)
	// GET /_cairn/tlog/access/...: the access log's, administrators only.
	front = accessTransparencyLogAPI(front, names, rec, admins)
	front = auth.SecurityHeaders(front, o.tlsCert != "")

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           front,
		ReadHeaderTimeout: registry.ReadHeaderTimeout,
		IdleTimeout:       registry.IdleTimeout,
		MaxHeaderBytes:    registry.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if leases, ok := db.(storage.Leases); ok && o.gcInterval > 0 {
		go collectShared(ctx, log, reg, leases, o.gcInterval, o.gcGrace)
	} else if o.gcInterval > 0 {
		go reg.CollectEvery(ctx, o.gcInterval, o.gcGrace)
	}
	go accesslog.Retain(ctx, db, time.Duration(o.logRetention), 0, log)
	// The log's witnesses are asked in the background; the loop ends
	// before the database closes.
	wctx, wcancel := context.WithCancel(ctx)
	witnessed := make(chan struct{})
	go func() {
		defer close(witnessed)
		if names != nil {
			names.Run(wctx)
		}
	}()
	defer func() { wcancel(); <-witnessed }()

	errc := make(chan error, 1)
	go func() {
		if o.tlsCert != "" {
			log.Info("serving", "url", "https://"+ln.Addr().String(), "data", o.data, "stores", describeBackends(o.data, o.backends), "auth", authOn)
			errc <- srv.ServeTLS(ln, o.tlsCert, o.tlsKey)
			return
		}
		log.Info("serving", "url", "http://"+ln.Addr().String(), "data", o.data, "stores", describeBackends(o.data, o.backends), "auth", authOn)
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// authEnabled decides whether serve authenticates: always on a
// non-loopback address unless --insecure-no-auth, on loopback with --auth.
func authEnabled(o serveOptions) (bool, error) {
	if o.auth && o.insecureNoAuth {
		return false, errors.New("--auth and --insecure-no-auth contradict each other")
	}
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return false, fmt.Errorf("--addr %q: %w", o.addr, err)
	}
	return o.auth || !o.insecureNoAuth && !isLoopback(host), nil
}

// adminCredentialFile is where the first start with auth writes the
// generated administrator password, under --data.
const adminCredentialFile = "admin-credential"

// setupAuth makes sure an administrator exists (CAIRN_ADMIN_PASSWORD, or a
// generated one-time credential written under --data) and returns the
// authentication layer.
func setupAuth(ctx context.Context, o serveOptions, db metaStore, log *slog.Logger, rec auth.Recorder) (*auth.Auth, error) {
	b := auth.Bootstrap{Password: os.Getenv("CAIRN_ADMIN_PASSWORD"), CredentialFile: filepath.Join(o.data, adminCredentialFile)}
	if err := b.EnsureLogged(ctx, db, log); err != nil {
		return nil, err
	}
	a, err := auth.New(ctx, auth.Config{Accounts: db, Meta: db, Logger: log, Recorder: rec, Realm: o.realm})
	if err != nil {
		return nil, err
	}
	realm := o.realm
	if realm == "" {
		realm = "/token"
	}
	log.Info("authentication is on", "realm", realm)
	return a, nil
}

// cleartextAuth reports whether passwords would cross the network in clear
// text: authentication on, plain HTTP, a non-loopback address, and no
// https:// realm saying a TLS-terminating proxy stands in front.
func cleartextAuth(o serveOptions, authOn bool) bool {
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil || !authOn || o.tlsCert != "" || strings.HasPrefix(o.realm, "https://") {
		return false
	}
	return !isLoopback(host)
}
