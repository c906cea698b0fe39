package referral

// The UK zone must be available on minimal machines and containers that ship
// no zone database.
import _ "time/tzdata"
