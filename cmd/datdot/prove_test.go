package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/datdot/datdot/hypercore"
)

// TestCoreProve: the answer `core prove` makes from the query JSON verifies
// against the challenge; a challenge of another tree is refused without
// --force; malformed challenge JSON is refused.
func TestCoreProve(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "core")
	if err := coreNew(ctx, []string{"--dir", dir}); err != nil {
		t.Fatal(err)
	}
	c, err := openCore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Append(ctx, []byte("block zero"), []byte("block one"), []byte("block two")); err != nil {
		t.Fatal(err)
	}
	th := c.Info().TreeHash
	doc := fmt.Sprintf(`{"challenge":{"id":"7","indices":["2","0"],"length":"3","tree_hash":%q}}`,
		base64.StdEncoding.EncodeToString(th[:]))
	ch, err := parseChallenge([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := proveChallenge(ctx, c, ch, false)
	if err != nil {
		t.Fatal(err)
	}
	if ans.ChallengeID != "7" || len(ans.Proofs) != 2 {
		t.Fatalf("answer %+v", ans)
	}
	for i, idx := range []uint64{2, 0} {
		raw, _ := base64.StdEncoding.DecodeString(ans.Proofs[i])
		p, err := hypercore.DecodeProof(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hypercore.VerifyBlockAt(p, idx, 3, th); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
	}
	if _, err := json.Marshal(ans); err != nil {
		t.Fatal(err)
	}
	other := ch
	other.TreeHash = make([]byte, 32)
	if _, err := proveChallenge(ctx, c, other, false); err == nil {
		t.Fatal("an answer that does not verify was made without --force")
	}
	if _, err := proveChallenge(ctx, c, other, true); err != nil {
		t.Fatalf("--force: %v", err)
	}
	long := ch
	long.Length = 4
	if _, err := proveChallenge(ctx, c, long, false); err == nil {
		t.Fatal("a challenge beyond the core's length was answered")
	}
	for _, bad := range []string{`{`, `{"challenge":{}}`, `{"challenge":{"id":"1","indices":["0"],"length":"1","tree_hash":"AAAA"}}`,
		`{"challenge":{"id":"x","indices":["0"],"length":"1"}}`} {
		if _, err := parseChallenge([]byte(bad)); err == nil {
			t.Fatalf("accepted %s", bad)
		}
	}
}
