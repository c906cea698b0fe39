package config

import (
	"strings"
	"testing"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestMailSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		wantFrom string
		wantErr  string
	}{
		{"no email configured", map[string]string{}, "West Midlands Therapy Network Association <no-reply@wmtna.invalid>", ""},
		{"from follows the public host", map[string]string{"WMTNA_PUBLIC_URL": "https://referrals.wmtna.example"},
			"West Midlands Therapy Network Association <no-reply@referrals.wmtna.example>", ""},
		{"a server and a from", map[string]string{"SMTP_URL": "smtps://u:p@mail.example.org", "WMTNA_MAIL_FROM": "WMTNA <hello@wmtna.example>"},
			"WMTNA <hello@wmtna.example>", ""},
		{"not an smtp URL", map[string]string{"SMTP_URL": "http://u:hunter2@mail.example.org"}, "", "SMTP_URL"},
		{"not an address", map[string]string{"SMTP_URL": "smtp://mail.example.org", "WMTNA_MAIL_FROM": "nobody"}, "", "WMTNA_MAIL_FROM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.MailFrom != tc.wantFrom || c.SMTPURL != tc.env["SMTP_URL"] {
				t.Errorf("MailFrom %q SMTPURL %q", c.MailFrom, c.SMTPURL)
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        string // the prefixes, space-separated
		wantErr     bool
	}{
		{"none by default", "", "", false},
		{"CIDRs and addresses", "10.0.0.0/8, 192.0.2.7,fd00::/8", "10.0.0.0/8 192.0.2.7/32 fd00::/8", false},
		{"host bits are masked", "10.1.2.3/8", "10.0.0.0/8", false},
		{"not an address", "proxy.internal", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(env(map[string]string{"WMTNA_TRUSTED_PROXIES": tc.value}))
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "WMTNA_TRUSTED_PROXIES") {
					t.Fatalf("err = %v, want one naming WMTNA_TRUSTED_PROXIES", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range c.TrustedProxies {
				got = append(got, p.String())
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("TrustedProxies = %v, want %s", got, tc.want)
			}
		})
	}
}

// The contact address is given on every page, so it must be one plain
// address; unset, it is the committee at the public host (or an address
// that says plainly it is not real, in development).
func TestContactEmail(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := FromEnv(env(map[string]string{"WMTNA_PUBLIC_URL": "https://referrals.wmtna.org.uk"}))
	if err != nil || c.ContactEmail != "committee@referrals.wmtna.org.uk" {
		t.Errorf("default contact = %q, %v", c.ContactEmail, err)
	}
	if c, err := FromEnv(env(nil)); err != nil || c.ContactEmail != "committee@wmtna.invalid" {
		t.Errorf("default contact in development = %q, %v", c.ContactEmail, err)
	}
	for _, bad := range []string{"not an address", "Committee <c@wmtna.org.uk>", "a@b@c"} {
		if _, err := FromEnv(env(map[string]string{"WMTNA_CONTACT_EMAIL": bad})); err == nil || !strings.Contains(err.Error(), "WMTNA_CONTACT_EMAIL") {
			t.Errorf("WMTNA_CONTACT_EMAIL=%q: %v, want an error naming it", bad, err)
		}
	}
}
