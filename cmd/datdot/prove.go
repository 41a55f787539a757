package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/datdot/datdot/hypercore"
)

// maxChallengeJSON bounds the challenge document `core prove` reads.
const maxChallengeJSON = 1 << 20

// jsonUint is a uint64 written as a JSON number or, as protobuf JSON writes
// 64-bit integers, a decimal string.
type jsonUint uint64

func (u *jsonUint) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an unsigned integer: %s", b)
	}
	*u = jsonUint(v)
	return nil
}

// challengeDoc is a storage challenge as `datdotchaind q attest challenge
// ID -o json` prints it ({"challenge": {...}}), or the bare challenge.
type challengeDoc struct {
	Challenge *challengeJSON `json:"challenge"`
	challengeJSON
}

type challengeJSON struct {
	ID       jsonUint   `json:"id"`
	Indices  []jsonUint `json:"indices"`
	Length   jsonUint   `json:"length"`
	TreeHash []byte     `json:"tree_hash"` // base64 in protobuf JSON
}

// answerJSON is one x/attest ChallengeAnswer in protobuf JSON: the argument
// of `datdotchaind tx attest submit-proofs`.
type answerJSON struct {
	ChallengeID string   `json:"challenge_id"`
	Proofs      []string `json:"proofs"`
}

// coreProve reads a challenge (file or "-" for stdin) and prints the answer:
// for each challenged index the wire.data block proof against the
// challenge's length. It checks each proof against the challenge's tree hash
// first, so a hoster does not send an answer that would be a fault, unless
// --force is given (tests use it to send a wrong answer on purpose).
func coreProve(ctx context.Context, args []string) error {
	fs, dir := coreFlags("prove")
	challengeFile := fs.String("challenge", "-", `challenge JSON ("-" = stdin), as printed by "datdotchaind q attest challenge ID -o json"`)
	force := fs.Bool("force", false, "print the answer even if it does not verify against the challenge's tree hash")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var in io.Reader = os.Stdin
	if *challengeFile != "-" {
		f, err := os.Open(*challengeFile)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	raw, err := io.ReadAll(io.LimitReader(in, maxChallengeJSON+1))
	if err != nil {
		return fmt.Errorf("reading the challenge: %w", err)
	}
	if len(raw) > maxChallengeJSON {
		return fmt.Errorf("challenge JSON larger than %d bytes", maxChallengeJSON)
	}
	ch, err := parseChallenge(raw)
	if err != nil {
		return err
	}
	c, err := openCore(ctx, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	ans, err := proveChallenge(ctx, c, ch, *force)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(ans)
}

func parseChallenge(raw []byte) (challengeJSON, error) {
	var doc challengeDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return challengeJSON{}, fmt.Errorf("challenge JSON: %w", err)
	}
	ch := doc.challengeJSON
	if doc.Challenge != nil {
		ch = *doc.Challenge
	}
	switch {
	case ch.ID == 0:
		return ch, errors.New("challenge JSON: no id")
	case len(ch.Indices) == 0:
		return ch, errors.New("challenge JSON: no indices")
	case ch.Length == 0:
		return ch, errors.New("challenge JSON: no length")
	case len(ch.TreeHash) != 32:
		return ch, fmt.Errorf("challenge JSON: tree_hash is %d bytes, want 32", len(ch.TreeHash))
	}
	return ch, nil
}

// proveChallenge makes the answer to ch from core c.
func proveChallenge(ctx context.Context, c *hypercore.Core, ch challengeJSON, force bool) (answerJSON, error) {
	if uint64(ch.Length) > c.Length() {
		return answerJSON{}, fmt.Errorf("the challenge is at length %d, this core has %d blocks", ch.Length, c.Length())
	}
	var th [32]byte
	copy(th[:], ch.TreeHash)
	ans := answerJSON{ChallengeID: strconv.FormatUint(uint64(ch.ID), 10)}
	for _, idx := range ch.Indices {
		p, err := c.BlockProofAt(ctx, uint64(idx), uint64(ch.Length))
		if err != nil {
			return answerJSON{}, fmt.Errorf("proof of block %d at length %d: %w", idx, ch.Length, err)
		}
		enc := p.Encode()
		if !force {
			back, err := hypercore.DecodeProof(enc)
			if err != nil {
				return answerJSON{}, err
			}
			if _, err := hypercore.VerifyBlockAt(back, uint64(idx), uint64(ch.Length), th); err != nil {
				return answerJSON{}, fmt.Errorf("block %d does not verify against the challenge (another core or fork?): %w", idx, err)
			}
		}
		ans.Proofs = append(ans.Proofs, base64.StdEncoding.EncodeToString(enc))
	}
	return ans, nil
}
