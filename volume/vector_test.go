package volume

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/datdot/datdot/hypercore"
)

// The test vector of docs/volume-format.md: changing the format breaks
// this test, and then the document must change with it.

func vectorInput() []byte {
	in := make([]byte, 200000)
	for i := range in {
		in[i] = byte((i*31 + 7) % 251)
	}
	return in
}

func vectorMaster() []byte {
	m := make([]byte, 32)
	for i := range m {
		m[i] = byte(i)
	}
	return m
}

var vectorVolumeID = []byte("datdot-test-volume")

type vectorCore struct {
	key      string   // hypercore key (manifest hash)
	blocks   []string // sha256 of each block
	treeHash string   // tree hash at length 2
}

var vectorWant = []vectorCore{
	{ // core 0
		key:      "6b106832051da761e79dfd9bd6dcc05aca93a0ca46a3f88a8390cd3d0a62f8b1",
		treeHash: "d55879207b065a37195f24348d263526b68349795903d9fa569fb5fb3b790144",
		blocks: []string{
			"c2a19b29e9a734066ffb748d00176ca95e52545a0b0afe9e73f085740aeb97f8",
			"36f64bfdc8e3d44fb54fa41704164208c5b328846209a4b57d6d3ff99ed94c81",
		},
	},
	{ // core 1
		key:      "83f5edef1aa7ae79ddc6c04d1edc1967b1980f9de1360dcda6b5535929aea4fe",
		treeHash: "000aab2d5c5f6f0f36d50e97d6a4161caf517c6d547737e1f267117d72c89fbc",
		blocks: []string{
			"d9af80a2246f4b8ed95404da5c8ad785e6e26d4c01b98c41523c941f02bda168",
			"de2f256064a0af797747c2b97505dc0b9f3df0de4f489eac731c23ae9ca9cc31",
		},
	},
	{ // core 2
		key:      "7dc81fa1ea7ce0bbad1f22a6c9d25c8f863c3f95ac567b8f423477568c3f63d2",
		treeHash: "113390fa73c2689c93a5b38ff1e4a86fc4a0eea5639a9ad7a290913a035e21e8",
		blocks: []string{
			"1dd101d2093ce4abe758ae02dd1d894df9357d252c1c2151632f2710fd6ddb1a",
			"de2f256064a0af797747c2b97505dc0b9f3df0de4f489eac731c23ae9ca9cc31",
		},
	},
	{ // core 3
		key:      "751afb5225956c66af08e21039074b896e6248be68cb0b5ec9feec9d74ed7895",
		treeHash: "5234cc84dd607392a27cf7cc55fcac0b21566b3e8ca342d7f556489b42c9bea9",
		blocks: []string{
			"9b3bd407f284da5d3326b17ee9c8fe4c5443d74cbd98b253068242622c3a4dd6",
			"36f64bfdc8e3d44fb54fa41704164208c5b328846209a4b57d6d3ff99ed94c81",
		},
	},
	{ // core 4
		key:      "6de2c97412e36b793a572e94aeb4d6329aaf17b5d2eb774c79c99217fb1ac9a8",
		treeHash: "9774e8764a47372c41f5462cac9e77379ccb0949e7a10d7d4448d193ca9a266f",
		blocks: []string{
			"1e362ea6a4772638c8d80da4dd4806041b21be446e5b96aff362e08b3858039f",
			"71979ff32704228e8a099422071850a07513256a9d6b533964f22e27c68fa59b",
		},
	},
}

func computeVector(t *testing.T) []vectorCore {
	t.Helper()
	return computeVectorOf(t, false)
}

// vectorInput2 is the second write of the v2 vector.
func vectorInput2() []byte {
	in := make([]byte, 1000)
	for i := range in {
		in[i] = byte((i*17 + 3) % 251)
	}
	return in
}

// computeVectorOf computes the v1 vector (short false: the 200,000 bytes,
// zero padded by Flush) or the v2 one (short: the 200,000 bytes and
// FlushShort, then the 1,000 bytes of vectorInput2 and FlushShort).
func computeVectorOf(t *testing.T, short bool) []vectorCore {
	t.Helper()
	ctx := context.Background()
	l := Layout{K: 3, M: 2}
	c, err := NewCoder(l)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := CoreKeys(vectorMaster(), vectorVolumeID, l)
	if err != nil {
		t.Fatal(err)
	}
	cores := make([]*hypercore.Core, l.N())
	for j := range cores {
		if cores[j], err = hypercore.Create(ctx, hypercore.NewMemStorage(), keys[j], false); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]vectorCore, l.N())
	enc := c.NewStreamEncoder(0, func(s uint64, shards [][]byte) error {
		for j, b := range shards {
			h := sha256.Sum256(b)
			out[j].blocks = append(out[j].blocks, hex.EncodeToString(h[:]))
			if _, err := cores[j].Append(ctx, b); err != nil {
				return err
			}
		}
		return nil
	})
	if _, err := enc.Write(vectorInput()); err != nil {
		t.Fatal(err)
	}
	wantLen, wantBytes := uint64(2), uint64(2*BlockSize)
	if short {
		b1, err := enc.FlushShort()
		if err != nil || b1 != 1152 {
			t.Fatalf("first short flush: block size %d, %v", b1, err)
		}
		if _, err := enc.Write(vectorInput2()); err != nil {
			t.Fatal(err)
		}
		b2, err := enc.FlushShort()
		if err != nil || b2 != 384 {
			t.Fatalf("second short flush: block size %d, %v", b2, err)
		}
		wantLen, wantBytes = 3, BlockSize+1152+384
	} else if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	for j, core := range cores {
		info := core.Info()
		if info.Length != wantLen || info.ByteLength != wantBytes {
			t.Fatalf("core %d: length %d, %d bytes", j, info.Length, info.ByteLength)
		}
		out[j].key = hex.EncodeToString(info.Key[:])
		if pk := PublicCoreKey(keys[j]); pk != info.Key {
			t.Fatalf("core %d: PublicCoreKey %x, core key %x", j, pk, info.Key)
		}
		out[j].treeHash = hex.EncodeToString(info.TreeHash[:])
	}
	return out
}

func TestVector(t *testing.T) {
	got := computeVector(t)
	if len(got) != len(vectorWant) {
		t.Fatalf("%d cores, want %d", len(got), len(vectorWant))
	}
	for j, w := range vectorWant {
		g := got[j]
		if g.key != w.key {
			t.Errorf("core %d key %s, want %s", j, g.key, w.key)
		}
		if g.treeHash != w.treeHash {
			t.Errorf("core %d tree hash %s, want %s", j, g.treeHash, w.treeHash)
		}
		if len(g.blocks) != len(w.blocks) {
			t.Fatalf("core %d: %d blocks, want %d", j, len(g.blocks), len(w.blocks))
		}
		for s := range w.blocks {
			if g.blocks[s] != w.blocks[s] {
				t.Errorf("core %d block %d sha256 %s, want %s", j, s, g.blocks[s], w.blocks[s])
			}
		}
	}
}

// TestVectorInDoc checks that docs/volume-format.md shows the vector this
// test checks.
func TestVectorInDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/volume-format.md")
	if err != nil {
		t.Fatal(err)
	}
	for j, c := range vectorWant {
		row := fmt.Sprintf("| %d | `%s` | `%s` | `%s` | `%s` |", j, c.key, c.blocks[0], c.blocks[1], c.treeHash)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/volume-format.md lacks the row of core %d:\n%s", j, row)
		}
	}
}

// The v2 vector of docs/volume-format.md (short stripes).
var vectorWantV2 = []vectorCore{
	{ // core 0
		key:      "6b106832051da761e79dfd9bd6dcc05aca93a0ca46a3f88a8390cd3d0a62f8b1",
		treeHash: "5d75a756abb5cdeb12345d4ce50dc7df270a350e8e5b9c29be12f7c46bf3c097",
		blocks:   []string{"c2a19b29e9a734066ffb748d00176ca95e52545a0b0afe9e73f085740aeb97f8", "d9e4278a6e0d5a5c32e29dc6f8e1cc44ae87098b79726900c3144d78c1eafcaf", "3092f6e934bb785059672bfae2378f3b3bdb9a6a3780a409fac58164d3b7383b"},
	},
	{ // core 1
		key:      "83f5edef1aa7ae79ddc6c04d1edc1967b1980f9de1360dcda6b5535929aea4fe",
		treeHash: "c45e2199cafa7bf6655c0703d9b8f0a5c4a26d44060a0b442777d71fc2271052",
		blocks:   []string{"d9af80a2246f4b8ed95404da5c8ad785e6e26d4c01b98c41523c941f02bda168", "dac49896e31ba4aae8a512e20914d23e14e59e1483af79ab35c4736a88228bbc", "6c24759d74c4371e5f15b0adbf0afcca42c1bddcff841101ddcd908ff8fd41cd"},
	},
	{ // core 2
		key:      "7dc81fa1ea7ce0bbad1f22a6c9d25c8f863c3f95ac567b8f423477568c3f63d2",
		treeHash: "ea24b30ed82966269b0d9c9a15a183fa6040e50849229ec7afc66e01006803c0",
		blocks:   []string{"1dd101d2093ce4abe758ae02dd1d894df9357d252c1c2151632f2710fd6ddb1a", "f013e0e343eee882bc7e43248a11da4af054b3eb2ba7e9d74a758da550893c39", "cc75d847382fe09f058abbd10ff356e8062e10c278149b19898182a5947f1b4e"},
	},
	{ // core 3
		key:      "751afb5225956c66af08e21039074b896e6248be68cb0b5ec9feec9d74ed7895",
		treeHash: "f642d25d772de5e31e3c617657731418738ad7aafbed3e234145ea3377fafcc6",
		blocks:   []string{"9b3bd407f284da5d3326b17ee9c8fe4c5443d74cbd98b253068242622c3a4dd6", "f5f117056f5ed09271bf5b1f89254e83cc9e758ee1f69b60bacb33987a05ceb6", "0ff5245b2c3214472305e4e2ece7e3b129c016d1aaf046b52f7251da8c6bfaec"},
	},
	{ // core 4
		key:      "6de2c97412e36b793a572e94aeb4d6329aaf17b5d2eb774c79c99217fb1ac9a8",
		treeHash: "3b0527751833fb284325ea9af22d6263d2da4cb5a841bafd22ace9f2e7a6328d",
		blocks:   []string{"1e362ea6a4772638c8d80da4dd4806041b21be446e5b96aff362e08b3858039f", "a8aa1a1e4ca4d1974ea1005a21e178a873e2dcb7a854797249e908c057bb475a", "06acf18726c70513939edc75b99a9cd90a7f185f248a638979fb18c6dd2a0ae3"},
	},
}

func TestVectorV2(t *testing.T) {
	got := computeVectorOf(t, true)
	if len(vectorWantV2) == 0 {
		for j, c := range got {
			t.Logf("| %d | `%s` | `%s` | `%s` | `%s` | `%s` |", j, c.key, c.blocks[0], c.blocks[1], c.blocks[2], c.treeHash)
		}
		t.Fatal("no v2 vector")
	}
	if len(got) != len(vectorWantV2) {
		t.Fatalf("%d cores, want %d", len(got), len(vectorWantV2))
	}
	for j, w := range vectorWantV2 {
		g := got[j]
		if g.key != w.key || g.treeHash != w.treeHash {
			t.Errorf("core %d key %s tree hash %s, want %s %s", j, g.key, g.treeHash, w.key, w.treeHash)
		}
		if len(g.blocks) != len(w.blocks) {
			t.Fatalf("core %d: %d blocks, want %d", j, len(g.blocks), len(w.blocks))
		}
		for s := range w.blocks {
			if g.blocks[s] != w.blocks[s] {
				t.Errorf("core %d block %d sha256 %s, want %s", j, s, g.blocks[s], w.blocks[s])
			}
		}
	}
}

// TestVectorV2InDoc checks that docs/volume-format.md shows the v2 vector.
func TestVectorV2InDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/volume-format.md")
	if err != nil {
		t.Fatal(err)
	}
	for j, c := range vectorWantV2 {
		row := fmt.Sprintf("| %d | `%s` | `%s` | `%s` | `%s` | `%s` |", j, c.key, c.blocks[0], c.blocks[1], c.blocks[2], c.treeHash)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/volume-format.md lacks the v2 row of core %d:\n%s", j, row)
		}
	}
}
