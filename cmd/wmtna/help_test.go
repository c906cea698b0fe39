package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// wmtna dev -h answers with what dev does, its flags and the settings it
// reads, and exits 0: asking for help is not a failure.
func TestDevHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"dev", "-h"}, &out, &errOut); err != nil {
		t.Fatalf("wmtna dev -h: %v, want no error (exit 0)", err)
	}
	help := out.String() + errOut.String()
	for _, want := range []string{"Usage: wmtna dev", "-data-dir", "-http-addr", "DATABASE_URL", "WMTNA_PUBLIC_URL", "WMTNA_TRUSTED_PROXIES", "SMTP_URL"} {
		if !strings.Contains(help, want) {
			t.Errorf("wmtna dev -h does not mention %s:\n%s", want, help)
		}
	}
}
