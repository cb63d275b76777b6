// Package cluster lets several collectors share the energy engine's
// boilers and meters (docs/collectors.md): each announces itself with a
// retained presence message whose last will clears it (Membership), and
// every boiler or meter belongs to the live collector that rendezvous
// hashing picks (Owner). It holds no consensus: every collector computes
// the same owner from the same presence messages.
package cluster

import (
	"hash/fnv"
	"sort"
	"time"
)

// Owner is the member that owns key: the highest score of (key, member),
// rendezvous hashing. Adding a member moves only the keys the new member
// scores highest on, and removing one moves only its keys; every member
// gets an equal share on average. "" when members is empty.
func Owner(key string, members []string) string {
	best, bestScore := "", uint64(0)
	for _, m := range members {
		s := score(key, m)
		if best == "" || s > bestScore || (s == bestScore && m < best) {
			best, bestScore = m, s
		}
	}
	return best
}

func score(key, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(member))
	// FNV alone spreads keys differing in their last bytes poorly:
	// splitmix64's finaliser mixes every bit into every other.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// View is what a collector knows of the membership at one moment.
type View struct {
	Self string
	// Members are the live collectors, sorted; Self among them once the
	// broker has confirmed this collector's presence.
	Members []string
	// Ready: connected to the broker and Self is among Members. A
	// collector that is not ready owns nothing: the others may already
	// have taken its share over.
	Ready bool
	// Changed is the wall time the view last changed (connection,
	// members).
	Changed time.Time
}

// Owns reports whether this collector computes key now.
func (v View) Owns(key string) bool {
	return v.Ready && Owner(key, v.Members) == v.Self
}

// Same reports whether two views give every key the same owner.
func (v View) Same(w View) bool {
	if v.Ready != w.Ready || len(v.Members) != len(w.Members) {
		return false
	}
	for i := range v.Members {
		if v.Members[i] != w.Members[i] {
			return false
		}
	}
	return true
}

func sorted(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
