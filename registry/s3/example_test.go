package s3_test

import (
	"fmt"

	"cairn.dev/cairn/registry/s3"
)

// A --storage URL for a MinIO server, with the registry's keys under a
// prefix of the bucket.
func ExampleParseURL() {
	cfg, err := s3.ParseURL("s3://models/cairn/prod?endpoint=http://127.0.0.1:9000&region=us-east-1&part-size=64MiB")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Bucket, cfg.Prefix, cfg.Endpoint, cfg.Insecure, cfg.Region, cfg.PartSize>>20)
	_, err = s3.ParseURL("s3://key:secret@models")
	fmt.Println(err)
	// Output:
	// models cairn/prod/ 127.0.0.1:9000 true us-east-1 64
	// invalid s3:// URL: credentials do not go in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
}
