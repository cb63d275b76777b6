package password

import (
	"errors"
	"strings"
	"testing"
)

func TestHashAndMatch(t *testing.T) {
	h, err := Hash("s3cret 密码", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(h)
	if err != nil {
		t.Fatalf("Parse(%q): %v", h, err)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"s3cret 密码", true},
		{"s3cret 密", false},
		{"", false},
		{"S3cret 密码", false},
	} {
		if got := p.Match(tc.pw); got != tc.want {
			t.Errorf("Match(%q) = %v, want %v", tc.pw, got, tc.want)
		}
	}
	if p.Iterations() != MinIterations {
		t.Errorf("Iterations() = %d, want %d", p.Iterations(), MinIterations)
	}
	h2, _ := Hash("s3cret 密码", MinIterations)
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestParseErrors(t *testing.T) {
	good, err := Hash("x", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	for _, tc := range []struct {
		name, hash, want string
	}{
		{"empty", "", "want pbkdf2-sha256"},
		{"plain password", "hunter2", "want pbkdf2-sha256"},
		{"other scheme", "bcrypt$" + strings.Join(parts[1:], "$"), "want pbkdf2-sha256"},
		{"few iterations", "pbkdf2-sha256$1000$" + parts[2] + "$" + parts[3], "outside"},
		{"huge iterations", "pbkdf2-sha256$999999999$" + parts[2] + "$" + parts[3], "outside"},
		{"bad base64", "pbkdf2-sha256$10000$!!!$" + parts[3], "want pbkdf2-sha256"},
		{"short key", "pbkdf2-sha256$10000$" + parts[2] + "$AAAA", "want pbkdf2-sha256"},
		{"extra part", good + "$x", "want pbkdf2-sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.hash)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v, want an error containing %q", tc.hash, err, tc.want)
			}
		})
	}
	if _, err := Parse("x"); !errors.Is(err, ErrFormat) {
		t.Errorf("Parse(x) = %v, want ErrFormat", err)
	}
	if (Parsed{}).Match("") {
		t.Error("the zero Parsed matches")
	}
}

func TestHashRefuses(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		iter int
	}{{"", 0}, {"x", 5}, {"x", MaxIterations + 1}} {
		if _, err := Hash(tc.pw, tc.iter); err == nil {
			t.Errorf("Hash(%q, %d) succeeded", tc.pw, tc.iter)
		}
	}
}
