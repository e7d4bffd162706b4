#!/usr/bin/env node
// Writes a deterministic tokenizer test corpus: node make_corpus.mjs OUT_FILE [TARGET_BYTES]
//
// OUT_FILE holds documents, each as a little-endian uint32 byte length and the bytes. The
// documents mix source code (this repository and the JavaScript in node_modules), prose in
// many scripts, emoji sequences, whitespace runs, numbers, contractions, special-token text,
// random code points from every plane and invalid UTF-8. A seeded generator makes every run
// produce the same bytes for the same checkout.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const outFile = process.argv[2];
const targetBytes = Number(process.argv[3] ?? 2.5 * 1024 * 1024);
if (!outFile) throw new Error('usage: make_corpus.mjs OUT_FILE [TARGET_BYTES]');

// mulberry32: small, seeded, deterministic.
let seed = 0x5eed1234;
function random() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));  // inclusive
const pick = (list) => list[Math.floor(random() * list.length)];

const prose = {
  english: ['The quick brown fox jumps over the lazy dog.', "It's a truth universally acknowledged, isn't it?",
    "We'll see what they've done; I'd rather you'd told me.", 'Numbers like 3.14159 and 1,000,000 appear in text.'],
  french: ["L'été dernier, nous sommes allés à la plage près de Nîmes.", 'Où est la bibliothèque ? Ça dépend…',
    'Les élèves français étudient «\u00a0la littérature\u00a0» avec enthousiasme.'],
  german: ['Die Straße ist sehr groß und die Bäume sind grün.', 'Übermäßig häufige Äußerungen führen zu Ärger.'],
  polish: ['Zażółć gęślą jaźń, powiedział Łukasz.', 'Świętokrzyskie góry są piękne o każdej porze roku.'],
  vietnamese: ['Tiếng Việt có nhiều dấu thanh điệu khác nhau.', 'Hà Nội là thủ đô của nước Cộng hòa Xã hội chủ nghĩa Việt Nam.'],
  russian: ['Съешь же ещё этих мягких французских булок да выпей чаю.', 'Москва — столица России, а Ёлка растёт в лесу.'],
  ukrainian: ['Чуєш їх, доцю, га? Кумедна ж ти, прощайся без ґольфів!'],
  greek: ['Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.', 'Η γλώσσα μου έδωσαν ελληνική, το σπίτι φτωχικό.'],
  chinese: ['我能吞下玻璃而不伤身体。', '天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。', '人工智能正在改变世界，数据是新的石油。'],
  japanese: ['いろはにほへと ちりぬるを わかよたれそ つねならむ', 'カタカナとひらがなと漢字を混ぜて書きます。', '東京都は日本の首都です。'],
  korean: ['다람쥐 헌 쳇바퀴에 타고파.', '한국어는 한글로 쓰며 세종대왕이 만들었습니다.'],
  arabic: ['نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق.', 'اللغة العربية جميلة جداً.'],
  hebrew: ['דג סקרן שט בים מאוכזב ולפתע מצא חברה.', 'שלום עולם, מה שלומך היום?'],
  hindi: ['ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम।', 'हिन्दी भारत की राजभाषा है।'],
  thai: ['เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน', 'ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ'],
  other: ['Ṁàñÿ ḋîäçṙïṫïçṡ ǫ̈n ŝïṅġŀë ŀëẗẗëṙṡ', 'ᚠᛇᚻ᛫ᛒᛦᚦ᛫ᚠᚱᚩᚠᚢᚱ᛫ᚠᛁᚱᚪ᛫ᚷᛖᚻᚹᛦᛚᚳᚢᛗ', 'ⲧⲁⲓ ⲧⲉ ⲧⲙⲛⲧⲣⲙⲛⲕⲏⲙⲉ',
    'Ꭰ Ꭱ Ꭲ Ꭳ Ꭴ Ꭵ ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ', 'ქართული ენა ძალიან ლამაზია', 'Հայերեն լեզուն հնդեվրոպական է', 'ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ',
    'தமிழ் மொழி மிகவும் பழமையானது', 'বাংলা ভাষা সুন্দর', 'ພາສາລາວ', 'ភាសាខ្មែរ', 'မြန်မာဘာသာ', 'አማርኛ ቋንቋ',
    '𝕋𝕙𝕖 𝕢𝕦𝕚𝕔𝕜 𝓫𝓻𝓸𝔀𝓷 𝒻𝑜𝓍', 'ﬁnancial ﬂow ﬀ', 'Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ　１２３'],
};
const emoji = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇺🇸', '🇯🇵🇩🇪🇫🇷', '1️⃣', '❤️', '🧑🏿‍💻', '👩‍❤️‍💋‍👨', '🤷‍♀️',
  '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '☕', '🫠', '🦀', '⭐️', '©️', '™', '🔥🔥🔥'];
const numbers = () => pick([
  () => String(int(0, 9)), () => String(int(0, 999999)), () => '9'.repeat(int(1, 60)),
  () => Array.from({ length: int(2, 40) }, () => int(0, 9)).join(''),
  () => `${int(0, 9999)}.${int(0, 99999)}`, () => `${int(1, 999)},${int(100, 999)},${int(100, 999)}`,
  () => `0x${int(0, 0xffffffff).toString(16)}`, () => `${int(1990, 2030)}-${int(1, 12)}-${int(1, 28)}`,
  () => '٠١٢٣٤٥٦٧٨٩'.slice(0, int(1, 10)), () => '１２３４５', () => '²³¹⁴', () => '½¾⅓', () => 'ⅫⅣ',
  () => '१२३४', () => '๑๒๓', () => `${int(-999, 999)}e${int(-30, 30)}`,
])();
const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D",
  "'Re", "'lL", "'x", "''", "'", "’s", "'123"];
const words = ['I', 'you', 'WE', 'They', 'it', 'SHE', 'don', 'can', 'Rock', 'n', 'y', 'all'];
const specials = ['<|eot_id|>', '<|begin_of_text|>', '<|start_header_id|>', '<s>', '</s>', '<unk>', '<|eot_id', '|>'];
const spaces = [' ', ' ', ' ', '\t', '\n', '\r\n', '\r', '\n\n', '\u00a0', '\u3000', '\u2009', '\u0085', '\ufeff',
  '\u000b', '\u000c', '\u2028', '\u200b', '\u180e', '\u202f', '\u2581'];

function sentence() {
  const lang = pick(Object.keys(prose));
  let s = pick(prose[lang]);
  const r = random();
  if (r < 0.1) s = s.toUpperCase();
  else if (r < 0.15) s = s.toLowerCase();
  return s;
}

function randomCodepoint() {
  const r = random();
  let cp;
  if (r < 0.4) cp = int(0x20, 0x7ff);
  else if (r < 0.8) cp = int(0x800, 0xffff);
  else cp = int(0x10000, 0x10ffff);
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  return String.fromCodePoint(cp);
}

const makers = {
  prose: () => {
    const parts = [];
    for (let i = int(1, 12); i > 0; --i) {
      parts.push(sentence());
      if (random() < 0.3) parts.push(numbers());
      if (random() < 0.2) parts.push(pick(emoji));
      parts.push(random() < 0.8 ? ' ' : pick(['\n', '\n\n', '  ', '\t']));
    }
    return parts.join('');
  },
  contractions: () => Array.from({ length: int(5, 60) }, () =>
    pick(words) + pick(contractions) + pick([' ', '', '  ', '\n', "'", '.'])).join(''),
  whitespace: () => Array.from({ length: int(5, 80) }, () => {
    const r = random();
    if (r < 0.4) return pick(spaces).repeat(int(1, 12));
    if (r < 0.7) return pick(words) + pick(contractions);
    if (r < 0.85) return numbers();
    return pick(['.', '!!', '...', '—', '(', ')', '{', '}', ';', '-', '"']) + pick(spaces);
  }).join(''),
  numbers: () => Array.from({ length: int(5, 50) }, () => numbers() + pick([' ', '', ', ', '\n', '.', 'x', '-'])).join(''),
  emoji: () => Array.from({ length: int(3, 60) }, () => pick(emoji) + (random() < 0.5 ? pick(spaces) : '') +
    (random() < 0.3 ? pick(words) : '')).join(''),
  codepoints: () => Array.from({ length: int(5, 300) }, () => random() < 0.8 ? randomCodepoint() : pick(spaces)).join(''),
  specials: () => Array.from({ length: int(3, 30) }, () => random() < 0.5 ? pick(specials) : sentence().slice(0, int(0, 30))).join(''),
  longRuns: () => pick([
    () => ' '.repeat(int(100, 3000)) + 'x', () => '\n'.repeat(int(50, 500)), () => ' \t'.repeat(int(50, 500)),
    () => '7'.repeat(int(100, 2000)), () => pick(emoji).repeat(int(50, 800)), () => '我能'.repeat(int(100, 1500)),
    () => 'a'.repeat(int(100, 3000)), () => '=-'.repeat(int(100, 1500)), () => 'ab'.repeat(int(100, 2000)),
    () => 'Ǆ'.repeat(int(10, 500)) + '\r\n'.repeat(int(1, 50)),
  ])(),
};

function invalidBytes() {
  return Buffer.from(pick([
    [0x80], [0xbf], [0xc0, 0xaf], [0xc1, 0xbf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf],
    [0xf0, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xff], [0xfe], [0xe2, 0x82], [0xf0, 0x9f, 0x98],
    [0xc3], [0xe4, 0xb8], [0xf0, 0x9f], [0xc3, 0xc3, 0xa9], [0xe2, 0x28, 0xa1], [int(0x80, 0xff), int(0x80, 0xff)],
  ]));
}

function withInvalidUtf8(text) {
  const bytes = Buffer.from(text, 'utf8');
  const pieces = [];
  let pos = 0;
  for (let i = int(1, 6); i > 0; --i) {
    const at = int(pos, bytes.length);  // may cut a character in half: also invalid
    pieces.push(bytes.subarray(pos, at), invalidBytes());
    pos = at;
  }
  pieces.push(bytes.subarray(pos));
  return Buffer.concat(pieces);
}

function sourceDocuments() {
  const files = [];
  const walk = (dir, exts) => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name < b.name ? -1 : 1)) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full, exts);
      else if (exts.some((e) => (e === '' ? !entry.name.includes('.') : entry.name.endsWith(e)))) files.push(full);
    }
  };
  for (const dir of ['engine', 'kernels', 'runtime', 'tests/engine', 'tests/fuzz', 'scripts', 'cmake', 'bench']) {
    walk(path.join(repo, dir), ['.cpp', '.hpp', '.txt', '.cmake', '.mjs', '']);  // '': no extension (scripts)
  }
  walk(path.join(here, 'node_modules', '@lenml', 'tokenizers'), ['.mjs', '.ts', '.md']);
  const docs = [];
  for (const file of files) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    for (let i = 0; i < lines.length;) {
      const n = int(10, 80);
      docs.push(lines.slice(i, i + n).join('\n') + '\n');
      i += n;
    }
  }
  return docs;
}

const documents = [];
let total = 0;
const add = (buffer) => {
  documents.push(buffer);
  total += buffer.length;
};
// About 40% source code (capped), the rest generated.
for (const doc of sourceDocuments()) {
  if (total > targetBytes * 0.4) break;
  add(Buffer.from(doc, 'utf8'));
}
const kinds = Object.keys(makers);
while (total < targetBytes) {
  const kind = pick(kinds);
  const text = makers[kind]();
  add(random() < 0.12 ? withInvalidUtf8(text) : Buffer.from(text, 'utf8'));
}
// Interleave deterministically so a prefix of the corpus has every kind.
for (let i = documents.length - 1; i > 0; --i) {
  const j = Math.floor(random() * (i + 1));
  [documents[i], documents[j]] = [documents[j], documents[i]];
}
const out = [];
for (const doc of documents) {
  const length = Buffer.alloc(4);
  length.writeUInt32LE(doc.length);
  out.push(length, doc);
}
fs.writeFileSync(outFile, Buffer.concat(out));
console.log(`make_corpus: ${documents.length} documents, ${total} bytes -> ${outFile}`);
