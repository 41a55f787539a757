package replicate

import (
	"fmt"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/compact"
	"golang.org/x/crypto/blake2b"
)

// Protocol is the protomux protocol name of Hypercore replication; the
// channel id is the core's discovery key.
const Protocol = "hypercore/alpha"

// Message types of the hypercore/alpha channel, in hypercore 11.37.1's
// order (lib/replicator.js).
const (
	TypeSync uint64 = iota
	TypeRequest
	TypeCancel
	TypeData
	TypeNoData
	TypeWant
	TypeUnwant
	TypeBitfield
	TypeRange
	TypeExtension
)

// NoData reasons.
const (
	ReasonNotAvailable   = 1
	ReasonInvalidRequest = 2
)

// Capability proves, on one secret stream, knowledge of a core's key:
// BLAKE2b-256 keyed with the handshake hash over the replicate namespace
// of the sender's role and the key (hypercore lib/caps.js replicate).
func Capability(initiator bool, key [32]byte, handshakeHash []byte) [32]byte {
	ns := hypercore.ReplicateResponderNamespace()
	if initiator {
		ns = hypercore.ReplicateInitiatorNamespace()
	}
	h, err := blake2b.New256(handshakeHash)
	if err != nil {
		panic(err) // the handshake hash is 64 bytes, a valid key
	}
	h.Write(ns[:])
	h.Write(key[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Handshake is the channel's open payload (wire.handshake).
type Handshake struct {
	Seeks      bool
	Capability [32]byte
}

// Encode encodes h.
func (h *Handshake) Encode() []byte {
	b := compact.AppendUint(nil, boolFlag(h.Seeks, 1))
	return append(b, h.Capability[:]...)
}

// DecodeHandshake decodes a wire.handshake.
func DecodeHandshake(b []byte) (*Handshake, error) {
	d := compact.NewDecoder(b)
	f := d.Uint()
	h := &Handshake{Seeks: f&1 != 0, Capability: d.Fixed32()}
	return h, wrap("handshake", d.Err())
}

// Sync tells the peer our length and what we do (wire.sync).
type Sync struct {
	Fork, Length, RemoteLength                                 uint64
	CanUpgrade, Uploading, Downloading, HasManifest, AllowPush bool
}

// Encode encodes s.
func (s *Sync) Encode() []byte {
	f := boolFlag(s.CanUpgrade, 1) | boolFlag(s.Uploading, 2) | boolFlag(s.Downloading, 4) |
		boolFlag(s.HasManifest, 8) | boolFlag(s.AllowPush, 16)
	b := compact.AppendUint(nil, f)
	b = compact.AppendUint(b, s.Fork)
	b = compact.AppendUint(b, s.Length)
	return compact.AppendUint(b, s.RemoteLength)
}

// DecodeSync decodes a wire.sync.
func DecodeSync(b []byte) (*Sync, error) {
	d := compact.NewDecoder(b)
	f := d.Uint()
	s := &Sync{Fork: d.Uint(), Length: d.Uint(), RemoteLength: d.Uint(),
		CanUpgrade: f&1 != 0, Uploading: f&2 != 0, Downloading: f&4 != 0, HasManifest: f&8 != 0, AllowPush: f&16 != 0}
	return s, wrap("sync", d.Err())
}

// Request asks for a proof (wire.request).
type Request struct {
	ID, Fork    uint64
	Block, Hash *hypercore.BlockRequest // Hash uses Index as a tree node index
	Seek        *hypercore.SeekRequest
	Upgrade     *hypercore.UpgradeRequest
	Manifest    bool
	Priority    uint64
}

// Encode encodes r.
func (r *Request) Encode() []byte {
	f := boolFlag(r.Block != nil, 1) | boolFlag(r.Hash != nil, 2) | boolFlag(r.Seek != nil, 4) |
		boolFlag(r.Upgrade != nil, 8) | boolFlag(r.Manifest, 16) | boolFlag(r.Priority != 0, 32)
	b := compact.AppendUint(nil, f)
	b = compact.AppendUint(b, r.ID)
	b = compact.AppendUint(b, r.Fork)
	if r.Block != nil {
		b = compact.AppendUint(compact.AppendUint(b, r.Block.Index), r.Block.Nodes)
	}
	if r.Hash != nil {
		b = compact.AppendUint(compact.AppendUint(b, r.Hash.Index), r.Hash.Nodes)
	}
	if r.Seek != nil {
		b = compact.AppendUint(compact.AppendUint(b, r.Seek.Bytes), r.Seek.Padding)
	}
	if r.Upgrade != nil {
		b = compact.AppendUint(compact.AppendUint(b, r.Upgrade.Start), r.Upgrade.Length)
	}
	if r.Priority != 0 {
		b = compact.AppendUint(b, r.Priority)
	}
	return b
}

// DecodeRequest decodes a wire.request.
func DecodeRequest(b []byte) (*Request, error) {
	d := compact.NewDecoder(b)
	f := d.Uint()
	r := &Request{ID: d.Uint(), Fork: d.Uint(), Manifest: f&16 != 0}
	if f&1 != 0 {
		r.Block = &hypercore.BlockRequest{Index: d.Uint(), Nodes: d.Uint()}
	}
	if f&2 != 0 {
		r.Hash = &hypercore.BlockRequest{Index: d.Uint(), Nodes: d.Uint()}
	}
	if f&4 != 0 {
		r.Seek = &hypercore.SeekRequest{Bytes: d.Uint(), Padding: d.Uint()}
	}
	if f&8 != 0 {
		r.Upgrade = &hypercore.UpgradeRequest{Start: d.Uint(), Length: d.Uint()}
	}
	if f&32 != 0 {
		r.Priority = d.Uint()
	}
	return r, wrap("request", d.Err())
}

// ProofRequest is the proof the request asks for.
func (r *Request) ProofRequest() hypercore.ProofRequest {
	pr := hypercore.ProofRequest{Block: r.Block, Seek: r.Seek, Upgrade: r.Upgrade, Manifest: r.Manifest}
	if r.Hash != nil {
		pr.Hash = &hypercore.HashRequest{Index: r.Hash.Index, Nodes: r.Hash.Nodes}
	}
	return pr
}

// Cancel withdraws a request (wire.cancel).
type Cancel struct{ Request uint64 }

// Encode encodes c.
func (c *Cancel) Encode() []byte { return compact.AppendUint(nil, c.Request) }

// DecodeCancel decodes a wire.cancel.
func DecodeCancel(b []byte) (*Cancel, error) {
	d := compact.NewDecoder(b)
	c := &Cancel{Request: d.Uint()}
	return c, wrap("cancel", d.Err())
}

// NoData answers a request that cannot be served (wire.noData).
type NoData struct{ Request, Reason uint64 }

// Encode encodes n.
func (n *NoData) Encode() []byte {
	b := compact.AppendUint(nil, n.Request)
	if n.Reason == 0 {
		return compact.AppendUint(b, 0)
	}
	return compact.AppendUint(compact.AppendUint(b, 1), n.Reason)
}

// DecodeNoData decodes a wire.noData (the flags are optional).
func DecodeNoData(b []byte) (*NoData, error) {
	d := compact.NewDecoder(b)
	n := &NoData{Request: d.Uint()}
	if d.Err() == nil && d.Remaining() > 0 {
		if d.Uint()&1 != 0 {
			n.Reason = d.Uint()
		}
	}
	return n, wrap("noData", d.Err())
}

// Want (and unwant) says which blocks a peer is interested in.
type Want struct {
	Start, Length uint64
	Any           bool
}

// Encode encodes w.
func (w *Want) Encode() []byte {
	b := compact.AppendUint(compact.AppendUint(nil, w.Start), w.Length)
	if w.Any {
		b = compact.AppendUint(b, 1)
	}
	return b
}

// DecodeWant decodes a wire.want or wire.unwant.
func DecodeWant(b []byte) (*Want, error) {
	d := compact.NewDecoder(b)
	w := &Want{Start: d.Uint(), Length: d.Uint()}
	if d.Err() == nil && d.Remaining() > 0 {
		w.Any = d.Uint()&1 != 0
	}
	return w, wrap("want", d.Err())
}

// Range announces (or with Drop, withdraws) blocks [Start, Start+Length).
type Range struct {
	Drop          bool
	Start, Length uint64
}

// Encode encodes r.
func (r *Range) Encode() []byte {
	b := compact.AppendUint(nil, boolFlag(r.Drop, 1)|boolFlag(r.Length == 1, 2))
	b = compact.AppendUint(b, r.Start)
	if r.Length != 1 {
		b = compact.AppendUint(b, r.Length)
	}
	return b
}

// DecodeRange decodes a wire.range.
func DecodeRange(b []byte) (*Range, error) {
	d := compact.NewDecoder(b)
	f := d.Uint()
	r := &Range{Drop: f&1 != 0, Start: d.Uint(), Length: 1}
	if f&2 == 0 {
		r.Length = d.Uint()
	}
	return r, wrap("range", d.Err())
}

// Bitfield announces blocks as a bit array of u32 words from Start.
type Bitfield struct {
	Start    uint64
	Bitfield []uint32
}

// Encode encodes b.
func (bf *Bitfield) Encode() []byte {
	return compact.AppendUint32Array(compact.AppendUint(nil, bf.Start), bf.Bitfield)
}

// DecodeBitfield decodes a wire.bitfield.
func DecodeBitfield(b []byte) (*Bitfield, error) {
	d := compact.NewDecoder(b)
	bf := &Bitfield{Start: d.Uint(), Bitfield: d.Uint32Array()}
	return bf, wrap("bitfield", d.Err())
}

// Extension is an application message (wire.extension).
type Extension struct {
	Name    string
	Message []byte
}

// Encode encodes e.
func (e *Extension) Encode() []byte {
	return append(compact.AppendString(nil, e.Name), e.Message...)
}

// DecodeExtension decodes a wire.extension.
func DecodeExtension(b []byte) (*Extension, error) {
	d := compact.NewDecoder(b)
	e := &Extension{Name: d.String()}
	e.Message = d.Rest()
	return e, wrap("extension", d.Err())
}

// DecodeData decodes a wire.data (a proof).
func DecodeData(b []byte) (*hypercore.Proof, error) { return hypercore.DecodeProof(b) }

func boolFlag(v bool, bit uint64) uint64 {
	if v {
		return bit
	}
	return 0
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("replicate: bad %s message: %w", what, err)
	}
	return nil
}
