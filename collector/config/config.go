// Package config is the collector's configuration file.
package config

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
)

// Collector is the collector's configuration.
type Collector struct {
	MQTT     MQTT      `yaml:"mqtt"`
	InfluxDB InfluxDB  `yaml:"influxdb"`
	Batch    Batch     `yaml:"batch"`
	HTTP     HTTP      `yaml:"http"`
	Gaps     Gaps      `yaml:"gaps"`   // sequence gap detection, delivery.go
	Energy   *Energy   `yaml:"energy"` // efficiency and energy engine, boilers.go
	Console  Console   `yaml:"console"`
	Metrics  Metrics   `yaml:"metrics"`  // Prometheus endpoint, metrics.go
	Ingest   Ingest    `yaml:"ingest"`   // schema, dead letters, ingest.go
	Gateways []Gateway `yaml:"gateways"` // gateway registry, gateways.go
}

// MQTT says where telemetry comes from.
type MQTT struct {
	// Embedded is the listen address of the embedded broker (e.g.
	// 127.0.0.1:1883). Empty: no embedded broker, use Broker.
	Embedded string `yaml:"embedded"`
	// Broker is the broker URL to consume from; defaults to the embedded one.
	Broker   string `yaml:"broker"`
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	// ShareGroup splits the stream among collectors with $share/<group>/.
	ShareGroup string `yaml:"share_group"`
	// CAFile verifies the broker (ssl://); CertFile and KeyFile are the
	// collector's client certificate (CN "collector" for the shipped ACL).
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// EmbeddedUsers are the embedded broker's accounts besides the
	// gateways' (gateways.go).
	EmbeddedUsers []BrokerUser `yaml:"embedded_users"`
}

// InfluxDB locates the database.
type InfluxDB struct {
	URL string `yaml:"url"`
	// TokenEnv names the environment variable holding the token
	// ("user:password" on 1.8, an API token on 2.x). Never in the file.
	TokenEnv string `yaml:"token_env"`
	Org      string `yaml:"org"`
	// Bucket is "database/retention-policy" on 1.8.
	Bucket string `yaml:"bucket"`
	// CreateDatabase creates the 1.8 database at start.
	CreateDatabase bool `yaml:"create_database"`
}

// Batch bounds how many points one write carries and how long they wait.
type Batch struct {
	MaxPoints int           `yaml:"max_points"`
	Flush     conf.Duration `yaml:"flush"` // default 200ms
}

// HTTP is the collector's own HTTP endpoint (health).
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Load reads and validates a collector config.
func Load(path string) (*Collector, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("collector config: %w", err)
	}
	return Parse(path, data)
}

// Parse validates a collector config; errors name file, line and field.
func Parse(file string, data []byte) (*Collector, error) {
	var c Collector
	d, err := conf.Decode(file, data, &c)
	if err != nil {
		return nil, err
	}
	if c.MQTT.Embedded != "" {
		if _, _, err := net.SplitHostPort(c.MQTT.Embedded); err != nil {
			d.Errorf("mqtt.embedded", "%q: want host:port", c.MQTT.Embedded)
		}
		if c.MQTT.Broker == "" {
			c.MQTT.Broker = "tcp://" + c.MQTT.Embedded
		}
	}
	if c.MQTT.Broker == "" {
		d.Errorf("mqtt.broker", "missing: set mqtt.embedded to run the embedded broker, or mqtt.broker to use another")
	} else if !strings.HasPrefix(c.MQTT.Broker, "tcp://") && !conf.SecureBroker(c.MQTT.Broker) {
		d.Errorf("mqtt.broker", "%q: want tcp://host:port or ssl://host:port", c.MQTT.Broker)
	}
	if c.MQTT.ClientID == "" {
		c.MQTT.ClientID = "bw-collector"
	}
	if c.InfluxDB.URL == "" {
		d.Errorf("influxdb.url", "missing; write e.g. http://127.0.0.1:8086")
	} else if !strings.HasPrefix(c.InfluxDB.URL, "http://") && !strings.HasPrefix(c.InfluxDB.URL, "https://") {
		d.Errorf("influxdb.url", "%q: want http:// or https://", c.InfluxDB.URL)
	}
	if c.InfluxDB.Bucket == "" {
		d.Errorf("influxdb.bucket", "missing; on InfluxDB 1.8 write database/retention-policy, e.g. boilerwatch/autogen")
	}
	if c.Batch.MaxPoints == 0 {
		c.Batch.MaxPoints = 5000
	} else if c.Batch.MaxPoints < 1 || c.Batch.MaxPoints > 100000 {
		d.Errorf("batch.max_points", "%d is outside 1..100000", c.Batch.MaxPoints)
	}
	c.Batch.Flush.Default(200 * time.Millisecond)
	if c.Batch.Flush.Duration <= 0 {
		d.Errorf("batch.flush", "%s: want a positive duration (e.g. 200ms)", c.Batch.Flush.Duration)
	}
	if c.Energy != nil {
		c.Energy.validate(d, "energy")
		if c.Energy.Cluster != nil {
			c.Energy.Cluster.validate(d, "energy.cluster", c.MQTT.ClientID, c.Energy.Every.Duration)
		}
	}
	c.Console.validate(d, "console")
	c.Ingest.parse(d, file)
	c.validateGateways(d)
	if c.Energy != nil && c.Ingest.Library != nil {
		// A meter's profile gives its counter's modulus.
		c.Energy.ApplyProfiles(c.Ingest.Library, d.Errorf)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return &c, nil
}
