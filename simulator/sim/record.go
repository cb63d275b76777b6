package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Served is one read a client was answered with: the device, when, and for
// every point wholly inside the read, its raw registers and the engineering
// value they encode. Tests compare what reached InfluxDB against these.
type Served struct {
	T      int64               `json:"t"` // Unix ms
	Device string              `json:"device"`
	Values map[string]any      `json:"values"`
	Raw    map[string][]uint16 `json:"raw"`
}

// Recorder appends Served records as JSON lines.
type Recorder struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

// NewRecorder creates (truncates) the record file.
func NewRecorder(path string) (*Recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &Recorder{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

func (r *Recorder) add(s Served) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = r.enc.Encode(s)
	}
}

// Flush writes buffered records to the file.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = r.w.Flush()
	}
	return r.err
}

// Close flushes and closes the file.
func (r *Recorder) Close() error {
	err := r.Flush()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadRecords parses a record file, for tests and tools.
func ReadRecords(rd io.Reader) ([]Served, error) {
	dec := json.NewDecoder(rd)
	dec.UseNumber()
	var out []Served
	for {
		var s Served
		if err := dec.Decode(&s); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("record line %d: %w", len(out)+1, err)
		}
		out = append(out, s)
	}
}

// Time is the record's time.
func (s Served) Time() time.Time { return time.UnixMilli(s.T) }
