package tlog_test

import (
	"fmt"

	sumtlog "golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/tlog"
)

// C2SP tlog-tiles paths of a hash tile and an entry bundle.
func ExampleTilePath() {
	fmt.Println(tlog.TilePath(sumtlog.Tile{H: 8, L: 1, N: 1234, W: 256}))
	fmt.Println(tlog.TilePath(sumtlog.Tile{H: 8, L: -1, N: 5, W: 17}))
	// Output:
	// tile/1/x001/234
	// tile/entries/005.p/17
}

// A checkpoint body as it is signed: origin, size, root hash.
func ExampleCheckpoint_Text() {
	cp := tlog.Checkpoint{Origin: "reg.example/cairn", Tree: sumtlog.Tree{N: 2}}
	fmt.Print(string(cp.Text()))
	back, err := tlog.ParseCheckpoint(cp.Text())
	fmt.Println(back.N, err)
	// Output:
	// reg.example/cairn
	// 2
	// AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
	// 2 <nil>
}
