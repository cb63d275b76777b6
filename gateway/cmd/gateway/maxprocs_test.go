package main

import (
	"runtime"
	"testing"
)

func TestSetMaxProcs(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	tests := []struct {
		name string
		env  map[string]string
		want int
	}{
		{"unset: one P", map[string]string{}, 1},
		{"set: the runtime's reading of it", map[string]string{"GOMAXPROCS": "3"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The runtime read GOMAXPROCS at start; stand in for it.
			runtime.GOMAXPROCS(3)
			got := setMaxProcs(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if got != tt.want || runtime.GOMAXPROCS(0) != tt.want {
				t.Errorf("setMaxProcs = %d, runtime %d; want %d", got, runtime.GOMAXPROCS(0), tt.want)
			}
		})
	}
}
