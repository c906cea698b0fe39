package referral

import (
	"errors"
	"net/mail"
	"strings"
)

// Email addresses are compared in one form only, their key (EmailKey), and
// only exactly: no lower() in SQL, no collation, no Unicode case folding.
//
// The key is the address with surrounding white space trimmed and ASCII
// letters lower-cased, in the local part as in the domain. Domains are
// case-insensitive by definition; local parts are case-sensitive in theory
// but not at any provider the network's trainees and staff use (nhs.net,
// trusts' Exchange), and people type "Ada.Lovelace@nhs.net" one day and
// "ada.lovelace@nhs.net" the next, so both are one person.
//
// Addresses with any byte outside printable ASCII are refused where they are
// typed (ParseEmail: the referral form and API, sign-in, the registers)
// rather than normalised. Unicode case folding and compatibility
// normalisation map look-alikes onto ordinary addresses: under a UTF-8
// collation PostgreSQL's lower() folds "therapİst" into "therapist", and
// Go's strings.ToLower folds the Kelvin sign into "k", so a domain an
// attacker registers would reach someone else's account. NFKC or IDNA would
// still leave confusables such as Cyrillic "а" for Latin "a", which nobody
// reading a register can tell apart; and the addresses the network deals
// with are all ASCII. EmailKey itself lower-cases ASCII letters only, so even
// a non-ASCII key that got past the checks can never equal another
// address's key.

// ErrEmailNotPlain is an address that is not one plain address such as
// name@nhs.net (no display name, no angle brackets, no list).
var ErrEmailNotPlain = errors.New("email must be a plain email address such as name@nhs.net")

// ErrEmailNotASCII is an address with accented or non-Latin letters, or
// anything else outside printable ASCII.
var ErrEmailNotASCII = errors.New("email must be written in plain letters (a to z), digits and punctuation, such as name@nhs.net: addresses with accented or non-Latin characters cannot be used")

// ErrEmailNoDomain is an address whose domain has no dot, such as jo@nhs:
// RFC 5322 allows it, but no address the network writes to looks so, and
// it is nearly always a slip for jo@nhs.net.
var ErrEmailNoDomain = errors.New("email must have a full domain after the @, with a dot in it, such as name@nhs.net")

// MaxEmailLength is the longest address SMTP carries (RFC 5321's path
// limit less its angle brackets).
const MaxEmailLength = 254

// ParseEmail checks an address as a person typed it and returns it trimmed,
// as it is to be stored and written to: ErrEmailNotPlain, ErrEmailNotASCII
// or ErrEmailNoDomain (their messages name the field) if it cannot be used.
func ParseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return "", ErrEmailNotASCII
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > MaxEmailLength {
		return "", ErrEmailNotPlain
	}
	if domain := s[strings.LastIndexByte(s, '@')+1:]; !strings.Contains(domain, ".") {
		return "", ErrEmailNoDomain
	}
	return s, nil
}

// EmailKey is the form in which addresses are stored for lookup and
// compared, exactly (see above): referrals.email_key, committee_members'
// and therapists' email_key, and any other table that finds people by
// address. Migration 00010 computes the same key in SQL for existing rows;
// the two must stay alike.
func EmailKey(addr string) string {
	b := []byte(strings.TrimSpace(addr))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
