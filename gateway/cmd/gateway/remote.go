package main

import (
	"crypto/tls"
	"fmt"
	"strings"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

// mqttTLS is the gateway's TLS config for an ssl:// or tls:// broker, nil
// for tcp://.
//
// Pushed configs are applied by gateway/remote; main only wires it.
func mqttTLS(m fwconfig.MQTT) (*tls.Config, error) {
	if !strings.HasPrefix(m.Broker, "ssl://") && !strings.HasPrefix(m.Broker, "tls://") {
		return nil, nil
	}
	c, err := fwconfig.ClientTLS(m.CAFile, m.CertFile, m.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	return c, nil
}
