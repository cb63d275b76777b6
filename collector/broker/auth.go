package broker

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/boilerwatch/boilerwatch/collector/console/password"
)

// account is a login of the embedded broker.
type account struct {
	role string
	hash password.Parsed
}

// authHook makes the embedded broker as strict as the shipped Mosquitto
// deployment: every client logs in with a username and password, and the
// shipped ACL decides what it may publish, subscribe to and receive.
type authHook struct {
	mqtt.HookBase
	acl      *acl
	accounts map[string]account
	// internalUser logs in with internalSecret, made at each start: the
	// collector's own clients (role collector).
	internalSecret string
	srv            *mqtt.Server
	log            *slog.Logger

	// hashing bounds the PBKDF2 checks running at once, so that a storm
	// of logins cannot take every core.
	hashing chan struct{}
	// verified remembers, per username, a SHA-256 of the password last
	// checked good, so a gateway's reconnects do not cost a PBKDF2 each.
	mu       sync.Mutex
	verified map[string][32]byte

	refused, denied atomic.Uint64
	lastLog         atomic.Int64 // Unix ns of the last denial logged
}

func (h *authHook) ID() string { return "boilerwatch-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// identity is a connected client's username and role.
func (h *authHook) identity(cl *mqtt.Client) (user, role string) {
	user = string(cl.Properties.Username)
	if user == InternalUser {
		return user, roleCollector
	}
	return user, h.accounts[user].role
}

// OnConnectAuthenticate checks the password, refuses a last will the
// client could not publish itself, and refuses to hand a session (client
// id) of one user to another.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	if !h.login(user, pk.Connect.Password) {
		h.refuse(cl, user, "bad username or password")
		return false
	}
	_, role := h.identity(cl)
	if pk.Connect.WillFlag && !h.acl.allowed(role, user, pk.Connect.WillTopic, true) {
		h.refuse(cl, user, "last will on a topic it may not publish to: "+pk.Connect.WillTopic)
		return false
	}
	if old, ok := h.srv.Clients.Get(cl.ID); ok && !bytes.Equal(old.Properties.Username, pk.Connect.Username) {
		h.refuse(cl, user, "client id "+cl.ID+" belongs to another user's session")
		return false
	}
	return true
}

func (h *authHook) login(user string, pw []byte) bool {
	if user == "" {
		return false
	}
	if user == InternalUser {
		return subtle.ConstantTimeCompare(pw, []byte(h.internalSecret)) == 1
	}
	a, ok := h.accounts[user]
	if !ok || len(pw) == 0 {
		return false
	}
	sum := sha256.Sum256(append([]byte(user+"\x00"), pw...))
	h.mu.Lock()
	good, seen := h.verified[user]
	h.mu.Unlock()
	if seen && subtle.ConstantTimeCompare(sum[:], good[:]) == 1 {
		return true
	}
	select {
	case h.hashing <- struct{}{}:
	case <-time.After(10 * time.Second):
		return false // too many logins at once: the client retries
	}
	ok = a.hash.Match(string(pw))
	<-h.hashing
	if ok {
		h.mu.Lock()
		h.verified[user] = sum
		h.mu.Unlock()
	}
	return ok
}

// OnACLCheck applies the shipped ACL to publishes, subscriptions and each
// delivery.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user, role := h.identity(cl)
	if role == "" {
		return false
	}
	if h.acl.allowed(role, user, topic, write) {
		return true
	}
	h.denied.Add(1)
	access := "read"
	if write {
		access = "write"
	}
	h.logLimited("embedded broker: ACL denied", "client", cl.ID, "username", user, "remote", cl.Net.Remote, "access", access, "topic", topic)
	return false
}

func (h *authHook) refuse(cl *mqtt.Client, user, why string) {
	h.refused.Add(1)
	h.logLimited("embedded broker: connection refused", "client", cl.ID, "username", user, "remote", cl.Net.Remote, "reason", why)
}

// logLimited logs at most about one line a second, so a hostile client
// cannot flood the log.
func (h *authHook) logLimited(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := h.lastLog.Load()
	if now-last < int64(time.Second) || !h.lastLog.CompareAndSwap(last, now) {
		return
	}
	h.log.Warn(msg, args...)
}
