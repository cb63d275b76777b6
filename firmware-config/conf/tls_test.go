package conf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "plant-a/gw-01"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestClientTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, broker, ca, cert, key string
		err                         string
		check                       func(*tls.Config) bool
	}{
		{"tcp: no TLS", "tcp://127.0.0.1:1883", cert, cert, key, "", func(c *tls.Config) bool { return c == nil }},
		{"ssl, system roots", "ssl://127.0.0.1:8883", "", "", "", "", func(c *tls.Config) bool {
			return c != nil && c.RootCAs == nil && c.MinVersion == tls.VersionTLS12 && len(c.Certificates) == 0
		}},
		{"tls, CA and client certificate", "tls://127.0.0.1:8883", cert, cert, key, "", func(c *tls.Config) bool {
			return c != nil && c.RootCAs != nil && len(c.Certificates) == 1
		}},
		{"mqtts, CA", "mqtts://127.0.0.1:8883", cert, "", "", "", func(c *tls.Config) bool { return c != nil && c.RootCAs != nil }},
		{"tcps, CA", "tcps://127.0.0.1:8883", cert, "", "", "", func(c *tls.Config) bool { return c != nil && c.RootCAs != nil }},
		{"missing CA", "ssl://127.0.0.1:8883", filepath.Join(dir, "none.crt"), "", "", "tls ca:", nil},
		{"CA not PEM", "ssl://127.0.0.1:8883", notPEM, "", "", "no PEM certificate", nil},
		{"key missing", "ssl://127.0.0.1:8883", "", cert, "", "tls client certificate", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ClientTLS(tc.broker, tc.ca, tc.cert, tc.key)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Errorf("config %+v, error %v", c, err)
			}
		})
	}
}
