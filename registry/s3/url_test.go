package s3_test

import (
	"errors"
	"testing"

	"cairn.dev/cairn/registry/s3"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want s3.Config
	}{
		{"s3://models", s3.Config{Bucket: "models"}},
		{"s3://models/", s3.Config{Bucket: "models"}},
		{"s3://my.bucket-1/cairn/prod?region=eu-west-1", s3.Config{Bucket: "my.bucket-1", Prefix: "cairn/prod/", Region: "eu-west-1"}},
		{"s3://cairn?endpoint=http://127.0.0.1:9000&region=us-east-1",
			s3.Config{Bucket: "cairn", Endpoint: "127.0.0.1:9000", Insecure: true, Region: "us-east-1"}},
		{"s3://cairn?endpoint=https://minio.example.com/", s3.Config{Bucket: "cairn", Endpoint: "minio.example.com"}},
		{"s3://cairn?endpoint=http://[::1]:9000", s3.Config{Bucket: "cairn", Endpoint: "[::1]:9000", Insecure: true}},
		{"s3://cairn?part-size=64MiB", s3.Config{Bucket: "cairn", PartSize: 64 << 20}},
		{"s3://cairn?part-size=5242880", s3.Config{Bucket: "cairn", PartSize: 5 << 20}},
	}
	for _, tc := range tests {
		got, err := s3.ParseURL(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v, want %+v", tc.url, got, err, tc.want)
			continue
		}
		// String gives a URL that parses back the same.
		if again, err := s3.ParseURL(got.String()); err != nil || again != got {
			t.Errorf("ParseURL(%q.String() = %q) = %+v, %v", tc.url, got.String(), again, err)
		}
	}
	bad := []string{
		"", "models", "http://models", "s3:models", "s3://", "s3://ab", "s3://UPPER", "s3://-lead", "s3://trail-",
		"s3://a..b", "s3://bucket:9000", "s3://key:secret@bucket", "s3://key@bucket", "s3://bucket/../x", "s3://bucket/a/./b",
		"s3://bucket/a b", "s3://bucket/a%2Fb/../..", "s3://bucket#frag", "s3://bucket?endpoint=ftp://x",
		"s3://bucket?endpoint=http://", "s3://bucket?endpoint=http://user:pw@host", "s3://bucket?endpoint=http://host/path",
		"s3://bucket?endpoint=http://host:port", "s3://bucket?region=EU", "s3://bucket?region=", "s3://bucket?part-size=1MiB",
		"s3://bucket?part-size=6GiB", "s3://bucket?part-size=-1", "s3://bucket?part-size=x", "s3://bucket?unknown=1",
		"s3://bucket?region=a&region=b", "s3://bucket?endpoint=http://h?x=1",
	}
	for _, u := range bad {
		if c, err := s3.ParseURL(u); !errors.Is(err, s3.ErrURL) {
			t.Errorf("ParseURL(%q) = %+v, %v, want ErrURL", u, c, err)
		}
	}
}
