package mqttconn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/gateway/rawsock"
)

// The gateway's connection to a TLS broker runs TLS over the raw socket,
// verifies the broker's certificate against the configured roots and its
// name from the URL, and carries the stream both ways.
func TestBufferedTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c) // echo; a failed handshake ends it
			}()
		}
	}()
	broker := "ssl://" + ln.Addr().String()
	u, _ := url.Parse(broker)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	conn, err := Buffered(broker, 64)(u, mqtt.ClientOptions{ConnectTimeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc, ok := conn.(*bufferedConn).Conn.(*tls.Conn)
	if !ok {
		t.Fatalf("connection %T, want TLS", conn.(*bufferedConn).Conn)
	}
	if _, raw := tc.NetConn().(*rawsock.Conn); !raw {
		t.Errorf("TLS runs over %T, want *rawsock.Conn", tc.NetConn())
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("hello broker")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("hello broker"))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "hello broker" {
		t.Fatalf("echo %q, %v", got, err)
	}

	// Without the broker's root the handshake fails.
	if c, err := Buffered(broker, 64)(u, mqtt.ClientOptions{ConnectTimeout: 5 * time.Second, TLSConfig: &tls.Config{}}); err == nil {
		c.Close()
		t.Fatal("connected to a broker whose certificate no configured root signed")
	}
}
