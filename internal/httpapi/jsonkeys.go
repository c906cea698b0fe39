package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"

	"github.com/wmtna/referrals/internal/pipeline"
)

// checkKeys walks the JSON value that dec holds and refuses what
// encoding/json would quietly accept: a key given twice in one object, of
// which the last would win (`"consent": false, "consent": true`), and a key
// that is not a field's name but matches one ignoring case ("Consent",
// "conſent"), which encoding/json would take for it. Field names are
// exactly those of the contract (t's json tags), so what a proxy, a log or
// a reviewer reads in a body is what the service acts on. Syntax errors are
// left to the decoder's own answer.
func checkKeys(dec *json.Decoder, t reflect.Type) *pipeline.Error {
	type frame struct {
		object  bool
		t       reflect.Type // of the object or array; nil when unknown
		path    string
		seen    map[string]bool
		wantKey bool
		// The type and path of the value after the key just read.
		valueT    reflect.Type
		valuePath string
	}
	var stack []*frame
	// open starts the value of type vt at path: a new frame for an object
	// or array, nothing for a scalar.
	open := func(tok json.Token, vt reflect.Type, path string) {
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, t: derefType(vt), path: path, seen: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{t: derefType(vt), path: path})
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return decodeError(err)
		}
		if len(stack) == 0 {
			open(tok, t, "")
			if len(stack) == 0 {
				return nil // a scalar: the decoder says what is wrong with it
			}
			continue
		}
		top := stack[len(stack)-1]
		switch {
		case tok == json.Delim('}') || tok == json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return nil
			}
			if parent := stack[len(stack)-1]; parent.object {
				parent.wantKey = true
			}
		case top.object && top.wantKey:
			key, _ := tok.(string)
			path := key
			if top.path != "" {
				path = top.path + "." + key
			}
			if top.seen[key] {
				return requestError(http.StatusUnprocessableEntity, "duplicate_field", path, "%s is given more than once: send each field once", path)
			}
			top.seen[key] = true
			vt, ok := fieldType(top.t, key)
			if !ok {
				if name, ok := foldedName(top.t, key); ok {
					want := name
					if top.path != "" {
						want = top.path + "." + name
					}
					return requestError(http.StatusUnprocessableEntity, "unknown_field", path,
						"%s is not a field of this request: field names are case-sensitive, did you mean %s?", path, want)
				}
			}
			top.wantKey, top.valueT, top.valuePath = false, vt, path
		case top.object:
			open(tok, top.valueT, top.valuePath)
			if stack[len(stack)-1] == top {
				top.wantKey = true // a scalar value: the next token is a key
			}
		default: // an element of an array
			var et reflect.Type
			if top.t != nil && (top.t.Kind() == reflect.Slice || top.t.Kind() == reflect.Array) {
				et = top.t.Elem()
			}
			open(tok, et, top.path)
		}
	}
}

func derefType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fieldType is the type of the value under key in an object of type t, and
// whether key is exactly a name t knows (any key of a map).
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	switch {
	case t == nil:
		return nil, false
	case t.Kind() == reflect.Map:
		return t.Elem(), true
	case t.Kind() != reflect.Struct:
		return nil, false
	}
	for name, ft := range jsonFields(t) {
		if name == key {
			return ft, true
		}
	}
	return nil, false
}

// foldedName is the field of struct t that encoding/json would match key
// to, ignoring case, though it is not its name.
func foldedName(t reflect.Type, key string) (string, bool) {
	if t == nil || t.Kind() != reflect.Struct {
		return "", false
	}
	for name := range jsonFields(t) {
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	return "", false
}

// jsonFields maps the JSON names of struct t's fields (with those of
// embedded structs, which encoding/json promotes) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if et := derefType(f.Type); et.Kind() == reflect.Struct {
				for n, ft := range jsonFields(et) {
					if _, ok := out[n]; !ok {
						out[n] = ft
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
