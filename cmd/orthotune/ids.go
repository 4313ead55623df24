package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// readIDs reads an IDS.json file: {"input_ids": [[id, ...], ...]}.
func readIDs(path string) ([][]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ids, err := parseIDs(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ids, nil
}

// parseIDs decodes {"input_ids": [[...], ...]}, requiring whole numbers
// that fit in an int. Shape and vocabulary checks belong to the model.
func parseIDs(data []byte) ([][]int, error) {
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON object")
	}
	raw, ok := doc["input_ids"]
	if !ok || string(raw) == "null" {
		return nil, fmt.Errorf(`field "input_ids" is missing`)
	}
	var rows [][]float64
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf(`field "input_ids": want a list of lists of token ids: %w`, err)
	}
	ids := make([][]int, len(rows))
	for b, row := range rows {
		ids[b] = make([]int, len(row))
		for t, v := range row {
			if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
				return nil, fmt.Errorf("input_ids[%d][%d] = %v is not a whole number", b, t, v)
			}
			ids[b][t] = int(v)
		}
	}
	return ids, nil
}
