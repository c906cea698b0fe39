// Package email delivers the outbox by SMTP, through the go-mail library.
//
// A message must reach a person once, even if the worker dies halfway. SMTP
// commits a message at one point: the final "." of the DATA command. So
// Send writes the whole message, then calls the caller's pointOfNoReturn
// (which records in PostgreSQL that the message is "sending"), and only then
// sends the dot. A crash before the dot leaves the server with an unfinished
// message, which it throws away, and a retry sends it afresh. A retry that
// finds a message "sending" cannot know whether the dot arrived, and does not
// send it again: the caller records it as sent, marked uncertain. The only
// message that can be lost is one whose dot was lost with the crash, in a
// window of one round trip; none can be sent twice.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"time"

	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// Message is one email to one person: plain text and, when HTML is set,
// the same in HTML beside it (multipart/alternative), so a reader's mail
// program shows whichever suits them.
type Message struct {
	ID      int64 // the outbox row: makes the Message-ID
	To      string
	Subject string
	Body    string
	HTML    string
}

// Sender sends messages to one SMTP server.
type Sender struct {
	addr     string // host:port
	host     string
	implicit bool // smtps://: TLS from the first byte
	user     string
	password string
	from     string // the From header, perhaps with a name
	envelope string // the bare address, for MAIL FROM
	idDomain string
	// Timeout bounds each SMTP conversation; 0 means 30 seconds.
	Timeout time.Duration
	// TLSConfig, if set, replaces the default TLS settings (tests use it to
	// trust their own certificate).
	TLSConfig *tls.Config
}

// New reads an SMTP_URL: smtp://[user:password@]host[:port] (STARTTLS when
// the server offers it; port 587 by default) or smtps://... (TLS from the
// start; port 465). from is the From address; messages' IDs are made in the
// domain of publicURL.
func New(smtpURL, from, publicURL string) (*Sender, error) {
	u, err := url.Parse(smtpURL)
	if err != nil || u.Host == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("SMTP_URL: want smtp://[user:password@]host[:port] or smtps://..., got %q", redact(smtpURL))
	}
	s := &Sender{host: u.Hostname(), implicit: u.Scheme == "smtps", from: from}
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "465", false: "587"}[s.implicit]
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	addr, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("WMTNA_MAIL_FROM %q is not an address such as \"WMTNA <no-reply@example.org>\": %w", from, err)
	}
	s.envelope = addr.Address
	s.idDomain = "wmtna.invalid"
	if pu, err := url.Parse(publicURL); err == nil && pu.Hostname() != "" {
		s.idDomain = pu.Hostname()
	}
	return s, nil
}

// redact hides a password in an SMTP URL, for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Refused is the server's definite "no" to a message: it was not accepted,
// so sending it again is safe. Permanent refusals (5xx) will not change.
type Refused struct {
	Code      int
	Permanent bool
	err       error
}

func (r *Refused) Error() string {
	return fmt.Sprintf("smtp server refused the message (%d): %v", r.Code, r.err)
}
func (r *Refused) Unwrap() error { return r.err }

func refused(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 400 {
		return &Refused{Code: te.Code, Permanent: te.Code >= 500, err: err}
	}
	return err
}

// Send delivers m. pointOfNoReturn is called once the server holds the whole
// message, just before the final dot; if it fails, the dot is not sent and
// the message is not delivered. An error after pointOfNoReturn is either a
// *Refused (the server definitely did not accept it) or leaves it unknown
// whether the message went.
func (s *Sender) Send(ctx context.Context, m Message, pointOfNoReturn func(context.Context) error) error {
	msg := mail.NewMsg(mail.WithEncoding(mail.EncodingQP))
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return &Refused{Code: 553, Permanent: true, err: fmt.Errorf("recipient of message %d is not an address", m.ID)}
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(fmt.Sprintf("outbox-%d@%s", m.ID, s.idDomain))
	msg.SetDate()
	msg.SetBodyString(mail.TypeTextPlain, m.Body)
	if m.HTML != "" {
		// Last is preferred: a mail program that can show HTML does, and
		// one that cannot (or a reader who chose text) has the text.
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}

	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() }) // a cancelled activity stops the conversation
	defer stop()

	if err := c.Mail(s.envelope); err != nil {
		return refused(err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return refused(err)
	}
	w, err := c.Data()
	if err != nil {
		return refused(err)
	}
	if _, err := msg.WriteTo(w); err != nil {
		return fmt.Errorf("write message %d: %w", m.ID, err)
	}
	if err := pointOfNoReturn(ctx); err != nil {
		return err // no dot: the server drops the unfinished message
	}
	if err := w.Close(); err != nil { // the dot, and the server's answer
		return refused(err)
	}
	_ = c.Quit()
	return nil
}

func (s *Sender) dial(ctx context.Context) (*smtp.Client, error) {
	tlsConfig := s.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	}
	var conn net.Conn
	var err error
	d := &net.Dialer{}
	if s.implicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsConfig}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to smtp server %s: %w", s.addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("smtp greeting from %s: %w", s.addr, err)
	}
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		return nil, fmt.Errorf("smtp hello to %s: %w", s.addr, err)
	}
	encrypted := s.implicit
	if ok, _ := c.Extension("STARTTLS"); ok && !encrypted {
		if err := c.StartTLS(tlsConfig); err != nil {
			c.Close()
			return nil, fmt.Errorf("starttls with %s: %w", s.addr, err)
		}
		encrypted = true
	}
	if s.user != "" {
		// Credentials go only over TLS, or to a server on this machine.
		auth := smtp.PlainAuth("", s.user, s.password, s.host, isLoopback(s.host))
		if !encrypted && !isLoopback(s.host) {
			c.Close()
			return nil, fmt.Errorf("smtp server %s offers no TLS: refusing to send the password in clear", s.addr)
		}
		if err := c.Auth(auth); err != nil {
			c.Close()
			return nil, fmt.Errorf("smtp auth with %s: %w", s.addr, err)
		}
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Redacted returns the SMTP URL without its password, for logs.
func Redacted(smtpURL string) string { return redact(smtpURL) }
