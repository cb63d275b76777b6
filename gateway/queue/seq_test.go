package queue

import "testing"

func TestSequenceSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := OpenSequence(dir)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := 0; i < 1500; i++ {
		n, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if n != last+1 {
			t.Fatalf("Next() = %d after %d", n, last)
		}
		last = n
	}
	// A restart (or a crash: nothing is flushed on close) resumes above every
	// number handed out.
	s2, err := OpenSequence(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s2.Next()
	if err != nil {
		t.Fatal(err)
	}
	if n <= last {
		t.Fatalf("after restart Next() = %d, want > %d", n, last)
	}
}
