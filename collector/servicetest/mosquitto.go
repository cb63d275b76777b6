package servicetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Mosquitto is a running Mosquitto broker.
type Mosquitto struct {
	*Process
	Addr string // host:port
	URL  string // tcp://host:port
	Conf string
}

// StartMosquitto runs Debian's mosquitto on a free port with the lines of
// extra appended to a minimal config (listener, anonymous access, logging);
// {{dir}} in extra is a temporary directory.
func StartMosquitto(t testing.TB, extra string) *Mosquitto {
	t.Helper()
	return StartMosquittoConf(t, "listener {{port}} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"+extra)
}

// StartMosquittoConf runs mosquitto with exactly conf, after replacing
// {{dir}} with a temporary directory and {{port}} with a free loopback port,
// and waits until that port accepts connections.
func StartMosquittoConf(t testing.TB, conf string) *Mosquitto {
	t.Helper()
	bin := mosquittoBinary(t)
	dir := t.TempDir()
	port := FreePort(t)
	conf = strings.ReplaceAll(conf, "{{dir}}", dir)
	conf = strings.ReplaceAll(conf, "{{port}}", fmt.Sprint(port))
	if os.Geteuid() == 0 {
		// As root mosquitto would switch to its own user, which cannot
		// write to the test's temporary directory.
		conf = "user root\n" + conf
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	m := &Mosquitto{Addr: addr, URL: "tcp://" + addr, Conf: path}
	m.Process = StartProcess(t, bin, "-c", path)
	WaitTCP(t, addr, 10*time.Second)
	return m
}

func mosquittoBinary(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("mosquitto"); err == nil {
		return bin
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	Missing(t, "mosquitto", "apt-get install -y mosquitto (or make deps)")
	return ""
}
