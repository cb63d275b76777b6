package fwconfig

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestReleaseSignVerify(t *testing.T) {
	exe, err := os.Executable() // a Go binary with build info: the test itself
	if err != nil {
		t.Fatal(err)
	}
	target := runtime.GOOS + "/" + runtime.GOARCH
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	sign := func(version string, down bool, key ed25519.PrivateKey) []byte {
		t.Helper()
		r, err := SignRelease(exe, version, "", "https://updates.example/gw", down, key)
		if err != nil {
			t.Fatal(err)
		}
		if r.Target != target || r.Size == 0 || len(r.SHA256) != 64 {
			t.Fatalf("release %+v", r)
		}
		out, _ := json.Marshal(r)
		return out
	}
	v2 := sign("1.2.0", false, priv)
	tampered := strings.Replace(string(v2), `"url":"https://updates.example/gw"`, `"url":"https://evil.example/gw"`, 1)
	spaced := strings.Replace(string(v2), `,"target"`, `, "target"`, 1)
	for _, tc := range []struct {
		name, payload, running string
		want                   error
	}{
		{"newer", string(v2), "1.1.9", nil},
		{"from a dev build", string(v2), "dev", nil},
		{"same version", string(v2), "1.2.0", ErrDowngrade},
		{"older", string(v2), "1.10.0", ErrDowngrade},
		{"signed downgrade", string(sign("1.0.0", true, priv)), "1.2.0", nil},
		{"other key", string(sign("1.2.0", false, otherPriv)), "1.0.0", ErrBadSignature},
		{"tampered url", tampered, "1.0.0", ErrBadSignature},
		{"other spelling", spaced, "1.0.0", ErrMalformed},
		{"a config envelope", `{"site":"a","gateway":"b","version":1,"config":"","signature":""}`, "1.0.0", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyRelease([]byte(tc.payload), pub, target, tc.running)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifyRelease: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := VerifyRelease(v2, pub, "linux/mips", "1.0.0"); !errors.Is(err, ErrWrongTarget) {
		t.Errorf("other target: %v, want ErrWrongTarget", err)
	}
	if _, err := SignRelease(exe, "1.2.0", "plan9/386", "https://x/y", false, priv); err == nil {
		t.Error("a target the binary is not built for was signed")
	}
	if _, err := SignRelease(exe, "dev", "", "https://x/y", false, priv); err == nil {
		t.Error("a version that is no release version was signed")
	}
	if _, err := SignRelease(exe, "1.2.0", "", "ftp://x/y", false, priv); err == nil {
		t.Error("an ftp url was signed")
	}
}

func TestSoftwareVersionCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.2.0", "1.2", 0}, {"v1.2.0", "1.2.0", 0}, {"1.10.0", "1.9.9", 1}, {"0.9", "1.0", -1}, {"2", "1.99.99", 1},
	} {
		a, err := ParseSoftwareVersion(tc.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseSoftwareVersion(tc.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Compare(b); got != tc.want {
			t.Errorf("%s vs %s: %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	for _, bad := range []string{"dev", "", "1..2", "1.2-rc1", "1.+2"} {
		if _, err := ParseSoftwareVersion(bad); err == nil {
			t.Errorf("%q parsed as a release version", bad)
		}
	}
}
