// Package password derives and checks the console's password hashes with
// PBKDF2-HMAC-SHA256 from the standard library.
//
// A hash is one string, so it fits a YAML config line:
//
//	pbkdf2-sha256$600000$<salt, base64>$<key, base64>
//
// (standard base64 without padding). `collector -hash-password` prints one.
package password

import (
	"bufio"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const (
	scheme = "pbkdf2-sha256"
	// Iterations is the default work factor: OWASP's 2023 recommendation
	// for PBKDF2-HMAC-SHA256 (about 0.2 s on one core of a small server).
	Iterations = 600_000
	// MinIterations and MaxIterations bound what a config may ask for: a
	// weak hash is refused, and a huge count cannot turn a login into a
	// denial of service.
	MinIterations = 10_000
	MaxIterations = 10_000_000
	saltLen       = 16
	keyLen        = 32
)

// ErrFormat says a hash string is not one this package wrote.
var ErrFormat = errors.New("password hash: want pbkdf2-sha256$ITERATIONS$SALT$KEY (make one with collector -hash-password)")

// Hash derives a new hash of pw with a random salt and iter iterations
// (Iterations when iter is 0).
func Hash(pw string, iter int) (string, error) {
	if iter == 0 {
		iter = Iterations
	}
	if iter < MinIterations || iter > MaxIterations {
		return "", fmt.Errorf("password hash: %d iterations is outside %d..%d", iter, MinIterations, MaxIterations)
	}
	if pw == "" {
		return "", errors.New("password hash: empty password")
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password hash: salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, pw, salt, iter, keyLen)
	if err != nil {
		return "", fmt.Errorf("password hash: %w", err)
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", scheme, iter, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Parsed is a decoded hash.
type Parsed struct {
	iter      int
	salt, key []byte
}

// Parse decodes a hash string and checks its parameters.
func Parse(s string) (Parsed, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != scheme {
		return Parsed{}, ErrFormat
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil {
		return Parsed{}, ErrFormat
	}
	if iter < MinIterations || iter > MaxIterations {
		return Parsed{}, fmt.Errorf("password hash: %d iterations is outside %d..%d", iter, MinIterations, MaxIterations)
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	key, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return Parsed{}, ErrFormat
	}
	return Parsed{iter: iter, salt: salt, key: key}, nil
}

// Iterations is the hash's work factor, so that a stand-in hash for an
// unknown user can cost as much as a real one.
func (p Parsed) Iterations() int { return p.iter }

// Match reports whether pw is the password of the hash, in time that does
// not depend on how much of the key matches.
func (p Parsed) Match(pw string) bool {
	if p.iter == 0 {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, pw, p.salt, p.iter, len(p.key))
	return err == nil && subtle.ConstantTimeCompare(key, p.key) == 1
}

// HashLine hashes the first line read from r (without its line ending),
// for `collector -hash-password`: reading standard input keeps the
// password out of the shell history and the process list.
func HashLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("password hash: read: %w", err)
	}
	return Hash(strings.TrimRight(line, "\r\n"), 0)
}
