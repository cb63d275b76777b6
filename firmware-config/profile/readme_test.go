package profile_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
)

// The README's not_available and byte_order example: each row of its table
// (point, registers in hex, what it reads) decodes as it says.
func TestReadmeSentinelsAndOrders(t *testing.T) {
	y, ok := servicetest.DocBlocks(t, "README.md", "yaml")["# profile: sentinels-and-orders.yaml"]
	if !ok {
		t.Fatal("README has no sentinels-and-orders profile")
	}
	p, err := profile.ParseProfile("README.md#sentinels-and-orders", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(servicetest.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(\\w+)` \\| `([0-9A-F ]+)` \\| (.+) \\|$")
	rows := 0
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		pt := p.Point(m[1])
		if pt == nil {
			continue
		}
		rows++
		var regs []uint16
		for _, h := range strings.Fields(m[2]) {
			r, err := strconv.ParseUint(h, 16, 16)
			if err != nil {
				t.Fatalf("row %q: %v", m[0], err)
			}
			regs = append(regs, uint16(r))
		}
		got, err := pt.Decode(regs)
		switch want := m[3]; {
		case strings.HasPrefix(want, "bad: not available"):
			if !errors.Is(err, profile.ErrNotAvailable) {
				t.Errorf("%s %s: got %v, %v; want not available", m[1], m[2], got, err)
			}
		case strings.HasPrefix(want, `"`):
			if err != nil || got.Kind != profile.KindString || strconv.Quote(got.Str) != want {
				t.Errorf("%s %s: got %v, %v; want %s", m[1], m[2], got, err, want)
			}
		default:
			f, perr := strconv.ParseFloat(want, 64)
			if perr != nil || err != nil || got.Kind != profile.KindNumber || got.Num != f {
				t.Errorf("%s %s: got %v, %v; want %s", m[1], m[2], got, err, want)
			}
		}
	}
	if rows < 7 {
		t.Errorf("%d rows of the README's table checked, want 7", rows)
	}
}
