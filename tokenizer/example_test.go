package tokenizer_test

import (
	"fmt"
	"log"
	"os"

	"github.com/orthotune/orthotune/tokenizer"
)

// A byte-level BPE tokenizer built in code: the vocab is written in GPT-2's
// byte characters ("Ġ" is the space byte).
func Example() {
	vocab := map[string]int{"h": 0, "i": 1, "Ġ": 2, "!": 3, "hi": 4, "Ġhi": 5}
	merges := [][2]string{{"h", "i"}, {"Ġ", "hi"}}
	end := tokenizer.AddedToken{ID: 6, Content: "<|end|>", Special: true}
	tok, err := tokenizer.NewByteLevelBPE(vocab, merges, []tokenizer.AddedToken{end})
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("hi hi!<|end|>")
	fmt.Println(ids)
	fmt.Printf("%q\n", tok.Decode(ids, false))
	fmt.Printf("%q\n", tok.Decode(ids, true))
	// Output:
	// [4 5 3 6]
	// "hi hi!<|end|>"
	// "hi hi!"
}

func ExampleLoad() {
	// testdata/trained holds a tokenizer.json and tokenizer_config.json
	// written by WriteFile.
	tok, err := tokenizer.Load("testdata/trained")
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("The model learns.<|endoftext|>")
	for _, id := range ids {
		s, _ := tok.Token(id)
		fmt.Printf("%d %q\n", id, s)
	}
	eos, _ := tok.EOS()
	fmt.Println("vocab", tok.VocabSize(), "eos", eos, tok.SpecialTokens()["eos_token"])
	// Output:
	// 267 "The"
	// 494 "Ġmodel"
	// 513 "Ġlearns"
	// 46 "."
	// 597 "<|endoftext|>"
	// vocab 600 eos 597 <|endoftext|>
}

func ExampleTrainByteLevelBPE() {
	corpus := []string{
		"low lower lowest low lowly",
		"new newer newest new newly",
	}
	tok := tokenizer.TrainByteLevelBPE(corpus, 270, []string{"<|endoftext|>"})
	var pieces []string
	for _, id := range tok.Encode("lowest newest") {
		s, _ := tok.Token(id)
		pieces = append(pieces, s)
	}
	fmt.Printf("%q\n", pieces)
	dir, err := os.MkdirTemp("", "tok")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := tok.WriteFile(dir); err != nil { // tokenizer.json + tokenizer_config.json
		log.Fatal(err)
	}
	back, err := tokenizer.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(back.VocabSize(), back.Decode(back.Encode("lowest newest"), false))
	// Output:
	// ["low" "est" "Ġnew" "est"]
	// 267 lowest newest
}
