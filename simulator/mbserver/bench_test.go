package mbserver

import (
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkServe measures FC 3 reads of 10 registers over loopback from
// several parallel connections, each waiting for its answer like a real
// master does.
func BenchmarkServe(b *testing.B) {
	srv := NewServer(Options{})
	srv.SetDevice(1, NewBank(BankSize{HoldingRegisters: 100}))
	addr := startServer(b, srv)
	req := adu(1, 1, []byte{3, 0, 0, 0, 10})
	const answerLen = mbapLen + 2 + 20

	b.SetParallelism(4) // 4 × GOMAXPROCS connections
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		var buf [answerLen]byte
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(c, buf[:]); err != nil {
				b.Error(err)
				return
			}
			if buf[7] != 3 || buf[8] != 20 {
				b.Errorf("answer % x", buf)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
