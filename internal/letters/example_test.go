package letters_test

import (
	"fmt"

	"github.com/wmtna/referrals/internal/letters"
)

// A sign-in letter, as the sign-in page writes it: no name to greet, the
// one-time link, and how long it works.
func ExampleRender_signIn() {
	l, err := letters.Render(letters.SignIn, letters.Data{
		Link:  "https://referrals.example/sign-in/SECRET",
		Lasts: "30 minutes",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Subject)
	fmt.Println("--")
	fmt.Println(l.Body)
	// Output:
	// Your sign-in link
	// --
	// Hello,
	//
	// Use this link to sign in to the West Midlands Therapy Network Association's referral service. It works once, for 30 minutes:
	//
	// https://referrals.example/sign-in/SECRET
	//
	// If you did not ask for it, you can ignore this email.
	//
	// West Midlands Therapy Network Association
}
