package lru

import "testing"

func TestBoundLeastRecentlyUsedFirst(t *testing.T) {
	c := New[string, []byte](10, func(b []byte) int64 { return int64(len(b)) })
	c.Put("a", make([]byte, 4))
	c.Put("b", make([]byte, 4))
	if _, ok := c.Get("a"); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	c.Put("c", make([]byte, 4)) // 12 > 10: b goes
	if _, ok := c.Get("b"); ok {
		t.Fatal("b kept past the bound although a was used after it")
	}
	if _, ok := c.Get("a"); !ok {
		t.Fatal("a dropped")
	}
	if c.Size() != 8 || c.Len() != 2 {
		t.Fatalf("size %d, len %d, want 8, 2", c.Size(), c.Len())
	}
	c.Put("a", make([]byte, 1)) // a replaced: its size follows
	if c.Size() != 5 {
		t.Fatalf("size %d after a shrank, want 5", c.Size())
	}
	c.Remove("a")
	c.RemoveIf(func(k string) bool { return k == "c" })
	if c.Size() != 0 || c.Len() != 0 {
		t.Fatalf("size %d, len %d after removals, want 0, 0", c.Size(), c.Len())
	}
	c.Put("big", make([]byte, 11)) // larger than the bound: not kept
	if _, ok := c.Get("big"); ok || c.Size() != 0 {
		t.Fatalf("a value over the bound was kept (size %d)", c.Size())
	}
}
