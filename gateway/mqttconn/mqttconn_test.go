package mqttconn

import (
	"bytes"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func TestBufferedSchemes(t *testing.T) {
	tests := []struct {
		broker   string
		proxy    string
		buffered bool
	}{
		{"tcp://127.0.0.1:1883", "", true},
		{"mqtt://127.0.0.1:1883", "", true},
		{"ssl://127.0.0.1:8883", "", true},
		{"tls://127.0.0.1:8883", "", true},
		{"mqtts://127.0.0.1:8883", "", true},
		{"ws://127.0.0.1:9001/mqtt", "", false},
		{"wss://127.0.0.1:9001/mqtt", "", false},
		{"tcp://127.0.0.1:1883", "socks5://127.0.0.1:1080", false},
		{"://no scheme", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.broker+" proxy "+tt.proxy, func(t *testing.T) {
			t.Setenv("all_proxy", tt.proxy)
			t.Setenv("ALL_PROXY", "")
			if got := Buffered(tt.broker, 64) != nil; got != tt.buffered {
				t.Errorf("Buffered(%q) with all_proxy=%q: buffered %v, want %v", tt.broker, tt.proxy, got, tt.buffered)
			}
			if got := WriteBehind(tt.broker, 64) != nil; got != tt.buffered {
				t.Errorf("WriteBehind(%q) with all_proxy=%q: buffered %v, want %v", tt.broker, tt.proxy, got, tt.buffered)
			}
		})
	}
}

// Small reads (paho's byte-at-a-time fixed header) are served from the
// buffer, a read larger than it directly, and the bytes are the stream's.
func TestBufferedReadsTheStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := make([]byte, 200)
	for i := range want {
		want[i] = byte(i)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(want)
	}()
	broker := "tcp://" + ln.Addr().String()
	u, _ := url.Parse(broker)
	conn, err := Buffered(broker, 16)(u, mqtt.ClientOptions{ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got bytes.Buffer
	one := make([]byte, 1)
	for range 3 {
		if _, err := io.ReadFull(conn, one); err != nil {
			t.Fatal(err)
		}
		got.Write(one)
	}
	if _, err := got.ReadFrom(conn); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("read %v, want %v", got.Bytes(), want)
	}
}
