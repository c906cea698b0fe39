package referral

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"ada@nhs.net", "ada@nhs.net", nil},
		{"  Ada.Lovelace+x@Trust.NHS.uk ", "Ada.Lovelace+x@Trust.NHS.uk", nil},
		{"o'brien@nhs.net", "o'brien@nhs.net", nil},
		{"ada@therapİst.example", "", ErrEmailNotASCII}, // dotted capital I
		{"аda@nhs.net", "", ErrEmailNotASCII},           // Cyrillic а
		{"ada@\u212Aent.example", "", ErrEmailNotASCII}, // Kelvin sign
		{"ａda@nhs.net", "", ErrEmailNotASCII},           // fullwidth a
		{"ada@nhs.net\u200b", "", ErrEmailNotASCII},     // zero-width space
		{"ada@nhs.net\r\nBcc: x@y", "", ErrEmailNotASCII},
		{"Ada <ada@nhs.net>", "", ErrEmailNotPlain},
		{"ada@nhs.net, bob@nhs.net", "", ErrEmailNotPlain},
		{"ada", "", ErrEmailNotPlain},
		{"", "", ErrEmailNotPlain},
		{strings.Repeat("a", 250) + "@x.uk", "", ErrEmailNotPlain},
		{"jo@nhs", "", ErrEmailNoDomain},
		{"jo@localhost", "", ErrEmailNoDomain},
		{"jo.smith@nhs", "", ErrEmailNoDomain}, // a dot before the @ is no domain
		{"jo@nhs.uk", "jo@nhs.uk", nil},
	} {
		got, err := ParseEmail(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("ParseEmail(%+q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestEmailKey(t *testing.T) {
	for in, want := range map[string]string{
		"ada@nhs.net":              "ada@nhs.net",
		" Ada.Lovelace@NHS.Net ":   "ada.lovelace@nhs.net",
		"O'BRIEN+TAG@TRUST.NHS.UK": "o'brien+tag@trust.nhs.uk",
		// Non-ASCII letters are left alone, so no look-alike ever has the
		// key of the address it imitates.
		"ada@therapİst.example": "ada@therapİst.example",
		"\u212Aim@kent.example": "\u212Aim@kent.example",
		"ÅSA@X.example":         "Åsa@x.example",
	} {
		if got := EmailKey(in); got != want {
			t.Errorf("EmailKey(%+q) = %+q, want %+q", in, got, want)
		}
	}
}

// Draft.Check refuses a look-alike address with a message for its field.
func TestCheckRefusesLookAlikeAddresses(t *testing.T) {
	d := Draft{Email: "ada@therapİst.example"}
	_, problems := d.Check(Date{Year: 2026, Month: 1, Day: 1})
	for _, p := range problems {
		if p.Field == "email" {
			if !strings.Contains(p.Message, "plain letters") {
				t.Errorf("email problem %q does not say what is wrong", p.Message)
			}
			return
		}
	}
	t.Errorf("no problem with the email: %+v", problems)
}
