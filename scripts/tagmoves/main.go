package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	URL         string  `json:"url"`
	Concurrency int     `json:"concurrency"`
	Moves       int64   `json:"moves"`
	Errors      int64   `json:"errors"`
	Seconds     float64 `json:"seconds"`
	MovesPerS   float64 `json:"moves_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	FirstError  string  `json:"first_error,omitempty"`
}

func digestOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func main() {
	base := flag.String("url", "", "registry base URL, e.g. http://127.0.0.1:5000 (required)")
	repo := flag.String("repo", "bench/tags", "repository")
	tag := flag.String("tag", "latest", "the tag every PUT moves")
	n := flag.Int("n", 1000, "number of tag moves")
	conc := flag.Int("c", 16, "concurrent clients")
	flag.Parse()
	if *base == "" || *n < 1 || *conc < 1 {
		flag.Usage()
		os.Exit(2)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc}
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	cfg, layer := []byte("{}"), []byte("tag-moves layer")
	for _, b := range [][]byte{cfg, layer} {
		if err := upload(hc, *base, *repo, b); err != nil {
			fmt.Fprintln(os.Stderr, "tagmoves: upload:", err)
			os.Exit(1)
		}
	}
	stamp := time.Now().UnixNano()
	var next, errs atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, *conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(*n) {
					return
				}
				man := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/octet-stream","digest":"%s","size":%d}],"annotations":{"run":"%d","n":"%d"}}`,
					digestOf(cfg), len(cfg), digestOf(layer), len(layer), stamp, i)
				req, _ := http.NewRequest(http.MethodPut, *base+"/v2/"+*repo+"/manifests/"+*tag, bytes.NewReader(man))
				req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("PUT: %s", resp.Status)
					}
				}
				lats[w] = append(lats[w], time.Since(t0))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	r := result{URL: *base + "/v2/" + *repo + "/manifests/" + *tag, Concurrency: *conc, Moves: int64(*n) - errs.Load(), Errors: errs.Load(),
		Seconds: secs, P50ms: pct(0.5), P99ms: pct(0.99)}
	r.MovesPerS = float64(r.Moves) / secs
	if e, ok := firstErr.Load().(string); ok {
		r.FirstError = e
	}
	json.NewEncoder(os.Stdout).Encode(r)
	if r.Errors > 0 {
		os.Exit(1)
	}
}

// upload stores b as a blob of repo: POST for a session, PUT ?digest=.
func upload(hc *http.Client, base, repo string, b []byte) error {
	resp, err := hc.Post(base+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		return fmt.Errorf("POST: %s", resp.Status)
	}
	if strings.HasPrefix(loc, "/") {
		loc = base + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, _ := http.NewRequest(http.MethodPut, loc+sep+"digest="+digestOf(b), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT: %s", resp.Status)
	}
	return nil
}
