"""jinja2_check.py renders every case in ../cases.json a second time with
Python Jinja2 configured exactly as transformers' apply_chat_template
configures it (transformers/utils/chat_template_utils.py:
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the
loopcontrols extension, raise_exception, strftime_now, and a tojson filter
that is json.dumps with ensure_ascii=False), and records the cases where the
result differs from @huggingface/jinja's.

    python3 jinja2_check.py

Run it after generate.mjs. For each case whose Jinja2 result differs it adds
"jinja2": {"expected": ...} or {"error": ..., "raised": ...}. The Go tests
hold chat to the Jinja2 result where there is one, since that is what
transformers produces, and to @huggingface/jinja's everywhere else.

The clock is pinned to the same instant generate.mjs uses.
"""

import datetime
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "cases.json")
TEMPLATES = os.path.join(HERE, "..", "templates")


class Raised(Exception):
    """The template called raise_exception."""


def compile_template(source, clock):
    def raise_exception(message):
        raise Raised(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return clock.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def main():
    with open(CASES, encoding="utf-8") as f:
        doc = json.load(f)
    clock = datetime.datetime.fromisoformat(doc["clock"].replace("Z", "+00:00"))
    templates = {}
    for name in os.listdir(TEMPLATES):
        if name.endswith(".json"):
            with open(os.path.join(TEMPLATES, name), encoding="utf-8") as f:
                t = json.load(f)
            templates[t["name"]] = t

    differ = 0
    for case in doc["cases"]:
        case.pop("jinja2", None)
        t = templates[case["template"]]
        ctx = {
            "messages": case["messages"],
            "tools": None,
            "documents": None,
            "add_generation_prompt": case["add_generation_prompt"],
            "bos_token": t["bos_token"],
            "eos_token": t["eos_token"],
        }
        ctx.update(case.get("extra", {}))
        try:
            got = {"expected": compile_template(t["chat_template"], clock).render(**ctx)}
        except Raised as e:
            got = {"error": str(e), "raised": True}
        except Exception as e:  # noqa: BLE001 - any renderer failure is a result
            got = {"error": f"{type(e).__name__}: {e}", "raised": False}

        js = {k: case[k] for k in ("expected", "error", "raised") if k in case}
        same = ("expected" in js and "expected" in got and js["expected"] == got["expected"]) or (
            "error" in js and "error" in got and js["raised"] == got["raised"]
            and (not got["raised"] or js["error"] == got["error"])
        )
        if not same:
            case["jinja2"] = got
            differ += 1
            print(f"{case['template']}/{case['name']}: @huggingface/jinja and Jinja2 differ", file=sys.stderr)

    doc["jinja2"] = f"Jinja2 {jinja2.__version__} under Python {sys.version.split()[0]}, by testdata/gen/jinja2_check.py"
    with open(CASES, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent="\t")
        f.write("\n")
    print(f"{len(doc['cases'])} cases, {differ} where Jinja2 differs from @huggingface/jinja")


if __name__ == "__main__":
    main()
