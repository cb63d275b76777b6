package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"

	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
)

// StatePath is where a gateway keeps what it must remember about pushed
// configs across restarts: beside its queue directory, which is in the
// state directory (/var/lib/boilerwatch under systemd), named by site and
// gateway so that gateways sharing a state directory keep apart. The queue
// directory cannot change by a push, so neither can this path.
func StatePath(cfg *fwconfig.Gateway) string {
	return filepath.Join(filepath.Dir(filepath.Clean(cfg.Queue.Dir)), "remote-config."+cfg.Site+"."+cfg.Gateway+".json")
}

// maxRolledBack bounds the rolled-back versions remembered. Only versions
// above the running one need remembering, and a hundred rollbacks in a row
// without a good config in between is not a deployment that runs.
const maxRolledBack = 100

// state is the state file: decisions that a restart must not forget.
type state struct {
	Site    string `json:"site"`
	Gateway string `json:"gateway"`
	// RolledBack are the versions that ran and were rolled back, oldest
	// first: never applied again, however they are re-sent.
	RolledBack []rolledBack `json:"rolled_back,omitempty"`
	// Trial is the version applied and not yet confirmed by a device. A
	// restart during the trial (a crash, a power cut, the watchdog) resumes
	// it, rather than keep an untried config for good.
	Trial *trialState `json:"trial,omitempty"`

	path string
}

type rolledBack struct {
	Version int       `json:"version"`
	At      time.Time `json:"at"`
	Reason  string    `json:"reason"`
}

type trialState struct {
	Version int       `json:"version"`
	From    int       `json:"from"` // the version in FILE.prev, rolled back to
	Since   time.Time `json:"since"`
}

// loadState reads the state file of site/gateway at path; a missing file
// is an empty state (nothing was ever pushed).
func loadState(path, site, gateway string) (*state, error) {
	st := &state{Site: site, Gateway: gateway, path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remote config state: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("remote config state %s: %w", path, err)
	}
	if st.Site != site || st.Gateway != gateway {
		return nil, fmt.Errorf("remote config state %s is for %s/%s, this is %s/%s", path, st.Site, st.Gateway, site, gateway)
	}
	return st, nil
}

// save writes the state file atomically.
func (s *state) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("remote config state %s: %w", s.path, err)
	}
	return atomicfile.Write(s.path, append(data, '\n'), 0o640)
}

// rolledBack returns the rollback of version, if it was rolled back.
func (s *state) rolledBack(version int) (rolledBack, bool) {
	i := slices.IndexFunc(s.RolledBack, func(r rolledBack) bool { return r.Version == version })
	if i < 0 {
		return rolledBack{}, false
	}
	return s.RolledBack[i], true
}

// rollBack records that version was rolled back and ends its trial.
func (s *state) rollBack(version int, at time.Time, reason string) {
	s.Trial = nil
	if _, ok := s.rolledBack(version); ok {
		return
	}
	s.RolledBack = append(s.RolledBack, rolledBack{Version: version, At: at.UTC(), Reason: reason})
	if n := len(s.RolledBack) - maxRolledBack; n > 0 {
		s.RolledBack = slices.Delete(s.RolledBack, 0, n)
	}
}
