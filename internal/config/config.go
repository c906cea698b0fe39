// Package config reads the service's settings from the environment, with
// defaults that run on a developer's machine.
package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/wmtna/referrals/internal/codec"
	"github.com/wmtna/referrals/internal/email"
	"github.com/wmtna/referrals/workflows"
)

// Config is what the api and worker processes need besides the Temporal
// connection, which the SDK's envconfig reads (TEMPORAL_ADDRESS, ...).
type Config struct {
	DatabaseURL string            // DATABASE_URL
	HTTPAddr    string            // WMTNA_HTTP_ADDR, default 127.0.0.1:8080
	PublicURL   string            // WMTNA_PUBLIC_URL, where people reach the API; links in messages
	AdminToken  string            // WMTNA_ADMIN_TOKEN: an operator with this token exists at start-up
	Timings     workflows.Timings // WMTNA_REVIEW_REMINDER, WMTNA_OFFER_TTL, WMTNA_WAITLIST_RECHECK, WMTNA_CHECK_IN_INTERVAL, WMTNA_CHECK_IN_GRACE, WMTNA_LAPSE_WARNING, WMTNA_PAUSE_LIMIT, WMTNA_PAUSE_REMINDER, WMTNA_ANSWER_WITHIN, WMTNA_ANSWER_REMINDER, WMTNA_FEEDBACK_REMINDER, WMTNA_STAYED_FIRST, WMTNA_STAYED_SECOND, WMTNA_FOLLOW_UP_LINK_TTL
	// TraineeLinkTTL is how long a trainee's token lasts (WMTNA_TRAINEE_LINK_TTL).
	TraineeLinkTTL time.Duration
	// PayloadKeys encrypt every Temporal payload (WMTNA_PAYLOAD_KEYS:
	// comma-separated id:base64key entries of 32-byte AES-256 keys, the
	// current key first, older ones kept to read older histories; see
	// package codec). Nil, when unset, means payloads are not encrypted.
	// The api and worker processes must have the same keys. With keys, the
	// api also serves Temporal's codec endpoint at /codec/ for operators.
	PayloadKeys *codec.Keys
	// CodecOrigins are the browser origins, such as the Temporal UI's
	// https://temporal.example.org, allowed to call /codec/
	// (WMTNA_CODEC_ORIGINS, comma-separated; default none).
	CodecOrigins []string
	// TrustedProxies are the proxies in front of the api, such as a TLS
	// terminator (WMTNA_TRUSTED_PROXIES: comma-separated CIDRs or
	// addresses; default none). From a connection out of these, the client
	// is the right-most X-Forwarded-For entry that is not one of them, for
	// rate limits; from any other, X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
	// Retention is how long a referral's personal details are kept after it
	// ends, before they are erased (WMTNA_RETENTION).
	Retention time.Duration
	// MetricsAddr is where `wmtna worker` serves GET /metrics
	// (WMTNA_METRICS_ADDR, default 127.0.0.1:9090); the api serves its
	// metrics on its own address.
	MetricsAddr string
	// MetricsToken, when set, is the bearer token GET /metrics needs
	// (WMTNA_METRICS_TOKEN); unset, /metrics is public like /healthz.
	MetricsToken string
	// SMTPURL is the mail server the worker delivers the outbox to
	// (SMTP_URL: smtp://[user:password@]host[:port], STARTTLS when offered,
	// or smtps://... for TLS from the start). Unset, messages wait in the
	// outbox.
	SMTPURL string
	// MailFrom is the From of every email (WMTNA_MAIL_FROM).
	MailFrom string
	// ContactEmail is where people write to the network: questions, and
	// requests to see or erase what is kept about them
	// (WMTNA_CONTACT_EMAIL). The privacy notice and every page's footer
	// give it.
	ContactEmail string
	// Clock is the service's calendar: what the API takes for "now" when
	// it checks a submission (a training start no later than this month), when
	// it stamps a referral's submission time (on which day eligibility is
	// judged), and for a report's default period. Nil means time.Now.
	// Tests set it to run the service as of another day; no environment
	// variable sets it. Workflow time (timers, a lapse at the cut-off) is
	// Temporal's and never reads it.
	Clock func() time.Time
}

// Now is the time by the service's clock.
func (c Config) Now() time.Time {
	if c.Clock != nil {
		return c.Clock()
	}
	return time.Now()
}

// FromEnv reads the configuration; getenv is os.Getenv outside tests.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:    getenv("DATABASE_URL"),
		HTTPAddr:       or(getenv("WMTNA_HTTP_ADDR"), "127.0.0.1:8080"),
		AdminToken:     getenv("WMTNA_ADMIN_TOKEN"),
		MetricsAddr:    or(getenv("WMTNA_METRICS_ADDR"), "127.0.0.1:9090"),
		MetricsToken:   getenv("WMTNA_METRICS_TOKEN"),
		SMTPURL:        getenv("SMTP_URL"),
		Timings:        workflows.DefaultTimings(),
		TraineeLinkTTL: 2 * 365 * 24 * time.Hour,
		Retention:      2 * 365 * 24 * time.Hour,
	}
	c.PublicURL = or(getenv("WMTNA_PUBLIC_URL"), "http://"+c.HTTPAddr)
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{
		{"WMTNA_REVIEW_REMINDER", &c.Timings.ReviewReminder},
		{"WMTNA_OFFER_TTL", &c.Timings.OfferTTL},
		{"WMTNA_WAITLIST_RECHECK", &c.Timings.WaitlistRecheck},
		{"WMTNA_CHECK_IN_INTERVAL", &c.Timings.CheckInInterval},
		{"WMTNA_CHECK_IN_GRACE", &c.Timings.CheckInGrace},
		{"WMTNA_LAPSE_WARNING", &c.Timings.LapseWarning},
		{"WMTNA_PAUSE_LIMIT", &c.Timings.PauseLimit},
		{"WMTNA_PAUSE_REMINDER", &c.Timings.PauseReminder},
		{"WMTNA_ANSWER_WITHIN", &c.Timings.AnswerWithin},
		{"WMTNA_ANSWER_REMINDER", &c.Timings.AnswerReminder},
		{"WMTNA_FEEDBACK_REMINDER", &c.Timings.FeedbackReminder},
		{"WMTNA_STAYED_FIRST", &c.Timings.StayedFirst},
		{"WMTNA_STAYED_SECOND", &c.Timings.StayedSecond},
		{"WMTNA_FOLLOW_UP_LINK_TTL", &c.Timings.FollowUpLinkTTL},
		{"WMTNA_TRAINEE_LINK_TTL", &c.TraineeLinkTTL},
		{"WMTNA_RETENTION", &c.Retention},
	} {
		v := getenv(d.env)
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed <= 0 {
			return c, fmt.Errorf("%s=%q: want a positive Go duration such as 72h or 30s", d.env, v)
		}
		*d.dst = parsed
	}
	keys, err := codec.KeysFromEnv(getenv)
	if err != nil {
		return c, err
	}
	c.PayloadKeys = keys
	for _, o := range strings.Split(getenv("WMTNA_CODEC_ORIGINS"), ",") {
		if o = strings.TrimSuffix(strings.TrimSpace(o), "/"); o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return c, fmt.Errorf("WMTNA_CODEC_ORIGINS: %q is not an origin such as https://temporal.example.org", o)
		}
		c.CodecOrigins = append(c.CodecOrigins, o)
	}
	for _, v := range strings.Split(getenv("WMTNA_TRUSTED_PROXIES"), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return c, fmt.Errorf("WMTNA_TRUSTED_PROXIES: %q is not a CIDR such as 10.0.0.0/8 or an address such as 10.0.0.1", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	c.MailFrom = or(getenv("WMTNA_MAIL_FROM"), "West Midlands Therapy Network Association <no-reply@"+hostOf(c.PublicURL)+">")
	c.ContactEmail = or(getenv("WMTNA_CONTACT_EMAIL"), "committee@"+hostOf(c.PublicURL))
	if _, err := mail.ParseAddress(c.ContactEmail); err != nil || strings.ContainsAny(c.ContactEmail, "<> ") {
		return c, fmt.Errorf("WMTNA_CONTACT_EMAIL=%q: want a plain address such as committee@wmtna.org.uk", c.ContactEmail)
	}
	if c.SMTPURL != "" {
		if _, err := email.New(c.SMTPURL, c.MailFrom, c.PublicURL); err != nil {
			return c, err
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 32 {
		return c, fmt.Errorf("WMTNA_ADMIN_TOKEN is too short: use at least 32 random characters")
	}
	return c, c.Timings.Validate()
}

// hostOf is the domain of the public URL, for a default From address; a
// bare IP or a single-label name (localhost) gives "wmtna.invalid".
func hostOf(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || !strings.Contains(u.Hostname(), ".") || net.ParseIP(u.Hostname()) != nil {
		return "wmtna.invalid"
	}
	return u.Hostname()
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
