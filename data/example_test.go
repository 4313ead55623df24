package data_test

import (
	"fmt"
	"strings"

	"github.com/orthotune/orthotune/data"
)

// letters is a toy tokenizer: 'a' is 1, 'b' is 2, ...; BOS is 100 and EOS 101.
type letters struct{}

func (letters) Encode(text string) []int {
	var ids []int
	for _, r := range text {
		ids = append(ids, int(r-'a')+1)
	}
	return ids
}
func (l letters) EncodeSpecial(text string) []int { return append([]int{100}, l.Encode(text)...) }
func (letters) EOS() (int, bool)                  { return 101, true }

// A prompt/completion record trains on the completion only; a file holds
// records of one shape.
func ExampleDecode() {
	jsonl := `{"prompt": "abc", "completion": "de"}
{"prompt": "c", "completion": "ab"}
`
	examples, stats, err := data.Decode(strings.NewReader(jsonl), "train.jsonl", data.Options{Tokenizer: letters{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ex := range examples {
		fmt.Println(ex.InputIDs, ex.Labels)
	}
	fmt.Printf("%+v\n", stats)

	_, _, err = data.Decode(strings.NewReader(`{"prompt": "a"}`), "train.jsonl", data.Options{Tokenizer: letters{}})
	fmt.Println(err)
	_, _, err = data.Decode(strings.NewReader(`{"text": "a"}`+"\n"+`{"prompt": "a", "completion": "b"}`), "train.jsonl", data.Options{Tokenizer: letters{}})
	fmt.Println(err)
	// Output:
	// [100 1 2 3 4 5 101] [-100 -100 -100 -100 4 5 101]
	// [100 3 1 2 101] [-100 -100 1 2 101]
	// {Records:2 Tokens:12 LossTokens:6 Truncated:0 Format:prompt/completion}
	// train.jsonl:1: "prompt" without "completion"
	// train.jsonl:2: record is "prompt"/"completion" but line 1 was "text"; a file holds one record shape
}

// A loader resumed from a saved position yields what the original would.
func ExampleLoader() {
	var examples []data.Example
	for i := range 5 {
		examples = append(examples, data.Example{InputIDs: []int{i, i}, Labels: []int{i, i}})
	}
	run := data.NewLoader(examples, 2, true, 42, -1)
	run.Next()
	saved := run.Position()
	next := run.Next()

	resumed := data.NewLoader(examples, 2, true, 42, -1)
	if err := resumed.Seek(saved); err != nil {
		fmt.Println(err)
		return
	}
	again := resumed.Next()
	fmt.Println(run.StepsPerEpoch(), saved, fmt.Sprint(again.InputIDs) == fmt.Sprint(next.InputIDs))
	fmt.Println(data.Batch{InputIDs: [][]int{{7, 8, 9}}, Labels: [][]int{{-100, 8, 9}}}.Targets())
	// Output:
	// 3 {0 1} true
	// [8 9 -100]
}

// Packing concatenates examples into full rows and drops the tail.
func ExamplePack() {
	rows := data.Pack([]data.Example{
		{InputIDs: []int{1, 2, 3}, Labels: []int{-100, 2, 3}},
		{InputIDs: []int{4, 5, 6}, Labels: []int{4, 5, 6}},
	}, 4)
	for _, r := range rows {
		fmt.Println(r.InputIDs, r.Labels)
	}
	// Output:
	// [1 2 3 4] [-100 2 3 4]
}
