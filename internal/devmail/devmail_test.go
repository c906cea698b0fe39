package devmail

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestMailboxPageEscapes: a body is text written partly by people (a name),
// so the page escapes it and makes only its URLs into links.
func TestMailboxPageEscapes(t *testing.T) {
	b := &Box{added: make(chan struct{})}
	b.add(Message{To: []string{"sam@nhs.example"}, Subject: "Hello <b>", At: time.Now(),
		Body: "Dear <script>alert(1)</script>,\n\nYour referral: http://127.0.0.1:8080/my-referral\n"})
	b.add(Message{To: []string{"other@nhs.example"}, Subject: "Other", At: time.Now(), Body: "x"})
	w := httptest.NewRecorder()
	b.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/dev/mailbox?to=SAM@nhs.example", nil))
	page := w.Body.String()
	for _, want := range []string{`&lt;script&gt;`, `<a href="http://127.0.0.1:8080/my-referral">`, `Hello &lt;b&gt;`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "Other") {
		t.Errorf("the page shows raw HTML or another person's email:\n%s", page)
	}
}
