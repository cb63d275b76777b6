package fwconfig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Signed is a gateway config as pushed over MQTT: the YAML itself, who it is
// for, its version, and an ed25519 signature over all of these.
type Signed struct {
	Site    string `json:"site"`
	Gateway string `json:"gateway"`
	Version int    `json:"version"`
	// Config is the YAML file, byte for byte.
	Config    []byte `json:"config"`
	Signature []byte `json:"signature"`
}

// Errors of Verify, so a gateway can report why it refused a push.
var (
	ErrBadSignature = errors.New("signature does not verify")
	ErrNotForMe     = errors.New("config is for another gateway")
	ErrNotNewer     = errors.New("config version is not newer than the running one")
	// ErrMalformed: the envelope is not exactly what fwconfig sign writes.
	// Anything the signature does not cover (an extra or repeated key,
	// whitespace, another base64 spelling) is refused, so a signed config
	// has one spelling and a replay cannot pass for a new push.
	ErrMalformed = errors.New("malformed signed config")
)

// signedBytes is what the signature covers. The domain prefix keeps a
// signature from being valid for anything else the key might sign.
func (s *Signed) signedBytes() []byte {
	sum := sha256.Sum256(s.Config)
	return fmt.Appendf(nil, "boilerwatch-config-v1\x00%s\x00%s\x00%d\x00%x", s.Site, s.Gateway, s.Version, sum)
}

// Sign validates the config in data (it must parse, so nothing invalid is
// ever signed) and signs it for its own site, gateway and version.
func Sign(file string, data []byte, key ed25519.PrivateKey) (*Signed, error) {
	g, err := ParseGateway(file, data)
	if err != nil {
		return nil, err
	}
	if g.Version < 1 {
		return nil, fmt.Errorf("%s: version: a pushed config needs a version ≥ 1, higher than the one running", file)
	}
	s := &Signed{Site: g.Site, Gateway: g.Gateway, Version: g.Version, Config: data}
	s.Signature = ed25519.Sign(key, s.signedBytes())
	return s, nil
}

// envelopeKeys are the keys of a signed config's JSON, as encoding/json
// spells them for Signed; every one is covered by the signature.
var envelopeKeys = []string{"site", "gateway", "version", "config", "signature"}

// ParseSigned decodes a signed config envelope strictly: a JSON object with
// exactly the keys of Signed, each once, spelt byte for byte as json.Marshal
// (and so fwconfig sign) writes it. Errors wrap ErrMalformed. The result is
// not verified: its fields mean nothing until Verify checked the signature.
// With an error it is the lenient decoding, nil if there is none, so that
// a refusal can name the version the envelope claims.
func ParseSigned(payload []byte) (*Signed, error) {
	var s Signed
	decoded, err := parseEnvelope(payload, envelopeKeys, &s)
	if !decoded {
		return nil, err
	}
	return &s, err
}

// parseEnvelope decodes a signed JSON envelope into v (a pointer to a
// struct whose json keys are keys) strictly: exactly those keys, each once,
// spelt byte for byte as json.Marshal writes v, so that whatever the
// signature does not cover cannot vary. decoded reports whether v holds the
// lenient decoding (for naming what a refused envelope claims). Errors wrap
// ErrMalformed.
func parseEnvelope(payload []byte, keys []string, v any) (decoded bool, err error) {
	// Decoded leniently first, so a refusal can name the version it claims.
	decoded = json.Unmarshal(payload, v) == nil
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return decoded, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		key, _ := tok.(string)
		switch {
		case seen[key]:
			return decoded, fmt.Errorf("%w: duplicate key %q", ErrMalformed, clip(key))
		case !slices.Contains(keys, key):
			return decoded, fmt.Errorf("%w: unsigned key %q", ErrMalformed, clip(key))
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return decoded, fmt.Errorf("%w: %s: %v", ErrMalformed, key, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return decoded, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return decoded, fmt.Errorf("%w: data after the envelope", ErrMalformed)
	}
	for _, k := range keys {
		if !seen[k] {
			return decoded, fmt.Errorf("%w: missing key %q", ErrMalformed, k)
		}
	}
	if !decoded {
		return false, fmt.Errorf("%w: the values do not decode", ErrMalformed)
	}
	// What is left to differ is spelling: whitespace, key order, escapes,
	// base64 with line breaks. One spelling per signed envelope.
	if canon, err := json.Marshal(v); err != nil || !bytes.Equal(canon, payload) {
		return true, fmt.Errorf("%w: not in the canonical form fwconfig writes (whitespace, key order or encoding differ)", ErrMalformed)
	}
	return true, nil
}

// clip keeps an attacker's key from filling a log line or an ack.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Verify checks a pushed config for this gateway and returns it parsed.
// Every failure wraps ErrMalformed, ErrBadSignature, ErrNotForMe,
// ErrNotNewer or the config's own validation errors. The Signed returned
// with ErrMalformed or ErrBadSignature (nil when the payload does not even
// decode) is unverified: report its version, never trust it.
func Verify(payload []byte, pub ed25519.PublicKey, site, gateway string, running int) (*Gateway, *Signed, error) {
	sp, err := ParseSigned(payload)
	if err != nil {
		return nil, sp, err
	}
	s := *sp
	if !ed25519.Verify(pub, s.signedBytes(), s.Signature) {
		return nil, &s, fmt.Errorf("%w (version %d)", ErrBadSignature, s.Version)
	}
	if s.Site != site || s.Gateway != gateway {
		return nil, &s, fmt.Errorf("%w: %s/%s, this is %s/%s", ErrNotForMe, s.Site, s.Gateway, site, gateway)
	}
	if s.Version <= running {
		return nil, &s, fmt.Errorf("%w: version %d, running %d", ErrNotNewer, s.Version, running)
	}
	g, err := ParseGateway(fmt.Sprintf("pushed config v%d", s.Version), s.Config)
	if err != nil {
		return nil, &s, err
	}
	// The envelope is signed, but so is the content: they must agree.
	if g.Site != s.Site || g.Gateway != s.Gateway || g.Version != s.Version {
		return nil, &s, fmt.Errorf("%w: envelope %s/%s v%d, config %s/%s v%d", ErrNotForMe, s.Site, s.Gateway, s.Version, g.Site, g.Gateway, g.Version)
	}
	return g, &s, nil
}

// GenerateKey makes a signing key pair as PEM (PKCS#8 private, PKIX public).
func GenerateKey() (private, public []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pb, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pb}), nil
}

// LoadPrivateKey reads an ed25519 private key in PEM.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ed25519 key", path)
	}
	return ek, nil
}

// LoadPublicKey reads an ed25519 public key in PEM.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ed25519 key", path)
	}
	return ek, nil
}

func readPEM(path, typ string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("%s: no %q PEM block", path, typ)
	}
	return b.Bytes, nil
}
