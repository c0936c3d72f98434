// Command loadgen is a small closed-loop HTTP load generator used by
// scripts/bench.sh to measure manifest GET throughput.
//
// It starts -c workers that each issue GET requests to -url back to back for
// -d, reusing keep-alive connections from one shared http.Transport, reads and
// discards every body, and counts any non-200 answer or transport error as an
// error. It prints one JSON line:
//
//	{"url":"...","concurrency":16,"duration_s":10.0,"requests":N,"errors":E,
//	 "rps":R,"p50_ms":X,"p99_ms":Y,"avg_body_bytes":B}
//
// rps counts successful (200) requests only; avg_body_bytes is the mean body
// size of those (a sanity check that real manifests were served). Latencies
// are measured over all completed requests (successful or not).
//
// Only the standard library is used.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

type result struct {
	URL         string  `json:"url"`
	Concurrency int     `json:"concurrency"`
	DurationS   float64 `json:"duration_s"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	AvgBody     float64 `json:"avg_body_bytes"`
	FirstError  string  `json:"first_error,omitempty"`
}

type workerStats struct {
	ok, errs int64
	bytes    int64
	lat      []time.Duration
	firstErr string
}

func main() {
	url := flag.String("url", "", "URL to GET (required)")
	conc := flag.Int("c", 16, "number of concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "test duration")
	accept := flag.String("accept", "", "Accept header to send (optional)")
	warmup := flag.Duration("warmup", 0, "warm-up period before measuring (not counted)")
	flag.Parse()
	if *url == "" || *conc < 1 || *dur <= 0 {
		flag.Usage()
		os.Exit(2)
	}

	tr := &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        *conc * 2,
		MaxIdleConnsPerHost: *conc * 2,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	newReq := func() *http.Request {
		req, err := http.NewRequest(http.MethodGet, *url, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		if *accept != "" {
			req.Header.Set("Accept", *accept)
		}
		return req
	}
	// Validate the request once so that an obviously wrong URL fails fast.
	newReq()

	do := func(st *workerStats, record bool) {
		req := newReq()
		t0 := time.Now()
		resp, err := client.Do(req)
		var n int64
		if err == nil {
			n, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		d := time.Since(t0)
		if !record {
			return
		}
		st.lat = append(st.lat, d)
		switch {
		case err != nil:
			st.errs++
			if st.firstErr == "" {
				st.firstErr = err.Error()
			}
		case resp.StatusCode != http.StatusOK:
			st.errs++
			if st.firstErr == "" {
				st.firstErr = "HTTP " + resp.Status
			}
		default:
			st.ok++
			st.bytes += n
		}
	}

	if *warmup > 0 {
		var wg sync.WaitGroup
		end := time.Now().Add(*warmup)
		for i := 0; i < *conc; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var st workerStats
				for time.Now().Before(end) {
					do(&st, false)
				}
			}()
		}
		wg.Wait()
	}

	stats := make([]workerStats, *conc)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(*dur)
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func(st *workerStats) {
			defer wg.Done()
			st.lat = make([]time.Duration, 0, 1<<16)
			for time.Now().Before(deadline) {
				do(st, true)
			}
		}(&stats[i])
	}
	wg.Wait()
	elapsed := time.Since(start)

	var res result
	res.URL = *url
	res.Concurrency = *conc
	res.DurationS = elapsed.Seconds()
	var all []time.Duration
	var okBytes int64
	for i := range stats {
		res.Requests += stats[i].ok + stats[i].errs
		res.Errors += stats[i].errs
		okBytes += stats[i].bytes
		all = append(all, stats[i].lat...)
		if res.FirstError == "" {
			res.FirstError = stats[i].firstErr
		}
	}
	res.RPS = float64(res.Requests-res.Errors) / elapsed.Seconds()
	if ok := res.Requests - res.Errors; ok > 0 {
		res.AvgBody = float64(okBytes) / float64(ok)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	res.P50ms = pct(all, 0.50)
	res.P99ms = pct(all, 0.99)

	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// pct returns the q-quantile (nearest rank) of sorted durations, in ms.
func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i].Microseconds()) / 1000
}
