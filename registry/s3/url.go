package s3

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Limits of S3 multipart uploads.
const (
	// MinPartSize is the smallest part S3 accepts (but for the last).
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part S3 accepts.
	MaxPartSize = 5 << 30
	// maxParts is the most parts one multipart upload may have.
	maxParts = 10000
	// DefaultPartSize is the part size of uploads when the URL names none:
	// a buffer of this size (two, while a part is sent) is what an upload
	// in progress costs in memory.
	DefaultPartSize = 16 << 20
)

// Config says where a Store keeps its blobs. ParseURL fills it from a
// --storage URL; credentials are not part of it (Open reads them from the
// environment).
type Config struct {
	// Bucket is the bucket's name; it must exist.
	Bucket string
	// Prefix is prepended to every key: empty, or ending in "/".
	Prefix string
	// Endpoint is the server's host[:port]; empty means AWS S3.
	Endpoint string
	// Insecure selects plain HTTP (an http:// endpoint).
	Insecure bool
	// Region is the bucket's region; empty lets the client ask.
	Region string
	// PartSize is the size of the parts of multipart uploads (the first
	// thousand; later parts grow so that one upload can reach about
	// 55,000 times it). Zero means DefaultPartSize.
	PartSize int64
}

// maxURLLength bounds the --storage URL.
const maxURLLength = 4096

// ParseURL parses a --storage URL:
//
//	s3://BUCKET[/PREFIX][?endpoint=URL][&region=R][&part-size=SIZE]
//
// endpoint is an http:// or https:// URL of the server (MinIO, Ceph, R2...;
// default AWS S3), region the bucket's region, part-size the size of upload
// parts in bytes or with a KiB, MiB or GiB suffix (5 MiB to 5 GiB). The
// prefix, when given, is a path under which every key is kept, so that
// several registries can share a bucket. Credentials in the URL are
// refused: they come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
func ParseURL(raw string) (Config, error) {
	var c Config
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: %s", ErrURL, fmt.Sprintf(format, args...))
	}
	if len(raw) > maxURLLength {
		return bad("longer than %d bytes", maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("%v", err)
	}
	if u.Scheme != "s3" {
		return bad("scheme %q, want s3://BUCKET", u.Scheme)
	}
	if u.User != nil {
		return bad("credentials do not go in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if u.Opaque != "" || u.Fragment != "" || u.RawFragment != "" {
		return bad("want s3://BUCKET[/PREFIX][?...]")
	}
	if u.Port() != "" || !validBucket(u.Host) {
		return bad("bucket name %q: 3 to 63 lower-case letters, digits, dots and hyphens", u.Host)
	}
	c.Bucket = u.Host
	if p := strings.Trim(u.Path, "/"); p != "" {
		for _, seg := range strings.Split(p, "/") {
			if !validSegment(seg) {
				return bad("prefix %q: each element letters, digits, '.', '_' or '-', not . or ..", p)
			}
		}
		c.Prefix = p + "/"
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return bad("parameter %s given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.User != nil ||
				(e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.Fragment != "" || strings.ContainsAny(e.Host, " %") {
				return bad("endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", v)
			}
			if _, err := strconv.Atoi(e.Port()); e.Port() != "" && err != nil {
				return bad("endpoint %q: bad port", v)
			}
			c.Endpoint, c.Insecure = e.Host, e.Scheme == "http"
		case "region":
			if !validRegion(v) {
				return bad("region %q", v)
			}
			c.Region = v
		case "part-size":
			n, err := parseSize(v)
			if err != nil || n < MinPartSize || n > MaxPartSize {
				return bad("part-size %q: from 5MiB to 5GiB", v)
			}
			c.PartSize = n
		default:
			return bad("unknown parameter %q (endpoint, region, part-size)", k)
		}
	}
	return c, nil
}

// String returns the URL ParseURL reads c from.
func (c Config) String() string {
	u := url.URL{Scheme: "s3", Host: c.Bucket, Path: "/" + c.Prefix}
	if c.Prefix == "" {
		u.Path = ""
	}
	q := url.Values{}
	if c.Endpoint != "" {
		scheme := "https"
		if c.Insecure {
			scheme = "http"
		}
		q.Set("endpoint", scheme+"://"+c.Endpoint)
	}
	if c.Region != "" {
		q.Set("region", c.Region)
	}
	if c.PartSize != 0 {
		q.Set("part-size", strconv.FormatInt(c.PartSize, 10))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (r != '.' && r != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return !strings.Contains(s, "..")
}

func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func validRegion(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// parseSize reads "N", "NKiB", "NMiB" or "NGiB".
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > MaxPartSize/mult+1 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
