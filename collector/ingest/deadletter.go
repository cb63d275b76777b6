package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
)

// Letter is one refused message in the dead-letter store: the payload as
// it arrived and every part of it that was not stored, with the reason.
// Re-ingesting a letter runs the payload through ingest again; what was
// stored the first time is written again unchanged (same series, same
// time), so only what was refused can change.
type Letter struct {
	At       time.Time `json:"at"`
	Topic    string    `json:"topic"`
	Site     string    `json:"site,omitempty"`
	Gateway  string    `json:"gateway,omitempty"`
	Problems []Problem `json:"problems"`
	// Raw is the payload when it is UTF-8, RawBytes otherwise.
	Raw      string `json:"raw,omitempty"`
	RawBytes []byte `json:"raw_bytes,omitempty"`
}

// Payload is the letter's message as it arrived.
func (l *Letter) Payload() []byte {
	if l.RawBytes != nil {
		return l.RawBytes
	}
	return []byte(l.Raw)
}

func newLetter(topic string, payload []byte, at time.Time) *Letter {
	l := &Letter{At: at.UTC(), Topic: topic}
	if utf8.Valid(payload) {
		l.Raw = string(payload)
	} else {
		l.RawBytes = bytes.Clone(payload)
	}
	return l
}

// DeadLetters is the durable store of refused messages: JSON lines in
// hourly files under one folder, appended and fsynced before the messages
// are acknowledged, bounded in bytes (the oldest files go first, counted).
// Several processes may share the folder: the collector appends while an
// operator's `collector -dead-letters reingest` takes files away; a file
// lock and a check that the path still names the open file keep a letter
// from being appended to a file already taken.
type DeadLetters struct {
	dir string
	max int64
	now func() time.Time

	mu sync.Mutex
	// Dropped counts letters deleted unreingested because the store was full.
	Dropped atomic.Uint64
}

// OpenDeadLetters creates dir if needed; max bounds its size in bytes.
func OpenDeadLetters(dir string, max int64) (*DeadLetters, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return &DeadLetters{dir: dir, max: max, now: time.Now}, nil
}

// Dir is the store's folder.
func (d *DeadLetters) Dir() string { return d.dir }

const letterExt = ".jsonl"

// Append stores letters durably; it returns once they are on disk.
func (d *DeadLetters) Append(letters []*Letter) error {
	if len(letters) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for _, l := range letters {
		line, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	path := filepath.Join(d.dir, d.now().UTC().Format("2006010215")+letterExt)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		if err := lock(f); err != nil {
			f.Close()
			return fmt.Errorf("dead letters %s: lock: %w", path, err)
		}
		// A reingest may have taken the file between open and lock.
		if still, err := samePath(f, path); err != nil || !still {
			f.Close()
			if err != nil {
				return fmt.Errorf("dead letters: %w", err)
			}
			continue
		}
		_, err = f.Write(buf.Bytes())
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = atomicfile.SyncDir(d.dir)
		}
		if err != nil {
			return fmt.Errorf("dead letters %s: %w", path, err)
		}
		break
	}
	d.bound(path)
	return nil
}

func samePath(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

// bound deletes the oldest files, never current, while the store is over max.
func (d *DeadLetters) bound(current string) {
	files, err := d.files()
	if err != nil {
		return
	}
	var total int64
	sizes := make([]int64, len(files))
	for i, f := range files {
		if fi, err := os.Stat(f); err == nil {
			sizes[i] = fi.Size()
			total += sizes[i]
		}
	}
	for i, f := range files {
		if total <= d.max || f == current {
			break
		}
		data, err := os.ReadFile(f)
		if err != nil || os.Remove(f) != nil {
			continue
		}
		d.Dropped.Add(uint64(bytes.Count(data, []byte{'\n'})))
		total -= sizes[i]
	}
}

// files lists the store's files, oldest first, taken ones included.
func (d *DeadLetters) files() ([]string, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.Contains(e.Name(), letterExt) {
			continue
		}
		out = append(out, filepath.Join(d.dir, e.Name()))
	}
	sort.Strings(out)
	return out, nil
}

// List reads every stored letter, oldest first.
func (d *DeadLetters) List() ([]*Letter, error) {
	files, err := d.files()
	if err != nil {
		return nil, err
	}
	var out []*Letter
	for _, f := range files {
		ls, err := readLetters(f)
		if err != nil {
			return out, err
		}
		out = append(out, ls...)
	}
	return out, nil
}

// take claims every file for a reingest: renamed (so the collector appends
// to a new one), then locked (so a write begun before the rename ends
// first), then read. Files left claimed by a reingest that died are taken
// again; their letters may be written twice, which is harmless.
func (d *DeadLetters) take() (claimed []string, letters []*Letter, err error) {
	files, err := d.files()
	if err != nil {
		return nil, nil, err
	}
	suffix := fmt.Sprintf(".taken-%d", os.Getpid())
	for _, f := range files {
		path := f
		if !strings.Contains(f, ".taken-") {
			path = f + suffix
			if err := os.Rename(f, path); err != nil {
				return claimed, letters, fmt.Errorf("dead letters: %w", err)
			}
		}
		claimed = append(claimed, path)
		h, err := os.Open(path)
		if err != nil {
			return claimed, letters, fmt.Errorf("dead letters: %w", err)
		}
		err = lock(h)
		h.Close()
		if err != nil {
			return claimed, letters, fmt.Errorf("dead letters %s: lock: %w", path, err)
		}
		ls, err := readLetters(path)
		if err != nil {
			return claimed, letters, err
		}
		letters = append(letters, ls...)
	}
	return claimed, letters, nil
}

func readLetters(path string) ([]*Letter, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	defer f.Close()
	var out []*Letter
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		var l Letter
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			// A line torn by a crash mid-append: what follows is intact.
			continue
		}
		out = append(out, &l)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("dead letters %s: %w", path, err)
	}
	return out, nil
}
