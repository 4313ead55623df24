package data

// IgnoreIndex is the label of a token that carries no loss, as in PyTorch's
// cross-entropy and Hugging Face's data collators.
const IgnoreIndex = -100

// Tokenizer is what data needs from a tokenizer (orthotune's
// tokenizer.Tokenizer satisfies it).
type Tokenizer interface {
	// Encode tokenizes text without adding special tokens.
	Encode(text string) []int
	// EncodeSpecial tokenizes text as Hugging Face's tokenizer(text) does
	// with add_special_tokens=True (it adds BOS for Llama).
	EncodeSpecial(text string) []int
	// EOS returns the end-of-sequence id, and false when there is none.
	EOS() (int, bool)
}

// Message is one turn of a conversation; in JSON {"role": ..., "content": ...}.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRenderer renders a conversation with the model's chat template, as
// Hugging Face's apply_chat_template(messages, tokenize=False) does. Its
// errors say that the chat template failed and where it came from; Decode
// prefixes them with the file, the line and the field only.
type ChatRenderer interface {
	RenderChat(messages []Message) (string, error)
}

// Example is one training sequence. Labels is aligned with InputIDs (the
// Hugging Face convention: the shift to next-token targets happens in the
// loss); a label of IgnoreIndex carries no loss. Where Labels is shorter
// than InputIDs (only possible for hand-built examples), the missing labels
// count as IgnoreIndex.
type Example struct {
	InputIDs []int
	Labels   []int
}

// Options controls how records become examples.
type Options struct {
	// Tokenizer encodes "text", "prompt"/"completion" and "messages"
	// records; "input_ids" records need none.
	Tokenizer Tokenizer
	// Chat renders "messages" records; it is required for them.
	Chat ChatRenderer
	// AssistantOnly puts the loss of "messages" records on the assistant
	// turns only: each assistant message's rendered content and the
	// template's end-of-turn text after it. See Decode for how.
	AssistantOnly bool
	// MaxSeqLength, when > 0, truncates longer examples to their first
	// MaxSeqLength tokens.
	MaxSeqLength int
	// VocabSize, when > 0, makes every token id (read or produced by the
	// tokenizer) and every label other than IgnoreIndex be checked against
	// [0, VocabSize).
	VocabSize int
}

// Stats describes what one file held.
type Stats struct {
	// Records is the number of records (non-blank lines).
	Records int
	// Tokens is the number of tokens after truncation.
	Tokens int
	// LossTokens is the number of tokens that are targets of the loss:
	// positions t ≥ 1 whose label is not IgnoreIndex (the first token of an
	// example has nothing before it to be predicted from).
	LossTokens int
	// Truncated is the number of examples cut to Options.MaxSeqLength.
	Truncated int
	// Format is the file's record shape: "text", "prompt/completion",
	// "messages" or "input_ids" (a file holds one).
	Format string
}
