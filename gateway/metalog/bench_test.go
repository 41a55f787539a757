package metalog

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/secret"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
)

// benchObjects writes n Mastodon-shaped objects into m as the network
// backend records them (one part, one extent in a volume, a wrapped key, a
// public-read ACL, a content type) and marks them in the journal, in a
// few large transactions (one commit per object would measure fsyncs).
func benchObjects(b *testing.B, m *Journaled, n int) {
	b.Helper()
	bk := store.Bucket{Name: "mastodon", ACL: store.ACL{Owner: store.Owner{ID: "owner"}}}
	rec, _ := json.Marshal(bk)
	if err := m.ApplyChanges(ctx, []local.Change{{Kind: local.MarkBucket, Bucket: "mastodon", Record: rec}}); err != nil {
		b.Fatal(err)
	}
	vol := make([]byte, 16)
	rand.Read(vol)
	var changes []local.Change
	var marks []local.Mark
	flush := func() {
		if err := m.ApplyChanges(ctx, changes); err != nil {
			b.Fatal(err)
		}
		if err := m.Mark(ctx, marks); err != nil {
			b.Fatal(err)
		}
		changes, marks = nil, nil
	}
	for i := range n {
		id := make([]byte, 16)
		rand.Read(id)
		wrapped := make([]byte, 72) // 24-byte nonce + 32-byte key + 16-byte tag
		rand.Read(wrapped)
		size := int64(20000 + i%50000)
		ref := store.BlobRef{ID: hex.EncodeToString(id), Size: size, Stored: size + 16,
			Extents: []store.Extent{{Volume: hex.EncodeToString(vol), Offset: int64(i) * 70000, Length: size + 16}},
			Crypt:   &store.BlobCrypt{Alg: "aes256gcm-seg-v1", Segment: 65520, Wrapped: wrapped}}
		o := store.Object{Key: fmt.Sprintf("media_attachments/files/109/%03d/%03d/%03d/original/%016x.jpg", i/1000000, i/1000%1000, i%1000, i),
			VersionID: "null", Size: size, ETag: hex.EncodeToString(id), Modified: time.Now().UTC(), Owner: store.Owner{ID: "owner"},
			ACL:     store.ACL{Owner: store.Owner{ID: "owner"}, Grants: []store.Grant{{Type: "Group", URI: "http://acs.amazonaws.com/groups/global/AllUsers", Permission: "READ"}}},
			Headers: map[string]string{"Content-Type": "image/jpeg"},
			Parts:   []store.Part{{Number: 1, Size: size, ETag: hex.EncodeToString(id), Modified: time.Now().UTC(), Blob: ref}}}
		v, _ := json.Marshal(o)
		k := append([]byte(o.Key), 0)
		k = binary.BigEndian.AppendUint64(k, ^uint64(i+1))
		changes = append(changes, local.Change{Kind: local.MarkKey, Bucket: "mastodon", Key: o.Key, Entries: []local.KV{{K: k, V: v}}})
		marks = append(marks, local.Mark{Kind: local.MarkKey, Bucket: "mastodon", Key: o.Key})
		if len(changes) == 5000 {
			flush()
		}
	}
	flush()
	if err := m.FinishRebuild(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMetalogSize measures the metadata log's bytes per object: the
// changes of n object writes (the log as it grows) and a snapshot of them
// (a new generation), extrapolated to a million objects.
func BenchmarkMetalogSize(b *testing.B) {
	const n = 20000
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
		if err != nil {
			b.Fatal(err)
		}
		j := NewJournaled(meta)
		w, err := Open(Config{Dir: filepath.Join(dir, "metalog"), Master: secret.Generate(), Meta: j})
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Sync(ctx); err != nil { // generation 0: empty snapshot
			b.Fatal(err)
		}
		empty := w.Status().Bytes
		benchObjects(b, j, n)
		b.StartTimer()
		if err := w.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		logBytes := w.Status().Bytes - empty
		w.cfg.RotateBytes = 1
		if err := w.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		snap := w.Status().Snapshot
		b.StopTimer()
		b.ReportMetric(float64(logBytes)/n, "log-B/object")
		b.ReportMetric(float64(logBytes)/n*1e6/(1<<20), "log-MiB/Mobject")
		b.ReportMetric(float64(snap)/n*1e6/(1<<20), "snapshot-MiB/Mobject")
		w.Close()
		meta.Close()
	}
}

// BenchmarkRecoverMetadata measures recovery of the metadata of n objects
// from three real hoster servers (loopback HTTP): time and bytes read per
// object, extrapolated to a million objects.
func BenchmarkRecoverMetadata(b *testing.B) {
	const n = 20000
	for range b.N {
		b.StopTimer()
		h := newHosters(b, 3)
		dir := b.TempDir()
		meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
		if err != nil {
			b.Fatal(err)
		}
		j := NewJournaled(meta)
		master := secret.Generate()
		w, err := Open(Config{Dir: filepath.Join(dir, "metalog"), Master: master, Meta: j, Shipper: h})
		if err != nil {
			b.Fatal(err)
		}
		benchObjects(b, j, n)
		if err := w.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		w.Close()
		meta.Close()
		b.StartTimer()
		start := time.Now()
		st, err := Recover(ctx, h.recoverConfig(master, b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(st.LogBytes)/n, "read-B/object")
		b.ReportMetric(took.Seconds()/n*1e6, "s/Mobject")
	}
}
