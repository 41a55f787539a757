package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestPushRoundTrip(t *testing.T) {
	p := &Push{Start: 7, Fork: 1, Signature: bytes.Repeat([]byte{9}, 68), Manifest: []byte("m"), Blocks: [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{1}, 70000)}}
	b, err := EncodePush(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := DecodePush(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.Start != 7 || q.Fork != 1 || !bytes.Equal(q.Signature, p.Signature) || !bytes.Equal(q.Manifest, p.Manifest) || len(q.Blocks) != 3 ||
		!bytes.Equal(q.Blocks[2], p.Blocks[2]) || len(q.Blocks[1]) != 0 {
		t.Fatalf("round trip changed the push: %+v", q)
	}
	// Every strict prefix is refused as malformed, as is any trailing byte.
	for i := 0; i < len(b); i += 1 + i/16 {
		if _, err := DecodePush(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
	}
	if _, err := DecodePush(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Fatal("trailing byte accepted")
	}
}

func TestPushLimits(t *testing.T) {
	if _, err := EncodePush(&Push{Signature: []byte{1}, Blocks: make([][]byte, MaxPushBlocks+1)}); err == nil {
		t.Fatal("too many blocks encoded")
	}
	if _, err := EncodePush(&Push{Signature: []byte{1}, Blocks: [][]byte{make([]byte, MaxBlockSize+1)}}); err == nil {
		t.Fatal("oversized block encoded")
	}
	if _, err := EncodePush(&Push{Signature: []byte{1}, Blocks: [][]byte{make([]byte, MaxBlockSize), make([]byte, MaxBlockSize), make([]byte, MaxBlockSize),
		make([]byte, MaxBlockSize), make([]byte, MaxBlockSize), make([]byte, MaxBlockSize), make([]byte, MaxBlockSize), make([]byte, MaxBlockSize)}}); err == nil {
		t.Fatal("oversized push encoded")
	}
	// A count claiming more blocks than bytes left is refused before any allocation.
	b := []byte(pushMagic)
	b = append(b, 0, 0, 1, 1, 0, 0xff, 0xff, 0x03)
	if _, err := DecodePush(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge count: %v", err)
	}
	// No signature.
	b, _ = EncodePush(&Push{Blocks: [][]byte{{1}}})
	if _, err := DecodePush(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no signature: %v", err)
	}
}

func TestBlockListRoundTrip(t *testing.T) {
	l := &BlockList{Start: 3, Blocks: [][]byte{[]byte("x"), []byte("yz")}}
	b, err := EncodeBlockList(l)
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeBlockList(b)
	if err != nil || m.Start != 3 || len(m.Blocks) != 2 || string(m.Blocks[1]) != "yz" {
		t.Fatalf("round trip: %+v %v", m, err)
	}
	if _, err := DecodeBlockList(b[:len(b)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatal("truncated list accepted")
	}
}

func FuzzDecodePush(f *testing.F) {
	b, _ := EncodePush(&Push{Start: 1, Signature: []byte{1, 2}, Blocks: [][]byte{[]byte("abc")}})
	f.Add(b)
	f.Add([]byte(pushMagic))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := DecodePush(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// What decodes re-encodes to the same bytes (the encoding is canonical
		// up to varint padding, which binary.Uvarint refuses).
		out, err := EncodePush(p)
		if err != nil {
			t.Fatalf("decoded push does not encode: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzDecodeBlockList(f *testing.F) {
	b, _ := EncodeBlockList(&BlockList{Start: 1, Blocks: [][]byte{[]byte("abc"), {}}})
	f.Add(b)
	f.Add([]byte(listMagic))
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := DecodeBlockList(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if r, err := readBlocks(in, ListContentType); err != nil || r.Start != l.Start || len(r.Blocks) != len(l.Blocks) {
			t.Fatalf("ReadBlocks disagrees with DecodeBlockList: %v", err)
		}
		out, err := EncodeBlockList(l)
		if err != nil {
			t.Fatalf("decoded list does not encode: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// TestPushBody: the streamed body is the push's encoding however it is
// read (small reads, WriteTo), its Len is exact, and the blocks are sent
// from where they are (a block changed before reading shows up).
func TestPushBody(t *testing.T) {
	p := &Push{Start: 300, Fork: 2, Signature: bytes.Repeat([]byte{9}, 64), Manifest: []byte("manifest"),
		Blocks: [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{1}, 70000), bytes.Repeat([]byte{2}, 200)}}
	whole := func() []byte {
		b, err := NewPushBody(p)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		n, err := b.WriteTo(&out)
		if err != nil || n != b.Len() || int64(out.Len()) != b.Len() {
			t.Fatalf("WriteTo: %d of %d bytes: %v", n, b.Len(), err)
		}
		return out.Bytes()
	}
	enc := whole()
	q, err := DecodePush(enc)
	if err != nil {
		t.Fatal(err)
	}
	if q.Start != p.Start || q.Fork != p.Fork || !bytes.Equal(q.Signature, p.Signature) || !bytes.Equal(q.Manifest, p.Manifest) || len(q.Blocks) != len(p.Blocks) {
		t.Fatalf("decoded %+v", q)
	}
	for i := range p.Blocks {
		if !bytes.Equal(q.Blocks[i], p.Blocks[i]) {
			t.Fatalf("block %d differs", i)
		}
	}
	for _, chunk := range []int{1, 3, 7, 4096, 1 << 20} {
		b, err := NewPushBody(p)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, chunk)
		for {
			n, err := b.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil || n == 0 {
				t.Fatalf("read of %d: %d, %v", chunk, n, err)
			}
		}
		if !bytes.Equal(got, enc) {
			t.Fatalf("reads of %d bytes gave another body", chunk)
		}
	}
	// A writer that stops short gets an error, not a silent truncation.
	b, _ := NewPushBody(p)
	if n, err := b.WriteTo(&shortWriter{left: 1000}); err == nil || n != 1000 {
		t.Fatalf("short writer: %d, %v", n, err)
	}
	// Not copied: a change to a block before the body is read is sent.
	p.Blocks[2][0] = 0xee
	if bytes.Equal(whole(), enc) {
		t.Fatal("the body did not read the block where it is")
	}
	// The limits of EncodePush hold.
	if _, err := NewPushBody(&Push{Signature: []byte{1}, Blocks: make([][]byte, MaxPushBlocks+1)}); err == nil {
		t.Fatal("too many blocks")
	}
	big := make([]byte, MaxBlockSize)
	if _, err := NewPushBody(&Push{Signature: []byte{1}, Blocks: [][]byte{big, big, big, big, big, big, big, big}}); err == nil {
		t.Fatal("oversized push")
	}
}

type shortWriter struct{ left int }

func (w *shortWriter) Write(p []byte) (int, error) {
	n := min(len(p), w.left)
	w.left -= n
	return n, nil
}

// LayBlockList frames a list byte for byte as EncodeBlockList does, with
// each block's bytes written into its place afterwards.
func TestLayBlockListMatchesEncode(t *testing.T) {
	blocks := [][]byte{bytes.Repeat([]byte{1}, 300), {}, bytes.Repeat([]byte{2}, 70000), []byte("z")}
	for _, start := range []uint64{0, 127, 128, 1 << 40} {
		want, err := EncodeBlockList(&BlockList{Start: start, Blocks: blocks})
		if err != nil {
			t.Fatal(err)
		}
		sizes := make([]int, len(blocks))
		for i, b := range blocks {
			sizes[i] = len(b)
		}
		if n := BlockListSize(start, sizes); n != len(want) {
			t.Fatalf("start %d: size %d, encoded %d", start, n, len(want))
		}
		buf := bytes.Repeat([]byte{0xee}, len(want)+5)
		out, places, err := LayBlockList(buf, start, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range places {
			copy(p, blocks[i])
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("start %d: laid list differs from the encoded one", start)
		}
	}
	if _, _, err := LayBlockList(make([]byte, 10), 0, []int{100}); err == nil {
		t.Error("short buffer accepted")
	}
	if _, _, err := LayBlockList(make([]byte, MaxBlockSize+100), 0, []int{MaxBlockSize + 1}); err == nil {
		t.Error("oversized block accepted")
	}
	if _, _, err := LayBlockList(nil, 0, make([]int, MaxListBlocks+1)); err == nil {
		t.Error("too many blocks accepted")
	}
}

// TestPushBodyRemaining: Remaining counts what is not read yet, through
// reads and WriteTo, and a WriteTo after some reads sends exactly the rest.
func TestPushBodyRemaining(t *testing.T) {
	p := &Push{Start: 7, Signature: []byte{1, 2, 3}, Blocks: [][]byte{bytes.Repeat([]byte{4}, 5000), {}, []byte("xyz")}}
	enc, err := EncodePush(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewPushBody(p)
	if err != nil {
		t.Fatal(err)
	}
	if b.Remaining() != int64(len(enc)) {
		t.Fatalf("remaining %d before reading, want %d", b.Remaining(), len(enc))
	}
	head := make([]byte, 100)
	if _, err := io.ReadFull(b, head); err != nil {
		t.Fatal(err)
	}
	if b.Remaining() != int64(len(enc)-100) {
		t.Fatalf("remaining %d after 100 bytes, want %d", b.Remaining(), len(enc)-100)
	}
	var rest bytes.Buffer
	if n, err := b.WriteTo(&rest); err != nil || n != int64(len(enc)-100) {
		t.Fatalf("WriteTo: %d, %v", n, err)
	}
	if got := append(head, rest.Bytes()...); !bytes.Equal(got, enc) {
		t.Fatal("read then WriteTo gave another body")
	}
	if b.Remaining() != 0 {
		t.Fatalf("remaining %d at the end", b.Remaining())
	}
	if n, err := b.Read(head); n != 0 || err != io.EOF {
		t.Fatalf("read at the end: %d, %v", n, err)
	}
}

// TestBlockRun: a block run round-trips (blocks of different sizes, an
// empty one), its head is what AppendBlockRunHead writes, and truncated,
// padded, oversized or over-limit runs are refused.
func TestBlockRun(t *testing.T) {
	l := &BlockList{Start: 9, Blocks: [][]byte{[]byte("abc"), {}, bytes.Repeat([]byte{7}, 70000)}}
	b, err := EncodeBlockRun(l)
	if err != nil {
		t.Fatal(err)
	}
	head, err := AppendBlockRunHead(nil, 9, []int{3, 0, 70000})
	if err != nil || !bytes.Equal(b[:len(head)], head) || len(b) != len(head)+70003 || !bytes.Equal(b[len(head):len(head)+3], []byte("abc")) {
		t.Fatalf("head %x of a run of %d bytes (%v)", head, len(b), err)
	}
	m, err := DecodeBlockRun(b)
	if err != nil || m.Start != 9 || len(m.Blocks) != 3 || string(m.Blocks[0]) != "abc" || len(m.Blocks[1]) != 0 || !bytes.Equal(m.Blocks[2], l.Blocks[2]) {
		t.Fatalf("round trip: %v", err)
	}
	if cap(m.Blocks[0]) != 3 {
		t.Fatalf("a block's slice reaches into the next (cap %d)", cap(m.Blocks[0]))
	}
	for name, bad := range map[string][]byte{
		"truncated":  b[:len(b)-1],
		"padded":     append(bytes.Clone(b), 0),
		"head only":  head,
		"list magic": append([]byte(listMagic), b[len(runMagic):]...),
	} {
		if _, err := DecodeBlockRun(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s run accepted: %v", name, err)
		}
	}
	if _, err := AppendBlockRunHead(nil, 0, make([]int, MaxListBlocks+1)); err == nil {
		t.Fatal("too many blocks")
	}
	if _, err := AppendBlockRunHead(nil, 0, []int{MaxBlockSize + 1}); err == nil {
		t.Fatal("block over the limit")
	}
	if _, err := AppendBlockRunHead(nil, 0, []int{MaxBlockSize, MaxBlockSize, MaxBlockSize, MaxBlockSize, 1}); err == nil {
		t.Fatal("run over the byte limit")
	}
	big, _ := AppendBlockRunHead(nil, 0, []int{MaxBlockSize + 1})
	if _, err := DecodeBlockRun(append(big, make([]byte, MaxBlockSize+1)...)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized block decoded: %v", err)
	}
}

func FuzzDecodeBlockRun(f *testing.F) {
	b, _ := EncodeBlockRun(&BlockList{Start: 1, Blocks: [][]byte{[]byte("abc"), {}}})
	f.Add(b)
	f.Add([]byte(runMagic))
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := DecodeBlockRun(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if r, err := readBlocks(in, RunContentType); err != nil || r.Start != l.Start || len(r.Blocks) != len(l.Blocks) {
			t.Fatalf("ReadBlocks disagrees with DecodeBlockRun: %v", err)
		}
		out, err := EncodeBlockRun(l)
		if err != nil {
			t.Fatalf("decoded run does not encode: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// readBlocks is ReadBlocks into new buffers.
func readBlocks(body []byte, ctype string) (*BlockList, error) {
	l := &BlockList{}
	start, n, err := ReadBlocks(bytes.NewReader(body), ctype, func(i, size int) ([]byte, error) {
		b := make([]byte, size)
		l.Blocks = append(l.Blocks, b)
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	if n != len(l.Blocks) {
		return nil, fmt.Errorf("%d blocks read, %d placed", n, len(l.Blocks))
	}
	l.Start = start
	return l, nil
}

// TestReadBlocks: both forms read into the places given hold what the
// decoders return; a body cut short or with bytes after its last block,
// the other form's magic, a block over the limit and a refused or
// mis-sized place all fail.
func TestReadBlocks(t *testing.T) {
	l := &BlockList{Start: 5, Blocks: [][]byte{[]byte("abc"), {}, bytes.Repeat([]byte{7}, 70000), []byte("z")}}
	list, _ := EncodeBlockList(l)
	run, _ := EncodeBlockRun(l)
	for _, f := range []struct {
		body  []byte
		ctype string
	}{{list, ListContentType}, {run, RunContentType}} {
		got, err := readBlocks(f.body, f.ctype)
		if err != nil || got.Start != 5 || len(got.Blocks) != 4 {
			t.Fatalf("%s: %v", f.ctype, err)
		}
		for i := range l.Blocks {
			if !bytes.Equal(got.Blocks[i], l.Blocks[i]) {
				t.Fatalf("%s: block %d differs", f.ctype, i)
			}
		}
		for name, bad := range map[string][]byte{"cut": f.body[:len(f.body)-1], "padded": append(bytes.Clone(f.body), 1), "empty": nil} {
			if _, err := readBlocks(bad, f.ctype); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s %s body: %v", f.ctype, name, err)
			}
		}
		refused := errors.New("no")
		if _, _, err := ReadBlocks(bytes.NewReader(f.body), f.ctype, func(i, size int) ([]byte, error) { return nil, refused }); !errors.Is(err, refused) {
			t.Fatalf("%s: refused place: %v", f.ctype, err)
		}
		if _, _, err := ReadBlocks(bytes.NewReader(f.body), f.ctype, func(i, size int) ([]byte, error) { return make([]byte, size+1), nil }); err == nil {
			t.Fatalf("%s: place of the wrong size", f.ctype)
		}
	}
	if _, err := readBlocks(list, RunContentType); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a list read as a run: %v", err)
	}
	big, _ := AppendBlockRunHead(nil, 0, []int{MaxBlockSize + 1})
	if _, err := readBlocks(append(big, make([]byte, MaxBlockSize+1)...), RunContentType); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized block read: %v", err)
	}
}
