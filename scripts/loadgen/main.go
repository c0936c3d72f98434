package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"sort"
	"strings"
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
	Auth        string  `json:"auth,omitempty"`
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
	bearer := flag.String("bearer", "", "send this bearer token with every request")
	login := flag.String("login", "", "USER:PASSWORD: get a bearer token through the registry's token flow first")
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
	authMode := ""
	if *login != "" {
		tok, err := fetchToken(client, *url, *accept, *login)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: -login:", err)
			os.Exit(2)
		}
		*bearer = tok
		authMode = "bearer (token flow)"
	} else if *bearer != "" {
		authMode = "bearer"
	}

	newReq := func() *http.Request {
		req, err := http.NewRequest(http.MethodGet, *url, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		if *accept != "" {
			req.Header.Set("Accept", *accept)
		}
		if *bearer != "" {
			req.Header.Set("Authorization", "Bearer "+*bearer)
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
	res.Auth = authMode
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

// fetchToken runs the docker token flow once: GET target unauthenticated,
// read the Bearer challenge, ask its realm for a token with Basic
// credentials.
func fetchToken(client *http.Client, target, accept, login string) (string, error) {
	user, pass, ok := strings.Cut(login, ":")
	if !ok {
		return "", fmt.Errorf("want USER:PASSWORD")
	}
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		return "", err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return "", fmt.Errorf("GET %s without credentials: %s, want 401 with a challenge", target, resp.Status)
	}
	params, err := parseBearerChallenge(resp.Header.Get("WWW-Authenticate"))
	if err != nil {
		return "", err
	}
	q := neturl.Values{}
	if params["service"] != "" {
		q.Set("service", params["service"])
	}
	for _, sc := range strings.Fields(params["scope"]) {
		q.Add("scope", sc)
	}
	treq, err := http.NewRequest(http.MethodGet, params["realm"]+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	treq.SetBasicAuth(user, pass)
	tresp, err := client.Do(treq)
	if err != nil {
		return "", err
	}
	defer tresp.Body.Close()
	if tresp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token request: %s", tresp.Status)
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(tresp.Body, 1<<20)).Decode(&tok); err != nil {
		return "", fmt.Errorf("token answer: %w", err)
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken
	}
	if tok.Token == "" {
		return "", fmt.Errorf("empty token")
	}
	return tok.Token, nil
}

// parseBearerChallenge reads the parameters of a Bearer challenge.
func parseBearerChallenge(h string) (map[string]string, error) {
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, fmt.Errorf("not a Bearer challenge: %q", h)
	}
	params := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		if strings.HasPrefix(v, `"`) {
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", h)
			}
			params[strings.ToLower(k)] = v[1 : end+1]
			rest = v[end+2:]
		} else {
			val, after, _ := strings.Cut(v, ",")
			params[strings.ToLower(k)] = val
			rest = after
		}
	}
	if params["realm"] == "" {
		return nil, fmt.Errorf("no realm in %q", h)
	}
	return params, nil
}
