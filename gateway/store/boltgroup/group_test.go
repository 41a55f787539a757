package boltgroup

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestGroupCommit: concurrent calls all commit, each exactly once in the
// final state; a call that fails gets its own error and leaves nothing,
// and does not fail the calls it was grouped with; a panicking call is an
// error, not a crash.
func TestGroupCommit(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	g := New(db)
	errBad := errors.New("refused")
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.Run(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("b"))
				if err := b.Put([]byte(fmt.Sprintf("k%03d", i)), []byte("v")); err != nil {
					return err
				}
				switch {
				case i%50 == 7:
					return errBad
				case i == 99:
					panic("boom")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 200 {
			got := b.Get([]byte(fmt.Sprintf("k%03d", i))) != nil
			bad := i%50 == 7 || i == 99
			if got == bad {
				return fmt.Errorf("call %d: stored %v, failed %v", i, got, bad)
			}
			switch {
			case i%50 == 7:
				if !errors.Is(errs[i], errBad) {
					return fmt.Errorf("call %d: error %v", i, errs[i])
				}
			case i == 99:
				if errs[i] == nil {
					return fmt.Errorf("panicking call: no error")
				}
			default:
				if errs[i] != nil {
					return fmt.Errorf("call %d: %v", i, errs[i])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A lone call after the storm still commits (no leader left stuck).
	if err := g.Run(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("last"), nil) }); err != nil {
		t.Fatal(err)
	}
}
