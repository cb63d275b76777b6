package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

func keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwconfig keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "`path` of the private key; the public key goes to path.pub")
	if fs.Parse(args) != nil || *out == "" {
		fmt.Fprintln(stderr, "usage: fwconfig keygen -out NAME")
		return 2
	}
	priv, pub, err := fwconfig.GenerateKey()
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig keygen:", err)
		return 1
	}
	// O_EXCL: never overwrite a key that configs in the field were signed with.
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig keygen:", err)
		return 1
	}
	_, err = f.Write(priv)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.WriteFile(*out+".pub", pub, 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig keygen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "private key %s (keep it offline), public key %s.pub (install on the gateways)\n", *out, *out)
	return 0
}

func sign(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwconfig sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "ed25519 private key `file` (from fwconfig keygen)")
	out := fs.String("out", "", "write the signed config to this `file` instead of stdout")
	if fs.Parse(args) != nil || *keyPath == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: fwconfig sign -key KEY [-out FILE] CONFIG")
		return 2
	}
	key, err := fwconfig.LoadPrivateKey(*keyPath)
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig sign:", err)
		return 1
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig sign:", err)
		return 1
	}
	s, err := fwconfig.Sign(fs.Arg(0), data, key)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	enc, _ := json.Marshal(s)
	if *out == "" {
		fmt.Fprintln(stdout, string(enc))
		return 0
	}
	if err := os.WriteFile(*out, enc, 0o644); err != nil {
		fmt.Fprintln(stderr, "fwconfig sign:", err)
		return 1
	}
	fmt.Fprintf(stdout, "signed %s/%s version %d into %s\n", s.Site, s.Gateway, s.Version, *out)
	return 0
}

func push(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwconfig push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf brokerFlags
	bf.register(fs)
	wait := fs.Duration("wait", time.Minute, "how long to wait for the gateway's verdict; 0 does not wait")
	if fs.Parse(args) != nil || bf.broker == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: fwconfig push -broker URL [-wait 60s] [-ca F -cert F -key F | -username U -password-env V] SIGNED")
		return 2
	}
	payload, err := readEnvelope(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig push:", err)
		return 1
	}
	s, err := fwconfig.ParseSigned(payload)
	if err != nil || s.Gateway == "" || len(s.Signature) == 0 {
		fmt.Fprintf(stderr, "fwconfig push: %s is not a signed config as fwconfig sign writes it (%v)\n", fs.Arg(0), err)
		return 1
	}
	c, err := bf.connect()
	if err != nil {
		fmt.Fprintln(stderr, "fwconfig push:", err)
		return 1
	}
	defer c.Disconnect(250)
	acks := make(chan telemetry.ConfigAck, 4)
	if *wait > 0 {
		tok := c.Subscribe(telemetry.ConfigAckTopic(s.Site, s.Gateway), 1, func(_ mqtt.Client, m mqtt.Message) {
			var a telemetry.ConfigAck
			if json.Unmarshal(m.Payload(), &a) == nil && a.Version == s.Version {
				acks <- a
			}
		})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			fmt.Fprintf(stderr, "fwconfig push: subscribe to config/ack: %v\n", tok.Error())
			return 1
		}
	}
	topic := telemetry.ConfigTopic(s.Site, s.Gateway)
	if tok := c.Publish(topic, 1, true, payload); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		fmt.Fprintf(stderr, "fwconfig push: publish %s: %v\n", topic, tok.Error())
		return 1
	}
	fmt.Fprintf(stdout, "pushed %s/%s version %d to %s (retained)\n", s.Site, s.Gateway, s.Version, topic)
	if *wait == 0 {
		return 0
	}
	select {
	case a := <-acks:
		fmt.Fprintf(stdout, "gateway %s: %s (running version %d) %s\n", a.Gateway, a.Status, a.Running, a.Reason)
		if a.Status != telemetry.ConfigApplied {
			return 1
		}
		return 0
	case <-time.After(*wait):
		fmt.Fprintf(stderr, "fwconfig push: no verdict from %s within %s; the config stays retained and applies when the gateway connects\n", s.Gateway, *wait)
		return 1
	}
}

// brokerFlags are the flags of the commands that talk to the broker as the
// operator: push and release push.
type brokerFlags struct {
	broker, caFile, certFile, keyFile, user, passEnv string
}

func (b *brokerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.broker, "broker", "", "broker `URL`: tcp://host:1883 or ssl://host:8883")
	fs.StringVar(&b.caFile, "ca", "", "CA certificate `file` to verify the broker (ssl://)")
	fs.StringVar(&b.certFile, "cert", "", "client certificate `file` (the operator's identity)")
	fs.StringVar(&b.keyFile, "key", "", "client key `file`")
	fs.StringVar(&b.user, "username", "", "MQTT username")
	fs.StringVar(&b.passEnv, "password-env", "", "environment `variable` holding the MQTT password")
}

// connect opens an operator's session (no reconnect: a command that lost
// its broker says so).
func (b *brokerFlags) connect() (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().AddBroker(b.broker).SetClientID(fmt.Sprintf("bw-push-%d", time.Now().UnixNano())).
		SetUsername(b.user).SetPassword(os.Getenv(b.passEnv)).SetConnectTimeout(10 * time.Second).SetAutoReconnect(false)
	cfg, err := conf.ClientTLS(b.broker, b.caFile, b.certFile, b.keyFile)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		opts.SetTLSConfig(cfg)
	}
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect %s: %v", b.broker, tok.Error())
	}
	return c, nil
}

// readEnvelope reads a signed config or release to push. `fwconfig sign >
// FILE` ends the file with a newline; gateways take only the exact
// envelope, so it is pushed without one, and checked as they will.
func readEnvelope(path string) ([]byte, error) {
	payload, err := os.ReadFile(path)
	return bytes.TrimSpace(payload), err
}
