package storagetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
)

// TestAccessLog runs the conformance suite for storage.AccessLog: appends,
// order, filters and paging, concurrent appends, verification and
// retention. newLog must return a new, empty log each time it is called.
// Tampering is tested by TestAccessLogTamper, which needs hooks into the
// store.
func TestAccessLog(t *testing.T, newLog func(t *testing.T) storage.AccessLog) {
	t.Run("Empty", func(t *testing.T) { testAccessEmpty(t, newLog(t)) })
	t.Run("Append", func(t *testing.T) { testAccessAppend(t, newLog(t)) })
	t.Run("Refused", func(t *testing.T) { testAccessRefused(t, newLog(t)) })
	t.Run("Filter", func(t *testing.T) { testAccessFilter(t, newLog(t)) })
	t.Run("Paging", func(t *testing.T) { testAccessPaging(t, newLog(t)) })
	t.Run("Concurrent", func(t *testing.T) { testAccessConcurrent(t, newLog(t)) })
	t.Run("Prune", func(t *testing.T) { testAccessPrune(t, newLog(t)) })
	t.Run("PrunePrefixOnly", func(t *testing.T) { testAccessPrunePrefix(t, newLog(t)) })
	t.Run("Leaves", func(t *testing.T) { testAccessLeaves(t, newLog(t)) })
}

// testAccessLeaves checks, for a store that also keeps transparency logs,
// that every record is the leaf of its seq in storage.LogAccess, appended
// with it (concurrent appends included), and that retention removes
// records but never their leaves: the records still check against the
// leaves (tlog.AuditAccess), and the tree only grows.
func testAccessLeaves(t *testing.T, l storage.AccessLog) {
	logs, ok := l.(storage.TransparencyLogs)
	if !ok {
		t.Skip("this store keeps no transparency log")
	}
	t0 := time.Now().Add(-48 * time.Hour).UTC()
	for i := range 4 { // 12 old records first: retention removes them
		appendRecords(t, l, sampleRecords(3, t0.Add(time.Duration(i-10)*time.Minute))...)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				in := sampleRecords(3, t0.Add(time.Duration(g*5+i)*time.Minute))
				if _, err := l.AppendAccess(t.Context(), in...); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	size := func() int64 {
		n, err := logs.LogSize(t.Context(), storage.LogAccess)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := size(); n != 60 {
		t.Fatalf("%d leaves for 60 records", n)
	}
	rep, err := tlog.AuditAccess(t.Context(), logs, l)
	if err != nil || rep.Records != 60 {
		t.Fatalf("AuditAccess = %+v, %v, want 60 records matching their leaves", rep, err)
	}
	before := rep.Tree
	pruned, err := l.PruneAccess(t.Context(), t0.Add(-time.Minute))
	if err != nil || pruned != 12 {
		t.Fatalf("PruneAccess = %d, %v", pruned, err)
	}
	if n := size(); n != 61 {
		t.Fatalf("%d leaves after a prune, want 61 (the leaves kept, the prune record's added)", n)
	}
	rep, err = tlog.AuditAccess(t.Context(), logs, l)
	if err != nil || rep.Pruned != int64(pruned) || rep.Records != int64(61-pruned) {
		t.Fatalf("AuditAccess after pruning %d = %+v, %v", pruned, rep, err)
	}
	// The tree after the prune extends the one before.
	in := tlog.AccessLogInput{Kept: &before, Records: collect(t, l, storage.AccessFilter{})}
	if in.Leaves, err = logs.LogEntries(t.Context(), storage.LogAccess, 0, 61); err != nil {
		t.Fatal(err)
	}
	if _, err := tlog.CheckAccess(t.Context(), in); err != nil {
		t.Fatalf("the tree after pruning does not extend the one before: %v", err)
	}
}

// AccessTamper edits a log's stored state behind its back, as someone with
// write access to the database (and knowledge of the encoding) would. The
// hooks fail the test when they cannot do what they say.
type AccessTamper struct {
	// Edit rewrites record seq with edit applied to its fields (Seq and
	// Prev included). With rehash the stored hash is recomputed for the new
	// contents; without, the old hash is kept. Indexes are left alone.
	Edit func(t *testing.T, seq uint64, edit func(*storage.AccessRecord), rehash bool)
	// Delete removes record seq and nothing else.
	Delete func(t *testing.T, seq uint64)
	// Swap exchanges the stored contents of records a and b.
	Swap func(t *testing.T, a, b uint64)
	// Unindex removes record seq from every index, leaving the record.
	Unindex func(t *testing.T, seq uint64)
	// SetAnchor and SetHead overwrite the anchor or the head.
	SetAnchor func(t *testing.T, seq uint64, hash string)
	SetHead   func(t *testing.T, seq uint64, hash string)
}

// TestAccessLogTamper checks that VerifyAccess detects every edit an
// AccessTamper can make, naming the right record. newLog returns a new,
// empty log and the hooks that tamper with it.
func TestAccessLogTamper(t *testing.T, newLog func(t *testing.T) (storage.AccessLog, AccessTamper)) {
	other := strings.Repeat("ab", 32)
	cases := []struct {
		name string
		// prune, when set, prunes records 1 to 3 first (anchor = 3).
		prune  bool
		tamper func(t *testing.T, tp AccessTamper, recs []storage.AccessRecord)
		// seqs are the breaks accepted.
		seqs []uint64
	}{
		{"EditAddress", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Edit(t, 5, func(r *storage.AccessRecord) { r.Address = "10.6.6.6" }, false)
		}, []uint64{5}},
		{"EditTime", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Edit(t, 5, func(r *storage.AccessRecord) { r.Time = r.Time.Add(-time.Hour) }, false)
		}, []uint64{5}},
		{"EditResult", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Edit(t, 5, func(r *storage.AccessRecord) { r.Result = storage.ResultOK; r.Status = 200 }, false)
		}, []uint64{5}},
		{"EditAndRehash", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Edit(t, 5, func(r *storage.AccessRecord) { r.Detail = "nothing to see" }, true)
		}, []uint64{6}},
		{"EditLastAndRehash", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Edit(t, 10, func(r *storage.AccessRecord) { r.Detail = "nothing to see" }, true)
		}, []uint64{10}},
		{"EditPrevAndRehash", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Edit(t, 5, func(r *storage.AccessRecord) { r.Prev = other }, true)
		}, []uint64{5}},
		{"DeleteMiddle", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Delete(t, 5)
		}, []uint64{5}},
		{"DeleteFirst", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Delete(t, 1)
		}, []uint64{1}},
		{"DeleteLast", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Delete(t, 10)
		}, []uint64{10}},
		{"TruncateTail", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Delete(t, 9)
			tp.Delete(t, 10)
		}, []uint64{9}},
		{"TruncateTailAndHead", false, func(t *testing.T, tp AccessTamper, recs []storage.AccessRecord) {
			// Caught only by a head exported before: the chain that is
			// left is consistent. The suite checks the exported head.
			tp.Delete(t, 10)
			tp.SetHead(t, 9, recs[8].Hash)
		}, nil},
		{"DeleteFirstAndMoveAnchor", false, func(t *testing.T, tp AccessTamper, recs []storage.AccessRecord) {
			tp.Delete(t, 1)
			tp.SetAnchor(t, 1, recs[0].Hash)
		}, []uint64{1}},
		{"Swap", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Swap(t, 4, 6)
		}, []uint64{4}},
		{"Unindex", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Unindex(t, 5)
		}, []uint64{5}},
		{"AnchorOnUnprunedLog", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.SetAnchor(t, 0, other)
		}, []uint64{0, 1}},
		{"HeadBehind", false, func(t *testing.T, tp AccessTamper, recs []storage.AccessRecord) {
			tp.SetHead(t, 8, recs[7].Hash)
		}, []uint64{9}},
		{"HeadAhead", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.SetHead(t, 12, other)
		}, []uint64{11}},
		{"HeadHash", false, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.SetHead(t, 10, other)
		}, []uint64{10}},
		{"PrunedEditAnchor", true, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.SetAnchor(t, 3, other)
		}, []uint64{4}},
		{"PrunedDeleteOldestAndMoveAnchor", true, func(t *testing.T, tp AccessTamper, recs []storage.AccessRecord) {
			tp.Delete(t, 4)
			tp.SetAnchor(t, 4, recs[3].Hash)
		}, []uint64{11}},
		{"PrunedDeleteOldest", true, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Delete(t, 4)
		}, []uint64{4}},
		{"PrunedEditPruneRecord", true, func(t *testing.T, tp AccessTamper, _ []storage.AccessRecord) {
			tp.Edit(t, 11, func(r *storage.AccessRecord) { r.Detail = "retention removed nothing" }, false)
		}, []uint64{11}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, tp := newLog(t)
			recs := appendRecords(t, l, sampleRecords(10, time.Now().Add(-time.Hour))...)
			if tc.prune {
				// Records 1-3 are older than the rest.
				if n, err := l.PruneAccess(t.Context(), recs[3].Time); err != nil || n != 3 {
					t.Fatalf("PruneAccess = %d, %v, want 3", n, err)
				}
			}
			before := verifyOK(t, l)
			tc.tamper(t, tp, recs)
			st, err := l.VerifyAccess(t.Context())
			if err != nil {
				t.Fatalf("VerifyAccess: %v", err)
			}
			if tc.seqs == nil {
				// The head exported before the tampering no longer
				// matches the record at its seq.
				if st.OK && st.HeadSeq == before.HeadSeq && st.Head == before.Head {
					t.Fatalf("state after truncating the tail and the head matches the exported head: %+v", st)
				}
				return
			}
			if st.OK || st.Break == nil {
				t.Fatalf("VerifyAccess after tampering = %+v, want a break", st)
			}
			if !slices.Contains(tc.seqs, st.Break.Seq) {
				t.Errorf("break at seq %d (%s), want one of %v", st.Break.Seq, st.Break.Problem, tc.seqs)
			}
			if err := st.Err(); !errors.Is(err, storage.ErrAccessChainBroken) || !strings.Contains(err.Error(), fmt.Sprint(st.Break.Seq)) {
				t.Errorf("Err() = %v, want ErrAccessChainBroken naming the seq", err)
			}
			t.Logf("detected: seq %d: %s", st.Break.Seq, st.Break.Problem)
			// Retention refuses to remove records from a broken chain,
			// so it never launders an edit.
			if n, err := l.PruneAccess(t.Context(), time.Now().Add(time.Hour)); !errors.Is(err, storage.ErrAccessChainBroken) || n != 0 {
				t.Errorf("PruneAccess of a broken log = %d, %v, want 0 and ErrAccessChainBroken", n, err)
			}
			if st2, err := l.VerifyAccess(t.Context()); err != nil || st2.OK || st2.Break.Seq != st.Break.Seq {
				t.Errorf("VerifyAccess after the refused prune = %+v, %v, want the same break", st2, err)
			}
		})
	}
}

var (
	sampleRepos      = []string{"team-a/model", "team-a/model/sub", "team-a/modelx", "team-b/data", ""}
	samplePrincipals = []string{"alice", "bob", "anonymous", "token:t1", "alice2"}
	sampleActions    = []struct{ action, result string }{
		{storage.ActionPull, storage.ResultOK},
		{storage.ActionPush, storage.ResultOK},
		{storage.ActionDenied, storage.ResultDenied},
		{storage.ActionPull, storage.ResultFailed},
		{storage.ActionDelete, storage.ResultOK},
		{storage.ActionLogin, storage.ResultRefused},
		{storage.ActionCatalog, storage.ResultOK},
	}
)

// sampleRecords returns n records with varied fields, one second apart
// from start.
func sampleRecords(n int, start time.Time) []storage.AccessRecord {
	recs := make([]storage.AccessRecord, n)
	for i := range recs {
		a := sampleActions[i%len(sampleActions)]
		r := storage.AccessRecord{
			Time:       start.Add(time.Duration(i)*time.Second + time.Duration(i)*time.Nanosecond),
			Principal:  samplePrincipals[i%len(samplePrincipals)],
			Address:    fmt.Sprintf("192.0.2.%d", i%7),
			Action:     a.action,
			Repository: sampleRepos[i%len(sampleRepos)],
			Result:     a.result,
			Status:     []int{200, 201, 401, 404, 202, 401, 200}[i%7],
			Detail:     fmt.Sprintf("sample %d", i),
		}
		if r.Repository != "" {
			r.Reference = "v1"
			r.Digest = digest.FromString(fmt.Sprint("manifest ", i))
		}
		recs[i] = r
	}
	return recs
}

func appendRecords(t *testing.T, l storage.AccessLog, recs ...storage.AccessRecord) []storage.AccessRecord {
	t.Helper()
	out, err := l.AppendAccess(t.Context(), recs...)
	if err != nil {
		t.Fatalf("AppendAccess: %v", err)
	}
	if len(out) != len(recs) {
		t.Fatalf("AppendAccess returned %d records for %d", len(out), len(recs))
	}
	return out
}

func collect(t *testing.T, l storage.AccessLog, f storage.AccessFilter) []storage.AccessRecord {
	t.Helper()
	var out []storage.AccessRecord
	if err := l.Access(t.Context(), f, func(r storage.AccessRecord) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("Access(%+v): %v", f, err)
	}
	return out
}

func verifyOK(t *testing.T, l storage.AccessLog) storage.AccessChainState {
	t.Helper()
	st, err := l.VerifyAccess(t.Context())
	if err != nil {
		t.Fatalf("VerifyAccess: %v", err)
	}
	if !st.OK || st.Break != nil {
		t.Fatalf("VerifyAccess of an untouched log = %+v (%v)", st, st.Err())
	}
	if st.Err() != nil {
		t.Fatalf("Err() of an intact chain = %v", st.Err())
	}
	return st
}

func seqs(recs []storage.AccessRecord) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func sameRecord(a, b storage.AccessRecord) bool {
	return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.Time.Location() == b.Time.Location() &&
		a.Principal == b.Principal && a.Address == b.Address && a.Action == b.Action &&
		a.Repository == b.Repository && a.Digest == b.Digest && a.Reference == b.Reference &&
		a.Result == b.Result && a.Status == b.Status && a.Detail == b.Detail && a.Prev == b.Prev && a.Hash == b.Hash
}

func testAccessEmpty(t *testing.T, l storage.AccessLog) {
	if got := collect(t, l, storage.AccessFilter{}); len(got) != 0 {
		t.Errorf("Access of an empty log returned %d records", len(got))
	}
	if got := collect(t, l, storage.AccessFilter{Repository: "x", Limit: 3}); len(got) != 0 {
		t.Errorf("Access(repo) of an empty log returned %d records", len(got))
	}
	st := verifyOK(t, l)
	if st.Records != 0 || st.HeadSeq != 0 || st.Head != storage.AccessGenesis || st.AnchorSeq != 0 || st.Anchor != storage.AccessGenesis {
		t.Errorf("VerifyAccess of an empty log = %+v", st)
	}
	if n, err := l.PruneAccess(t.Context(), time.Now()); n != 0 || err != nil {
		t.Errorf("PruneAccess of an empty log = %d, %v", n, err)
	}
	if out, err := l.AppendAccess(t.Context()); err != nil || len(out) != 0 {
		t.Errorf("AppendAccess() = %v, %v, want nothing", out, err)
	}
	verifyOK(t, l)
}

func testAccessAppend(t *testing.T, l storage.AccessLog) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.FixedZone("CET", 3600))
	in := sampleRecords(3, at)
	in[0].Seq, in[0].Prev, in[0].Hash = 99, strings.Repeat("1", 64), "forged" // ignored
	first := appendRecords(t, l, in...)
	noTime := storage.AccessRecord{Principal: "alice", Address: "198.51.100.1", Action: storage.ActionLogin, Result: storage.ResultOK}
	second := appendRecords(t, l, noTime, in[1])
	all := append(first, second...)

	prev := storage.AccessGenesis
	for i, r := range all {
		if r.Seq != uint64(i+1) {
			t.Errorf("record %d: Seq %d", i, r.Seq)
		}
		if r.Prev != prev {
			t.Errorf("record %d: Prev %s, want %s", r.Seq, r.Prev, prev)
		}
		h, err := r.ChainHash()
		if err != nil || h != r.Hash || len(h) != 64 {
			t.Errorf("record %d: Hash %s, ChainHash() = %s, %v", r.Seq, r.Hash, h, err)
		}
		if r.Time.Location() != time.UTC {
			t.Errorf("record %d: time %v not in UTC", r.Seq, r.Time)
		}
		prev = r.Hash
	}
	if !first[0].Time.Equal(at) {
		t.Errorf("time %v, want %v (nanoseconds kept)", first[0].Time, at)
	}
	if second[0].Time.IsZero() || time.Since(second[0].Time) > time.Hour {
		t.Errorf("a record without a time got %v, want now", second[0].Time)
	}
	if first[0].Principal != in[0].Principal || first[0].Digest != in[0].Digest || first[0].Detail != in[0].Detail || first[0].Status != in[0].Status {
		t.Errorf("stored %+v, appended %+v", first[0], in[0])
	}

	got := collect(t, l, storage.AccessFilter{})
	if len(got) != len(all) {
		t.Fatalf("Access returned %d records, want %d", len(got), len(all))
	}
	for i, r := range got {
		want := all[len(all)-1-i]
		if !sameRecord(r, want) {
			t.Errorf("Access record %d = %+v, AppendAccess returned %+v", i, r, want)
		}
		// An auditor recomputes the chain from a JSON export.
		b, _ := json.Marshal(r)
		var back storage.AccessRecord
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if h, err := back.ChainHash(); err != nil || h != r.Hash {
			t.Errorf("record %d from JSON: ChainHash() = %s, %v, want %s", r.Seq, h, err, r.Hash)
		}
	}
	st := verifyOK(t, l)
	if st.Records != 5 || st.First != 1 || st.Last != 5 || st.HeadSeq != 5 || st.Head != all[4].Hash || st.Anchor != storage.AccessGenesis {
		t.Errorf("VerifyAccess = %+v", st)
	}
}

func testAccessRefused(t *testing.T, l storage.AccessLog) {
	ok := storage.AccessRecord{Principal: "alice", Action: storage.ActionPull, Result: storage.ResultOK}
	bad := map[string]storage.AccessRecord{
		"reserved action": {Principal: "mallory", Action: storage.ActionPrune, Result: storage.ResultOK, Reference: "3"},
		"no action":       {Principal: "alice", Result: storage.ResultOK},
		"long field":      {Principal: "alice", Action: storage.ActionPull, Detail: strings.Repeat("x", storage.MaxAccessField+1)},
		"not UTF-8":       {Principal: "alice\xff", Action: storage.ActionPull},
		"status":          {Principal: "alice", Action: storage.ActionPull, Status: 1000},
		"time":            {Principal: "alice", Action: storage.ActionPull, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for name, r := range bad {
		if _, err := l.AppendAccess(t.Context(), ok, r); !errors.Is(err, storage.ErrAccessRecordInvalid) {
			t.Errorf("%s: AppendAccess = %v, want ErrAccessRecordInvalid", name, err)
		}
	}
	if got := collect(t, l, storage.AccessFilter{}); len(got) != 0 {
		t.Errorf("refused appends stored %d records", len(got))
	}
	appendRecords(t, l, ok, storage.AccessRecord{Principal: "alice", Action: storage.ActionPull, Detail: strings.Repeat("é", storage.MaxAccessField/2)})
	verifyOK(t, l)
}

func testAccessFilter(t *testing.T, l storage.AccessLog) {
	var all []storage.AccessRecord
	for i := 0; i < 5; i++ { // several appends, some of many records
		all = append(all, appendRecords(t, l, sampleRecords(7+5*i, time.Now().Add(-time.Hour))...)...)
	}
	slices.Reverse(all) // newest first
	filters := []storage.AccessFilter{{}}
	for _, r := range sampleRepos {
		filters = append(filters, storage.AccessFilter{Repository: r})
	}
	filters = append(filters, storage.AccessFilter{Repository: "team-a"}, storage.AccessFilter{Repository: "nobody"})
	for _, p := range samplePrincipals {
		filters = append(filters, storage.AccessFilter{Principal: p}, storage.AccessFilter{Principal: p, Repository: "team-a/model"})
	}
	for _, a := range sampleActions {
		filters = append(filters, storage.AccessFilter{Action: a.action}, storage.AccessFilter{Result: a.result},
			storage.AccessFilter{Action: a.action, Result: a.result, Principal: "alice"})
	}
	filters = append(filters, storage.AccessFilter{Principal: "nobody"}, storage.AccessFilter{Action: "nothing"})
	for _, f := range filters {
		var want []storage.AccessRecord
		for _, r := range all {
			if f.Match(&r) {
				want = append(want, r)
			}
		}
		got := collect(t, l, f)
		if !slices.Equal(seqs(got), seqs(want)) {
			t.Errorf("Access(%+v) = seqs %v, want %v", f, seqs(got), seqs(want))
		}
		for i := range got {
			if !sameRecord(got[i], want[i]) {
				t.Errorf("Access(%+v): record %d = %+v, want %+v", f, got[i].Seq, got[i], want[i])
				break
			}
		}
	}

	// An error from fn stops the walk and is returned.
	stop := errors.New("stop")
	n := 0
	err := l.Access(t.Context(), storage.AccessFilter{}, func(storage.AccessRecord) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("Access with fn failing at the 3rd record: %v after %d calls", err, n)
	}
}

func testAccessPaging(t *testing.T, l storage.AccessLog) {
	// More than one read chunk of an implementation that reads in chunks of
	// about a thousand.
	var all []storage.AccessRecord
	for len(all) < 2600 {
		all = append(all, appendRecords(t, l, sampleRecords(500, time.Now().Add(-time.Hour))...)...)
	}
	slices.Reverse(all)
	for _, f := range []storage.AccessFilter{{}, {Repository: "team-a/model"}, {Principal: "bob"}, {Action: storage.ActionDenied}, {Repository: "team-b/data", Result: storage.ResultFailed}} {
		var want []uint64
		for _, r := range all {
			if f.Match(&r) {
				want = append(want, r.Seq)
			}
		}
		if got := seqs(collect(t, l, f)); !slices.Equal(got, want) {
			t.Errorf("Access(%+v): %d records, want %d", f, len(got), len(want))
		}
		for _, limit := range []int{1, 7, 1000, 1500} {
			var got []uint64
			page := f
			page.Limit = limit
			for pages := 0; ; pages++ {
				recs := collect(t, l, page)
				if len(recs) > limit {
					t.Fatalf("Access(%+v) returned %d records", page, len(recs))
				}
				got = append(got, seqs(recs)...)
				if len(recs) < limit || pages > len(all) {
					break
				}
				page.Before = recs[len(recs)-1].Seq
			}
			if !slices.Equal(got, want) {
				t.Errorf("paging Access(%+v) by %d: %d records, want %d", f, limit, len(got), len(want))
			}
		}
		// Before alone.
		mid := all[len(all)/2].Seq
		g := f
		g.Before = mid
		for _, s := range seqs(collect(t, l, g)) {
			if s >= mid {
				t.Fatalf("Access(%+v) returned seq %d", g, s)
			}
		}
	}
}

func testAccessConcurrent(t *testing.T, l storage.AccessLog) {
	const workers, appends = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*appends)
	for w := range workers {
		wg.Go(func() {
			for i := range appends {
				recs := sampleRecords(1+i%3, time.Now())
				for j := range recs {
					recs[j].Detail = fmt.Sprintf("worker %d append %d record %d", w, i, j)
				}
				if _, err := l.AppendAccess(t.Context(), recs...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent AppendAccess: %v", err)
	}
	want := 0
	for i := range appends {
		want += 1 + i%3
	}
	want *= workers
	got := collect(t, l, storage.AccessFilter{})
	if len(got) != want {
		t.Fatalf("%d records after concurrent appends, want %d", len(got), want)
	}
	// One append's records are consecutive.
	for i, r := range got {
		if r.Seq != uint64(want-i) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		var w, a, j int
		fmt.Sscanf(r.Detail, "worker %d append %d record %d", &w, &a, &j)
		if j > 0 && (i+1 >= len(got) || got[i+1].Detail != fmt.Sprintf("worker %d append %d record %d", w, a, j-1)) {
			t.Fatalf("records of one append are not consecutive at seq %d", r.Seq)
		}
	}
	if st := verifyOK(t, l); st.Records != want {
		t.Errorf("VerifyAccess checked %d records, want %d", st.Records, want)
	}
}

func testAccessPrune(t *testing.T, l storage.AccessLog) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var in []storage.AccessRecord
	for i, r := range sampleRecords(10, t0) {
		r.Time = t0.Add(time.Duration(i) * time.Hour)
		in = append(in, r)
	}
	recs := appendRecords(t, l, in...)
	n, err := l.PruneAccess(t.Context(), t0.Add(5*time.Hour))
	if err != nil || n != 5 {
		t.Fatalf("PruneAccess = %d, %v, want 5", n, err)
	}
	got := collect(t, l, storage.AccessFilter{})
	if !slices.Equal(seqs(got), []uint64{11, 10, 9, 8, 7, 6}) {
		t.Fatalf("after pruning: seqs %v", seqs(got))
	}
	pr := got[0]
	if pr.Action != storage.ActionPrune || pr.Principal != storage.PrincipalSystem || pr.Reference != "5" ||
		pr.Digest != digest.Digest("sha256:"+recs[4].Hash) || pr.Result != storage.ResultOK || pr.Prev != recs[9].Hash {
		t.Errorf("prune record = %+v", pr)
	}
	if got[len(got)-1].Prev != recs[4].Hash {
		t.Errorf("oldest record kept has Prev %s, want the hash of the last removed %s", got[len(got)-1].Prev, recs[4].Hash)
	}
	st := verifyOK(t, l)
	if st.AnchorSeq != 5 || st.Anchor != recs[4].Hash || st.First != 6 || st.Last != 11 || st.Records != 6 || st.HeadSeq != 11 || st.Head != pr.Hash {
		t.Errorf("VerifyAccess after pruning = %+v", st)
	}
	// Pruned records are gone from the filtered reads too.
	for _, r := range recs[:5] {
		for _, f := range []storage.AccessFilter{{Repository: r.Repository}, {Principal: r.Principal}} {
			for _, g := range collect(t, l, f) {
				if g.Seq <= 5 {
					t.Errorf("Access(%+v) returned pruned record %d", f, g.Seq)
				}
			}
		}
	}

	// Nothing more to prune: no change, no record.
	if n, err := l.PruneAccess(t.Context(), t0.Add(5*time.Hour)); n != 0 || err != nil {
		t.Errorf("second PruneAccess = %d, %v", n, err)
	}
	if st2 := verifyOK(t, l); st2.HeadSeq != 11 {
		t.Errorf("a prune that removed nothing moved the head to %d", st2.HeadSeq)
	}
	// Appends continue the chain.
	more := appendRecords(t, l, sampleRecords(3, time.Now())...)
	if more[0].Seq != 12 || more[0].Prev != pr.Hash {
		t.Errorf("append after pruning: seq %d prev %s", more[0].Seq, more[0].Prev)
	}
	verifyOK(t, l)

	// Prune everything: the new prune record is all that is left.
	if n, err := l.PruneAccess(t.Context(), time.Now().Add(time.Hour)); err != nil || n != 9 {
		t.Fatalf("PruneAccess of everything = %d, %v, want 9", n, err)
	}
	got = collect(t, l, storage.AccessFilter{})
	if len(got) != 1 || got[0].Seq != 15 || got[0].Action != storage.ActionPrune || got[0].Reference != "14" || got[0].Prev != more[2].Hash {
		t.Fatalf("after pruning everything: %+v", got)
	}
	if st := verifyOK(t, l); st.Records != 1 || st.AnchorSeq != 14 || st.Anchor != more[2].Hash {
		t.Errorf("VerifyAccess after pruning everything = %+v", st)
	}
	for _, f := range []storage.AccessFilter{{Repository: "team-a/model"}, {Principal: "alice"}} {
		if g := collect(t, l, f); len(g) != 0 {
			t.Errorf("Access(%+v) after pruning everything: %d records", f, len(g))
		}
	}
}

func testAccessPrunePrefix(t *testing.T, l storage.AccessLog) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	in := sampleRecords(4, t0)
	for i, h := range []int{1, 2, 10, 3} {
		in[i].Time = t0.Add(time.Duration(h) * time.Hour)
	}
	appendRecords(t, l, in...)
	// Record 4 is old but comes after a newer one: only a prefix of the
	// chain can go.
	if n, err := l.PruneAccess(t.Context(), t0.Add(5*time.Hour)); err != nil || n != 2 {
		t.Fatalf("PruneAccess = %d, %v, want 2", n, err)
	}
	if got := seqs(collect(t, l, storage.AccessFilter{})); !slices.Equal(got, []uint64{5, 4, 3}) {
		t.Errorf("after pruning: seqs %v", got)
	}
	verifyOK(t, l)
}
