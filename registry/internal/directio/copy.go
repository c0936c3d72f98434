package directio

import (
	"errors"
	"hash"
	"io"
	"os"
	"sync"
)

// Copy tuning.
const (
	// ChunkSize is the unit read, hashed and written.
	ChunkSize = 1 << 20
	// Writers is how many chunk writes are in flight at once by default: a
	// direct write waits for the device, so several keep its queue busy.
	Writers = 4
)

var chunks = sync.Pool{New: func() any { b := Buffer(ChunkSize); return &b }}

// Options tunes Copy. The zero value is ready to use.
type Options struct {
	// Progress, when set, is called with the bytes read.
	Progress func(int64)
	// Checkpoint, when set, is called about every CheckpointEvery bytes
	// with the number read so far, at a moment when all of them are written
	// (writes in flight are drained first): a safe point to record for a
	// resume. It is called once more at the end, also after a read error,
	// if every write succeeded.
	Checkpoint      func(n int64)
	CheckpointEvery int64
	// Writers overrides the number of writes in flight (default Writers);
	// callers that copy several files at once may want fewer each.
	Writers int
}

type job struct {
	buf *[]byte
	n   int
	off int64
}

// Copy reads r to its end in ChunkSize pieces and writes them to f from
// offset off on, with up to Writers writes in flight, while this goroutine
// hashes every byte into h (when not nil). It returns the number of bytes
// read. When Copy returns, every write has finished; after an error, or a
// kill, the file may hold only some of the bytes read (writes complete out
// of order), so the caller truncates it to a checkpoint or discards it.
func Copy(f *os.File, off int64, h hash.Hash, r io.Reader, opts Options) (int64, error) {
	w := NewWriter(f)
	defer w.Close()
	writers := opts.Writers
	if writers <= 0 {
		writers = Writers
	}
	depth := 2 * writers
	free := make(chan *[]byte, depth)
	for range depth {
		free <- chunks.Get().(*[]byte)
	}
	jobs := make(chan job, depth)
	var (
		wg       sync.WaitGroup
		inflight sync.WaitGroup
		mu       sync.Mutex
		werr     error
	)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				mu.Lock()
				failed := werr != nil
				mu.Unlock()
				if !failed {
					if _, err := w.WriteAt((*j.buf)[:j.n], j.off); err != nil {
						mu.Lock()
						werr = errors.Join(werr, err)
						mu.Unlock()
					}
				}
				free <- j.buf
				inflight.Done()
			}
		}()
	}
	var total, lastCheckpoint int64
	var rerr error
	for {
		bp := <-free
		n, err := io.ReadFull(r, *bp)
		if n > 0 {
			if h != nil {
				h.Write((*bp)[:n])
			}
			if opts.Progress != nil {
				opts.Progress(int64(n))
			}
			inflight.Add(1)
			jobs <- job{buf: bp, n: n, off: off + total}
			total += int64(n)
			if opts.Checkpoint != nil && opts.CheckpointEvery > 0 && total-lastCheckpoint >= opts.CheckpointEvery {
				inflight.Wait()
				mu.Lock()
				failed := werr != nil
				mu.Unlock()
				if !failed {
					opts.Checkpoint(total)
				}
				lastCheckpoint = total
			}
		} else {
			free <- bp
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				rerr = err
			}
			break
		}
		mu.Lock()
		failed := werr != nil
		mu.Unlock()
		if failed {
			break
		}
	}
	close(jobs)
	wg.Wait()
	for range depth {
		chunks.Put(<-free)
	}
	// A last checkpoint covers an interrupted read: what arrived is written.
	if opts.Checkpoint != nil && werr == nil && total > lastCheckpoint {
		opts.Checkpoint(total)
	}
	if rerr != nil {
		return total, rerr
	}
	return total, werr
}
