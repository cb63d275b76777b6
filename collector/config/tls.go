package config

import (
	"crypto/tls"
	"strings"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

// TLS is the TLS config of the collector's MQTT clients: nil for a tcp://
// broker, otherwise the broker verified against CAFile (system roots when
// empty) and the client certificate, if one is set. The gateway builds its
// own the same way (fwconfig.ClientTLS), so both ends agree on the rules.
func (m MQTT) TLS() (*tls.Config, error) {
	if !strings.HasPrefix(m.Broker, "ssl://") && !strings.HasPrefix(m.Broker, "tls://") {
		return nil, nil
	}
	return fwconfig.ClientTLS(m.CAFile, m.CertFile, m.KeyFile)
}
