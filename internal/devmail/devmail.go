// Package devmail is a mail catcher: a real SMTP server on loopback that
// keeps every message it receives in memory, and a page to read them. The
// dev stack sends its email here, so a new user can click the links in
// their "emails"; tests deliver to it and assert on what it received.
package devmail

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one message as received.
type Message struct {
	From    string
	To      []string
	Subject string
	Body    string // plain text, transfer encoding undone
	HTML    string // the HTML alternative, if the message has one
	// ContentType is the message's own media type, such as
	// multipart/alternative or text/plain.
	ContentType string
	MessageID   string
	At          time.Time
}

// Box is the SMTP server and what it has received.
type Box struct {
	// OnData, if set, is called with each message after its final dot and
	// before the server answers; an error is the server's answer instead of
	// 250 (return an *smtp.SMTPError to choose the code). Fault tests use it
	// to kill the sender at the worst moment.
	OnData func(Message) error

	ln     net.Listener
	server *smtp.Server
	mu     sync.Mutex
	msgs   []Message
	added  chan struct{} // closed and replaced on every new message
}

// Start listens on 127.0.0.1 on a free port.
func Start() (*Box, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Box{ln: ln, added: make(chan struct{})}
	b.server = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{box: b}, nil }))
	b.server.Domain = "localhost"
	b.server.ReadTimeout, b.server.WriteTimeout = time.Minute, time.Minute
	b.server.MaxMessageBytes = 1 << 20
	go func() { _ = b.server.Serve(ln) }()
	return b, nil
}

// URL is the SMTP_URL that delivers here.
func (b *Box) URL() string { return "smtp://" + b.ln.Addr().String() }

// Close stops the server.
func (b *Box) Close() error { return b.server.Close() }

// Messages returns what has been received, oldest first.
func (b *Box) Messages() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.msgs)
}

// Wait returns the messages once done says they are enough, or an error
// when ctx ends first.
func (b *Box) Wait(ctx context.Context, done func([]Message) bool) ([]Message, error) {
	for {
		b.mu.Lock()
		msgs, added := slices.Clone(b.msgs), b.added
		b.mu.Unlock()
		if done(msgs) {
			return msgs, nil
		}
		select {
		case <-ctx.Done():
			return msgs, ctx.Err()
		case <-added:
		}
	}
}

// IsTo reports whether a message is addressed to addr (any case).
func (m Message) IsTo(addr string) bool {
	return slices.ContainsFunc(m.To, func(t string) bool { return strings.EqualFold(t, addr) })
}

func (b *Box) add(m Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	close(b.added)
	b.added = make(chan struct{})
}

type session struct {
	box  *Box
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "cannot read the message: " + err.Error()}
	}
	m.From, m.To, m.At = s.from, slices.Clone(s.to), time.Now()
	if s.box.OnData != nil {
		if err := s.box.OnData(m); err != nil {
			return err
		}
	}
	s.box.add(m)
	return nil
}

func parse(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	var m Message
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		m.Subject = msg.Header.Get("Subject")
	}
	m.MessageID = msg.Header.Get("Message-Id")
	media, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		media = "text/plain" // RFC 2045's default
	}
	m.ContentType = media
	if !strings.HasPrefix(media, "multipart/") {
		m.Body, err = decode(msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return m, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return m, nil
		}
		if err != nil {
			return m, err
		}
		pm, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		text, err := decode(p.Header.Get("Content-Transfer-Encoding"), p)
		if err != nil {
			return m, err
		}
		switch pm {
		case "text/plain":
			m.Body = text
		case "text/html":
			m.HTML = text
		}
	}
}

// decode undoes a part's transfer encoding, and makes its lines Unix's.
func decode(encoding string, r io.Reader) (string, error) {
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n"), err
}

//go:embed mailbox.html
var pageFS embed.FS

var links = regexp.MustCompile(`https?://[^\s<>"]+`)

var page = template.Must(template.New("mailbox.html").Funcs(template.FuncMap{
	// linkify escapes the text and makes its URLs clickable.
	"linkify": func(s string) template.HTML {
		var out strings.Builder
		last := 0
		for _, loc := range links.FindAllStringIndex(s, -1) {
			out.WriteString(template.HTMLEscapeString(s[last:loc[0]]))
			u := template.HTMLEscapeString(s[loc[0]:loc[1]])
			out.WriteString(`<a href="` + u + `">` + u + `</a>`)
			last = loc[1]
		}
		out.WriteString(template.HTMLEscapeString(s[last:]))
		return template.HTML(out.String())
	},
	"time": func(t time.Time) string { return t.Format("15:04:05") },
}).ParseFS(pageFS, "mailbox.html"))

// Handler serves the mailbox page: every message, newest first; ?to=
// shows one person's.
func (b *Box) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := strings.TrimSpace(r.URL.Query().Get("to"))
		msgs := b.Messages()
		slices.Reverse(msgs)
		if to != "" {
			msgs = slices.DeleteFunc(msgs, func(m Message) bool { return !m.IsTo(to) })
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		var buf bytes.Buffer
		if err := page.Execute(&buf, struct {
			To       string
			Messages []Message
		}{to, msgs}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(buf.Bytes())
	})
}
