package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

var errBodyTooLarge = errors.New("request body too large")

// bodyReader reads a request body with two limits: at most max bytes, and a
// read deadline pushed forward while data flows, so a client that stalls
// mid-body is cut off after idle instead of holding the connection forever.
type bodyReader struct {
	r        io.Reader
	rc       *http.ResponseController
	idle     time.Duration
	deadline time.Time
	left     int64
	max      int64
	what     string
}

func newBodyReader(w http.ResponseWriter, r *http.Request, max int64, idle time.Duration, what string) *bodyReader {
	return &bodyReader{r: r.Body, rc: http.NewResponseController(w), idle: idle, left: max, max: max, what: what}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more than allowed tells an over-limit body from one that
		// ends exactly at the limit.
		var one [1]byte
		n, _ := b.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%s exceeds the limit of %d bytes: %w", b.what, b.max, errBodyTooLarge)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	if now := time.Now(); b.idle > 0 && now.Add(b.idle/2).After(b.deadline) {
		// Refresh at most twice per idle period: cheap, and a stall is
		// still caught within idle..1.5*idle.
		b.deadline = now.Add(b.idle)
		_ = b.rc.SetReadDeadline(b.deadline)
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
