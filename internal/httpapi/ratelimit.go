package httpapi

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Default limits per client address. A trainee submits once; a person with
// a token rarely mistypes it twenty times a minute. Anything beyond is a
// script guessing, and gets 429.
const (
	defaultSubmitsPerMinute      = 10
	defaultAuthFailuresPerMinute = 20
)

// perClient keeps a token bucket per client address.
type perClient struct {
	mu      sync.Mutex
	perMin  int
	clients map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newPerClient(perMinute int) *perClient {
	return &perClient{perMin: perMinute, clients: map[string]*bucket{}}
}

func (p *perClient) get(addr string) *rate.Limiter {
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

// allow takes one token for the client, reporting whether there was one.
func (p *perClient) allow(r *http.Request) bool { return p.get(clientAddr(r)).Allow() }

// exhausted reports whether the client has no tokens left, without taking one.
func (p *perClient) exhausted(r *http.Request) bool { return p.get(clientAddr(r)).Tokens() < 1 }

// clientAddr is the connection's address. Forwarded headers are not trusted:
// behind a proxy, the proxy is expected to limit.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

var errTooMany = &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests from your address; please wait a minute"}

func (s *Server) limits() (submits, authFailures *perClient) {
	s.limitsOnce.Do(func() {
		sub, auth := s.SubmitsPerMinute, s.AuthFailuresPerMinute
		if sub <= 0 {
			sub = defaultSubmitsPerMinute
		}
		if auth <= 0 {
			auth = defaultAuthFailuresPerMinute
		}
		s.submitLimit, s.authLimit = newPerClient(sub), newPerClient(auth)
	})
	return s.submitLimit, s.authLimit
}
