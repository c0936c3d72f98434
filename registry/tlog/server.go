package tlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/storage"
)

// PathPrefix is where a registry serves its log of names.
const PathPrefix = "/_cairn/tlog/"

// Config configures a Server. Store and Key are required.
type Config struct {
	Store storage.TransparencyLogs
	// Key signs checkpoints.
	Key *Key
	// Log is the store's log to serve; empty means storage.LogNames.
	Log string
	// Origin is the checkpoint's first line; empty means the key's name.
	Origin string
	// Logger receives failures; nil means slog.Default().
	Logger *slog.Logger

	// Witnesses are submitted each new checkpoint (see Run); the
	// checkpoint is served with the cosignatures they answered.
	Witnesses []Witness
	// WitnessTimeout bounds one call to a witness; zero means
	// DefaultWitnessTimeout.
	WitnessTimeout time.Duration
	// WitnessInterval is Run's period; zero means DefaultWitnessInterval.
	WitnessInterval time.Duration
	// HTTP calls the witnesses; nil means an http.Client.
	HTTP Doer
}

// Server serves one log as C2SP tlog-tiles: GET checkpoint, tile/<L>/<N>,
// tile/entries/<N> (with .p/<W> for partial tiles) and verifier, relative
// to the path it is mounted at. It signs a checkpoint when one is asked for
// and the tree has grown since the last: writers never sign.
type Server struct {
	store  storage.TransparencyLogs
	key    *Key
	log    string
	origin string
	logger *slog.Logger

	witnesses       []*remoteWitness
	witnessTimeout  time.Duration
	witnessInterval time.Duration
	http            Doer

	mu   sync.Mutex // held while signing, so one signature per tree size
	last signed
}

type signed struct {
	cp Checkpoint
	// signed is the note with the log's signature; note is what is
	// served: signed and the witnesses' cosignature lines.
	signed, note []byte
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	ws, err := checkWitnesses(cfg.Witnesses)
	if err != nil {
		return nil, err
	}
	if cfg.Store == nil || cfg.Key == nil {
		return nil, errors.New("tlog: Config.Store and Config.Key are required")
	}
	s := &Server{store: cfg.Store, key: cfg.Key, log: cfg.Log, origin: cfg.Origin, logger: cfg.Logger,
		witnesses: ws, witnessTimeout: cfg.WitnessTimeout, witnessInterval: cfg.WitnessInterval, http: defaultHTTP(cfg.HTTP)}
	if s.witnessTimeout <= 0 {
		s.witnessTimeout = DefaultWitnessTimeout
	}
	if s.witnessInterval <= 0 {
		s.witnessInterval = DefaultWitnessInterval
	}
	if s.log == "" {
		s.log = storage.LogNames
	}
	if s.origin == "" {
		s.origin = cfg.Key.Name()
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return s, nil
}

// Origin returns the checkpoint origin line of the log.
func (s *Server) Origin() string { return s.origin }

// Log returns another server of the same store and key for the store's
// log named log, whose checkpoints start with origin: the access log
// (storage.LogAccess, AccessOrigin) beside the log of names.
func (s *Server) Log(log, origin string) *Server {
	return &Server{store: s.store, key: s.key, log: log, origin: origin, logger: s.logger}
}

// Key returns the key that signs the log's checkpoints.
func (s *Server) Key() *Key { return s.key }

// hashReader reads the store's stored hashes.
func (s *Server) hashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		return s.store.LogHashes(ctx, s.log, indexes)
	})
}

// Checkpoint returns a signed checkpoint of the current tree: the last one
// signed when the tree has not grown since, a new one otherwise.
func (s *Server) Checkpoint(ctx context.Context) ([]byte, Checkpoint, error) {
	n, err := s.store.LogSize(ctx, s.log)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.note != nil && s.last.cp.N >= n {
		return s.last.note, s.last.cp, nil
	}
	h, err := tlog.TreeHash(n, s.hashReader(ctx))
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("tlog: tree hash of %s at %d: %w", s.log, n, err)
	}
	cp := Checkpoint{Origin: s.origin, Tree: tlog.Tree{N: n, Hash: h}}
	msg, err := note.Sign(&note.Note{Text: string(cp.Text())}, s.key)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("tlog: sign checkpoint: %w", err)
	}
	s.last = signed{cp: cp, signed: msg, note: msg}
	for _, w := range s.witnesses {
		w.cosig = nil
	}
	if len(s.witnesses) > 0 {
		// Readers of a new tree wait for its cosignatures, bounded by
		// the witness timeout; writers never do.
		s.cosign(ctx)
	}
	return s.last.note, cp, nil
}

// ReadTile returns the bytes of a hash tile or an entry bundle of the
// current tree, or an error wrapping ErrTileUnknown when the tree does not
// reach that far.
func (s *Server) ReadTile(ctx context.Context, t tlog.Tile) ([]byte, error) {
	n, err := s.store.LogSize(ctx, s.log)
	if err != nil {
		return nil, err
	}
	level := t.L
	if level < 0 {
		level = 0
	}
	// The tile's last hash (or entry) must exist: index N*256+W-1 at its
	// level, which holds n >> (8*level) hashes.
	if level*TileHeight >= 63 || t.N > (n>>(level*TileHeight))>>TileHeight || t.N<<TileHeight+int64(t.W) > n>>(level*TileHeight) {
		return nil, fmt.Errorf("%s: %w", TilePath(t), ErrTileUnknown)
	}
	if t.L >= 0 {
		return tlog.ReadTileData(t, s.hashReader(ctx))
	}
	start := t.N << TileHeight
	entries, err := s.store.LogEntries(ctx, s.log, start, start+int64(t.W))
	if err != nil {
		return nil, err
	}
	return EncodeBundle(entries)
}

// ServeHTTP answers GET (and HEAD) for checkpoint, verifier and tiles; the
// request path must end in one of them after the mount point.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if i := strings.Index(p, "/tile/"); i >= 0 {
		p = p[i+1:]
	} else if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	switch {
	case p == "checkpoint":
		msg, _, err := s.Checkpoint(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(msg)
	case p == "verifier":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(s.key.VerifierKey() + "\n"))
	case strings.HasPrefix(p, "tile/"):
		t, err := ParseTilePath(p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		b, err := s.ReadTile(r.Context(), t)
		if errors.Is(err, ErrTileUnknown) {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		// A tile's bytes never change: a partial tile has its width in
		// its path.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.logger.Error("transparency log", "path", r.URL.Path, "err", err)
	http.Error(w, "transparency log unavailable", http.StatusInternalServerError)
}
