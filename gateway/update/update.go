// Package update installs the signed gateway releases an operator announces
// (README "Remote software update"): it verifies a release (signature,
// target, never a downgrade unless signed so), downloads it resumably with
// its hash state on disk, switches the executable the service runs by an
// atomic rename keeping the previous one, and rolls back by itself when the
// new binary does not come up healthy.
//
// The switch is a restart: the process that switched returns ErrRestart,
// and the gateway exits with ExitRestart, releasing the queue lock, so the
// service manager (systemd's Restart=) starts the new binary. Each step is
// recorded on disk first, so a power cut at any point ends in the old
// binary or in the new one on trial:
//
//	EXE.part, EXE.part.json  a download in progress and its hash state
//	EXE.new                  the verified download, not yet in force
//	EXE.prev                 the binary before the last switch
//	EXE.update.json          the trial in progress and the rolled-back releases
//
// The new binary finds the trial at Boot and must report Healthy before
// the deadline; if it starts a second time with the trial still standing
// (it died, or was killed) or the deadline passes, EXE.prev comes back.
// Run before each start of EXE, EXE.prev's Guard counts the starts of a
// new binary that dies before its main runs and rolls it back too.
package update

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
)

// ExitRestart is the exit code of a gateway that switched binaries (an
// update or a rollback): the service manager must start it again, and it
// is neither success nor a crash in the logs.
const ExitRestart = 75

// ErrRestart: the executable changed; exit with ExitRestart.
var ErrRestart = errors.New("gateway binary switched: restart to run it")

// Options are what the gateway wires in.
type Options struct {
	// Executable is the file the service runs (os.Executable).
	Executable string
	// Running is the version of this binary; Target its GOOS/GOARCH.
	Running, Target string
	Key             ed25519.PublicKey
	Fetcher         Fetcher
	// HealthyWithin is the new binary's deadline to be connected and
	// polling; 0: 2 minutes.
	HealthyWithin time.Duration
	// Now is the clock of trial deadlines; nil: time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Updater is the update state of one gateway binary.
type Updater struct {
	o   Options
	exe string
	dir string
	log *slog.Logger
	st  *state
	// cut, in tests, stops Install after a step as a power cut would:
	// nothing after it happens, not even the cleanup.
	cut func(step string) bool
}

// errCut is Install's error when a test cut the power.
var errCut = errors.New("power cut (test)")

func (u *Updater) cutAfter(step string) bool { return u.cut != nil && u.cut(step) }

// state is EXE.update.json.
type state struct {
	// Trial is the release switched to and not yet healthy.
	Trial *trial `json:"trial,omitempty"`
	// RolledBack are releases that were switched to and rolled back,
	// oldest first: never installed again.
	RolledBack []rolledBack `json:"rolled_back,omitempty"`

	path string
}

type trial struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	From    string `json:"from"` // the version in EXE.prev
	// Starts counts the new binary's starts: a second start with the trial
	// standing means the first died before it was healthy. The guard run
	// before each start (Guard) counts it there, so that a binary dying
	// before its main runs is counted too; its Boot counts the starts no
	// guard counted.
	Starts int `json:"starts,omitempty"`
	// GuardCounted: the guard counted the start in progress, and the
	// binary's Boot takes that start as its own instead of counting it
	// again.
	GuardCounted bool `json:"guard_counted,omitempty"`
	// Started is the first start the new binary's Boot saw: its deadline
	// runs from there.
	Started time.Time `json:"started,omitzero"`
	// RollingBack: the rollback is decided; a restart completes it.
	RollingBack string `json:"rolling_back,omitempty"`
}

type rolledBack struct {
	Version string    `json:"version"`
	SHA256  string    `json:"sha256"`
	At      time.Time `json:"at"`
	Reason  string    `json:"reason"`
	// Reported: the restored binary sent the rolled_back ack.
	Reported bool `json:"reported,omitempty"`
}

// maxRolledBack bounds the rolled-back releases remembered.
const maxRolledBack = 50

// New reads the update state beside the executable.
func New(o Options) (*Updater, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HealthyWithin == 0 {
		o.HealthyWithin = 2 * time.Minute
	}
	if o.Fetcher == nil {
		o.Fetcher = HTTPFetcher{}
	}
	exe, err := filepath.EvalSymlinks(o.Executable)
	if err != nil {
		return nil, fmt.Errorf("update: executable: %w", err)
	}
	u := &Updater{o: o, exe: exe, dir: filepath.Dir(exe), log: o.Log.With("component", "update")}
	u.st = &state{path: exe + ".update.json"}
	data, err := os.ReadFile(u.st.path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, u.st); err != nil {
			return nil, fmt.Errorf("update state %s: %w", u.st.path, err)
		}
	case !os.IsNotExist(err):
		return nil, fmt.Errorf("update state: %w", err)
	}
	return u, nil
}

func (s *state) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path, append(data, '\n'), 0o600)
}

// SetKey sets the operator's public key that releases must be signed
// with; Boot runs before the config that names it is read.
func (u *Updater) SetKey(k ed25519.PublicKey) { u.o.Key = k }

// Trial is the version on trial and its deadline, when this binary is one.
type Trial struct {
	Version  string
	Deadline time.Time
}

// Boot decides, first thing at start, what the trial on disk means for
// this binary. It returns the trial this binary is on (nil if none), or
// ErrRestart when it rolled back: exit with ExitRestart so the previous
// binary starts.
func (u *Updater) Boot() (*Trial, error) {
	t := u.st.Trial
	switch {
	case t == nil:
		return nil, nil
	case t.Version != u.o.Running:
		// The switch did not happen (a power cut before the rename) or the
		// rollback did: this binary is not on trial.
		u.log.Info("update trial of a binary not running dropped", "version", t.Version, "running", u.o.Running)
		u.st.Trial = nil
		return nil, u.st.save()
	}
	t.countStart(false)
	if reason := u.rollbackReason(t); reason != "" {
		return nil, u.rollBack(reason)
	}
	if t.Started.IsZero() {
		t.Started = u.o.Now()
	}
	if err := u.st.save(); err != nil {
		// Without the mark a crash would not be seen: do not run untried.
		return nil, u.rollBack("trial start not recorded: " + err.Error())
	}
	u.log.Warn("new gateway binary on trial", "version", t.Version, "from", t.From, "healthy_within", u.o.HealthyWithin)
	return &Trial{Version: t.Version, Deadline: t.Started.Add(u.o.HealthyWithin)}, nil
}

// Guard runs before each start of the executable, from the previous
// binary (EXE.prev), which is known to run on this box: a new binary that
// dies before its main runs (built for another CPU variant, a missing
// loader) never reaches its Boot, so the guard counts its start and makes
// Boot's rollback decision for it. It does nothing without a trial or
// EXE.prev, or when the executable is not the binary on trial (the switch
// did not happen, or the rollback did: its Boot drops the trial).
// ErrRestart says it rolled back: the executable is the previous binary
// again, to be started as usual.
func (u *Updater) Guard() error {
	t := u.st.Trial
	if t == nil {
		return nil
	}
	if _, err := os.Stat(u.exe + ".prev"); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("update guard: %w", err)
	}
	f, err := os.Open(u.exe)
	if err != nil {
		return fmt.Errorf("update guard: %w", err)
	}
	sum, _, err := sha256Of(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("update guard: %s: %w", u.exe, err)
	}
	if sum != t.SHA256 {
		return nil
	}
	t.countStart(true)
	if reason := u.rollbackReason(t); reason != "" {
		return u.rollBack(reason)
	}
	if err := u.st.save(); err != nil {
		// Boot counts the start itself then.
		return fmt.Errorf("update guard: start of %s not counted: %w", t.Version, err)
	}
	u.log.Info("start of the gateway binary on trial counted", "version", t.Version, "starts", t.Starts)
	return nil
}

// countStart counts a start of the trial's binary: by the guard run
// before it (guard), or by its own Boot, which takes a start the guard
// counted instead of counting it again. The count is right with or
// without a guard (an install without the systemd drop-in has none).
func (t *trial) countStart(guard bool) {
	if t.Starts == 0 && !t.Started.IsZero() {
		t.Starts = 1 // a Boot that did not count starts saw one
	}
	switch {
	case guard:
		t.Starts++
		t.GuardCounted = true
	case t.GuardCounted:
		t.GuardCounted = false
	default:
		t.Starts++
	}
}

// rollbackReason is the rollback decision on a trial, the one that the
// binary's Boot, its deadline check and the guard before its start make:
// why the previous binary must come back, or "" while the trial goes on.
func (u *Updater) rollbackReason(t *trial) string {
	switch {
	case t.RollingBack != "":
		return t.RollingBack // decided; a restart completes it
	case t.Starts > 1 && t.Started.IsZero():
		return fmt.Sprintf("version %s stopped before it was healthy (started %d times, it never took up its trial: it dies before its main runs)", t.Version, t.Starts)
	case t.Starts > 1:
		return fmt.Sprintf("version %s stopped before it was healthy (started %s)", t.Version, t.Started.UTC().Format(time.RFC3339))
	case !t.Started.IsZero() && !u.o.Now().Before(t.Started.Add(u.o.HealthyWithin)):
		return fmt.Sprintf("version %s not connected and polling within %s", t.Version, u.o.HealthyWithin)
	}
	return ""
}

// Healthy ends this binary's trial: it is connected and polling. The
// previous binary stays as EXE.prev.
func (u *Updater) Healthy() error {
	t := u.st.Trial
	if t == nil || t.Version != u.o.Running || t.RollingBack != "" {
		return nil
	}
	u.st.Trial = nil
	if err := u.st.save(); err != nil {
		u.st.Trial = t
		return fmt.Errorf("update trial of %s not cleared: %w", t.Version, err)
	}
	u.log.Info("new gateway binary healthy", "version", t.Version, "from", t.From)
	return nil
}

// CheckDeadline rolls back when this binary's trial passed its deadline;
// ErrRestart says it did.
func (u *Updater) CheckDeadline(tr *Trial) error {
	t := u.st.Trial
	if tr == nil || t == nil || t.Version != tr.Version {
		return nil
	}
	if reason := u.rollbackReason(t); reason != "" {
		return u.rollBack(reason)
	}
	return nil
}

// rollBack restores EXE.prev. Recorded first (the release is never
// installed again, and a restart in the middle completes the rollback),
// then renamed; the caller exits with ExitRestart.
func (u *Updater) rollBack(reason string) error {
	t := u.st.Trial
	u.log.Error("gateway binary rolled back", "version", t.Version, "to", t.From, "reason", reason)
	t.RollingBack = reason
	if !slices.ContainsFunc(u.st.RolledBack, func(r rolledBack) bool { return r.SHA256 == t.SHA256 }) {
		u.st.RolledBack = append(u.st.RolledBack, rolledBack{Version: t.Version, SHA256: t.SHA256, At: u.o.Now().UTC(), Reason: reason})
		if n := len(u.st.RolledBack) - maxRolledBack; n > 0 {
			u.st.RolledBack = slices.Delete(u.st.RolledBack, 0, n)
		}
	}
	if err := u.st.save(); err != nil {
		return fmt.Errorf("rollback of %s not recorded: %w", t.Version, err)
	}
	if err := os.Rename(u.exe+".prev", u.exe); err != nil {
		return fmt.Errorf("rollback of %s to %s: %w", t.Version, t.From, err)
	}
	if err := atomicfile.SyncDir(u.dir); err != nil {
		return fmt.Errorf("rollback of %s: %w", t.Version, err)
	}
	// The restored binary clears the trial at its Boot too (its version
	// differs); cleared here so that state is not needed.
	u.st.Trial = nil
	if err := u.st.save(); err != nil {
		u.log.Warn("update state not saved after rollback", "error", err)
	}
	return ErrRestart
}

// unreportedRollback is the newest rollback, when no ack reported it yet.
func (u *Updater) unreportedRollback() (version, reason string, at time.Time, ok bool) {
	if len(u.st.RolledBack) == 0 {
		return "", "", time.Time{}, false
	}
	r := u.st.RolledBack[len(u.st.RolledBack)-1]
	return r.Version, r.Reason, r.At, !r.Reported
}

func (u *Updater) markRollbackReported() error {
	u.st.RolledBack[len(u.st.RolledBack)-1].Reported = true
	return u.st.save()
}

// ErrRolledBack: the release was installed here before and rolled back.
var ErrRolledBack = errors.New("release was rolled back here")

// Verify checks an announced release for this gateway: signature, target,
// version, and that it was not rolled back here. The release returned
// with an error is for the refusal's report only.
func (u *Updater) Verify(payload []byte) (*fwconfig.Release, error) {
	r, err := fwconfig.VerifyRelease(payload, u.o.Key, u.o.Target, u.o.Running)
	if err != nil {
		return r, err
	}
	if i := slices.IndexFunc(u.st.RolledBack, func(b rolledBack) bool { return b.SHA256 == r.SHA256 }); i >= 0 {
		b := u.st.RolledBack[i]
		return r, fmt.Errorf("%w at %s (%s); sign a new release", ErrRolledBack, b.At.Format(time.RFC3339), b.Reason)
	}
	return r, nil
}

// Install downloads a verified release and switches to it. It returns
// ErrRestart once the new binary is in place: exit with ExitRestart. Any
// other error leaves the running binary in force (a download error keeps
// its progress for the next attempt). progress is told the bytes on disk.
func (u *Updater) Install(ctx context.Context, r *fwconfig.Release, progress func(done int64)) error {
	if err := u.download(ctx, r, progress); err != nil {
		return err
	}
	if u.cutAfter("download") {
		return errCut
	}
	// The trial first: a power cut after it and before the rename finds
	// the old binary running, which drops the trial (Boot).
	u.st.Trial = &trial{Version: r.Version, SHA256: r.SHA256, From: u.o.Running}
	if err := u.st.save(); err != nil {
		u.st.Trial = nil
		return fmt.Errorf("update to %s: trial not recorded: %w", r.Version, err)
	}
	if u.cutAfter("trial") {
		return errCut
	}
	undo := func(err error) error {
		u.st.Trial = nil
		if serr := u.st.save(); serr != nil {
			u.log.Warn("update state not saved", "error", serr)
		}
		return fmt.Errorf("update to %s: %w", r.Version, err)
	}
	// EXE.prev is a second name of the running binary: the rename below
	// then replaces EXE without a moment where it is missing.
	if err := os.Remove(u.exe + ".prev"); err != nil && !os.IsNotExist(err) {
		return undo(err)
	}
	if err := os.Link(u.exe, u.exe+".prev"); err != nil {
		return undo(fmt.Errorf("keeping the previous binary: %w", err))
	}
	if u.cutAfter("link") {
		return errCut
	}
	if err := os.Rename(u.exe+".new", u.exe); err != nil {
		return undo(err)
	}
	if u.cutAfter("rename") {
		return errCut
	}
	if err := atomicfile.SyncDir(u.dir); err != nil {
		u.log.Warn("switch not synced", "error", err)
	}
	u.log.Warn("gateway binary switched; restarting", "version", r.Version, "from", u.o.Running)
	return ErrRestart
}
