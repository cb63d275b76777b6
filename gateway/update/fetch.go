package update

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
)

// Fetcher reads a release binary from offset on: a flaky link resumes
// where the last attempt stopped instead of starting over.
type Fetcher interface {
	Fetch(ctx context.Context, url string, offset int64) (io.ReadCloser, error)
}

// HTTPFetcher fetches over HTTP(S) with range requests.
type HTTPFetcher struct {
	Client *http.Client // nil: http.DefaultClient
	// Idle ends a download that received nothing for this long (a 4G link
	// that stalls without a reset); 0: one minute.
	Idle time.Duration
}

// Fetch asks for the bytes from offset. A server that ignores the range
// sends the whole file; the bytes before offset are skipped.
func (h HTTPFetcher) Fetch(ctx context.Context, url string, offset int64) (io.ReadCloser, error) {
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	idle := h.Idle
	if idle == 0 {
		idle = time.Minute
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stalled := time.AfterFunc(idle, func() { cancel(fmt.Errorf("%s: nothing received for %s", url, idle)) })
	body, err := h.fetch(ctx, c, url, offset)
	if err != nil {
		stalled.Stop()
		if ctx.Err() != nil {
			err = context.Cause(ctx) // stalled before the headers came
		}
		cancel(nil)
		return nil, err
	}
	return &idleBody{ReadCloser: body, timer: stalled, idle: idle, cancel: cancel, ctx: ctx}, nil
}

// idleBody restarts the stall timer at each read that got bytes.
type idleBody struct {
	io.ReadCloser
	timer  *time.Timer
	idle   time.Duration
	cancel context.CancelCauseFunc
	ctx    context.Context
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		err = context.Cause(b.ctx)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

func (h HTTPFetcher) fetch(ctx context.Context, c *http.Client, url string, offset int64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		return resp.Body, nil
	case resp.StatusCode == http.StatusOK:
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: skipping to byte %d: %w", url, offset, err)
		}
		return resp.Body, nil
	default:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
}

// ErrCorrupt: the downloaded binary does not have the signed hash. The
// partial file is deleted, so the next attempt starts over.
var ErrCorrupt = errors.New("downloaded binary does not match the signed sha256")

// partState is the progress of a download, beside the partial file: how
// many bytes of which release are on disk, and the hash of those bytes, so
// a resumed download neither reads the file again nor trusts more of it
// than was synced.
type partState struct {
	SHA256 string `json:"sha256"` // the release's, not the bytes'
	Offset int64  `json:"offset"`
	Hash   []byte `json:"hash"` // sha256 state after Offset bytes
}

// syncEvery is how many bytes are downloaded between two saves of the
// progress; a power cut repeats at most this much.
const syncEvery = 256 << 10

// download fetches r into the staged file (EXE.new), resuming a partial
// download of the same release, and checks its size and hash. The memory
// it uses is one buffer, whatever the size of the binary. progress is
// told the bytes on disk after each save.
func (u *Updater) download(ctx context.Context, r *fwconfig.Release, progress func(done int64)) error {
	if u.staged(r) {
		return nil
	}
	part, meta := u.exe+".part", u.exe+".part.json"
	st := partState{SHA256: r.SHA256}
	h := sha256.New()
	if data, err := os.ReadFile(meta); err == nil {
		var old partState
		if json.Unmarshal(data, &old) == nil && old.SHA256 == r.SHA256 && old.Offset <= r.Size &&
			h.(encoding.BinaryUnmarshaler).UnmarshalBinary(old.Hash) == nil {
			st = old
		} else {
			h.Reset()
		}
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("download %s: %w", r.Version, err)
	}
	defer f.Close()
	// Bytes past the saved offset were not accounted for: written after
	// the last save, or by another release.
	if fi, err := f.Stat(); err != nil || fi.Size() < st.Offset {
		st.Offset = 0
		h.Reset()
	}
	if err := f.Truncate(st.Offset); err != nil {
		return fmt.Errorf("download %s: %w", r.Version, err)
	}
	if _, err := f.Seek(st.Offset, io.SeekStart); err != nil {
		return fmt.Errorf("download %s: %w", r.Version, err)
	}
	save := func() error {
		if err := f.Sync(); err != nil {
			return err
		}
		hs, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return err
		}
		st.Hash = hs
		data, _ := json.Marshal(st)
		if err := atomicfile.Write(meta, data, 0o600); err != nil {
			return err
		}
		progress(st.Offset)
		return nil
	}
	if st.Offset < r.Size {
		body, err := u.o.Fetcher.Fetch(ctx, r.URL, st.Offset)
		if err != nil {
			return fmt.Errorf("download %s from byte %d: %w", r.Version, st.Offset, err)
		}
		defer body.Close()
		buf := make([]byte, 32<<10)
		unsaved := int64(0)
		for st.Offset < r.Size {
			// Never more than the signed size: a server that sends more
			// cannot fill the disk.
			n, rerr := body.Read(buf[:min(int64(len(buf)), r.Size-st.Offset)])
			if n > 0 {
				if _, err := f.Write(buf[:n]); err != nil {
					return fmt.Errorf("download %s: %w", r.Version, err)
				}
				h.Write(buf[:n])
				st.Offset += int64(n)
				unsaved += int64(n)
			}
			if unsaved >= syncEvery || st.Offset == r.Size {
				if err := save(); err != nil {
					return fmt.Errorf("download %s: %w", r.Version, err)
				}
				unsaved = 0
			}
			if rerr != nil && st.Offset < r.Size {
				if unsaved > 0 {
					if err := save(); err != nil {
						return fmt.Errorf("download %s: %w", r.Version, err)
					}
				}
				if rerr == io.EOF {
					rerr = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("download %s at byte %d of %d: %w", r.Version, st.Offset, r.Size, rerr)
			}
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != r.SHA256 {
		f.Close()
		os.Remove(part)
		os.Remove(meta)
		return fmt.Errorf("%w: release %s: got %s, signed %s", ErrCorrupt, r.Version, got, r.SHA256)
	}
	if err := f.Chmod(0o755); err != nil {
		return fmt.Errorf("download %s: %w", r.Version, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("download %s: %w", r.Version, err)
	}
	if err := os.Rename(part, u.exe+".new"); err != nil {
		return fmt.Errorf("download %s: %w", r.Version, err)
	}
	os.Remove(meta)
	if err := atomicfile.SyncDir(u.dir); err != nil {
		return fmt.Errorf("download %s: %w", r.Version, err)
	}
	return nil
}

// staged reports whether EXE.new is r's binary, complete: a download that
// finished before a restart is not fetched again.
func (u *Updater) staged(r *fwconfig.Release) bool {
	f, err := os.Open(u.exe + ".new")
	if err != nil {
		return false
	}
	defer f.Close()
	sum, n, err := sha256Of(f)
	if err == nil && n == r.Size && sum == r.SHA256 {
		return true
	}
	f.Close()
	if err := os.Remove(u.exe + ".new"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		u.log.Warn("stale staged binary not removed", "file", u.exe+".new", "error", err)
	}
	return false
}

// sha256Of is the hex sha256 of what r holds, and its size.
func sha256Of(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}
