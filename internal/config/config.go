// Package config reads the service's settings from the environment, with
// defaults that run on a developer's machine.
package config

import (
	"fmt"
	"time"

	"github.com/wmtna/referrals/workflows"
)

// Config is what the api and worker processes need besides the Temporal
// connection, which the SDK's envconfig reads (TEMPORAL_ADDRESS, ...).
type Config struct {
	DatabaseURL string            // DATABASE_URL
	HTTPAddr    string            // WMTNA_HTTP_ADDR, default 127.0.0.1:8080
	PublicURL   string            // WMTNA_PUBLIC_URL, where people reach the API; links in messages
	AdminToken  string            // WMTNA_ADMIN_TOKEN: an operator with this token exists at start-up
	Timings     workflows.Timings // WMTNA_REVIEW_REMINDER, WMTNA_OFFER_TTL, WMTNA_WAITLIST_RECHECK
	// TraineeLinkTTL is how long a trainee's token lasts (WMTNA_TRAINEE_LINK_TTL).
	TraineeLinkTTL time.Duration
}

// FromEnv reads the configuration; getenv is os.Getenv outside tests.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:    getenv("DATABASE_URL"),
		HTTPAddr:       or(getenv("WMTNA_HTTP_ADDR"), "127.0.0.1:8080"),
		AdminToken:     getenv("WMTNA_ADMIN_TOKEN"),
		Timings:        workflows.DefaultTimings(),
		TraineeLinkTTL: 2 * 365 * 24 * time.Hour,
	}
	c.PublicURL = or(getenv("WMTNA_PUBLIC_URL"), "http://"+c.HTTPAddr)
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{
		{"WMTNA_REVIEW_REMINDER", &c.Timings.ReviewReminder},
		{"WMTNA_OFFER_TTL", &c.Timings.OfferTTL},
		{"WMTNA_WAITLIST_RECHECK", &c.Timings.WaitlistRecheck},
		{"WMTNA_TRAINEE_LINK_TTL", &c.TraineeLinkTTL},
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
	if c.AdminToken != "" && len(c.AdminToken) < 32 {
		return c, fmt.Errorf("WMTNA_ADMIN_TOKEN is too short: use at least 32 random characters")
	}
	return c, c.Timings.Validate()
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
