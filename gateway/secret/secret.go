// Package secret is the gateway operator's master secret: how it is made,
// shown, stored and read back, and everything derived from it.
//
// The master secret is 32 random bytes. It is shown to the operator once,
// as a 24-word BIP-39 phrase, and kept in a file (hex, mode 0600). Every
// key the gateway needs to find and read its data again is derived from it
// with HKDF-SHA256, each use under its own salt:
//
//   - the key that wraps each object's random data key
//     (gateway/store/crypt, salt "datdot/gateway/blob-kek/v1");
//   - the writer keys of every volume's cores (package volume, salt
//     "datdot/volume/core-key/v1", with the volume id), including the
//     metadata log's volumes, whose ids come from MetalogVolumeID;
//   - the key that encrypts the metadata log (MetalogKey);
//   - the gateway's chain account (ChainMnemonic): the account that places
//     the orders of every volume, so that recovery lists its orders on
//     chain with nothing but the secret.
//
// Without the master secret everything is lost: object data cannot be
// decrypted, the metadata log cannot be found nor read, and the orders on
// chain cannot be told apart from anyone else's. There is no other copy
// and no reset.
package secret

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cosmos/go-bip39"
)

// Size is the size of a master secret made by Generate, and the only size
// a phrase can encode.
const Size = 32

// MinSize is the shortest master secret accepted (older secret files may
// hold longer hex secrets; they have no phrase).
const MinSize = 32

// Warning is what an operator is told when a secret is shown.
const Warning = `WRITE THIS PHRASE DOWN AND KEEP IT OFFLINE. It is shown only now.
It is the only key to this gateway's data: every object is encrypted under
it, the metadata backup on the network is found and read with it, and the
chain account that pays for the storage is derived from it. Lose it and
everything stored through this gateway is lost for good; anyone who has it
can read everything. 'datdot gateway export-key' shows it again while this
machine's secret file exists.`

// Generate returns a new random master secret.
func Generate() []byte {
	b := make([]byte, Size)
	rand.Read(b)
	return b
}

// Phrase returns the 24-word BIP-39 phrase of a 32-byte secret.
func Phrase(master []byte) (string, error) {
	if len(master) != Size {
		return "", fmt.Errorf("secret: a phrase encodes %d-byte secrets, this one has %d bytes", Size, len(master))
	}
	return bip39.NewMnemonic(master)
}

// Parse reads a secret written as a BIP-39 phrase or as hex digits
// (whitespace ignored).
func Parse(text string) ([]byte, error) {
	words := strings.Fields(strings.ToLower(text))
	if len(words) == 0 {
		return nil, errors.New("secret: empty")
	}
	if len(words) > 1 {
		phrase := strings.Join(words, " ")
		if len(words) != 24 {
			return nil, fmt.Errorf("secret: a phrase has 24 words, got %d", len(words))
		}
		raw, err := bip39.MnemonicToByteArray(phrase)
		if err != nil {
			return nil, fmt.Errorf("secret: not a valid phrase (a word is misspelt or the checksum fails): %w", err)
		}
		return raw[:Size], nil
	}
	key, err := hex.DecodeString(words[0])
	if err != nil {
		return nil, fmt.Errorf("secret: neither a 24-word phrase nor hex: %w", err)
	}
	if len(key) < MinSize {
		return nil, fmt.Errorf("secret: %d bytes, want at least %d", len(key), MinSize)
	}
	return key, nil
}

// Load reads the secret file at path (phrase or hex).
func Load(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	key, err := Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// ErrExists: Write refuses to replace an existing secret file.
var ErrExists = errors.New("secret: a secret file already exists there")

// Write stores master at path as hex (mode 0600, fsynced, directory
// fsynced). It never replaces an existing file: overwriting a secret
// loses the data it protects.
func Write(path string, master []byte) error {
	if len(master) < MinSize {
		return fmt.Errorf("secret: %d bytes, want at least %d", len(master), MinSize)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(master) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("secret: write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func derive(master []byte, salt, info string, n int) []byte {
	k, err := hkdf.Key(sha256.New, master, []byte(salt), info, n)
	if err != nil {
		panic(fmt.Sprintf("secret: hkdf of %d bytes: %v", n, err)) // only for n > 255*32
	}
	return k
}

// MetalogKey is the 32-byte key that encrypts the metadata log.
func MetalogKey(master []byte) []byte {
	return derive(master, "datdot/gateway/metalog-key/v1", "", 32)
}

// MetalogVolumeID is the id of generation gen of the metadata log's
// volume; the writer keys of its cores follow from it as for any volume
// (volume.CoreKeys).
func MetalogVolumeID(master []byte, gen uint64) []byte {
	return derive(master, "datdot/gateway/metalog-volume/v1", string(binary.BigEndian.AppendUint64(nil, gen)), 16)
}

// ChainMnemonic is the BIP-39 phrase of the gateway's chain account
// (derived from the master secret; the usual Cosmos HD path applies, so
// the account can also be imported into a wallet).
func ChainMnemonic(master []byte) string {
	m, err := bip39.NewMnemonic(derive(master, "datdot/gateway/chain-account/v1", "", 32))
	if err != nil {
		panic(fmt.Sprintf("secret: mnemonic of 32 bytes: %v", err))
	}
	return m
}
