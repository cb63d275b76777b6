package fwconfig

import (
	"crypto/ed25519"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Release is a signed gateway binary as announced over MQTT (README
// "Remote software update"): which software version it is, for which
// target, where to fetch it and the hash it must have. The operator's key
// that signs configs signs it, under another domain, so neither signature
// can pass for the other.
type Release struct {
	// Version is the software version the binary reports (gateway -version).
	Version string `json:"version"`
	// Target is GOOS/GOARCH, e.g. linux/arm64.
	Target string `json:"target"`
	Size   int64  `json:"size"`
	// SHA256 is the binary's hash, lower-case hex.
	SHA256 string `json:"sha256"`
	// URL is where gateways fetch the binary (http or https, range
	// requests); the hash, not the transport, makes it trusted.
	URL string `json:"url"`
	// AllowDowngrade lets a gateway install a version lower than the one
	// it runs; without it a gateway never goes back.
	AllowDowngrade bool   `json:"allow_downgrade"`
	Signature      []byte `json:"signature"`
}

// releaseKeys are the JSON keys of Release, as json.Marshal spells them.
var releaseKeys = []string{"version", "target", "size", "sha256", "url", "allow_downgrade", "signature"}

// Errors of VerifyRelease.
var (
	ErrWrongTarget = errors.New("release is for another target")
	ErrDowngrade   = errors.New("release is not newer than the running version")
)

func (r *Release) signedBytes() []byte {
	return fmt.Appendf(nil, "boilerwatch-release-v1\x00%s\x00%s\x00%d\x00%s\x00%s\x00%t",
		r.Version, r.Target, r.Size, r.SHA256, r.URL, r.AllowDowngrade)
}

// BinaryInfo is what a Go binary says about itself: its target and the
// version set with -ldflags "-X main.version=V" (empty if none).
func BinaryInfo(path string) (target, version string, err error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		case "-ldflags":
			for f := range strings.FieldsSeq(s.Value) {
				if v, ok := strings.CutPrefix(strings.Trim(f, `'"`), "main.version="); ok {
					version = v
				}
			}
		}
	}
	if goos == "" || goarch == "" {
		return "", "", fmt.Errorf("%s: the build info names no GOOS/GOARCH", path)
	}
	return goos + "/" + goarch, version, nil
}

// SignRelease signs the binary at path as release version for target,
// fetched from rawURL. The binary's own build info must agree: a release
// announced as 1.4.0 for linux/arm64 that is not would fail on every
// gateway, so it is refused here. An empty version or target is taken
// from the binary.
func SignRelease(path, version, target, rawURL string, allowDowngrade bool, key ed25519.PrivateKey) (*Release, error) {
	bt, bv, err := BinaryInfo(path)
	if err != nil {
		return nil, err
	}
	switch {
	case target == "":
		target = bt
	case target != bt:
		return nil, fmt.Errorf("%s: built for %s, not %s", path, bt, target)
	}
	switch {
	case version == "":
		version = bv
	case bv != "" && bv != version:
		return nil, fmt.Errorf("%s: reports version %q, not %q", path, bv, version)
	}
	if _, err := ParseSoftwareVersion(version); err != nil {
		return nil, fmt.Errorf("%s: %w (build it with -ldflags \"-X main.version=1.2.3\")", path, err)
	}
	if err := checkReleaseURL(rawURL); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := &Release{Version: version, Target: target, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), URL: rawURL, AllowDowngrade: allowDowngrade}
	r.Sign(key)
	return r, nil
}

// Sign sets r's signature over its fields. SignRelease is the checked way
// to make a release; this is for tests that need one of any content.
func (r *Release) Sign(key ed25519.PrivateKey) {
	r.Signature = ed25519.Sign(key, r.signedBytes())
}

func checkReleaseURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("release url %q: want http(s)://host/path", rawURL)
	}
	return nil
}

// ParseRelease decodes a release envelope strictly, as ParseSigned does a
// config's: exactly the keys fwconfig release sign writes, in its
// spelling. The result is unverified.
func ParseRelease(payload []byte) (*Release, error) {
	var r Release
	decoded, err := parseEnvelope(payload, releaseKeys, &r)
	if !decoded {
		return nil, err
	}
	return &r, err
}

// VerifyRelease checks an announced release for a gateway of target
// running version: the signature, the target, and that it is newer unless
// the signed manifest allows a downgrade. Errors wrap ErrMalformed,
// ErrBadSignature, ErrWrongTarget or ErrDowngrade. The Release returned
// with ErrMalformed or ErrBadSignature is unverified: report it, never
// trust it.
func VerifyRelease(payload []byte, pub ed25519.PublicKey, target, running string) (*Release, error) {
	r, err := ParseRelease(payload)
	if err != nil {
		return r, err
	}
	if !ed25519.Verify(pub, r.signedBytes(), r.Signature) {
		return r, fmt.Errorf("%w (release %s)", ErrBadSignature, clip(r.Version))
	}
	if r.Target != target {
		return r, fmt.Errorf("%w: %s, this gateway is %s", ErrWrongTarget, r.Target, target)
	}
	nv, err := ParseSoftwareVersion(r.Version)
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(r.SHA256) != 64 || strings.ToLower(r.SHA256) != r.SHA256 || r.Size <= 0 {
		return r, fmt.Errorf("%w: sha256 or size", ErrMalformed)
	}
	if _, err := hex.DecodeString(r.SHA256); err != nil {
		return r, fmt.Errorf("%w: sha256: %v", ErrMalformed, err)
	}
	if err := checkReleaseURL(r.URL); err != nil {
		return r, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// A build without a release version ("dev") runs below every release.
	rv, err := ParseSoftwareVersion(running)
	if err == nil && !r.AllowDowngrade && nv.Compare(rv) <= 0 {
		return r, fmt.Errorf("%w: %s, running %s", ErrDowngrade, r.Version, running)
	}
	return r, nil
}

// SoftwareVersion is a release version: dotted numbers (1.4.0, v2.0),
// compared number by number.
type SoftwareVersion []int

// ParseSoftwareVersion parses "1.4.0" or "v1.4.0".
func ParseSoftwareVersion(s string) (SoftwareVersion, error) {
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	v := make(SoftwareVersion, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || strings.HasPrefix(p, "+") {
			return nil, fmt.Errorf("version %q: not a release version (dotted numbers such as 1.4.0)", clip(s))
		}
		v = append(v, n)
	}
	return v, nil
}

// Compare is -1, 0 or +1 as v is lower than, equal to or higher than w;
// missing numbers count as 0 (1.4 = 1.4.0).
func (v SoftwareVersion) Compare(w SoftwareVersion) int {
	for i := range max(len(v), len(w)) {
		a, b := 0, 0
		if i < len(v) {
			a = v[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			if a < b {
				return -1
			}
			return 1
		}
	}
	return 0
}
