package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/tlog/witness"
	"cairn.dev/cairn/verify/tlogproof"
)

// Defaults and limits of witnessing.
const (
	// DefaultWitnessTimeout bounds one add-checkpoint call to a witness.
	DefaultWitnessTimeout = 5 * time.Second
	// DefaultWitnessInterval is how often Run submits a grown tree, and
	// retries the witnesses that did not cosign the current one.
	DefaultWitnessInterval = time.Second
	// MaxWitnesses bounds the witnesses one log submits to.
	MaxWitnesses = tlogproof.MaxWitnesses
)

// Witness is a witness a log submits its checkpoints to.
type Witness struct {
	// URL is the witness's add-checkpoint endpoint, e.g.
	// "https://witness.example/add-checkpoint".
	URL string
	// Key is its cosignature/v1 verifier key: an answer that does not
	// verify with it is dropped.
	Key string
}

// remoteWitness is a witness and what the log knows of it.
type remoteWitness struct {
	Witness
	// size is the size of the last checkpoint it cosigned for this log, as
	// far as the log knows (learned from its 409 answers).
	size int64
	// cosig is its cosignature line of the current checkpoint, if any.
	cosig []byte
}

// checkWitnesses validates the witnesses of a Config.
func checkWitnesses(ws []Witness) ([]*remoteWitness, error) {
	if len(ws) > MaxWitnesses {
		return nil, fmt.Errorf("tlog: %d witnesses, at most %d", len(ws), MaxWitnesses)
	}
	var out []*remoteWitness
	for _, w := range ws {
		if _, err := (tlogproof.Witnesses{Keys: []string{w.Key}, Threshold: 1}).Verifiers(); err != nil {
			return nil, fmt.Errorf("tlog: witness %s: %w", w.URL, err)
		}
		out = append(out, &remoteWitness{Witness: w})
	}
	return out, nil
}

// cosign submits the checkpoint just signed (s.last) to every witness that
// has not cosigned it, at once, each bounded by the timeout, and appends
// the cosignatures that verify to the served note. A witness that is down
// or refuses is logged and retried by the next round; writers never wait
// for it. Called with s.mu held.
func (s *Server) cosign(ctx context.Context) {
	var wg sync.WaitGroup
	for _, w := range s.witnesses {
		if w.cosig != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, s.witnessTimeout)
			defer cancel()
			line, err := s.submit(ctx, w)
			if err != nil {
				s.logger.Warn("transparency log: witness did not cosign", "witness", w.URL, "size", s.last.cp.N, "err", err)
				return
			}
			w.cosig, w.size = line, s.last.cp.N
		}()
	}
	wg.Wait()
	served := bytes.Clone(s.last.signed)
	for _, w := range s.witnesses {
		served = append(served, w.cosig...)
	}
	s.last.note = served
}

// submit asks one witness to cosign s.last, retrying once from the size a
// 409 names, and returns its checked cosignature line.
func (s *Server) submit(ctx context.Context, w *remoteWitness) ([]byte, error) {
	cp := s.last.cp
	for attempt := 0; ; attempt++ {
		if w.size > cp.N {
			return nil, fmt.Errorf("the witness cosigned a tree of %d entries, this log has %d: it was rolled back", w.size, cp.N)
		}
		var proof tlog.TreeProof
		if w.size > 0 && w.size < cp.N {
			var err error
			if proof, err = tlog.ProveTree(cp.N, w.size, s.hashReader(ctx)); err != nil {
				return nil, err
			}
		}
		lines, err := witness.Submit(ctx, s.http, w.URL, witness.Request{OldSize: w.size, Proof: proof, Checkpoint: s.last.signed})
		var ce *witness.ConflictError
		if errors.As(err, &ce) && attempt == 0 {
			w.size = ce.Size
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			msg := append(bytes.Clone(s.last.signed), l...)
			if _, err := tlogproof.OpenCheckpoint(msg, s.key.VerifierKey(), tlogproof.Witnesses{Keys: []string{w.Key}, Threshold: 1}); err == nil {
				return l, nil
			}
		}
		return nil, fmt.Errorf("no cosignature in the answer verifies with %s", w.Key)
	}
}

// Run submits the log's checkpoints to its witnesses until ctx ends: every
// interval it signs a checkpoint when the tree has grown (Checkpoint) and
// asks again the witnesses that have not cosigned the current one. It
// returns at once when there are no witnesses.
func (s *Server) Run(ctx context.Context) {
	if len(s.witnesses) == 0 {
		return
	}
	t := time.NewTicker(s.witnessInterval)
	defer t.Stop()
	for {
		if _, _, err := s.Checkpoint(ctx); err != nil && ctx.Err() == nil {
			s.logger.Error("transparency log: checkpoint", "err", err)
		}
		s.mu.Lock()
		if s.last.signed != nil {
			s.cosign(ctx)
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func defaultHTTP(d Doer) Doer {
	if d != nil {
		return d
	}
	return &http.Client{Timeout: DefaultWitnessTimeout}
}
