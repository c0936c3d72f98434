// Package storagetest holds the conformance suites for the storage
// interfaces, in the style of testing/fstest: an implementation's own test
// calls [TestBlobStore] or [TestMetadata] with a constructor that returns a
// fresh, empty store for each subtest.
//
//	func TestStore(t *testing.T) {
//		storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
//			s, err := cas.Open(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The suites check the contract written in the doc comments of
// storage.BlobStore, storage.Upload and storage.Metadata, and nothing an
// implementation is free to choose (file layout, error wording, the order of
// Walk). Where a doc comment leaves a case open (unlinking a blob that is not
// linked, say), the suites accept either success or the natural sentinel
// error.
//
// Some subtests start goroutines; run the suites with -race. Constructors
// should register their own cleanup (closing files, integrity checks) with
// t.Cleanup.
package storagetest
