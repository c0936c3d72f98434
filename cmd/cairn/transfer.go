package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry/client"
)

// transferOptions are the flags shared by push and pull.
type transferOptions struct {
	remoteOptions
	cacheDir    string
	concurrency int
	asJSON      bool
}

func (o *transferOptions) addFlags(cmd *cobra.Command) {
	o.remoteOptions.addFlags(cmd)
	cmd.Flags().StringVar(&o.cacheDir, "cache", "", "local blob cache (default: $CAIRN_CACHE or the user cache directory)")
	cmd.Flags().IntVar(&o.concurrency, "concurrency", 4, "files transferred at once")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print the result as JSON")
}

// openCache opens the local cache shared by pulls (and holding push state).
func (o *transferOptions) openCache() (*client.Cache, error) {
	dir := o.cacheDir
	if dir == "" {
		dir = os.Getenv("CAIRN_CACHE")
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("no cache directory: set --cache or CAIRN_CACHE: %w", err)
		}
		dir = filepath.Join(base, "cairn")
	}
	return client.OpenCache(dir)
}

// repository returns the oras-go repository and the raw remote for a
// reference, sharing one authenticating HTTP client.
func (o *remoteOptions) repository(refStr string) (*remote.Repository, *client.Remote, error) {
	ref, err := parseRef(refStr)
	if err != nil {
		return nil, nil, err
	}
	c := o.client()
	repo := &remote.Repository{Client: c, Reference: ref, PlainHTTP: o.plainHTTP || isLoopback(ref.Registry)}
	return repo, &client.Remote{Client: c, Base: o.baseURL(ref.Registry), Repository: ref.Repository}, nil
}

// progress shows one bar of bytes on a terminal and nothing elsewhere.
type progress struct {
	p   *mpb.Progress
	bar *mpb.Bar
	n   atomic.Int64
}

func newProgress(cmd *cobra.Command, verb string, total int64, files int) *progress {
	pr := &progress{}
	w := cmd.ErrOrStderr()
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return pr
	}
	pr.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
	pr.bar = pr.p.AddBar(total,
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("%s %d files ", verb, files)), decor.CountersKibiByte("% .1f / % .1f")),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name(" "), decor.Percentage()),
	)
	return pr
}

// add counts n bytes done.
func (pr *progress) add(n int64) {
	pr.n.Add(n)
	if pr.bar != nil {
		pr.bar.IncrInt64(n)
	}
}

func (pr *progress) done() {
	if pr.p != nil {
		pr.bar.SetTotal(-1, true)
		pr.p.Wait()
	}
}
