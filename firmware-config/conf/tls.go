package conf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
)

// SecureBroker reports whether an MQTT broker URL asks for TLS: every
// scheme paho dials with TLS (ssl, tls, tcps, mqtts), so a CA given with
// any of them is used, as it was before the TLS set-ups became one.
func SecureBroker(broker string) bool {
	for _, s := range []string{"ssl://", "tls://", "tcps://", "mqtts://"} {
		if strings.HasPrefix(broker, s) {
			return true
		}
	}
	return false
}

// ClientTLS is the TLS config of every MQTT client of the project (gateway,
// collector, fwconfig push): nil for a tcp:// broker; otherwise the broker
// is verified against caFile (the system roots when empty), and
// certFile/keyFile, when given, are the client's identity (a gateway's
// certificate has site/gateway as CN).
func ClientTLS(broker, caFile, certFile, keyFile string) (*tls.Config, error) {
	if !SecureBroker(broker) {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate %s: %w", certFile, err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}
