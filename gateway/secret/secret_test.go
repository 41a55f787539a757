package secret

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPhraseRoundTrip(t *testing.T) {
	m := Generate()
	p, err := Phrase(m)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(p)); n != 24 {
		t.Fatalf("phrase has %d words", n)
	}
	got, err := Parse("  " + strings.ToUpper(p) + "\n")
	if err != nil || !bytes.Equal(got, m) {
		t.Fatalf("parse phrase: %x %v, want %x", got, err, m)
	}
	// A swapped word fails the checksum (or is not a word).
	w := strings.Fields(p)
	w[0], w[1] = w[1], w[0]
	if w[0] != w[1] {
		if _, err := Parse(strings.Join(w, " ")); err == nil {
			t.Error("phrase with two words swapped accepted")
		}
	}
	for _, bad := range []string{"", "abandon abandon", strings.Repeat("ab", 16), "zz" + strings.Repeat("ab", 31), strings.Repeat("notaword ", 24)} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := Phrase(make([]byte, 40)); err == nil {
		t.Error("phrase of a 40-byte secret")
	}
}

func TestWriteLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "master.key")
	m := Generate()
	if err := Write(p, m); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st, err)
	}
	if err := Write(p, Generate()); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite: %v", err)
	}
	got, err := Load(p)
	if err != nil || !bytes.Equal(got, m) {
		t.Fatalf("load: %x %v", got, err)
	}
	phrase, _ := Phrase(m)
	pp := filepath.Join(dir, "phrase")
	os.WriteFile(pp, []byte(phrase+"\n"), 0o600)
	if got, err := Load(pp); err != nil || !bytes.Equal(got, m) {
		t.Fatalf("load phrase file: %v", err)
	}
}

// TestDerivations: every derived key depends on the secret, and the uses
// are separated from each other.
func TestDerivations(t *testing.T) {
	a, b := Generate(), Generate()
	if bytes.Equal(MetalogKey(a), MetalogKey(b)) || bytes.Equal(MetalogVolumeID(a, 0), MetalogVolumeID(b, 0)) {
		t.Fatal("derivation ignores the secret")
	}
	if bytes.Equal(MetalogVolumeID(a, 0), MetalogVolumeID(a, 1)) || bytes.Equal(MetalogKey(a)[:16], MetalogVolumeID(a, 0)) {
		t.Fatal("derivations not separated")
	}
	if !bytes.Equal(MetalogKey(a), MetalogKey(append([]byte(nil), a...))) {
		t.Fatal("not deterministic")
	}
	if ChainMnemonic(a) == ChainMnemonic(b) {
		t.Fatal("chain account ignores the secret")
	}
	ca, err := ChainAddress(a)
	if err != nil || !strings.HasPrefix(ca, "datdot1") {
		t.Fatalf("address %q %v", ca, err)
	}
	dir := t.TempDir()
	got, err := ImportChainKey(dir, "test", "gateway", a)
	if err != nil || got != ca {
		t.Fatalf("import: %s %v, want %s", got, err, ca)
	}
	if got, err := ImportChainKey(dir, "test", "gateway", a); err != nil || got != ca {
		t.Fatalf("import again: %s %v", got, err)
	}
	if _, err := ImportChainKey(dir, "test", "gateway", b); err == nil {
		t.Fatal("another secret's account replaced the key")
	}
}
