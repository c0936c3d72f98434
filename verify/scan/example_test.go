package scan_test

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"cairn.dev/cairn/verify/scan"
)

func ExampleSafetensors() {
	header := `{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	file := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	file = append(file, header...)
	file = append(file, make([]byte, 8)...)

	rep, err := scan.Safetensors(bytes.NewReader(file), int64(len(file)))
	fmt.Println(rep.Format, rep.Safe(), err)

	file = append(file, "hidden"...) // bytes no tensor covers
	rep, _ = scan.Safetensors(bytes.NewReader(file), int64(len(file)))
	fmt.Println(rep.Summary())
	// Output:
	// safetensors true <nil>
	// unsafe safetensors.size: 6 trailing bytes after the last tensor (at offset 70)
}

func ExampleReader() {
	// A protocol 4 pickle that calls os.system("id").
	p := []byte("\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x8c\x02id\x85R.")
	rep, err := scan.Reader(bytes.NewReader(p), int64(len(p)), "model.pkl")
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Format, rep.Safe())
	for _, f := range rep.Unsafe() {
		fmt.Println(f)
	}
	// Output:
	// pickle false
	// unsafe pickle.global: STACK_GLOBAL imports os.system, which is not on the allow-list (at offset 16)
}

func ExampleReader_wrapped() {
	// The same pickle, gzip-compressed inside a tar, named like weights.
	p := []byte("\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x8c\x02id\x85R.")
	file := mktar(tm{name: "model.safetensors", data: gz(p)})
	rep, err := scan.Reader(bytes.NewReader(file), int64(len(file)), "weights.bin")
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Format, rep.Wrappers, rep.Verdict)
	fmt.Println(rep.Summary())

	// A README is plainly data; an unknown binary is not scanned.
	for _, b := range [][]byte{[]byte("# My model\n"), {0xde, 0xad, 0xbe, 0xef}} {
		rep, _ := scan.Reader(bytes.NewReader(b), int64(len(b)), "")
		fmt.Println(rep.Format, rep.Verdict)
	}
	// Output:
	// pickle [tar gzip] unsafe
	// unsafe pickle.global: STACK_GLOBAL imports os.system, which is not on the allow-list (model.safetensors at offset 16)
	// text safe
	// unknown not scanned
}
