package storage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"cairn.dev/cairn/registry/storage"
)

var goldenRecord = storage.AccessRecord{
	Seq:        42,
	Time:       time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.UTC),
	Principal:  "alice",
	Address:    "192.0.2.7",
	Action:     storage.ActionPull,
	Repository: "team-a/llama",
	Digest:     "sha256:0d2ac4f1d5e8e6e5f8b6d2e0b1c9a7f3e2d1c0b9a8f7e6d5c4b3a2918070605f",
	Reference:  "v1",
	Result:     storage.ResultOK,
	Status:     200,
	Detail:     "",
	Prev:       "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}

// goldenHash pins encoding version 1: it must never change.
const goldenHash = "9fd5844b6449d3296f6f0cda8bbf1f8b7d3f49a3933273dc42ed7e33d4b9caa6"

// auditorHash recomputes a record's hash the way the package documentation
// tells an auditor to, without the package.
func auditorHash(r storage.AccessRecord) string {
	prev, _ := hex.DecodeString(r.Prev)
	b := append([]byte("CAL1"), prev...)
	for _, n := range []uint64{r.Seq, uint64(r.Time.Unix()), uint64(r.Time.Nanosecond()), uint64(r.Status)} {
		b = binary.BigEndian.AppendUint64(b, n)
	}
	for _, s := range []string{r.Principal, r.Address, r.Action, r.Repository, string(r.Digest), r.Reference, r.Result, r.Detail} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestEncodeAccessRecord_Golden(t *testing.T) {
	h, err := goldenRecord.ChainHash()
	if err != nil {
		t.Fatal(err)
	}
	if h != goldenHash {
		t.Errorf("ChainHash() = %s, want %s: encoding version 1 changed", h, goldenHash)
	}
	if a := auditorHash(goldenRecord); a != h {
		t.Errorf("the documented recipe gives %s, ChainHash() %s", a, h)
	}
	// From a JSON export, as an auditor reads it.
	js, _ := json.Marshal(goldenRecord)
	var back storage.AccessRecord
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if a := auditorHash(back); a != h {
		t.Errorf("from JSON %s: %s, want %s", js, a, h)
	}
}

func TestDecodeAccessRecord(t *testing.T) {
	enc, err := storage.EncodeAccessRecord(&goldenRecord)
	if err != nil {
		t.Fatal(err)
	}
	r, err := storage.DecodeAccessRecord(enc)
	if err != nil {
		t.Fatal(err)
	}
	want := goldenRecord
	if r != want {
		t.Errorf("round trip = %+v, want %+v", r, want)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("CAL2"), enc[4:]...),
		"truncated": enc[:len(enc)-1],
		"trailing":  append(bytes.Clone(enc), 0),
		"header":    enc[:40],
	} {
		if _, err := storage.DecodeAccessRecord(b); !errors.Is(err, storage.ErrAccessRecordInvalid) {
			t.Errorf("%s: %v, want ErrAccessRecordInvalid", name, err)
		}
	}
	bad := goldenRecord
	bad.Prev = strings.ToUpper(bad.Prev)
	if _, err := storage.EncodeAccessRecord(&bad); !errors.Is(err, storage.ErrAccessRecordInvalid) {
		t.Errorf("upper-case prev: %v", err)
	}
}

// FuzzDecodeAccessRecord: records are read back from a database file that
// someone may have edited.
func FuzzDecodeAccessRecord(f *testing.F) {
	enc, _ := storage.EncodeAccessRecord(&goldenRecord)
	f.Add(enc)
	f.Add([]byte("CAL1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := storage.DecodeAccessRecord(b)
		if err != nil {
			return
		}
		again, err := storage.EncodeAccessRecord(&r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("decode then encode changed the bytes:\n%x\n%x", b, again)
		}
	})
}
