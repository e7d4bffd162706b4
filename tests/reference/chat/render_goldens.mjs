// Renders tests/engine/data/chat_golden/conversations.json with each chat template in
// tests/engine/data/chat_templates into tests/engine/data/chat_golden/<format>/<name>.txt, the
// byte-exact expectations of tests/engine/chat_format_test.cpp. A conversation a format cannot
// express gets <name>.error instead (the template raised, or ragent refuses it: see below).
//
// Inputs are passed the way HF transformers' apply_chat_template passes them: messages, tools
// (only when there are any), add_generation_prompt, bos_token/eos_token, plus template
// variables of ragent's own (thinking, date_string). Run: npm ci && npm run goldens
import { Template } from "@huggingface/jinja";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const data = path.resolve(here, "../../engine/data");
const templates = path.join(data, "chat_templates");
const golden = path.join(data, "chat_golden");

const clone = (v) => JSON.parse(JSON.stringify(v));
const hasToolCalls = (c) => c.messages.some((m) => m.tool_calls && m.tool_calls.length);
const switchLine = (t) => `detailed thinking ${t}`;

// Each format: its template file and how a conversation becomes template inputs.
const formats = {
  nemotron: {
    file: "ragent-nemotron.jinja",
    inputs: (c, vars) => {
      if (c.thinking) vars.thinking = c.thinking === "on";
    },
  },
  "nemotron-v1": {
    file: "nvidia-Llama-3_3-Nemotron-Super-49B-v1.jinja",
    inputs: (c, vars) => {
      // The v1 template ignores tools and tool calls; ragent refuses them rather than drop them.
      if ((c.tools && c.tools.length) || hasToolCalls(c)) return "format nemotron-v1 has no tool support";
      // ragent's convention: the switch, then the caller's system prompt after a blank line.
      if (c.thinking) {
        const ms = vars.messages;
        if (ms.length && ms[0].role === "system")
          ms[0].content = switchLine(c.thinking) + (ms[0].content ? "\n\n" + ms[0].content : "");
        else ms.unshift({ role: "system", content: switchLine(c.thinking) });
      }
    },
  },
  "nemotron-v1.5": {
    file: "nvidia-Llama-3_3-Nemotron-Super-49B-v1_5.jinja",
    inputs: (c, vars) => {
      // Thinking is a "/think" or "/no_think" line at the end of the system message.
      if (c.thinking) {
        const flag = c.thinking === "on" ? "/think" : "/no_think";
        const ms = vars.messages;
        if (ms.length && ms[0].role === "system")
          ms[0].content = ms[0].content ? ms[0].content + "\n" + flag : flag;
        else ms.unshift({ role: "system", content: flag });
      }
    },
  },
  llama3: {
    file: "meta-llama-Llama-3.1-8B-Instruct.jinja",
    inputs: (c, vars) => {
      if (c.date_string) vars.date_string = c.date_string;
    },
  },
  chatml: {
    file: "Qwen-Qwen2.5-7B-Instruct.jinja",
    inputs: () => {},
  },
};

const conversations = JSON.parse(fs.readFileSync(path.join(golden, "conversations.json"), "utf8"));
for (const [format, spec] of Object.entries(formats)) {
  const template = new Template(fs.readFileSync(path.join(templates, spec.file), "utf8"));
  const dir = path.join(golden, format);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const c of conversations) {
    const vars = {
      messages: clone(c.messages),
      add_generation_prompt: c.add_generation_prompt,
      bos_token: "<|begin_of_text|>",
      eos_token: "<|eot_id|>",
    };
    if (c.tools && c.tools.length) vars.tools = clone(c.tools);
    let refusal = spec.inputs(c, vars);
    let text;
    if (!refusal) {
      try {
        text = template.render(vars);
      } catch (e) {
        refusal = `template raised: ${e.message}`;
      }
    }
    if (refusal) fs.writeFileSync(path.join(dir, `${c.name}.error`), refusal + "\n");
    else fs.writeFileSync(path.join(dir, `${c.name}.txt`), text);
  }
}
console.log(`rendered ${conversations.length} conversations x ${Object.keys(formats).length} formats`);
