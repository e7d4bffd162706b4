// Prints a GGUF file's header, metadata and tensor infos as read by @huggingface/gguf, an
// independent JavaScript parser, in the line format tests/engine/gguf_reference_test.cpp
// prints from our reader. Usage: node gguf_dump.mjs FILE
import { gguf } from "@huggingface/gguf";

const FLOAT32 = 6, FLOAT64 = 12, ARRAY = 9;

function format(value, type, subType) {
  if (type === ARRAY) {
    // @huggingface/gguf reports one level of element type; deeper levels hold integers here.
    return "[" + value.map((v) => format(v, Array.isArray(v) ? ARRAY : subType, undefined)).join(",") + "]";
  }
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return JSON.stringify(value);
  if (type === FLOAT32 || type === FLOAT64) return value.toFixed(6);
  return String(value);
}

const file = process.argv[2];
const { metadata, typedMetadata, tensorInfos, tensorDataOffset } = await gguf(file, {
  allowLocalFile: true,
  typedMetadata: true,
});
const lines = [`version ${metadata.version}`, `data_offset ${tensorDataOffset}`];
for (const [key, entry] of Object.entries(typedMetadata)) {
  if (key === "version" || key === "tensor_count" || key === "kv_count") continue;
  const type = entry.subType === undefined ? `${entry.type}` : `${entry.type}/${entry.subType}`;
  lines.push(`kv ${key} ${type} ${format(entry.value, entry.type, entry.subType)}`);
}
for (const t of tensorInfos) {
  lines.push(`tensor ${t.name} ${t.shape.map(String).join("x")} ${t.dtype} ${t.offset}`);
}
process.stdout.write(lines.join("\n") + "\n");
