package cluster

import (
	"fmt"
	"slices"
	"testing"
)

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("plant-%d/boiler/b%d", i%7, i)
	}
	return out
}

// TestOwnerBalanced: every member gets about an equal share.
func TestOwnerBalanced(t *testing.T) {
	ks := keys(6000)
	for _, members := range [][]string{
		{"col-a", "col-b"},
		{"col-a", "col-b", "col-c"},
		{"bw-collector-1", "bw-collector-2", "bw-collector-3", "bw-collector-4", "bw-collector-5"},
	} {
		t.Run(fmt.Sprint(len(members)), func(t *testing.T) {
			count := map[string]int{}
			for _, k := range ks {
				count[Owner(k, members)]++
			}
			want := float64(len(ks)) / float64(len(members))
			for _, m := range members {
				if d := float64(count[m]) / want; d < 0.9 || d > 1.1 {
					t.Errorf("%s owns %d keys, want %.0f ± 10 %%", m, count[m], want)
				}
			}
		})
	}
}

// TestOwnerStable: a member joining takes only keys for itself, and one
// leaving gives away only its own; the order members are listed in does
// not matter.
func TestOwnerStable(t *testing.T) {
	ks := keys(3000)
	three := []string{"col-a", "col-b", "col-c"}
	for _, c := range []struct {
		name          string
		before, after []string
		mover         string // the member joining or leaving
	}{
		{"join", three, []string{"col-a", "col-b", "col-c", "col-d"}, "col-d"},
		{"leave", three, []string{"col-a", "col-c"}, "col-b"},
		{"leave first", three, []string{"col-b", "col-c"}, "col-a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			moved := 0
			for _, k := range ks {
				was, is := Owner(k, c.before), Owner(k, c.after)
				if was == is {
					continue
				}
				moved++
				if was != c.mover && is != c.mover {
					t.Fatalf("%s moved from %s to %s: neither is %s", k, was, is, c.mover)
				}
			}
			// The mover's share: a third of the keys, or a quarter.
			n := max(len(c.before), len(c.after))
			if want := len(ks) / n; moved < want*8/10 || moved > want*12/10 {
				t.Errorf("%d keys moved, want about %d", moved, want)
			}
		})
	}
	rev := slices.Clone(three)
	slices.Reverse(rev)
	for _, k := range ks {
		if Owner(k, three) != Owner(k, rev) {
			t.Fatalf("%s: owner depends on the members' order", k)
		}
	}
	if Owner("x", nil) != "" {
		t.Error("no members: want no owner")
	}
}

func TestViewOwns(t *testing.T) {
	members := []string{"col-a", "col-b", "col-c"}
	for _, k := range keys(50) {
		owners := 0
		for _, self := range members {
			if (View{Self: self, Members: members, Ready: true}).Owns(k) {
				owners++
			}
			if (View{Self: self, Members: members}).Owns(k) {
				t.Fatalf("%s: a collector not ready owns %s", self, k)
			}
		}
		if owners != 1 {
			t.Fatalf("%s: %d owners, want 1", k, owners)
		}
	}
}
