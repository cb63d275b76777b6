package fwconfig

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "k"), privPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "k.pub"), pubPEM, 0o644)
	priv, err := LoadPrivateKey(filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(filepath.Join(dir, "k.pub"))
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("testdata/gateway/valid/gateway.yaml") // plant-a/gw-01 version 3
	if err != nil {
		t.Fatal(err)
	}
	sign := func(data []byte, key ed25519.PrivateKey) []byte {
		t.Helper()
		s, err := Sign("gw.yaml", data, key)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(s)
		return out
	}
	good := sign(base, priv)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	forSiteB := sign([]byte(strings.Replace(string(base), "site: plant-a", "site: plant-b", 1)), priv)
	forB := sign([]byte(strings.Replace(string(base), "gateway: gw-01", "gateway: gw-02", 1)), priv)
	tampered := func() []byte {
		var s Signed
		json.Unmarshal(good, &s)
		s.Config = []byte(strings.Replace(string(s.Config), "interval: 1s", "interval: 2s", 1))
		out, _ := json.Marshal(s)
		return out
	}()
	// A validly signed envelope whose content names another gateway.
	mismatch := func() []byte {
		s := Signed{Site: "plant-a", Gateway: "gw-01", Version: 9,
			Config: []byte(strings.Replace(strings.Replace(string(base), "version: 3", "version: 9", 1), "gateway: gw-01", "gateway: gw-02", 1))}
		s.Signature = ed25519.Sign(priv, s.signedBytes())
		out, _ := json.Marshal(s)
		return out
	}()
	invalid := func() []byte {
		s := Signed{Site: "plant-a", Gateway: "gw-01", Version: 9, Config: []byte("site: plant-a\ngateway: gw-01\nversion: 9\n")}
		s.Signature = ed25519.Sign(priv, s.signedBytes())
		out, _ := json.Marshal(s)
		return out
	}()
	// Variants of good that carry bytes the signature does not cover: each
	// would let a replay look new to a check on payload bytes.
	edit := func(f func(string) string) []byte { return []byte(f(string(good))) }
	tests := []struct {
		name    string
		payload []byte
		running int
		want    error
		wantMsg string
	}{
		{"accepted", good, 2, nil, ""},
		{"unsigned extra key", edit(func(s string) string { return `{"nonce":1,` + s[1:] }), 2, ErrMalformed, `unsigned key "nonce"`},
		{"duplicate key", edit(func(s string) string { return `{"version":99,` + s[1:] }), 2, ErrMalformed, `duplicate key "version"`},
		{"key in other case", edit(func(s string) string { return strings.Replace(s, `"site"`, `"Site"`, 1) }), 2, ErrMalformed, `unsigned key "Site"`},
		{"space added", edit(func(s string) string { return strings.Replace(s, `,"gateway"`, `, "gateway"`, 1) }), 2, ErrMalformed, "canonical"},
		{"trailing newline", append(append([]byte{}, good...), '\n'), 2, ErrMalformed, "canonical"},
		{"trailing value", append(append([]byte{}, good...), "{}"...), 2, ErrMalformed, ""},
		{"newline in base64", edit(func(s string) string { return strings.Replace(s, `"config":"`, `"config":"\n`, 1) }), 2, ErrMalformed, "canonical"},
		{"missing key", edit(func(s string) string { return strings.Replace(s, `"site":"plant-a",`, ``, 1) }), 2, ErrMalformed, `missing key "site"`},
		{"not an object", []byte(`[1]`), 2, ErrMalformed, ""},
		{"replayed old config", good, 3, ErrNotNewer, ""},
		{"for another gateway", forB, 2, ErrNotForMe, ""},
		{"for another site", forSiteB, 2, ErrNotForMe, ""},
		{"wrong key", sign(base, otherPriv), 2, ErrBadSignature, ""},
		{"tampered config", tampered, 2, ErrBadSignature, ""},
		{"envelope and content disagree", mismatch, 2, ErrNotForMe, ""},
		{"invalid config", invalid, 2, nil, "mqtt.broker: missing"},
		{"not JSON", []byte("hello"), 2, ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, err := Verify(tt.payload, pub, "plant-a", "gw-01", tt.running)
			switch {
			case tt.want == nil && tt.wantMsg == "":
				if err != nil || g == nil || g.Version != 3 {
					t.Fatalf("Verify = %v, %v", g, err)
				}
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("Verify error %v, want %v", err, tt.want)
			case tt.want != nil && g != nil:
				t.Fatalf("Verify returned a config with error %v", err)
			case tt.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.wantMsg)):
				t.Fatalf("Verify error %v, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
	// Nothing invalid is ever signed.
	if _, err := Sign("bad.yaml", []byte("site: x\n"), priv); err == nil {
		t.Error("an invalid config was signed")
	}
}
