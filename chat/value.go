package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/ardanlabs/jinja"
)

// maxDepth bounds how deeply nested a value given to a template may be.
const maxDepth = 512

var (
	jinjaValueType = reflect.TypeFor[jinja.Value]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	numberType     = reflect.TypeFor[json.Number]()
)

// toValue converts a Go value to a template value:
//
//   - nil and nil pointers, maps and slices: none
//   - bool, string, every integer and float type, json.Number
//   - slices and arrays: lists
//   - maps with string keys: dicts, keys in sorted order (Go maps keep none)
//   - json.RawMessage: decoded, objects keeping their key order
//   - structs (Message included): their encoding/json form, fields in
//     declaration order, json tags honoured
//   - a jinja.Value: itself
func toValue(x any) (jinja.Value, error) {
	if x == nil {
		return jinja.None(), nil
	}
	return reflectValue(reflect.ValueOf(x), 0)
}

func reflectValue(v reflect.Value, depth int) (jinja.Value, error) {
	if depth > maxDepth {
		return jinja.Undefined(), fmt.Errorf("nested more than %d levels", maxDepth)
	}
	if !v.IsValid() {
		return jinja.None(), nil
	}
	switch v.Type() {
	case jinjaValueType:
		return v.Interface().(jinja.Value), nil
	case rawMessageType:
		return decodeJSON(v.Bytes())
	case numberType:
		return numberValue(v.String())
	}
	switch v.Kind() {
	case reflect.Bool:
		return jinja.NewBool(v.Bool()), nil
	case reflect.String:
		return jinja.NewString(v.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return jinja.NewInt(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := v.Uint()
		if u > math.MaxInt64 {
			return jinja.Undefined(), fmt.Errorf("integer %d does not fit in 64-bit signed", u)
		}
		return jinja.NewInt(int64(u)), nil
	case reflect.Float32, reflect.Float64:
		return jinja.NewFloat(v.Float()), nil
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return jinja.None(), nil
		}
		return reflectValue(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return jinja.None(), nil
		}
		items := make([]jinja.Value, v.Len())
		for i := range items {
			item, err := reflectValue(v.Index(i), depth+1)
			if err != nil {
				return jinja.Undefined(), fmt.Errorf("[%d]: %w", i, err)
			}
			items[i] = item
		}
		return jinja.NewList(items), nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return jinja.Undefined(), fmt.Errorf("map key type %s is not a string", v.Type().Key())
		}
		if v.IsNil() {
			return jinja.None(), nil
		}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		d := jinja.NewDict()
		for _, k := range keys {
			item, err := reflectValue(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())), depth+1)
			if err != nil {
				return jinja.Undefined(), fmt.Errorf("[%q]: %w", k, err)
			}
			d.AsDict().Set(k, item)
		}
		return d, nil
	case reflect.Struct:
		data, err := json.Marshal(v.Interface())
		if err != nil {
			return jinja.Undefined(), err
		}
		return decodeJSON(data)
	}
	return jinja.Undefined(), fmt.Errorf("cannot give a %s to a template", v.Type())
}

// numberValue converts a JSON number literal: an integer when it has no
// fraction or exponent and fits in 64 bits, else a float, as Python's json
// module reads it.
func numberValue(lit string) (jinja.Value, error) {
	n := json.Number(lit)
	if !strings.ContainsAny(lit, ".eE") {
		if i, err := n.Int64(); err == nil {
			return jinja.NewInt(i), nil
		}
	}
	f, err := n.Float64()
	if err != nil {
		return jinja.Undefined(), fmt.Errorf("number %q: %w", lit, err)
	}
	return jinja.NewFloat(f), nil
}

// decodeJSON decodes one JSON document into a template value, keeping the
// order of object keys (a repeated key keeps its first position and its last
// value, as Python's json module does).
func decodeJSON(data []byte) (jinja.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeJSONValue(dec, 0)
	if err != nil {
		return jinja.Undefined(), fmt.Errorf("JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return jinja.Undefined(), errors.New("JSON: data after the value")
	}
	return v, nil
}

func decodeJSONValue(dec *json.Decoder, depth int) (jinja.Value, error) {
	if depth > maxDepth {
		return jinja.Undefined(), fmt.Errorf("nested more than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return jinja.Undefined(), err
	}
	switch tok := tok.(type) {
	case nil:
		return jinja.None(), nil
	case bool:
		return jinja.NewBool(tok), nil
	case string:
		return jinja.NewString(tok), nil
	case json.Number:
		return numberValue(string(tok))
	case json.Delim:
		switch tok {
		case '[':
			var items []jinja.Value
			for dec.More() {
				item, err := decodeJSONValue(dec, depth+1)
				if err != nil {
					return jinja.Undefined(), err
				}
				items = append(items, item)
			}
			if _, err := dec.Token(); err != nil {
				return jinja.Undefined(), err
			}
			return jinja.NewList(items), nil
		case '{':
			d := jinja.NewDict()
			for dec.More() {
				key, err := dec.Token()
				if err != nil {
					return jinja.Undefined(), err
				}
				item, err := decodeJSONValue(dec, depth+1)
				if err != nil {
					return jinja.Undefined(), err
				}
				d.AsDict().Set(key.(string), item)
			}
			if _, err := dec.Token(); err != nil {
				return jinja.Undefined(), err
			}
			return d, nil
		}
	}
	return jinja.Undefined(), fmt.Errorf("unexpected JSON token %v", tok)
}

// messagesValue is the template's messages: a list of dicts with the keys
// role and content, in that order.
func messagesValue(messages []Message) jinja.Value {
	items := make([]jinja.Value, len(messages))
	for i, m := range messages {
		d := jinja.NewDict()
		d.AsDict().Set("role", jinja.NewString(m.Role))
		d.AsDict().Set("content", jinja.NewString(m.Content))
		items[i] = d
	}
	return jinja.NewList(items)
}
