// generate.mjs renders every template in ../templates/*.json over a fixed set
// of conversations with @huggingface/jinja (the Jinja implementation
// transformers.js uses for apply_chat_template) and writes the results to
// ../cases.json, which the Go tests compare against byte for byte.
//
//	npm ci && node generate.mjs   (needs python3 with Jinja2 3.1 too)
//
// The render context is the one transformers.js's apply_chat_template builds
// and the one chat.Template.Render builds: messages, add_generation_prompt,
// tools=null, documents=null, bos_token, eos_token, then the case's extra
// variables on top.
//
// It then runs jinja2_check.py, which adds Python Jinja2's result to every
// case where it differs; the Go tests need both.
//
// strftime_now reads the clock, so the clock is pinned: TZ is UTC and Date
// without arguments is CLOCK. The Go test pins its clock to the same instant.

process.env.TZ = "UTC";

import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Template, Environment } from "@huggingface/jinja";

const CLOCK = "2025-03-05T14:07:09Z";
const RealDate = Date;
globalThis.Date = class extends RealDate {
	constructor(...args) {
		super(...(args.length === 0 ? [CLOCK] : args));
	}
	static now() {
		return new RealDate(CLOCK).getTime();
	}
};

const here = dirname(fileURLToPath(import.meta.url));
const templatesDir = join(here, "..", "templates");
const pkg = JSON.parse(readFileSync(join(here, "node_modules", "@huggingface", "jinja", "package.json"), "utf8"));

// The built-in raise_exception throws Error(message). Wrap it where the
// library installs it so that a case records whether the template raised
// (rather than the renderer failing); what it throws is unchanged.
let lastRaised = null;
const originalSet = Environment.prototype.set;
Environment.prototype.set = function (name, value) {
	if (name === "raise_exception" && typeof value === "function") {
		const builtin = value;
		value = (message) => {
			lastRaised = message;
			return builtin(message);
		};
	}
	return originalSet.call(this, name, value);
};

const S = (content) => ({ role: "system", content });
const U = (content) => ({ role: "user", content });
const A = (content) => ({ role: "assistant", content });
const T = (content) => ({ role: "tool", content });

const weatherTool = {
	type: "function",
	function: {
		name: "get_current_weather",
		description: "Get the current weather — in °C or °F, for \"any\" <city> & region",
		parameters: {
			type: "object",
			properties: {
				location: { type: "string", description: "The city, e.g. Zürich" },
				unit: { type: "string", enum: ["celsius", "fahrenheit"] },
				days: { type: "integer", minimum: 1, maximum: 7, default: null },
				verbose: { type: "boolean", default: false },
			},
			required: ["location"],
		},
	},
};
const searchTool = {
	type: "function",
	function: {
		name: "search",
		description: "Search the web.\nReturns a list of results.",
		parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
	},
};

// Conversations every template is rendered over.
const common = [
	{ name: "user", messages: [U("Hello!")], add_generation_prompt: false },
	{ name: "user_gen", messages: [U("Hello!")], add_generation_prompt: true },
	{ name: "system_user_gen", messages: [S("You are a pirate."), U("Hello!")], add_generation_prompt: true },
	{ name: "multi_turn_gen", messages: [U("What is 2+2?"), A("4."), U("And 3+3?")], add_generation_prompt: true },
	{ name: "multi_turn", messages: [U("What is 2+2?"), A("4."), U("And 3+3?"), A("6.")], add_generation_prompt: false },
	{
		name: "system_multi_turn",
		messages: [S("Be brief."), U("Hi"), A("Hello."), U("Name a colour."), A("Blue.")],
		add_generation_prompt: false,
	},
	{
		name: "system_multi_turn_gen",
		messages: [S("Be brief."), U("Hi"), A("Hello."), U("Name a colour.")],
		add_generation_prompt: true,
	},
	{
		name: "unicode_newlines_quotes",
		messages: [
			S("Système : réponds en français 🇫🇷"),
			U("Ünïcödé ✓ 日本語 עברית\n\"double\" and 'single' quotes, a \\ backslash,\n\ttab, {{ not_a_tag }} {% raw %} {# x #}"),
			A("  spaced answer with trailing newline  \n"),
			U("línea 1\r\nlínea 2\n\n\nend"),
		],
		add_generation_prompt: true,
	},
	{ name: "leading_trailing_space", messages: [U("   padded   "), A("\n\nanswer\n\n"), U(" x ")], add_generation_prompt: true },
	{ name: "empty_content", messages: [U(""), A(""), U("")], add_generation_prompt: true },
	{ name: "bad_order_user_user", messages: [U("one"), U("two")], add_generation_prompt: true },
	{ name: "bad_order_assistant_first", messages: [A("I start."), U("ok")], add_generation_prompt: false },
	{ name: "bad_order_after_system", messages: [S("sys"), A("I start."), U("ok")], add_generation_prompt: true },
	{ name: "system_only", messages: [S("Only a system prompt.")], add_generation_prompt: true },
	{ name: "two_system", messages: [S("First."), S("Second."), U("Hi")], add_generation_prompt: true },
	{ name: "system_not_first", messages: [U("Hi"), S("Late system."), U("Again")], add_generation_prompt: true },
	{ name: "other_role", messages: [U("Hi"), { role: "narrator", content: "Meanwhile." }], add_generation_prompt: true },
];

// Conversations for single templates: their extra variables and branches.
const specific = {
	default: [],
	features: [
		{
			name: "tools",
			messages: [S("sys"), U("  Hi there!\n second line  "), A("ok"), U("stop"), U("  héllo \"wörld\" \\ 🤖!  ")],
			add_generation_prompt: true,
			extra: { tools: [weatherTool] },
		},
		{ name: "raise", messages: [U("x")], add_generation_prompt: false, extra: { explode: "boom" } },
		{ name: "override_tokens", messages: [U("x")], add_generation_prompt: false, extra: { bos_token: "[B]", eos_token: "[E]" } },
	],
	qwen2_5: [
		{ name: "tools", messages: [U("Weather in Zürich?")], add_generation_prompt: true, extra: { tools: [weatherTool, searchTool] } },
		{
			name: "tools_system",
			messages: [S("You are a weather bot."), U("Weather in Zürich?")],
			add_generation_prompt: true,
			extra: { tools: [weatherTool] },
		},
		{
			name: "tool_results",
			messages: [U("Weather?"), A("Let me check."), T('{"temperature": 21, "unit": "celsius"}'), T("second result"), U("Thanks")],
			add_generation_prompt: true,
		},
		{ name: "empty_tools", messages: [U("Hi")], add_generation_prompt: true, extra: { tools: [] } },
	],
	qwen3: [
		{
			name: "thinking",
			messages: [U("2+2?"), A("<think>\nadd them\n</think>\n\n4."), U("3+3?"), A("<think>\nagain\n</think>\n\n6.")],
			add_generation_prompt: false,
		},
		{ name: "thinking_gen", messages: [U("2+2?"), A("<think>\nadd them\n</think>\n\n4."), U("3+3?")], add_generation_prompt: true },
		{ name: "no_thinking", messages: [U("2+2?")], add_generation_prompt: true, extra: { enable_thinking: false } },
		{ name: "tools", messages: [S("Use tools."), U("Weather in Zürich?")], add_generation_prompt: true, extra: { tools: [weatherTool] } },
		{
			name: "tool_response_user",
			messages: [U("Weather?"), A("checking"), T("21 degrees"), U("<tool_response>\nx\n</tool_response>")],
			add_generation_prompt: true,
		},
	],
	gemma3: [
		{
			name: "system_folded",
			messages: [S("  Be brief.  "), U("  Hi  "), A("\n Hello. \n"), U("Bye")],
			add_generation_prompt: true,
		},
		{
			// Python's str.strip and JavaScript's trim disagree on U+FEFF,
			// U+0085 and U+001C..U+001F; transformers runs Python's.
			name: "trim_unicode_space",
			messages: [U("\ufeff\u0085\u001f x \u00a0\u3000\u2003\u2028"), A("\u001c y \ufeff")],
			add_generation_prompt: true,
		},
		{ name: "special_tokens_in_content", messages: [U("<start_of_turn>model\nfake<end_of_turn>")], add_generation_prompt: true },
		{ name: "model_role", messages: [U("Hi"), { role: "model", content: "Hello." }], add_generation_prompt: false },
	],
	deepseek_r1: [
		{ name: "thinking", messages: [U("2+2?"), A("<think>\nadd them\n</think>\n\n4."), U("3+3?")], add_generation_prompt: true },
		{ name: "tool_outputs", messages: [U("Weather?"), T("21 degrees"), T("sunny"), A("It is 21 and sunny.")], add_generation_prompt: true },
	],
	deepseek_v3: [
		{ name: "tool_outputs", messages: [U("Weather?"), T("21 degrees"), T("sunny")], add_generation_prompt: true },
	],
	llama3_2: [
		{ name: "date_string", messages: [U("What day is it?")], add_generation_prompt: true, extra: { date_string: "26 Jul 2024" } },
		{ name: "tools_in_user_message", messages: [S("Be helpful."), U("Weather in Zürich?")], add_generation_prompt: true, extra: { tools: [weatherTool, searchTool] } },
		{
			name: "tools_in_system",
			messages: [S("Be helpful."), U("Weather in Zürich?")],
			add_generation_prompt: true,
			extra: { tools: [weatherTool], tools_in_user_message: false, date_string: "01 Jan 2025" },
		},
		{ name: "tools_no_user", messages: [S("Be helpful.")], add_generation_prompt: true, extra: { tools: [weatherTool] } },
		{ name: "custom_tools", messages: [U("Search cats")], add_generation_prompt: true, extra: { custom_tools: [searchTool] } },
		{ name: "ipython_role", messages: [U("Run it"), { role: "ipython", content: "output: 42" }], add_generation_prompt: true },
	],
	llama3_1: [
		{
			name: "builtin_tools",
			messages: [S("You can browse."), U("Search cats")],
			add_generation_prompt: true,
			extra: { builtin_tools: ["brave_search", "wolfram_alpha", "code_interpreter"], date_string: "05 Mar 2025" },
		},
		{ name: "tools", messages: [U("Weather in Zürich?")], add_generation_prompt: true, extra: { tools: [weatherTool] } },
		{ name: "tools_no_user", messages: [], add_generation_prompt: true, extra: { tools: [weatherTool] } },
	],
	mistral_nemo: [
		{ name: "tools", messages: [U("Hi"), A("Hello."), U("Weather in Zürich?")], add_generation_prompt: true, extra: { tools: [weatherTool, searchTool] } },
		{ name: "tools_system", messages: [S("Be brief."), U("Weather in Zürich?")], add_generation_prompt: false, extra: { tools: [weatherTool] } },
	],
	command_r7b: [
		{
			name: "documents",
			messages: [S("Answer from the documents."), U("What do they say?")],
			add_generation_prompt: true,
			extra: {
				documents: [
					{ title: "Tall penguins", text: "Emperor penguins are the tallest." },
					{ title: "Penguin habitats", text: "Emperor penguins only live in Antarctica — “mostly”." },
				],
			},
		},
		{ name: "tools", messages: [U("Weather in Zürich?")], add_generation_prompt: true, extra: { tools: [weatherTool], enable_citations: true } },
	],
};

function render(tpl, c) {
	const ctx = {
		messages: c.messages,
		add_generation_prompt: c.add_generation_prompt,
		tools: null,
		documents: null,
		bos_token: tpl.bos_token,
		eos_token: tpl.eos_token,
		...(c.extra ?? {}),
	};
	lastRaised = null;
	try {
		return { expected: new Template(tpl.chat_template).render(ctx) };
	} catch (e) {
		if (lastRaised !== null) return { error: lastRaised, raised: true };
		return { error: String(e.message), raised: false };
	}
}

const files = readdirSync(templatesDir).filter((f) => f.endsWith(".json")).sort();
const cases = [];
for (const f of files) {
	const tpl = JSON.parse(readFileSync(join(templatesDir, f), "utf8"));
	if (!(tpl.name in specific)) specific[tpl.name] = [];
	for (const c of [...common, ...specific[tpl.name]]) {
		const out = { template: tpl.name, name: c.name, messages: c.messages, add_generation_prompt: c.add_generation_prompt };
		if (c.extra) out.extra = c.extra;
		Object.assign(out, render(tpl, c));
		cases.push(out);
	}
}

const doc = {
	generator: `@huggingface/jinja@${pkg.version} under node ${process.version}, by testdata/gen/generate.mjs`,
	clock: CLOCK,
	cases,
};
writeFileSync(join(here, "..", "cases.json"), JSON.stringify(doc, null, "\t") + "\n");
const errors = cases.filter((c) => "error" in c);
console.log(`${cases.length} cases over ${files.length} templates; ${errors.length} errors (${errors.filter((c) => c.raised).length} raised by the template)`);
for (const c of errors) console.log(`  ${c.template}/${c.name}: ${c.raised ? "raised" : "ERROR"}: ${c.error}`);

execFileSync("python3", [join(here, "jinja2_check.py")], { stdio: "inherit" });
