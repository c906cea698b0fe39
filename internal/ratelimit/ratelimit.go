// Package ratelimit limits what one client address may ask for a minute,
// for the JSON API and the web pages alike: a page and the API share one
// budget per address, so neither is a way around the other.
package ratelimit

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Default limits per client address. A trainee submits once; a person with
// a token rarely mistypes it twenty times a minute. Anything beyond is a
// script guessing.
const (
	DefaultSubmitsPerMinute      = 10
	DefaultAuthFailuresPerMinute = 20
)

// Limits are the service's per-address limits: on public submissions (a
// referral, a sign-in request) and on wrong credentials. Set the rates
// before first use; 0 means the default.
type Limits struct {
	SubmitsPerMinute      int
	AuthFailuresPerMinute int

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
	})
}

// Submits limits public submissions.
func (l *Limits) Submits() *PerClient { l.init(); return l.submits }

// AuthFailures limits wrong credentials.
func (l *Limits) AuthFailures() *PerClient { l.init(); return l.authFailures }

// PerClient keeps a token bucket per client address.
type PerClient struct {
	mu      sync.Mutex
	perMin  int
	clients map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New limits each client to perMinute requests a minute, in bursts of as
// many.
func New(perMinute int) *PerClient {
	return &PerClient{perMin: perMinute, clients: map[string]*bucket{}}
}

func (p *PerClient) get(addr string) *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if len(p.clients) > 10_000 {
		// Forget addresses idle long enough to have a full bucket again.
		for k, b := range p.clients {
			if now.Sub(b.seen) > time.Minute {
				delete(p.clients, k)
			}
		}
	}
	b, ok := p.clients[addr]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(p.perMin)/60), p.perMin)}
		p.clients[addr] = b
	}
	b.seen = now
	return b.lim
}

// Allow takes one token for the request's client, reporting whether there
// was one.
func (p *PerClient) Allow(r *http.Request) bool { return p.get(ClientAddr(r)).Allow() }

// Exhausted reports whether the request's client has no tokens left,
// without taking one.
func (p *PerClient) Exhausted(r *http.Request) bool { return p.get(ClientAddr(r)).Tokens() < 1 }

// ClientAddr is the connection's address. Forwarded headers are not
// trusted: behind a proxy, the proxy is expected to limit.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
