package mbserver

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// The server is checked here against clients written by others: mbpoll
// (libmodbus) and pymodbus, both from Debian packages, run as subprocesses.

// served starts srv on the protocol and returns the target a client needs:
// host:port, or the master's end of a pseudo-terminal pair for rtu.
func served(t *testing.T, srv *Server, proto Protocol) string {
	t.Helper()
	switch proto {
	case ProtocolTCP:
		return startServer(t, srv)
	case ProtocolRTUOverTCP:
		return startRTUOverTCP(t, srv)
	}
	a, b := servicetest.PtyPair(t)
	port := openTTY(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// A pseudo-terminal delivers each write at once: a small fixed gap.
	go func() {
		done <- srv.ServeRTU(ctx, port, RTUOptions{Baud: 9600, FrameGap: 3 * time.Millisecond, Name: a})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeRTU: %v", err)
		}
	})
	return b
}

func clientBank() *Bank {
	bank := newTestBank()
	bank.SetRegisters(HoldingRegisters, 0, []uint16{0xABCD, 2})
	bank.SetRegisters(InputRegisters, 99, []uint16{0xBEEF})
	bank.SetBits(DiscreteInputs, 10, []bool{true, false, true})
	return bank
}

func TestPymodbusClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		servicetest.Missing(t, "python3", "apt-get install -y python3-pymodbus")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import pymodbus.client").Run(); err != nil {
		servicetest.Missing(t, "pymodbus", "apt-get install -y python3-pymodbus python3-serial")
	}
	type result struct {
		Values    []int  `json:"values"`
		Exception int    `json:"exception"`
		Error     string `json:"error"`
	}
	ops := []struct {
		op   []any // op, unit, address, argument
		want result
	}{
		{[]any{"read_holding", 1, 0, 2}, result{Values: []int{0xABCD, 2}}},
		{[]any{"write_register", 1, 5, 4660}, result{Values: []int{}}},
		{[]any{"write_registers", 1, 6, []int{7, 8}}, result{Values: []int{}}},
		{[]any{"read_holding", 1, 5, 3}, result{Values: []int{4660, 7, 8}}},
		{[]any{"write_coil", 1, 3, true}, result{Values: []int{}}},
		{[]any{"write_coils", 1, 90, []bool{true, false, true}}, result{Values: []int{}}},
		{[]any{"read_coils", 1, 0, 4}, result{Values: []int{0, 0, 0, 1}}},
		{[]any{"read_coils", 1, 90, 3}, result{Values: []int{1, 0, 1}}},
		{[]any{"read_discrete", 1, 10, 3}, result{Values: []int{1, 0, 1}}},
		{[]any{"read_input", 1, 99, 1}, result{Values: []int{0xBEEF}}},
		{[]any{"read_holding", 1, 99, 2}, result{Exception: 2}},
		{[]any{"read_input", 1, 100, 1}, result{Exception: 2}},
		{[]any{"read_holding", 9, 0, 1}, result{Error: "no answer"}},
		{[]any{"read_holding", 1, 0, 2}, result{Values: []int{0xABCD, 2}}},
	}
	var list []any
	for _, o := range ops {
		list = append(list, o.op)
	}
	arg, _ := json.Marshal(list)
	for _, proto := range []Protocol{ProtocolTCP, ProtocolRTUOverTCP, ProtocolRTU} {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := NewServer(Options{})
			srv.SetDevice(1, clientBank())
			target := served(t, srv, proto)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/pyclient.py", proto.String(), target, string(arg)).CombinedOutput()
			if err != nil {
				t.Fatalf("pyclient: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != len(ops) {
				t.Fatalf("pyclient printed %d lines for %d ops:\n%s", len(lines), len(ops), out)
			}
			for i, line := range lines {
				var got result
				if err := json.Unmarshal([]byte(line), &got); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				want := ops[i].want
				if want.Error != "" {
					if got.Error == "" {
						t.Errorf("%v: %+v, want no answer", ops[i].op, got)
					}
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%v: %+v, want %+v", ops[i].op, got, want)
				}
			}
		})
	}
}

var mbpollValue = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(\S+)`)

func TestMbpollClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("mbpoll"); err != nil {
		servicetest.Missing(t, "mbpoll", "apt-get install -y mbpoll")
	}
	tests := []struct {
		name    string
		opts    []string // mbpoll wants its options before the device...
		values  []string // ...and the values to write after it
		want    map[int]string
		wantErr string
	}{
		{"read holding", []string{"-a", "1", "-r", "0", "-c", "2", "-t", "4:hex"}, nil, map[int]string{0: "0xABCD", 1: "0x0002"}, ""},
		{"write holding", []string{"-a", "1", "-r", "20", "-t", "4"}, []string{"1234", "5678"}, nil, ""},
		{"read back", []string{"-a", "1", "-r", "20", "-c", "2", "-t", "4"}, nil, map[int]string{20: "1234", 21: "5678"}, ""},
		{"read input", []string{"-a", "1", "-r", "99", "-t", "3:hex"}, nil, map[int]string{99: "0xBEEF"}, ""},
		{"read discrete", []string{"-a", "1", "-r", "10", "-c", "3", "-t", "1"}, nil, map[int]string{10: "1", 11: "0", 12: "1"}, ""},
		{"write coil", []string{"-a", "1", "-r", "7", "-t", "0"}, []string{"1"}, nil, ""},
		{"read coils", []string{"-a", "1", "-r", "6", "-c", "2", "-t", "0"}, nil, map[int]string{6: "0", 7: "1"}, ""},
		{"past the table", []string{"-a", "1", "-r", "99", "-c", "2", "-t", "4"}, nil, nil, "Illegal data address"},
		{"absent unit", []string{"-a", "9", "-o", "0.3", "-r", "0", "-t", "4"}, nil, nil, "timed out"},
	}
	for _, proto := range []Protocol{ProtocolTCP, ProtocolRTU} {
		t.Run(proto.String(), func(t *testing.T) {
			t.Parallel()
			srv := NewServer(Options{})
			srv.SetDevice(1, clientBank())
			target := served(t, srv, proto)
			var base []string
			if proto == ProtocolTCP {
				host, port, _ := net.SplitHostPort(target)
				base = []string{"-m", "tcp", "-p", port, host}
			} else {
				base = []string{"-m", "rtu", "-b", "9600", "-P", "none", target}
			}
			for _, tt := range tests {
				args := append([]string{"-0", "-1"}, tt.opts...)
				args = append(append(args, base...), tt.values...)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				out, err := exec.CommandContext(ctx, "mbpoll", args...).CombinedOutput()
				cancel()
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(string(out), tt.wantErr) {
						t.Errorf("%s: %v, want failure %q:\n%s", tt.name, err, tt.wantErr, out)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: mbpoll %v: %v\n%s", tt.name, args, err, out)
					continue
				}
				got := map[int]string{}
				for _, m := range mbpollValue.FindAllStringSubmatch(string(out), -1) {
					n, _ := strconv.Atoi(m[1])
					got[n] = m[2]
				}
				if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s: got %v, want %v\n%s", tt.name, got, tt.want, out)
				}
			}
		})
	}
}
