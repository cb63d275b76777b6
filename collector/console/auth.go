package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cookieName is the session cookie.
const cookieName = "bw_session"

// maxSessions bounds the session table, so a flood of logins cannot
// exhaust memory; the oldest session goes first.
const maxSessions = 10000

type session struct {
	user, role string
	expires    time.Time
	// sites are the sites the user may see; nil: every site.
	sites map[string]bool
}

// sessionStore keeps sessions in memory, keyed by the SHA-256 of the
// cookie's token, so the table never holds a usable token. A restart of
// the collector logs everybody out.
type sessionStore struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[[32]byte]session
}

func (s *sessionStore) create(u user, now time.Time) (string, session, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", session{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	se := session{user: u.name, role: u.role, expires: now.Add(s.ttl), sites: u.sites}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[32]byte]session{}
	}
	if len(s.m) >= maxSessions {
		s.sweepLocked(now)
	}
	for len(s.m) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, v := range s.m {
			if at.IsZero() || v.expires.Before(at) {
				oldest, at = k, v.expires
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(token))] = se
	return token, se, nil
}

func (s *sessionStore) get(token string, now time.Time) (session, bool) {
	if token == "" || len(token) > 64 {
		return session{}, false
	}
	k := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[k]
	if !ok {
		return session{}, false
	}
	if !now.Before(se.expires) {
		delete(s.m, k)
		return session{}, false
	}
	return se, true
}

func (s *sessionStore) drop(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(token)))
}

func (s *sessionStore) sweepLocked(now time.Time) {
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
		}
	}
}

type sessionKey struct{}

func sessionFrom(ctx context.Context) session {
	s, _ := ctx.Value(sessionKey{}).(session)
	return s
}

// inScope reports whether the request's user may see site. Every route
// that names a site asks this before anything is queried.
func inScope(ctx context.Context, site string) bool {
	s := sessionFrom(ctx).sites
	return s == nil || s[site]
}

// LoggedIn reports whether r carries a valid console session, for
// handlers outside the console (such as the collector's /readyz) that
// show details only to logged-in users.
func (c *Console) LoggedIn(r *http.Request) bool {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return false
	}
	_, ok := c.sessions.get(ck.Value, c.now())
	return ok
}

// requireLogin lets requests with a valid session through; others get a
// 401 (API) or are sent to the login form (pages).
func (c *Console) requireLogin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token string
		if ck, err := r.Cookie(cookieName); err == nil {
			token = ck.Value
		}
		se, ok := c.sessions.get(token, c.now())
		if !ok {
			if strings.HasPrefix(r.URL.Path, "/api/") || r.Method != http.MethodGet {
				writeError(w, http.StatusUnauthorized, "not logged in: POST /login first")
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, se)))
	})
}

// secure says whether the cookie gets the Secure attribute.
func (c *Console) secure(r *http.Request) bool {
	switch c.opts.Config.SecureCookie {
	case "always":
		return true
	case "never":
		return false
	}
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// maxNext bounds a post-login redirect target.
const maxNext = 2048

// safeNext keeps a post-login redirect on this site: a plain path that
// starts with a single "/", else "/". Browsers drop tab, CR and LF from a
// URL and read "\" as "/", so "/\t/host" or "/\host" would become
// "//host", another site; the console's own targets (a path and a
// "#/view?..." fragment, escaped) need none of them, so only printable
// ASCII without space or "\" passes, and no "//" anywhere.
func safeNext(next string) string {
	if next == "" || len(next) > maxNext || next[0] != '/' || strings.Contains(next, "//") {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if b := next[i]; b <= ' ' || b >= 0x7f || b == '\\' {
			return "/"
		}
	}
	return next
}

type loginData struct {
	Lang, Next, Error, User string
	T                       map[string]string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.renderLogin(w, r, http.StatusOK, r.URL.Query().Get("next"), "", "")
}

// renderLogin shows the login form; errKey names its error text, which
// may take args.
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, errKey, name string, args ...any) {
	lang := language(r)
	t := dict(lang)
	d := loginData{Lang: lang, Next: safeNext(next), User: name, T: t}
	if errKey != "" {
		d.Error = t[errKey]
		if len(args) > 0 {
			d.Error = fmt.Sprintf(d.Error, args...)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.tmpl.ExecuteTemplate(w, "login.html", d); err != nil {
		c.log.Error("login page", "error", err)
	}
}

// login checks a posted name and password. Cross-origin posts were
// already refused by http.CrossOriginProtection; the session cookie is
// SameSite=Strict, so no other site can use it either.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		c.renderLogin(w, r, http.StatusBadRequest, "", "login_failed", "")
		return
	}
	name, pw, next := r.PostForm.Get("user"), r.PostForm.Get("password"), r.PostForm.Get("next")
	// Unknown names are throttled like known ones (by the name given), so
	// the answers tell nobody which names exist.
	key, addr := truncate(name, 64), clientAddr(r, c.opts.Config.Proxies)
	wait, locked := c.guard.begin(key, addr, c.now())
	if wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		c.log.Debug("login throttled", "user", key, "client", addr, "retry_after_s", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.renderLogin(w, r, http.StatusTooManyRequests, next, "login_throttled", key, secs)
		return
	}
	if len(locked) > 0 {
		c.log.Warn("login: too many failures, delaying further attempts", "user", key, "client", addr, "by", strings.Join(locked, ","))
	}
	// A bounded number of hashes run at once: more parallel attempts
	// wait briefly, then get 503, instead of taking every core.
	if !c.hashes.acquire(r.Context(), c.hashWait) {
		c.guard.abandoned(key, addr)
		c.log.Warn("login refused: password checks busy", "user", key, "client", addr)
		w.Header().Set("Retry-After", "1")
		c.renderLogin(w, r, http.StatusServiceUnavailable, next, "login_busy", key)
		return
	}
	u, ok := c.users[name]
	if !ok {
		c.match(c.dummy, pw)
	}
	good := ok && c.match(u.hash, pw)
	c.hashes.release()
	if !good {
		c.log.Warn("login failed", "user", key, "remote", r.RemoteAddr, "client", addr)
		c.renderLogin(w, r, http.StatusUnauthorized, next, "login_failed", key)
		return
	}
	c.guard.succeeded(key, addr)
	token, _, err := c.sessions.create(u, c.now())
	if err != nil {
		c.log.Error("session", "error", err)
		http.Error(w, "cannot create a session", http.StatusInternalServerError)
		return
	}
	c.setCookie(w, r, token, int(c.sessions.ttl/time.Second))
	c.log.Info("login", "user", u.name, "role", u.role, "remote", r.RemoteAddr)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(cookieName); err == nil {
		c.sessions.drop(ck.Value)
	}
	c.setCookie(w, r, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// language is the page language: ?lang=, else the bw_lang cookie the UI
// sets, else Chinese.
func language(r *http.Request) string {
	l := r.URL.Query().Get("lang")
	if l == "" {
		if ck, err := r.Cookie("bw_lang"); err == nil {
			l = ck.Value
		}
	}
	if l == "en" {
		return "en"
	}
	return "zh-CN"
}
