package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/datdot/datdot/hypercore"
)

// coreBlockSize is the block size `datdot core append` cuts files into.
const coreBlockSize = 64 << 10

// coreKeyFile holds the writer's ed25519 private key (hex) in a core dir.
const coreKeyFile = "writer.key"

// coreInfoJSON is what `datdot core info` (and new/append) print. The field
// names are a stable interface (the chain helper reads them to place an
// order); byte strings are lowercase hex:
//
//	key            core key (32 bytes)
//	manifest       encoded manifest; "" for a compat core (key = public key),
//	               which is also the manifest argument VerifyTreeSignature wants
//	discovery_key  discovery key (32 bytes)
//	length         number of blocks
//	fork           fork id
//	byte_length    total bytes of all blocks
//	tree_hash      tree hash at length (32 bytes)
//	signature      writer's signature over the tree hash at length
//	               (68 bytes for a v11 core, 64 for compat; "" if empty)
//	compat         true for a compat core
//	roots          merkle roots at length, left to right: [{index, size,
//	               hash}]; they hash to tree_hash, and the chain derives
//	               byte_length as the sum of their sizes
type coreInfoJSON struct {
	Key          string     `json:"key"`
	Manifest     string     `json:"manifest"`
	DiscoveryKey string     `json:"discovery_key"`
	Length       uint64     `json:"length"`
	Fork         uint64     `json:"fork"`
	ByteLength   uint64     `json:"byte_length"`
	TreeHash     string     `json:"tree_hash"`
	Signature    string     `json:"signature"`
	Compat       bool       `json:"compat"`
	Roots        []rootJSON `json:"roots"`
}

// rootJSON is one merkle root: flat-tree index, bytes below it, hash (hex).
type rootJSON struct {
	Index uint64 `json:"index"`
	Size  uint64 `json:"size"`
	Hash  string `json:"hash"`
}

func rootsJSON(nodes []hypercore.Node) []rootJSON {
	out := make([]rootJSON, len(nodes))
	for i, n := range nodes {
		out[i] = rootJSON{Index: n.Index, Size: n.Size, Hash: hex.EncodeToString(n.Hash[:])}
	}
	return out
}

func runCore(ctx context.Context, args []string) error {
	sub := map[string]func(context.Context, []string) error{
		"new":    coreNew,
		"append": coreAppend,
		"info":   coreInfo,
		"proof":  coreProof,
		"export": coreExport,
		"push":   corePush,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		return errors.New(`usage: datdot core <command> --dir DIR [args]
  new     --dir D [--compat]     make a writer key and an empty core
  append  --dir D FILE...        append files ("-" = stdin) as 64 KiB blocks
  info    --dir D                print the core as JSON
  proof   --dir D --index I [--length L] [--manifest]
                                 print the hex wire.data proof of block I
                                 (upgrade from 0 to L, default the head)
  export  --dir D --out FILE     write {key, treeHash, roots, blocks, proofs} for
                                 ../shared/hypercore/verify-proofs.js
  push    --dir D --order ID     push the core to the hosters assigned to it
                                 in order ID (see hoster/README.md)`)
	}
	return sub[args[0]](ctx, args[1:])
}

func coreFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("datdot core "+name, flag.ContinueOnError)
	dir := fs.String("dir", "", "core directory")
	return fs, dir
}

// openCore opens the core in dir with its writer key if the key file is there.
func openCore(ctx context.Context, dir string) (*hypercore.Core, error) {
	if dir == "" {
		return nil, errors.New("--dir is required")
	}
	var priv ed25519.PrivateKey
	raw, err := os.ReadFile(filepath.Join(dir, coreKeyFile))
	switch {
	case err == nil:
		k, err := hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%s: not a hex ed25519 private key", coreKeyFile)
		}
		priv = k
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	st, err := hypercore.OpenFileStorage(dir)
	if err != nil {
		return nil, err
	}
	c, err := hypercore.Open(ctx, st, priv)
	if err != nil {
		st.Close()
		return nil, err
	}
	return c, nil
}

func printInfo(c *hypercore.Core) error {
	i := c.Info()
	out := coreInfoJSON{
		Key:          hex.EncodeToString(i.Key[:]),
		DiscoveryKey: hex.EncodeToString(i.DiscoveryKey[:]),
		Length:       i.Length,
		Fork:         i.Fork,
		ByteLength:   i.ByteLength,
		TreeHash:     hex.EncodeToString(i.TreeHash[:]),
		Signature:    hex.EncodeToString(i.Signature),
		Compat:       i.Compat,
		Roots:        rootsJSON(c.Roots()),
	}
	if !i.Compat {
		out.Manifest = hex.EncodeToString(i.Manifest)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func coreNew(ctx context.Context, args []string) error {
	fs, dir := coreFlags("new")
	compat := fs.Bool("compat", false, "make a compat core (key = public key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--dir is required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	keyPath := filepath.Join(*dir, coreKeyFile)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	// The key goes to disk (durably) before the core exists: a crash in
	// between leaves a key without a core, never a core nobody can write.
	if err := writeKeyFile(keyPath, priv); err != nil {
		return err
	}
	st, err := hypercore.OpenFileStorage(*dir)
	if err != nil {
		os.Remove(keyPath)
		return err
	}
	c, err := hypercore.Create(ctx, st, priv, *compat)
	if err != nil {
		st.Close()
		os.Remove(keyPath)
		return err
	}
	defer c.Close()
	return printInfo(c)
}

// writeKeyFile stores priv (hex) at path, refusing to replace an existing
// file: it writes and fsyncs a temporary file, hard-links it to path
// (which fails if path exists), removes the temporary name and fsyncs the
// directory, so path is either absent or holds the whole key.
func writeKeyFile(path string, priv ed25519.PrivateKey) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	defer os.Remove(tmp)
	if _, err := f.WriteString(hex.EncodeToString(priv) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	return nil
}

func coreAppend(ctx context.Context, args []string) error {
	fs, dir := coreFlags("append")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("no files to append")
	}
	c, err := openCore(ctx, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, name := range fs.Args() {
		var r io.Reader = os.Stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		if _, _, err := c.AppendFrom(ctx, r, coreBlockSize); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return printInfo(c)
}

func coreInfo(ctx context.Context, args []string) error {
	fs, dir := coreFlags("info")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := openCore(ctx, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	return printInfo(c)
}

func coreProof(ctx context.Context, args []string) error {
	fs, dir := coreFlags("proof")
	index := fs.Uint64("index", 0, "block index")
	length := fs.Uint64("length", 0, "tree length to prove against (default: the head)")
	withManifest := fs.Bool("manifest", false, "carry the manifest (for key-only verifiers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := openCore(ctx, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	l := *length
	if l == 0 {
		l = c.Length()
	}
	p, err := c.ProofAt(ctx, l, hypercore.ProofRequest{
		Block:    &hypercore.BlockRequest{Index: *index},
		Upgrade:  &hypercore.UpgradeRequest{Length: l},
		Manifest: *withManifest,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Println(hex.EncodeToString(p.Encode()))
	return err
}

// coreExport writes the input of verify-proofs.js: key, tree hash, every
// block, and for every block a proof with an upgrade from 0 to the head
// and the manifest, so a reader that knows only the key accepts it.
func coreExport(ctx context.Context, args []string) error {
	fs, dir := coreFlags("export")
	out := fs.String("out", "", "output file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	c, err := openCore(ctx, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	info := c.Info()
	doc := struct {
		Key      string     `json:"key"`
		TreeHash string     `json:"treeHash"`
		Roots    []rootJSON `json:"roots"`
		Blocks   []string   `json:"blocks"`
		Proofs   []string   `json:"proofs"`
	}{Key: hex.EncodeToString(info.Key[:]), TreeHash: hex.EncodeToString(info.TreeHash[:]), Roots: rootsJSON(c.Roots())}
	for i := uint64(0); i < info.Length; i++ {
		b, err := c.Get(ctx, i)
		if err != nil {
			return err
		}
		p, err := c.ProofAt(ctx, info.Length, hypercore.ProofRequest{
			Block:    &hypercore.BlockRequest{Index: i},
			Upgrade:  &hypercore.UpgradeRequest{Length: info.Length},
			Manifest: true,
		})
		if err != nil {
			return err
		}
		doc.Blocks = append(doc.Blocks, hex.EncodeToString(b))
		doc.Proofs = append(doc.Proofs, hex.EncodeToString(p.Encode()))
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, raw, 0o644)
}
