package postgres

import "context"

// MigrateTo applies the migrations up to version, so a test can store rows
// as an older version did and check what a later migration makes of them.
func MigrateTo(ctx context.Context, url string, version int64) error {
	return migrate(ctx, url, version)
}
