// Package dirlock keeps two gateway processes off one queue directory.
//
// A gateway that started on the queue directory of another running gateway
// would continue its sequence numbers and interleave its segments: the
// collector would see two gateways' samples under one boot, and numbers
// reused. Lock takes an exclusive flock on <dir>.lock, beside the directory
// (the queue owns every file inside it), and writes the holder's pid into
// it for the message the next one gets. The kernel drops the lock when the
// process ends however it ends (kill -9, crash, power loss), so a stale
// lock file of a dead process never blocks a start.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrHeld is returned (wrapped) when another process holds the lock.
var ErrHeld = errors.New("in use by another process")

// Lock is a held directory lock; Close releases it.
type Lock struct {
	f    *os.File
	path string
}

// Path is the lock file: <dir>.lock, dir resolved through symbolic links so
// that two spellings of one directory share a lock.
func Path(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("dirlock: no directory")
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("dirlock: %w", err)
	}
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		dir = r
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir + ".lock", nil
}

// Acquire locks dir (creating it if needed) for this process, or fails at
// once, wrapping ErrHeld and naming the holder's pid, if another process
// holds it. what names the directory in messages ("queue directory").
func Acquire(dir, what string) (*Lock, error) {
	path, err := Path(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s %s: lock: %w", what, dir, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s %s: lock %s: %w", what, dir, path, err)
	}
	if held {
		b, _ := os.ReadFile(path)
		f.Close()
		holder := strings.TrimSpace(string(b))
		if holder == "" {
			holder = "pid unknown"
		}
		return nil, fmt.Errorf("%s %s is %w (%s, lock %s): is another gateway running on it?",
			what, dir, ErrHeld, holder, path)
	}
	// Ours: say who holds it, for the next one's message.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d\n", os.Getpid())
		f.Sync()
	}
	return &Lock{f: f, path: path}, nil
}

// Close releases the lock. The file stays: removing it would race with a
// process that opened it and waits to lock it.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// File is the lock file's path.
func (l *Lock) File() string { return l.path }
