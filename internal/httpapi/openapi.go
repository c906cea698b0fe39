package httpapi

import _ "embed"

// OpenAPI is the API's OpenAPI 3.1 description (openapi.yaml). The tests
// check that it names exactly the routes Handler serves.
//
//go:embed openapi.yaml
var OpenAPI []byte
