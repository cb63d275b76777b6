package promtext

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// userHZ is the unit of the times in /proc/self/stat. The kernel exports
// it as 100 on every architecture (USER_HZ), and procfs, which
// client_golang uses, assumes the same.
const userHZ = 100

// processCollector writes the process_* metrics of client_golang's
// process collector, from /proc/self.
type processCollector struct {
	cpu, openFDs, maxFDs, vsize, maxVsize, rss, startTime, netIn, netOut *Desc
}

// NewProcessCollector returns a collector of the process_* metrics under
// client_golang's names: process_cpu_seconds_total, process_open_fds,
// process_max_fds, process_virtual_memory_bytes,
// process_virtual_memory_max_bytes, process_resident_memory_bytes,
// process_start_time_seconds, process_network_receive_bytes_total and
// process_network_transmit_bytes_total (the last two, as in client_golang, count
// the traffic of the process's network namespace: on a gateway box, the
// box's mobile data). On systems other than Linux it collects nothing.
func NewProcessCollector() Collector {
	return &processCollector{
		cpu:       NewCounterDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."),
		openFDs:   NewGaugeDesc("process_open_fds", "Number of open file descriptors."),
		maxFDs:    NewGaugeDesc("process_max_fds", "Maximum number of open file descriptors."),
		vsize:     NewGaugeDesc("process_virtual_memory_bytes", "Virtual memory size in bytes."),
		maxVsize:  NewGaugeDesc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes."),
		rss:       NewGaugeDesc("process_resident_memory_bytes", "Resident memory size in bytes."),
		startTime: NewGaugeDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds."),
		netIn:     NewCounterDesc("process_network_receive_bytes_total", "Number of bytes received by the process over the network."),
		netOut:    NewCounterDesc("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network."),
	}
}

// Describe implements Collector.
func (c *processCollector) Describe() []*Desc {
	return []*Desc{c.cpu, c.openFDs, c.maxFDs, c.vsize, c.maxVsize, c.rss, c.startTime, c.netIn, c.netOut}
}

// Collect implements Collector. What cannot be read is left out, as
// client_golang leaves it out by default: a scrape of the gateway's own
// metrics should not fail for it.
func (c *processCollector) Collect(s *Scrape) {
	if st, err := readStat("/proc/self/stat"); err == nil {
		s.Emit(c.cpu, float64(st.utime+st.stime)/userHZ)
		s.Emit(c.vsize, float64(st.vsize))
		s.Emit(c.rss, float64(st.rss*uint64(os.Getpagesize())))
		if boot, err := bootTime("/proc/stat"); err == nil {
			s.Emit(c.startTime, float64(boot)+float64(st.starttime)/userHZ)
		}
	}
	if f, err := os.Open("/proc/self/fd"); err == nil {
		names, err := f.Readdirnames(-1)
		f.Close()
		if err == nil {
			s.Emit(c.openFDs, float64(len(names)))
		}
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		s.Emit(c.maxFDs, rlimit(lim.Cur))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		s.Emit(c.maxVsize, rlimit(lim.Cur))
	}
	if b, err := os.ReadFile("/proc/self/net/netstat"); err == nil {
		if in, out, err := parseNetstat(b); err == nil {
			s.Emit(c.netIn, float64(in))
			s.Emit(c.netOut, float64(out))
		}
	}
}

// rlimit turns a limit into a value; unlimited reads as the largest
// uint64, as client_golang reports it.
func rlimit(v uint64) float64 {
	if v == math.MaxUint64 { // RLIM_INFINITY
		return math.MaxUint64
	}
	return float64(v)
}

// stat is what the process collector reads of /proc/self/stat.
type stat struct {
	utime, stime, starttime, vsize, rss uint64
}

func readStat(path string) (stat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return stat{}, err
	}
	return parseStat(b)
}

// parseStat parses proc(5)'s /proc/pid/stat. The command name (field 2)
// is in parentheses and may hold spaces and parentheses itself, so fields
// are counted from the last ')'.
func parseStat(b []byte) (stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, errors.New("stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 24-3+1 {
		return stat{}, fmt.Errorf("stat: %d fields after the command name", len(f))
	}
	var st stat
	for _, x := range []struct {
		field int
		to    *uint64
	}{{14, &st.utime}, {15, &st.stime}, {22, &st.starttime}, {23, &st.vsize}, {24, &st.rss}} {
		v, err := strconv.ParseUint(f[x.field-3], 10, 64)
		if err != nil {
			return stat{}, fmt.Errorf("stat field %d: %w", x.field, err)
		}
		*x.to = v
	}
	return st, nil
}

// bootTime reads the system's boot time (btime) from /proc/stat, in
// seconds since the epoch.
func bootTime(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: btime: %w", path, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: no btime", path)
}

// parseNetstat reads InOctets and OutOctets of /proc/self/net/netstat,
// where the IpExt line of names is followed by the IpExt line of values.
func parseNetstat(b []byte) (in, out uint64, err error) {
	var names []string
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "IpExt:")
		if !ok {
			continue
		}
		if names == nil {
			names = strings.Fields(rest)
			continue
		}
		values := strings.Fields(rest)
		if len(values) != len(names) {
			return 0, 0, fmt.Errorf("netstat: %d IpExt names, %d values", len(names), len(values))
		}
		var found int
		for i, name := range names {
			var to *uint64
			switch name {
			case "InOctets":
				to = &in
			case "OutOctets":
				to = &out
			default:
				continue
			}
			if *to, err = strconv.ParseUint(values[i], 10, 64); err != nil {
				return 0, 0, fmt.Errorf("netstat %s: %w", name, err)
			}
			found++
		}
		if found != 2 {
			return 0, 0, errors.New("netstat: no InOctets or OutOctets")
		}
		return in, out, nil
	}
	return 0, 0, errors.New("netstat: no IpExt values")
}
