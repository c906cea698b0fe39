package postgres_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wmtna/referrals/internal/postgres"
	"github.com/wmtna/referrals/internal/referral"
)

// rowText returns every row a query selects, each as Postgres's text of the
// whole row, for scanning for personal details.
func (s *store) rowText(query string, args ...any) string {
	s.t.Helper()
	rows, err := s.raw.Query(context.Background(), query, args...)
	if err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

func TestEraseReferral(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	id := s.referral(trainee{service: "Midlands Psychology CIC", prefs: referral.Preferences{Meeting: referral.MeetEither, Areas: []string{"coventry"}, Note: "a woman, please"}})
	other := s.referral(anyTrainee)
	before, err := s.Referral(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "my supervisor and I do not get on"
	noteID, err := s.AddNote(ctx, id, "trainee", secret)
	if err != nil {
		t.Fatal(err)
	}
	otherNote, err := s.AddNote(ctx, other, "trainee", "the other trainee's note")
	if err != nil {
		t.Fatal(err)
	}
	traineeMsg := postgres.Message{Key: id + "/1/trainee", Recipient: before.Email, Kind: "trainee.awaiting_review",
		Subject: "We have received your referral", Body: "Dear " + before.Name + ",\n\nThank you."}
	committeeMsg := postgres.Message{Key: id + "/1/committee", Recipient: "chair@example.org", Kind: "review",
		Subject: "A referral is waiting for review", Body: "A referral awaits review."}
	s.record(transition(id, 1, referral.StatusSubmitted, referral.StatusAwaitingReview), traineeMsg, committeeMsg)
	s.record(transition(other, 1, referral.StatusSubmitted, referral.StatusWithdrawn),
		postgres.Message{Key: other + "/1/trainee", Recipient: "other@example.org", Kind: "trainee.withdrawn", Subject: "Withdrawn", Body: "Dear Other"})

	traineeToken, err := s.IssueToken(ctx, referral.RoleTrainee, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherToken, err := s.IssueToken(ctx, referral.RoleTrainee, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	therapistToken, err := s.IssueToken(ctx, referral.RoleTherapist, postgres.NewID(), nil)
	if err != nil {
		t.Fatal(err)
	}

	// An open referral is refused, for either reason, and left as it was.
	for _, reason := range []string{postgres.ErasureRequest, postgres.ErasureRetention} {
		if erased, err := s.EraseReferral(ctx, id, "operator:admin", reason); !errors.Is(err, referral.ErrConflict) || erased {
			t.Errorf("erase open referral (%s): erased=%v %v, want ErrConflict", reason, erased, err)
		}
	}
	if r, _ := s.Referral(ctx, id); r.Name != before.Name || r.Email != before.Email || r.Concerns != before.Concerns {
		t.Errorf("refused erasure changed the referral: %+v", r)
	}
	if n := s.count(`SELECT count(*) FROM erasures`); n != 0 {
		t.Errorf("%d erasures recorded for refused requests", n)
	}
	if _, err := s.EraseReferral(ctx, postgres.NewID(), "operator:admin", postgres.ErasureRequest); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("erase unknown referral: %v, want ErrNotFound", err)
	}
	if _, err := s.EraseReferral(ctx, other, "operator:admin", "because"); err == nil {
		t.Error("erasure with an unknown reason accepted")
	}

	withdrawn := transition(id, 2, referral.StatusAwaitingReview, referral.StatusWithdrawn)
	withdrawn.Actor, withdrawn.NoteID = referral.Actor{Role: referral.RoleTrainee}, noteID
	s.record(withdrawn, postgres.Message{Key: id + "/2/trainee", Recipient: before.Email, Kind: "trainee.withdrawn",
		Subject: "You have withdrawn your referral", Body: "Dear " + before.Name + ", you have withdrawn."})

	erased, err := s.EraseReferral(ctx, id, "operator:admin", postgres.ErasureRequest)
	if err != nil || !erased {
		t.Fatalf("erase: erased=%v %v", erased, err)
	}

	// Every personal field is gone, wherever it was.
	after, err := s.Referral(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if after.Name != "" || after.Email != "" || after.Concerns != "" || after.Preferences.Note != "" || len(after.Preferences.Areas) != 0 || after.EmployerName != "" {
		t.Errorf("personal fields survive: name=%q email=%q concerns=%q note=%q areas=%v employer_name=%q", after.Name, after.Email, after.Concerns, after.Preferences.Note, after.Preferences.Areas, after.EmployerName)
	}
	if before.EmployerName != "Midlands Psychology CIC" {
		t.Errorf("stored employer_name %q", before.EmployerName)
	}
	var emailKey, fingerprint string
	var idemKey *string
	var erasedAt *time.Time
	if err := s.raw.QueryRow(ctx, `SELECT email_key, idempotency_key, request_fingerprint, erased_at FROM referrals WHERE id = $1`, id).
		Scan(&emailKey, &idemKey, &fingerprint, &erasedAt); err != nil {
		t.Fatal(err)
	}
	if emailKey != "erased:"+id || idemKey != nil || fingerprint != "" || erasedAt == nil {
		t.Errorf("email_key=%q idempotency_key=%v fingerprint=%q erased_at=%v", emailKey, idemKey, fingerprint, erasedAt)
	}
	personal := []string{before.Email, strings.ToLower(before.Email), before.Concerns, "Coventry", secret}
	for what, text := range map[string]string{
		"referral": s.rowText(`SELECT r::text FROM referrals r WHERE id = $1`, id),
		"notes":    s.rowText(`SELECT n::text FROM referral_notes n WHERE referral_id = $1`, id),
		"outbox":   s.rowText(`SELECT o::text FROM outbox o WHERE referral_id = $1`, id),
		"events":   s.rowText(`SELECT e::text FROM referral_events e WHERE referral_id = $1`, id),
	} {
		for _, p := range personal {
			if strings.Contains(text, p) {
				t.Errorf("%s still holds %q: %s", what, p, text)
			}
		}
	}
	out, err := s.Outbox(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("%d messages, want the 3 rows kept", len(out))
	}
	for _, m := range out {
		if m.Recipient != "" || m.Body != "" || m.Subject == "" || m.Kind == "" {
			t.Errorf("message %s after erasure: %+v, want recipient and body blank, subject and kind kept", m.Key, m)
		}
	}
	if _, err := s.Authenticate(ctx, traineeToken); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("trainee token after erasure: %v, want revoked", err)
	}

	// What statistics need stays: status, training details, the timeline.
	if after.Status != referral.StatusWithdrawn || after.Programme != before.Programme || after.Employer != before.Employer ||
		after.TrainingStart != before.TrainingStart || after.Preferences.Meeting != referral.MeetEither || !after.SubmittedAt.Equal(before.SubmittedAt) {
		t.Errorf("statistics fields changed: before %+v, after %+v", before, after)
	}
	events, err := s.Events(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[1].To != referral.StatusWithdrawn || events[1].Actor != "trainee" || events[1].Note != "" {
		t.Errorf("events after erasure: %+v, want both kept, the note's text gone", events)
	}

	// The erasure is on record, once, and the record cannot be changed.
	rec, err := s.Erasure(ctx, id)
	if err != nil || rec == nil || rec.RequestedBy != "operator:admin" || rec.Reason != postgres.ErasureRequest || rec.At.IsZero() {
		t.Fatalf("erasure record %+v, %v", rec, err)
	}
	for _, q := range []string{
		`UPDATE erasures SET reason = 'retention' WHERE referral_id = $1`,
		`DELETE FROM erasures WHERE referral_id = $1`,
	} {
		if _, err := s.raw.Exec(ctx, q, id); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want an append-only error", q, err)
		}
	}

	// Idempotent: erasing again changes and records nothing.
	if erased, err := s.EraseReferral(ctx, id, "system:retention", postgres.ErasureRetention); err != nil || erased {
		t.Errorf("second erasure: erased=%v %v, want false", erased, err)
	}
	if n := s.count(`SELECT count(*) FROM erasures WHERE referral_id = $1`, id); n != 1 {
		t.Errorf("%d erasures recorded, want 1", n)
	}
	if again, _ := s.Erasure(ctx, id); again == nil || again.Reason != postgres.ErasureRequest || !again.At.Equal(rec.At) {
		t.Errorf("erasure record after a second erasure: %+v, want the first", again)
	}

	// Nobody else was touched.
	if r, err := s.Referral(ctx, other); err != nil || r.Name == "" || r.Email == "" || r.Concerns == "" {
		t.Errorf("another referral was erased: %+v %v", r, err)
	}
	if rec, err := s.Erasure(ctx, other); err != nil || rec != nil {
		t.Errorf("another referral has an erasure record: %+v %v", rec, err)
	}
	if text := s.rowText(`SELECT body FROM referral_notes WHERE id = $1`, otherNote); text != "the other trainee's note" {
		t.Errorf("another referral's note is now %q", text)
	}
	if m, _ := s.Outbox(ctx, other); len(m) != 1 || m[0].Recipient != "other@example.org" || m[0].Body == "" {
		t.Errorf("another referral's messages: %+v", m)
	}
	for _, tok := range []string{otherToken, therapistToken} {
		if _, err := s.Authenticate(ctx, tok); err != nil {
			t.Errorf("another token stopped working: %v", err)
		}
	}

	// The erased trainee may refer themselves again with the same address.
	if _, created, err := s.CreateReferral(ctx, submission(anyTrainee, before.Email), time.Now(), "", "fp-again"); err != nil || !created {
		t.Errorf("new referral after erasure: created=%v %v", created, err)
	}
}

func TestExpiredReferralsRespectRetention(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	ended := func(ago time.Duration, to referral.Status) string {
		id := s.referral(anyTrainee)
		tr := transition(id, 1, referral.StatusSubmitted, to)
		tr.At = now.Add(-ago)
		s.record(tr)
		return id
	}
	oldest := ended(96*time.Hour, referral.StatusIneligible)
	old := ended(48*time.Hour, referral.StatusWithdrawn)
	recent := ended(time.Hour, referral.StatusLapsed)
	open := ended(72*time.Hour, referral.StatusAwaitingReview)
	erased := ended(72*time.Hour, referral.StatusDeclined)
	if ok, err := s.EraseReferral(ctx, erased, "operator:admin", postgres.ErasureRequest); err != nil || !ok {
		t.Fatalf("erase: %v %v", ok, err)
	}

	// The end is the time of the terminal event, not of the write.
	var endedAt *time.Time
	if err := s.raw.QueryRow(ctx, `SELECT ended_at FROM referrals WHERE id = $1`, old).Scan(&endedAt); err != nil {
		t.Fatal(err)
	}
	if endedAt == nil || endedAt.Sub(now.Add(-48*time.Hour)).Abs() > time.Millisecond {
		t.Errorf("ended_at = %v, want 48h ago", endedAt)
	}
	if n := s.count(`SELECT count(*) FROM referrals WHERE id = $1 AND ended_at IS NULL`, open); n != 1 {
		t.Error("an open referral has an end")
	}

	for _, c := range []struct {
		retention time.Duration
		limit     int
		want      []string
	}{
		{24 * time.Hour, 10, []string{oldest, old}},
		{24 * time.Hour, 1, []string{oldest}},
		{72 * time.Hour, 10, []string{oldest}},
		{0, 10, []string{oldest, old, recent}},
		{200 * time.Hour, 10, nil},
	} {
		got, err := s.ExpiredReferrals(ctx, c.retention, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("ExpiredReferrals(%s, %d) = %v, want %v (oldest %s, old %s, recent %s, open %s, erased %s)",
				c.retention, c.limit, got, c.want, oldest, old, recent, open, erased)
		}
	}

	// Erased by retention, they are due no longer.
	for _, id := range []string{oldest, old} {
		if ok, err := s.EraseReferral(ctx, id, "system:retention", postgres.ErasureRetention); err != nil || !ok {
			t.Fatalf("erase %s: %v %v", id, ok, err)
		}
	}
	if got, err := s.ExpiredReferrals(ctx, 24*time.Hour, 10); err != nil || len(got) != 0 {
		t.Errorf("after erasure: %v %v, want none", got, err)
	}
	if rec, _ := s.Erasure(ctx, old); rec == nil || rec.Reason != postgres.ErasureRetention || rec.RequestedBy != "system:retention" {
		t.Errorf("retention erasure record: %+v", rec)
	}
}

// A declared conflict of interest is kept by a hash of the trainee's email
// key, so it holds for their later referrals; the hash is as guessable as
// the address (it is unsalted), so it must not outlive the address: once
// the last referral that stores the address is erased, it goes too.
func TestErasureTakesTheConflictOfInterestHash(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const email = "conflicted@example.org"
	th := s.therapist("Manager", 2)
	hashed := `SELECT count(*) FROM conflicts_of_interest WHERE email_hash = encode(sha256(convert_to($1::text, 'UTF8')), 'hex')`
	refer := func(key string) string {
		r, created, err := s.CreateReferral(ctx, submission(anyTrainee, email), time.Now(), key, key)
		if err != nil || !created {
			t.Fatalf("create referral: created=%v %v", created, err)
		}
		return r.ID
	}
	withdraw := func(id string) {
		s.record(transition(id, 1, referral.StatusSubmitted, referral.StatusWithdrawn))
	}

	first := refer("first")
	o := s.enqueue(first)
	if o == nil || o.TherapistID != th.ID {
		t.Fatalf("first referral offered %+v, want therapist %s", o, th.ID)
	}
	if _, err := s.CloseOffer(ctx, o.ID, referral.OfferDeclined, referral.CodeTherapistConflict); err != nil {
		t.Fatal(err)
	}
	if n := s.count(hashed, email); n != 1 {
		t.Fatalf("%d conflicts recorded for the trainee, want 1", n)
	}
	withdraw(first)

	// The same trainee again: the conflict holds, and erasing the first
	// referral keeps it, since the second still stores the address.
	second := refer("second")
	if _, err := s.EraseReferral(ctx, first, "operator:admin", postgres.ErasureRequest); err != nil {
		t.Fatal(err)
	}
	if n := s.count(hashed, email); n != 1 {
		t.Errorf("erasing one of two referrals left %d conflicts, want 1", n)
	}
	if o := s.enqueue(second); o != nil {
		t.Errorf("the conflicted therapist was offered the trainee's next referral: %+v", o)
	}

	withdraw(second)
	if _, err := s.EraseReferral(ctx, second, "operator:admin", postgres.ErasureRetention); err != nil {
		t.Fatal(err)
	}
	if n := s.count(hashed, email); n != 0 {
		t.Errorf("the erased trainee's email hash survives in %d conflicts_of_interest rows", n)
	}
	if n := s.count(`SELECT count(*) FROM conflicts_of_interest WHERE therapist_id = $1`, th.ID); n != 0 {
		t.Errorf("%d conflicts of interest left for the therapist", n)
	}
}
