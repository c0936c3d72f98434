package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
	ctlog "cairn.dev/cairn/registry/tlog"
)

// accessAttackRecords is how many records the attacked logs hold.
const accessAttackRecords = 60

// newAttackedLog writes a data directory whose access log holds 60
// records an hour old, a log key, and a checkpoint of the access log's
// transparency log signed then (the one an operator or a witness kept).
// It returns the directory and the checkpoint's file.
func newAttackedLog(t *testing.T) (dir, checkpoint string) {
	t.Helper()
	dir = t.TempDir()
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour).UTC()
	for i := range accessAttackRecords {
		_, err := db.AppendAccess(t.Context(), storage.AccessRecord{
			Time: start.Add(time.Duration(i) * time.Second), Principal: fmt.Sprintf("user%d", i%3), Address: "127.0.0.1",
			Action: storage.ActionPull, Repository: "models/m", Reference: "v1", Result: storage.ResultOK, Status: 200,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	key, _, err := ctlog.LoadOrCreateKey(filepath.Join(dir, logKeyFile), "test.example/cairn")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ctlog.New(ctlog.Config{Store: db, Key: key, Log: storage.LogAccess, Origin: ctlog.AccessOrigin(key.Name())})
	if err != nil {
		t.Fatal(err)
	}
	note, cp, err := srv.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cp.N != accessAttackRecords {
		t.Fatalf("checkpoint of %d leaves, want %d", cp.N, accessAttackRecords)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	checkpoint = filepath.Join(t.TempDir(), "access.checkpoint")
	if err := os.WriteFile(checkpoint, note, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, checkpoint
}

// rewriteAccess is what an attacker with write access to the database
// does: change the records (edit may remove, edit, reorder or add them),
// then re-compute the hash chain from the anchor so that it verifies, the
// head and the anchor included. With rebuild it also rebuilds the access
// log's transparency log from the new records, as retention would have
// kept it: leaves below the anchor keep their hashes and entries (a prune
// leaves them), the others are the new records'.
func rewriteAccess(t *testing.T, dir string, rebuild bool, edit func(anchor *storage.ChainPoint, recs []storage.AccessRecord) []storage.AccessRecord) {
	t.Helper()
	bdb, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.Update(func(tx *bolt.Tx) error {
		recsB, chain := tx.Bucket([]byte("access")), tx.Bucket([]byte("access-chain"))
		var recs []storage.AccessRecord
		c := recsB.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			r, err := storage.DecodeAccessRecord(v[sha256.Size:])
			if err != nil {
				return err
			}
			r.Hash = hex.EncodeToString(v[:sha256.Size])
			recs = append(recs, r)
		}
		var anchor storage.ChainPoint
		if v := chain.Get([]byte("anchor")); v != nil {
			anchor.Seq = binary.BigEndian.Uint64(v)
			copy(anchor.Hash[:], v[8:])
		}
		recs = edit(&anchor, recs)
		for _, name := range []string{"access", "access-repo", "access-principal"} {
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		recsB, _ = tx.CreateBucket([]byte("access"))
		repo, _ := tx.CreateBucket([]byte("access-repo"))
		princ, _ := tx.CreateBucket([]byte("access-principal"))
		head := anchor
		for i := range recs {
			r := &recs[i]
			r.Seq, r.Prev = head.Seq+1, head.Hex()
			enc, err := storage.EncodeAccessRecord(r)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(enc)
			r.Hash = hex.EncodeToString(sum[:])
			recsB.Put(binary.BigEndian.AppendUint64(nil, r.Seq), append(sum[:], enc...))
			if r.Repository != "" {
				repo.Put(append(append([]byte(r.Repository), 0), binary.BigEndian.AppendUint64(nil, r.Seq)...), nil)
			}
			princ.Put(append(append([]byte(r.Principal), 0), binary.BigEndian.AppendUint64(nil, r.Seq)...), nil)
			head = storage.ChainPoint{Seq: r.Seq, Hash: sum}
		}
		chain.Put([]byte("head"), append(binary.BigEndian.AppendUint64(nil, head.Seq), head.Hash[:]...))
		if anchor.Seq > 0 {
			chain.Put([]byte("anchor"), append(binary.BigEndian.AppendUint64(nil, anchor.Seq), anchor.Hash[:]...))
		}
		if !rebuild {
			return nil
		}
		leaves := tx.Bucket([]byte("tlog/" + storage.LogAccess))
		var kept [][]byte
		for i := uint64(0); i < anchor.Seq; i++ {
			v := leaves.Get(binary.BigEndian.AppendUint64(nil, i))
			kept = append(kept, v[1+int(v[0])*tlog.HashSize:])
		}
		tx.DeleteBucket([]byte("tlog/" + storage.LogAccess))
		leaves, _ = tx.CreateBucket([]byte("tlog/" + storage.LogAccess))
		for _, r := range recs {
			kept = append(kept, storage.EncodeAccessLeaf(storage.AccessLeafOf(r)))
		}
		var hashes []tlog.Hash
		reader := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(ix))
			for i, x := range ix {
				out[i] = hashes[x]
			}
			return out, nil
		})
		for i, e := range kept {
			hs, err := tlog.StoredHashes(int64(i), e, reader)
			if err != nil {
				return err
			}
			hashes = append(hashes, hs...)
			v := []byte{byte(len(hs))}
			for _, h := range hs {
				v = append(v, h[:]...)
			}
			leaves.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), append(v, e...))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// chainState is the state of the hash chain alone: what cairn log verify
// checked before the transparency log.
func chainState(t *testing.T, dir string) storage.AccessChainState {
	t.Helper()
	db, err := meta.OpenReadOnly(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.VerifyAccess(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// forgePrune removes records 1 to 40 as retention would, moving the
// anchor to record 40 and appending a prune record naming it, made now
// and stating cutoff (retention removes only records older than it).
func forgePrune(cutoff time.Time) func(anchor *storage.ChainPoint, recs []storage.AccessRecord) []storage.AccessRecord {
	return func(anchor *storage.ChainPoint, recs []storage.AccessRecord) []storage.AccessRecord {
		last := recs[39]
		anchor.Seq = last.Seq
		h, _ := hex.DecodeString(last.Hash)
		copy(anchor.Hash[:], h)
		recs = recs[40:]
		// The records after the anchor keep their chain; the prune follows
		// the head.
		return append(recs, storage.PruneRecord(*anchor, 40, cutoff, time.Now().UTC()))
	}
}

// TestLogVerify_Attacks is issue 14's acceptance 2 for the access log:
// each attack by someone who can write the database rewrites the hash
// chain so that it verifies (the check cairn log verify made before the
// transparency log, and which passed every one of these), and cairn log
// verify --checkpoint, against the checkpoint kept before the attack,
// exits 1 naming it.
func TestLogVerify_Attacks(t *testing.T) {
	keep := func(rs []storage.AccessRecord) []storage.AccessRecord { return rs }
	for _, tc := range []struct {
		name    string
		rebuild bool
		edit    func(*storage.ChainPoint, []storage.AccessRecord) []storage.AccessRecord
		flags   []string
		want    string
	}{
		{"removed", false, func(_ *storage.ChainPoint, rs []storage.AccessRecord) []storage.AccessRecord {
			return append(rs[:19:19], rs[20:]...)
		}, nil, "record 20 was removed"},
		{"edited", false, func(_ *storage.ChainPoint, rs []storage.AccessRecord) []storage.AccessRecord {
			rs[19].Principal = "someone-else"
			return rs
		}, nil, "record 20 (pull by someone-else) is not what leaf 19 committed to: its contents were changed"},
		{"reordered", false, func(_ *storage.ChainPoint, rs []storage.AccessRecord) []storage.AccessRecord {
			rs[19], rs[20] = rs[20], rs[19]
			return rs
		}, nil, "access records reordered: record 21 of the log is stored at seq 20, and record 20 at seq 21"},
		{"truncated", false, func(_ *storage.ChainPoint, rs []storage.AccessRecord) []storage.AccessRecord {
			return keep(rs[:55])
		}, nil, "records 56 to 60 were removed from the end"},
		{"forged prune", false, forgePrune(time.Now()), nil, "forged prune: prune record 61 is not the leaf of its seq"},
		// The attacker rebuilds the transparency log too: the checkpoint
		// kept catches what the leaves alone cannot.
		{"removed, log rebuilt", true, func(_ *storage.ChainPoint, rs []storage.AccessRecord) []storage.AccessRecord {
			return append(rs[:19:19], rs[20:]...)
		}, nil, "access log truncated: the log has 59 leaves, the checkpoint kept has 60"},
		{"removed and replaced, log rebuilt", true, func(_ *storage.ChainPoint, rs []storage.AccessRecord) []storage.AccessRecord {
			extra := rs[59]
			extra.Time = extra.Time.Add(time.Second)
			return append(append(rs[:19:19], rs[20:]...), extra, extra)
		}, nil, "does not extend the checkpoint kept"},
		{"edited, log rebuilt", true, func(_ *storage.ChainPoint, rs []storage.AccessRecord) []storage.AccessRecord {
			rs[19].Principal = "someone-else"
			return rs
		}, nil, "does not extend the checkpoint kept"},
		{"truncated, log rebuilt", true, func(_ *storage.ChainPoint, rs []storage.AccessRecord) []storage.AccessRecord {
			return keep(rs[:55])
		}, nil, "access log truncated: the log has 55 leaves, the checkpoint kept has 60"},
		// A prune forged as retention makes it (leaves kept, a prune leaf
		// appended): its cutoff must be older than every record it
		// removed, and at least the retention before the prune.
		{"forged prune, log rebuilt", true, forgePrune(time.Now()), []string{"--retention", "30d"}, "younger than the retention of 720h0m0s"},
		{"forged prune with an old cutoff, log rebuilt", true, forgePrune(time.Now().Add(-90 * 24 * time.Hour)), nil,
			"was removed by prune record 61, which removes only records older than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, cp := newAttackedLog(t)
			if code, out, errs := runCode(t, "", "log", "verify", "--data", dir, "--checkpoint", cp); code != exitOK {
				t.Fatalf("before the attack: exit %d\n%s%s", code, out, errs)
			}
			rewriteAccess(t, dir, tc.rebuild, tc.edit)
			if st := chainState(t, dir); !st.OK {
				t.Log(st.Err())
				t.Fatal("the rewritten chain does not verify: the attack is not the one the old check missed")
			}
			args := append([]string{"log", "verify", "--data", dir, "--checkpoint", cp}, tc.flags...)
			code, out, errs := runCode(t, "", args...)
			if code != exitRefused || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("after the attack: exit %d, want 1 naming %q\n%s%s", code, tc.want, out, errs)
			}
			t.Logf("%s", bytes.TrimSpace([]byte(errs)))
			// cairn scrub checks the records against the leaves too (not
			// against a checkpoint: a rebuilt log is for --checkpoint).
			if code, out, errs := runCode(t, "", "scrub", "--data", dir); !tc.rebuild && (code != exitRefused || !strings.Contains(out, "(access log)")) {
				t.Errorf("scrub after the attack: exit %d, want 1 naming the access log\n%s%s", code, out, errs)
			}
		})
	}
}

// Retention removes records' bodies, never their leaves: the log still
// extends the checkpoint kept before, and every leaf without a record is
// covered by the prune record retention appended.
func TestLogVerify_Retention(t *testing.T) {
	dir, cp := newAttackedLog(t)
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.LogSize(t.Context(), storage.LogAccess)
	if err != nil {
		t.Fatal(err)
	}
	// The records are an hour old, a second apart: keep the last 40.
	n, err := db.PruneAccess(t.Context(), time.Now().Add(-time.Hour+19*time.Second))
	if err != nil || n < 19 || n > 21 {
		t.Fatalf("pruned %d records (%v), want about 20", n, err)
	}
	after, err := db.LogSize(t.Context(), storage.LogAccess)
	if err != nil {
		t.Fatal(err)
	}
	if after != first+1 {
		t.Fatalf("the log has %d leaves after the prune, want %d (the leaves kept, the prune record's added)", after, first+1)
	}
	db.Close()
	if code, out, errs := runCode(t, "", "scrub", "--data", dir); code != exitOK {
		t.Fatalf("scrub after retention: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs := runCode(t, "", "log", "verify", "--data", dir, "--checkpoint", cp, "--retention", "30m")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("%d removed by retention (their leaves kept)", n)) || !strings.Contains(out, "extends the checkpoint kept") {
		t.Fatalf("verify after retention: exit %d\n%s%s", code, out, errs)
	}
	// A retention the server does not run with: the prune is refused.
	if code, out, errs := runCode(t, "", "log", "verify", "--data", dir, "--checkpoint", cp, "--retention", "2h"); code != exitRefused || !strings.Contains(errs, "younger than the retention") {
		t.Fatalf("verify with a 2h retention: exit %d\n%s%s", code, out, errs)
	}
}

// The access log's transparency log is served under /_cairn/tlog/access/
// to administrators only, with its own origin line and the key of the log
// of names (whose checkpoint stays public); cairn log verify --registry
// checks it as an administrator, against a checkpoint kept earlier and
// the one this user stored.
func TestServe_AccessTransparencyLog(t *testing.T) {
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	t.Setenv("CAIRN_ADMIN_PASSWORD", testAdminPassword)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	dir := t.TempDir()
	host, stop := serveInProcess(t, "--data", dir, "--auth", "--log-origin", "test.example/cairn")
	defer stop()
	base := "http://" + host
	user, _ := json.Marshal(map[string]string{"name": "bob", "password": "bob-password-1"})
	if code, _ := call(t, "POST", base+"/_cairn/admin/users", "admin", testAdminPassword, "application/json", user); code != 201 {
		t.Fatalf("create bob: %d", code)
	}
	for path, want := range map[string][3]int{ // anonymous, bob, admin
		"checkpoint":              {401, 403, 200},
		"tile/entries/000.p/1":    {401, 403, 200},
		"tile/0/000.p/1":          {401, 403, 200},
		"../checkpoint":           {200, 200, 200}, // the log of names: public
		"../tile/entries/000.p/1": {401, 404, 404}, // nothing there yet, and entries need a login
	} {
		for i, who := range [][2]string{{"", ""}, {"bob", "bob-password-1"}, {"admin", testAdminPassword}} {
			url := base + ctlog.AccessPathPrefix + path
			if rest, ok := strings.CutPrefix(path, "../"); ok {
				url = base + ctlog.PathPrefix + rest
			}
			if code, _ := call(t, "GET", url, who[0], who[1], "", nil); code != want[i] {
				t.Errorf("GET %s as %q: %d, want %d", url, who[0], code, want[i])
			}
		}
	}
	req, _ := http.NewRequest("GET", base+ctlog.AccessPathPrefix+"checkpoint", nil)
	req.SetBasicAuth("admin", testAdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	note, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.HasPrefix(note, []byte("test.example/cairn/access\n")) {
		t.Fatalf("access checkpoint:\n%s", note)
	}
	kept := filepath.Join(t.TempDir(), "access.checkpoint")
	if err := os.WriteFile(kept, note, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCode(t, testAdminPassword+"\n", "login", host, "-u", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("login admin: %s%s", out, errs)
	}
	for range 2 { // the second against the checkpoint the first stored
		code, out, errs := runCode(t, "", "log", "verify", "--registry", host, "--checkpoint", kept)
		if code != exitOK || !strings.Contains(out, "records match their leaves") || !strings.Contains(out, "extends the checkpoint kept") {
			t.Fatalf("log verify --registry: exit %d\n%s%s", code, out, errs)
		}
	}
	stop()
	if code, out, errs := runCode(t, "", "log", "verify", "--data", dir, "--checkpoint", kept); code != exitOK || !strings.Contains(out, "extends the checkpoint kept") {
		t.Fatalf("log verify --data: exit %d\n%s%s", code, out, errs)
	}
}
