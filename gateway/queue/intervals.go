package queue

import "sort"

// span is the closed range [lo, hi] of sequence numbers.
type span struct{ lo, hi uint64 }

// spans is a set of sequence numbers kept as sorted, disjoint, non-adjacent
// ranges. Acknowledgements come nearly in order (live at the tail, backlog
// at the head), so the set stays a handful of ranges.
type spans []span

// add inserts [lo, hi].
func (s *spans) add(lo, hi uint64) {
	if hi < lo {
		return
	}
	v := *s
	// First range that ends at or after lo-1 (could merge with lo).
	i := sort.Search(len(v), func(i int) bool { return v[i].hi+1 >= lo || v[i].hi == ^uint64(0) })
	j := i
	for j < len(v) && (hi == ^uint64(0) || v[j].lo <= hi+1) {
		lo = min(lo, v[j].lo)
		hi = max(hi, v[j].hi)
		j++
	}
	if i == j {
		v = append(v, span{})
		copy(v[i+1:], v[i:])
		v[i] = span{lo, hi}
	} else {
		v[i] = span{lo, hi}
		v = append(v[:i+1], v[j:]...)
	}
	*s = v
}

// has reports whether x is in the set.
func (s spans) has(x uint64) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i].hi >= x })
	return i < len(s) && s[i].lo <= x
}

// count is how many numbers of [lo, hi] are in the set.
func (s spans) count(lo, hi uint64) uint64 {
	var n uint64
	for _, r := range s {
		if r.hi < lo {
			continue
		}
		if r.lo > hi {
			break
		}
		n += min(hi, r.hi) - max(lo, r.lo) + 1
	}
	return n
}

// covers reports whether every number of [lo, hi] is in the set.
func (s spans) covers(lo, hi uint64) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i].hi >= lo })
	return i < len(s) && s[i].lo <= lo && s[i].hi >= hi
}

// dropBelow removes every number below x.
func (s *spans) dropBelow(x uint64) {
	v := *s
	i := 0
	for i < len(v) && v[i].hi < x {
		i++
	}
	v = v[i:]
	if len(v) > 0 && v[0].lo < x {
		v[0].lo = x
	}
	*s = append(spans(nil), v...)
}
