// Package demo seeds the dev stack with a committee and a few therapists,
// so a new user can walk a referral through its whole life with curl.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

// Tokens are the demo people's bearer tokens. They are kept in the dev data
// directory (mode 0600) because the database holds only their hashes, and a
// developer who restarts dev still needs them. Never used outside dev.
type Tokens struct {
	Operator   string            `json:"operator"`
	Committee  map[string]string `json:"committee"`  // role -> token
	Therapists map[string]string `json:"therapists"` // name -> token
}

// Seed creates the demo committee and therapists on first start and returns
// their tokens; later starts return the tokens saved then. adminToken, when
// set, is the operator's token; otherwise one is made.
func Seed(ctx context.Context, db *postgres.DB, dataDir, adminToken string) (Tokens, error) {
	path := filepath.Join(dataDir, "demo-tokens.json")
	var tok Tokens
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &tok); err != nil {
			return tok, fmt.Errorf("read %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return tok, fmt.Errorf("read %s: %w", path, err)
	} else {
		if tok, err = seed(ctx, db); err != nil {
			return tok, err
		}
	}
	if adminToken != "" {
		tok.Operator = adminToken
	}
	if tok.Operator == "" {
		tok.Operator = postgres.NewToken()
	}
	if err := db.StoreToken(ctx, tok.Operator, referral.RoleOperator, "admin", nil); err != nil {
		return tok, err
	}
	b, _ := json.MarshalIndent(tok, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return tok, fmt.Errorf("save demo tokens: %w", err)
	}
	return tok, nil
}

func seed(ctx context.Context, db *postgres.DB) (Tokens, error) {
	tok := Tokens{Committee: map[string]string{}, Therapists: map[string]string{}}
	for _, m := range []referral.CommitteeMember{
		{Name: "Demo Chair", Email: "chair@wmtna.example", Role: "chair"},
		{Name: "Demo Secretary", Email: "secretary@wmtna.example", Role: "secretary"},
		{Name: "Demo Treasurer", Email: "treasurer@wmtna.example", Role: "treasurer"},
	} {
		m, err := db.CreateCommitteeMember(ctx, referral.Principal{Role: "system", Subject: "demo"}, m)
		if errors.Is(err, referral.ErrDuplicate) {
			return tok, fmt.Errorf("demo committee members exist but their tokens were lost (demo-tokens.json deleted?): start with a fresh --data-dir")
		}
		if err != nil {
			return tok, err
		}
		if tok.Committee[m.Role], err = db.IssueToken(ctx, referral.RoleCommittee, m.ID, nil); err != nil {
			return tok, err
		}
	}
	for _, t := range []referral.Therapist{
		{Name: "Dr Ada Birmingham", Email: "ada@therapist.example", HCPCNumber: "PYL00001", Capacity: 2, Active: true,
			Disciplines: []string{"clinical"}, Online: true, InPerson: true, Areas: []string{"birmingham"}},
		{Name: "Dr Ben Coventry", Email: "ben@therapist.example", HCPCNumber: "PYL00002", Capacity: 1, Active: true,
			Disciplines: []string{"counselling"}, InPerson: true, Areas: []string{"coventry", "warwickshire"},
			Conflicts: referral.Conflicts{Programmes: []string{"forensic"}}},
		{Name: "Dr Cara Stoke", Email: "cara@therapist.example", HCPCNumber: "PYL00003", Capacity: 1, Active: true,
			Disciplines: []string{"clinical", "health"}, Online: true, InPerson: true, Areas: []string{"stoke-on-trent"},
			Conflicts: referral.Conflicts{Employers: []string{"RLY"}}},
	} {
		t, err := db.CreateTherapist(ctx, referral.Principal{Role: "system", Subject: "demo"}, t)
		if errors.Is(err, referral.ErrDuplicate) {
			return tok, fmt.Errorf("demo therapists exist but their tokens were lost (demo-tokens.json deleted?): start with a fresh --data-dir")
		}
		if err != nil {
			return tok, err
		}
		if tok.Therapists[t.Name], err = db.IssueToken(ctx, referral.RoleTherapist, t.ID, nil); err != nil {
			return tok, err
		}
	}
	return tok, nil
}

// Print writes the tokens for the developer to copy.
func (t Tokens) Print(w io.Writer) {
	fmt.Fprintf(w, "  operator                  %s\n", t.Operator)
	for _, role := range referral.CommitteeRoles {
		if v, ok := t.Committee[role]; ok {
			fmt.Fprintf(w, "  committee (%-9s)     %s\n", role, v)
		}
	}
	for _, name := range []string{"Dr Ada Birmingham", "Dr Ben Coventry", "Dr Cara Stoke"} {
		if v, ok := t.Therapists[name]; ok {
			fmt.Fprintf(w, "  therapist %-17s %s\n", name, v)
		}
	}
}
