package scan_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"cairn.dev/cairn/verify/scan"
)

// BenchmarkWrappedPickle scans a gzip-wrapped pickle of numbers, written
// to a temporary file first: CAIRN_BENCH_WRAPPED_MIB MiB of pickle (64 by
// default; scripts/bench-verify.sh uses 1024), compressed at level 3 (what
// joblib.dump(compress=3) uses). The pickle is a dict of float32 arrays as
// bytes (what pickling NumPy arrays writes), after a list of 2^22 floats
// one opcode each. CAIRN_BENCH_WRAPPED_DATA picks the array values:
// "weights" (the default: normally distributed, as trained weights are;
// gzip barely compresses them) or "quantised" (4096 levels: gzip halves
// them, and inflating is then the bottleneck). It reports MB/s of
// decompressed pickle (SetBytes), the same per second of CPU time used by
// the process (MB/cpu-s: what a loaded machine does not change much), and
// the peak extra memory: the most the Go heap in use grew during a scan,
// sampled every 5 ms (peak-MiB), and the bytes allocated per scan
// (alloc-MiB/op).
func BenchmarkWrappedPickle(b *testing.B) {
	mib := int64(64)
	if v := os.Getenv("CAIRN_BENCH_WRAPPED_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			b.Fatalf("CAIRN_BENCH_WRAPPED_MIB=%q", v)
		}
		mib = n
	}
	quantised := false
	switch v := os.Getenv("CAIRN_BENCH_WRAPPED_DATA"); v {
	case "", "weights":
	case "quantised":
		quantised = true
	default:
		b.Fatalf("CAIRN_BENCH_WRAPPED_DATA=%q: weights or quantised", v)
	}
	path := filepath.Join(b.TempDir(), "model.pkl.gz")
	size := writeNumbersPickle(b, path, mib<<20, quantised)
	b.SetBytes(size)
	b.ResetTimer()
	var peak uint64
	var alloc uint64
	var cpu float64
	for range b.N {
		b.StopTimer()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var most uint64
		wg.Go(func() {
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			var m runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					runtime.ReadMemStats(&m)
					most = max(most, m.HeapInuse)
				}
			}
		})
		c0 := cpuSeconds()
		b.StartTimer()
		rep, err := scan.File(context.Background(), path)
		b.StopTimer()
		cpu += cpuSeconds() - c0
		close(stop)
		wg.Wait()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Verdict != scan.VerdictSafe || rep.Format != scan.FormatPickle || len(rep.Wrappers) != 1 {
			b.Fatalf("%s %s %v: %v", rep.Verdict, rep.Format, rep.Wrappers, rep.Findings)
		}
		if most > before.HeapInuse {
			peak = max(peak, most-before.HeapInuse)
		}
		alloc += after.TotalAlloc - before.TotalAlloc
		b.StartTimer()
	}
	b.ReportMetric(float64(size)*float64(b.N)/1e6/cpu, "MB/cpu-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
	b.ReportMetric(float64(alloc)/float64(b.N)/(1<<20), "alloc-MiB/op")
}

// writeNumbersPickle writes a gzip-compressed protocol 4 pickle of about
// n bytes to path and returns its uncompressed size.
func writeNumbersPickle(b *testing.B, path string, n int64, quantised bool) int64 {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, 3)
	if err != nil {
		b.Fatal(err)
	}
	cw := &counting{w: zw}
	w := bufio.NewWriterSize(cw, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	le := binary.LittleEndian
	put := func(p ...byte) { w.Write(p) }

	put(0x80, 4, '}', '(') // PROTO 4, EMPTY_DICT, MARK
	// One list of floats, one opcode each, appended 1000 at a time as
	// pickle does.
	put(0x8c, 6)
	w.WriteString("floats")
	put(']')
	var f8 [9]byte
	f8[0] = 'G'
	for i := range 1 << 22 {
		if i%1000 == 0 {
			put('(')
		}
		binary.BigEndian.PutUint64(f8[1:], uint64(r.IntN(1<<16))<<40)
		w.Write(f8[:])
		if i%1000 == 999 || i == 1<<22-1 {
			put('e')
		}
	}
	// Then arrays as bytes, 64 MiB each.
	const chunk = 64 << 20
	buf := make([]byte, 1<<20)
	for k := 0; int64(cw.n)+int64(w.Buffered()) < n; k++ {
		name := "w" + strconv.Itoa(k)
		put(0x8c, byte(len(name)))
		w.WriteString(name)
		size := min(int64(chunk), n-int64(cw.n)-int64(w.Buffered()))
		put(0x8e)
		var l [8]byte
		le.PutUint64(l[:], uint64(size))
		w.Write(l[:])
		for left := size; left > 0; {
			for i := 0; i+4 <= len(buf); i += 4 {
				if quantised {
					le.PutUint32(buf[i:], 0x3c000000|uint32(r.IntN(4096))<<8)
				} else {
					le.PutUint32(buf[i:], math.Float32bits(float32(r.NormFloat64()*0.02)))
				}
			}
			m := min(left, int64(len(buf)))
			w.Write(buf[:m])
			left -= m
		}
	}
	put('u', '.') // SETITEMS, STOP
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	return cw.n
}

// cpuSeconds is the CPU time the process used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

type counting struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *counting) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
