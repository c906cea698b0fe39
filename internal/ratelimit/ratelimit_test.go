package ratelimit

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// clock is a settable time for the limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newAt(perMinute int, c *clock) *PerClient {
	p := New(perMinute)
	p.now, p.started = c.now, c.t
	return p
}

// Beyond 10,000 clients, each lookup used to walk the whole map under the
// lock to forget idle ones. Buckets now live in two generations and the
// older is dropped whole, so no lookup walks anything (BenchmarkAllowManyClients
// measures it); what must still hold is that forgetting changes no limit and
// that idle clients are forgotten.
func TestGenerationsForgetIdleClientsOnly(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	p := newAt(3, c)
	c.t = c.t.Add(59 * time.Second)
	for range 3 {
		p.AllowKey("attacker")
	}
	p.AllowKey("idle")
	c.t = c.t.Add(2 * time.Second) // a new generation starts
	if p.AllowKey("attacker") {
		t.Error("a new generation gave an exhausted client a fresh budget")
	}
	c.t = c.t.Add(61 * time.Second)
	p.AllowKey("someone-else")
	if _, ok := p.old["idle"]; ok {
		t.Error("a client idle for over a generation is still kept")
	}
	if _, ok := p.cur["idle"]; ok {
		t.Error("a client idle for over a generation is still kept")
	}
	c.t = c.t.Add(10 * time.Minute)
	p.AllowKey("x")
	if n := len(p.cur) + len(p.old); n != 1 {
		t.Errorf("after ten idle minutes %d buckets are kept, want 1", n)
	}
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"no proxies trusted: the header is ignored", "203.0.113.9:4000", []string{"198.51.100.1"}, nil, "203.0.113.9"},
		{"an untrusted peer cannot pick its address", "203.0.113.9:4000", []string{"198.51.100.1"}, proxies, "203.0.113.9"},
		{"via a trusted proxy", "10.1.2.3:4000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"spoofed entries left of the proxy's are ignored", "10.1.2.3:4000", []string{"1.2.3.4, 198.51.100.1"}, proxies, "198.51.100.1"},
		{"through two proxies of ours", "10.1.2.3:4000", []string{"1.2.3.4, 198.51.100.1, 10.9.9.9"}, proxies, "198.51.100.1"},
		{"several header lines", "10.1.2.3:4000", []string{"1.2.3.4", "198.51.100.1"}, proxies, "198.51.100.1"},
		{"an entry with a port", "10.1.2.3:4000", []string{"198.51.100.1:5555"}, proxies, "198.51.100.1"},
		{"garbage from our proxy counts as the proxy", "10.1.2.3:4000", []string{"1.2.3.4, garbage"}, proxies, "10.1.2.3"},
		{"a proxy's own request", "10.1.2.3:4000", nil, proxies, "10.1.2.3"},
		{"IPv6 by /64", "[2001:db8:1:2:aaaa::1]:443", nil, nil, "2001:db8:1:2::/64"},
		{"IPv6 client via proxy", "[fd00::5]:443", []string{"[2001:db8:1:2::7]:99"}, proxies, "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6 is IPv4", "[::ffff:10.1.2.3]:80", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientAddr(tc.remote, tc.xff, tc.trusted); got != tc.want {
				t.Errorf("clientAddr(%q, %q) = %q, want %q", tc.remote, tc.xff, got, tc.want)
			}
		})
	}
}

func TestLimitsUseTrustedProxies(t *testing.T) {
	l := &Limits{AuthFailuresPerMinute: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	req := func(xff string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header.Set("X-Forwarded-For", xff)
		return l.AuthFailures().Allow(r)
	}
	if !req("198.51.100.1") || req("198.51.100.1") {
		t.Fatal("one client behind the proxy: want allowed, then refused")
	}
	if !req("198.51.100.2") {
		t.Error("another client behind the same proxy was refused")
	}
}

// BenchmarkAllowManyClients is a lookup with many clients known, the cost
// the old sweep made grow with their number.
func BenchmarkAllowManyClients(b *testing.B) {
	for _, n := range []int{1_000, 20_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			p := New(1_000_000)
			keys := make([]string, n)
			for i := range keys {
				keys[i] = fmt.Sprintf("client-%d", i)
				p.AllowKey(keys[i])
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				p.AllowKey(keys[i%n])
			}
		})
	}
}
