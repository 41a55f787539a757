package main

import (
	"testing"

	"github.com/spf13/pflag"
)

// The replication settings come from flags (and so from the file and the
// environment through viper); what `hoster register` announces follows
// replication.address, else a concrete replication.listen.
func TestHosterReplicationConfig(t *testing.T) {
	home := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, ""}, // off by default: no new flag needed
		{[]string{"--replication.listen", "127.0.0.1:7001"}, "127.0.0.1:7001"},
		{[]string{"--replication.listen", "0.0.0.0:7001"}, ""},
		{[]string{"--replication.listen", "[::]:7001"}, ""},
		{[]string{"--replication.listen", "127.0.0.1:0"}, ""},
		{[]string{"--replication.listen", "0.0.0.0:7001", "--replication.address", "h.example:7001"}, "h.example:7001"},
	} {
		v, err := hosterViper(pflag.NewFlagSet("t", pflag.ContinueOnError), append([]string{"--home", home}, c.args...))
		if err != nil {
			t.Fatal(err)
		}
		if got := announcedReplication(v); got != c.want {
			t.Errorf("%v: announced %q, want %q", c.args, got, c.want)
		}
	}
	t.Setenv("DATDOT_HOSTER_REPLICATION_LISTEN", "127.0.0.2:7002")
	v, err := hosterViper(pflag.NewFlagSet("t", pflag.ContinueOnError), []string{"--home", home})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.GetString("replication.listen"); got != "127.0.0.2:7002" {
		t.Fatalf("environment not read: %q", got)
	}
	if got := announcedReplication(v); got != "127.0.0.2:7002" {
		t.Fatalf("announced %q", got)
	}
}
