// Package deploy checks the deployment files at the repository's root
// (docker-compose.yml) against the code: its tests load them as Docker
// Compose does and fail when a setting the binary reads is not passed on.
// It has no code of its own.
package deploy
