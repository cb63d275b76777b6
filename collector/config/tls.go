package config

import (
	"crypto/tls"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

// TLS is the TLS config of the collector's MQTT clients: nil for a tcp://
// broker, otherwise the broker verified against CAFile (system roots when
// empty) and the client certificate, if one is set (conf.ClientTLS, as the
// gateway's).
func (m MQTT) TLS() (*tls.Config, error) {
	return conf.ClientTLS(m.Broker, m.CAFile, m.CertFile, m.KeyFile)
}
