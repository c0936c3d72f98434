package main

import (
	"fmt"
	"os"
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
		var err error
		if dir, err = client.DefaultCacheDir(); err != nil {
			return nil, fmt.Errorf("--cache: %w", err)
		}
	}
	return client.OpenCache(dir)
}

// open returns the repository of a reference.
func (o *remoteOptions) open(refStr string) (*client.Repository, error) {
	return client.Open(refStr, o.options())
}

// repository returns the oras-go repository and the raw remote for a
// reference, sharing one authenticating HTTP client.
func (o *remoteOptions) repository(refStr string) (*remote.Repository, *client.Remote, error) {
	r, err := o.open(refStr)
	if err != nil {
		return nil, nil, err
	}
	return r.Repo, r.Remote, nil
}

// progress shows one bar of bytes on a terminal and nothing elsewhere; it
// is a client.Progress.
type progress struct {
	cmd  *cobra.Command
	verb string
	p    *mpb.Progress
	bar  *mpb.Bar
}

func newProgress(cmd *cobra.Command, verb string) *progress {
	return &progress{cmd: cmd, verb: verb}
}

func (pr *progress) Start(total int64, files int) {
	w := pr.cmd.ErrOrStderr()
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return
	}
	pr.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
	pr.bar = pr.p.AddBar(total,
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("%s %d files ", pr.verb, files)), decor.CountersKibiByte("% .1f / % .1f")),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name(" "), decor.Percentage()),
	)
}

func (pr *progress) Add(n int64) {
	if pr.bar != nil {
		pr.bar.IncrInt64(n)
	}
}

func (pr *progress) Done() {
	if pr.p != nil {
		pr.bar.SetTotal(-1, true)
		pr.p.Wait()
	}
}
