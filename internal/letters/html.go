package letters

import (
	"html/template"
	"regexp"
	"strings"
)

// HTML is the HTML part sent beside a letter's plain text. It is made from
// the text, not from the letter's data, so the two cannot say different
// things and the outbox keeps one copy, the text, which erasure already
// clears; messages written before HTML existed go with it too.
//
// The page is as plain as a letter: one paragraph per paragraph of text, in
// British English, with no images, tables, styles or scripts, so a screen
// reader reads it as it reads the text. A link gets words for its text,
// never the address alone: a line "Your referral: URL" becomes a link named
// "Your referral"; a link on a line of its own is named by the letter's
// subject ("Your sign-in link"), which says where it goes.
func HTML(subject, text string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>")
	b.WriteString(template.HTMLEscapeString(subject))
	b.WriteString("</title>\n</head>\n<body>\n")
	for p := range strings.SplitSeq(strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n")), "\n\n") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		b.WriteString("<p>")
		b.WriteString(paragraph(subject, p))
		b.WriteString("</p>\n")
	}
	b.WriteString("</body>\n</html>\n")
	return b.String()
}

// url is an address as the letters write them: on a line, up to a space.
var url = regexp.MustCompile(`https?://[^\s<>"]+`)

// labelled is a line that is only a label and its link.
var labelled = regexp.MustCompile(`^([^:\n]{1,60}): (https?://[^\s<>"]+)$`)

func paragraph(subject, p string) string {
	if m := labelled.FindStringSubmatch(p); m != nil {
		return link(m[2], m[1])
	}
	if url.MatchString(p) && url.FindString(p) == p {
		return link(p, subject)
	}
	var out strings.Builder
	for i, line := range strings.Split(p, "\n") {
		if i > 0 {
			out.WriteString("<br>\n")
		}
		last := 0
		for _, loc := range url.FindAllStringIndex(line, -1) {
			out.WriteString(template.HTMLEscapeString(line[last:loc[0]]))
			out.WriteString(link(line[loc[0]:loc[1]], line[loc[0]:loc[1]]))
			last = loc[1]
		}
		out.WriteString(template.HTMLEscapeString(line[last:]))
	}
	return out.String()
}

func link(href, text string) string {
	return `<a href="` + template.HTMLEscapeString(href) + `">` + template.HTMLEscapeString(text) + `</a>`
}
