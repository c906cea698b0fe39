// Package ratelimit limits what one client may ask for a minute, for the
// JSON API and the web pages alike: a page and the API share one budget per
// client, so neither is a way around the other.
//
// A client is the connection's address, or, when the connection comes from
// a trusted proxy (WMTNA_TRUSTED_PROXIES), the right-most address in
// X-Forwarded-For that is not itself a trusted proxy. IPv6 clients are
// counted by /64, the block one subscriber is usually given.
package ratelimit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Default limits per client. Submissions (a referral, a sign-in request)
// are a flood cap, not a cap on honest traffic: many trainees reach the
// service through one NHS egress address, so the limit that protects a
// person from being mailed over and over is per recipient, not per address
// (see pipeline.SignInLinkGap and pipeline.SubmissionEmailsPerHour). Wrong credentials are what a script
// guessing sends; a person rarely mistypes a token twenty times a minute,
// and a right token is never refused by this limit.
const (
	DefaultSubmitsPerMinute      = 120
	DefaultAuthFailuresPerMinute = 20
)

// Limits are the service's per-client limits: on public submissions (a
// referral, a sign-in request) and on wrong credentials. Set the fields
// before first use; a rate of 0 means the default.
type Limits struct {
	SubmitsPerMinute      int
	AuthFailuresPerMinute int
	// TrustedProxies are the networks whose connections are proxies of
	// ours (WMTNA_TRUSTED_PROXIES): only from these is X-Forwarded-For
	// read. None by default, so a client cannot choose its own address.
	TrustedProxies []netip.Prefix

	once                  sync.Once
	submits, authFailures *PerClient
}

func (l *Limits) init() {
	l.once.Do(func() {
		sub, auth := l.SubmitsPerMinute, l.AuthFailuresPerMinute
		if sub <= 0 {
			sub = DefaultSubmitsPerMinute
		}
		if auth <= 0 {
			auth = DefaultAuthFailuresPerMinute
		}
		l.submits, l.authFailures = New(sub), New(auth)
		l.submits.client, l.authFailures.client = l.ClientAddr, l.ClientAddr
	})
}

// Submits limits public submissions.
func (l *Limits) Submits() *PerClient { l.init(); return l.submits }

// AuthFailures limits wrong credentials. Take one (Allow) for each wrong
// credential, after checking it, and refuse the request when there was
// none left; never consult it before a credential is checked, so that a
// right one gets through whatever others sent from the same address.
func (l *Limits) AuthFailures() *PerClient { l.init(); return l.authFailures }

// ClientAddr is who the request is from, for limiting: see the package
// comment.
func (l *Limits) ClientAddr(r *http.Request) string {
	return clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), l.TrustedProxies)
}

func clientAddr(remoteAddr string, forwarded []string, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if !isTrusted(ip, trusted) {
		return key(ip)
	}
	// Each proxy appends the address it was reached from, so the entries
	// are client-written up to the first one a trusted proxy wrote: walk
	// from the right, past our own proxies, and stop at the first other.
	var hops []string
	for _, v := range forwarded {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			// Garbage from a proxy of ours: count it as the proxy, rather
			// than let it name any address it likes.
			break
		}
		if !isTrusted(hop, trusted) {
			return key(hop)
		}
		ip = hop
	}
	return key(ip)
}

func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	return ip.Unmap(), err == nil
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// key counts an IPv6 client by its /64: one subscriber's machines get a
// whole /64 and could otherwise take a fresh budget per address.
func key(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// PerClient keeps a token bucket per client.
//
// Buckets live in two generations, each as long as a bucket takes to refill
// (a minute): a client seen in this generation or the last keeps its
// bucket, and the older generation is dropped whole when a new one starts.
// A bucket untouched for a full generation is full again, so forgetting it
// changes nothing, and no request ever walks the map: every one costs the
// same however many clients there are.
type PerClient struct {
	mu       sync.Mutex
	perMin   int
	refill   time.Duration
	now      func() time.Time
	client   func(*http.Request) string
	cur, old map[string]*rate.Limiter
	started  time.Time // of the current generation
}

// New limits each client to perMinute requests a minute, in bursts of as
// many.
func New(perMinute int) *PerClient {
	return &PerClient{
		perMin: perMinute, refill: time.Minute, now: time.Now,
		client: func(r *http.Request) string { return clientAddr(r.RemoteAddr, nil, nil) },
		cur:    map[string]*rate.Limiter{},
	}
}

func (p *PerClient) get(k string) *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if age := now.Sub(p.started); age >= p.refill {
		// With no lookup for two generations, the current one's buckets
		// are idle for at least one, full again too.
		p.old = p.cur
		if age >= 2*p.refill {
			p.old = nil
		}
		p.cur, p.started = make(map[string]*rate.Limiter, len(p.old)), now
	}
	if lim, ok := p.cur[k]; ok {
		return lim
	}
	lim, ok := p.old[k]
	if ok {
		delete(p.old, k)
	} else {
		lim = rate.NewLimiter(rate.Limit(float64(p.perMin)/p.refill.Seconds()), p.perMin)
	}
	p.cur[k] = lim
	return lim
}

// Allow takes one token for the request's client, reporting whether there
// was one.
func (p *PerClient) Allow(r *http.Request) bool { return p.AllowKey(p.client(r)) }

// AllowKey takes one token for a client named by key.
func (p *PerClient) AllowKey(key string) bool { return p.get(key).AllowN(p.now(), 1) }

// CountUnauthorized limits wrong credentials on a handler that checks its
// own, such as the payload codec endpoint: each 401 it answers takes from
// the client's failure budget, and once that is spent the 401 becomes a
// 429. A handler's other answers, a right credential's included, pass as
// they are.
func (l *Limits) CountUnauthorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&unauthorizedCounter{ResponseWriter: w, failed: func() bool { return !l.AuthFailures().Allow(r) }}, r)
	})
}

type unauthorizedCounter struct {
	http.ResponseWriter
	failed    func() bool // counts a failure, reporting whether it was one too many
	wrote     bool
	swallowed bool // the handler's own 401 body, replaced by the 429's
}

func (u *unauthorizedCounter) WriteHeader(status int) {
	if u.wrote {
		return
	}
	u.wrote = true
	if status == http.StatusUnauthorized && u.failed() {
		u.swallowed = true
		h := u.Header()
		h.Del("WWW-Authenticate")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Retry-After", "60")
		u.ResponseWriter.WriteHeader(http.StatusTooManyRequests)
		_, _ = u.ResponseWriter.Write([]byte("too many wrong credentials from your address; please wait a minute\n"))
		return
	}
	u.ResponseWriter.WriteHeader(status)
}

func (u *unauthorizedCounter) Write(b []byte) (int, error) {
	if !u.wrote {
		u.WriteHeader(http.StatusOK)
	}
	if u.swallowed {
		return len(b), nil
	}
	return u.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (u *unauthorizedCounter) Unwrap() http.ResponseWriter { return u.ResponseWriter }
