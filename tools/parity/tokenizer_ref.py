#!/usr/bin/python3
"""An independent reference of minigraph's byte-level BPE tokenizer.

Written from HF tokenizers' documented behaviour, not from minigraph's C++:
the GPT-2 split is the `regex` module running the pattern itself (GPT-2's
own encoder used it), added tokens are found with a regex alternation,
BPE merges are applied one at a time by scanning every adjacent pair, and
decoding is bytes.decode('utf-8', 'replace'), whose substitution of maximal
invalid subparts is the rule of Rust's String::from_utf8_lossy.

Text that is not valid UTF-8 is handled as minigraph does: each invalid
byte is a character of its own that is neither letter, number nor space.
Here that is Python's surrogateescape (an invalid byte becomes a lone
surrogate, category Cs).

Commands (see tools/parity/README.md):
  encode TOKENIZER.json IN.jsonl OUT.jsonl   {"text"|"bytes_b64"} -> {"ids"}
  decode TOKENIZER.json IN.jsonl OUT.jsonl   {"ids"[, "skip_special_tokens"]}
                                             -> {"text"}
  split IN.jsonl OUT.jsonl                   -> {"piece_lengths"} (bytes)
  train CORPUS.txt OUT.json --merges N       a small tokenizer.json
  goldens OUTDIR                             the test data of
                                             tests/framework/tokenizer
  fuzz --driver BIN [--count N --seed S]     random differential check
  unicode --driver BIN                       ICU vs this module's tables
  corpus OUT.txt --megabytes N               mixed English/CJK bench text
"""

import argparse
import base64
import collections
import json
import os
import random
import subprocess
import sys
import tempfile

import regex

GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"""
    r"""|\s+(?!\S)|\s+""")
WORD_CHAR = r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]"
ENDS_WITH_WORD = regex.compile(WORD_CHAR + r"\Z")
STARTS_WITH_WORD = regex.compile(r"\A" + WORD_CHAR)
TRAILING_SPACE = regex.compile(r"\p{White_Space}*\Z")
LEADING_SPACE = regex.compile(r"\A\p{White_Space}*")


def bytes_to_unicode():
  """GPT-2's table: printable Latin-1 bytes keep their code point, the
  other 68 bytes get 256, 257, ... in byte order."""
  kept = (list(range(ord("!"), ord("~") + 1)) +
          list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1)))
  table = {}
  extra = 0
  for b in range(256):
    if b in kept:
      table[b] = chr(b)
    else:
      table[b] = chr(256 + extra)
      extra += 1
  return table


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def to_text(data):
  """Bytes -> str with one lone surrogate per invalid byte."""
  return data.decode("utf-8", "surrogateescape")


def to_bytes(text):
  return text.encode("utf-8", "surrogateescape")


def gpt2_split(text):
  pieces = GPT2_PATTERN.findall(text)
  assert "".join(pieces) == text, "the pattern covers every character"
  return pieces


class Tokenizer:
  """The subset of tokenizer.json minigraph supports, checked loosely (the
  C++ checks it strictly; this only has to encode what it accepts)."""

  def __init__(self, spec):
    model = spec["model"]
    assert model.get("type", "BPE") == "BPE"
    assert spec.get("normalizer") is None
    pre = spec["pre_tokenizer"]
    if pre["type"] == "Sequence":
      (pre,) = pre["pretokenizers"]
    assert pre["type"] == "ByteLevel"
    self.add_prefix_space = pre["add_prefix_space"]
    self.use_regex = pre.get("use_regex", True)
    self.byte_level_decoder = spec.get("decoder") is not None
    self.vocab = dict(model["vocab"])
    self.added = []
    for entry in spec.get("added_tokens") or []:
      token = dict(single_word=False, lstrip=False, rstrip=False,
                   normalized=True, special=False)
      token.update(entry)
      self.added.append(token)
      self.vocab[token["content"]] = token["id"]
    self.id_to_token = {i: t for t, i in self.vocab.items()}
    self.special_ids = {t["id"] for t in self.added if t["special"]}
    self.ranks = {}
    rank = 0
    for merge in model["merges"]:
      if isinstance(merge, str):
        if merge.startswith("#version"):
          continue
        left, right = merge.split(" ")
      else:
        left, right = merge
      self.ranks[(left, right)] = rank  # a repeated pair keeps the later rank
      rank += 1
    self.unk = model.get("unk_token")
    self.fuse_unk = model.get("fuse_unk", False)
    self.ignore_merges = model.get("ignore_merges", False)

  # ---- added tokens ---------------------------------------------------------

  def _find(self, sentence, tokens):
    """HF's find_matches on one stretch: [(text, None) | (text, id)]."""
    if not tokens:
      return [(sentence, None)]
    # Longest first: an alternation takes the first alternative that
    # matches, so this is leftmost-longest.
    ordered = sorted(tokens, key=lambda t: -len(t["content"]))
    pattern = regex.compile("|".join(regex.escape(t["content"])
                                     for t in ordered))
    by_content = {t["content"]: t for t in ordered}
    out = []
    start_offset = 0
    for match in pattern.finditer(sentence):
      start, stop = match.span()
      token = by_content[match.group()]
      if token["single_word"]:
        if start > 0 and ENDS_WITH_WORD.search(sentence[:start]):
          continue
        if stop < len(sentence) and STARTS_WITH_WORD.search(sentence[stop:]):
          continue
      if token["lstrip"]:
        start = max(TRAILING_SPACE.search(sentence[:start]).start(),
                    start_offset)
      if token["rstrip"]:
        stop += LEADING_SPACE.match(sentence[stop:]).end()
      if start_offset < start:
        out.append((sentence[start_offset:start], None))
      out.append((sentence[start:stop], token["id"]))
      start_offset = stop
    if start_offset < len(sentence):
      out.append((sentence[start_offset:], None))
    return out

  def split_added(self, text):
    """Non-normalized tokens over the text, then normalized ones over what
    is left; empty stretches dropped."""
    if not text:
      return []
    first = [t for t in self.added if not t["normalized"]]
    second = [t for t in self.added if t["normalized"]]
    segments = self._find(text, first)
    out = []
    for segment, token_id in segments:
      if token_id is not None:
        out.append((segment, token_id))
      else:
        out.extend(self._find(segment, second))
    return [(s, i) for s, i in out if s or i is not None]

  # ---- BPE ------------------------------------------------------------------

  def bpe(self, piece):
    """Ids of one piece (raw bytes)."""
    chars = [BYTE_TO_CHAR[b] for b in piece]
    if self.ignore_merges and "".join(chars) in self.vocab:
      return [self.vocab["".join(chars)]]
    symbols = []
    previous_unknown = False
    for c in chars:
      if c in self.vocab:
        symbols.append(c)
        previous_unknown = False
      elif self.unk is not None:
        if not (previous_unknown and self.fuse_unk):
          symbols.append(self.unk)
        previous_unknown = True
    while True:
      best = None
      for i in range(len(symbols) - 1):
        rank = self.ranks.get((symbols[i], symbols[i + 1]))
        if rank is not None and (best is None or rank < best[0]):
          best = (rank, i)
      if best is None:
        break
      i = best[1]
      symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
    return [self.vocab[s] for s in symbols]

  # ---- the pipeline ---------------------------------------------------------

  def encode(self, data):
    ids = []
    for segment, token_id in self.split_added(to_text(data)):
      if token_id is not None:
        ids.append(token_id)
        continue
      if self.add_prefix_space and not segment.startswith(" "):
        segment = " " + segment
      pieces = gpt2_split(segment) if self.use_regex else [segment]
      for piece in pieces:
        ids.extend(self.bpe(to_bytes(piece)))
    return ids

  def decode(self, ids, skip_special_tokens=False):
    tokens = [self.id_to_token[i] for i in ids
              if not (skip_special_tokens and i in self.special_ids)]
    if not self.byte_level_decoder:
      return " ".join(tokens)
    data = b""
    for token in tokens:
      if all(c in CHAR_TO_BYTE for c in token):
        data += bytes(CHAR_TO_BYTE[c] for c in token)
      else:
        data += token.encode("utf-8")
    return data.decode("utf-8", "replace")


# ---- files ------------------------------------------------------------------


def read_jsonl(path):
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, rows):
  with open(path, "w", encoding="utf-8") as f:
    for row in rows:
      f.write(json.dumps(row, ensure_ascii=False) + "\n")


def row_bytes(row):
  if "bytes_b64" in row:
    return base64.b64decode(row["bytes_b64"])
  return row["text"].encode("utf-8")


def text_row(data):
  """{"text"} for valid UTF-8, else {"bytes_b64"}."""
  try:
    return {"text": data.decode("utf-8")}
  except UnicodeDecodeError:
    return {"bytes_b64": base64.b64encode(data).decode("ascii")}


def load_tokenizer(path):
  with open(path, encoding="utf-8") as f:
    return Tokenizer(json.load(f))


def cmd_encode(args):
  tok = load_tokenizer(args.tokenizer)
  write_jsonl(args.output, [{"ids": tok.encode(row_bytes(r))}
                            for r in read_jsonl(args.input)])


def cmd_decode(args):
  tok = load_tokenizer(args.tokenizer)
  write_jsonl(args.output, [
      {"text": tok.decode(r["ids"], r.get("skip_special_tokens", False))}
      for r in read_jsonl(args.input)])


def cmd_split(args):
  rows = []
  for r in read_jsonl(args.input):
    pieces = gpt2_split(to_text(row_bytes(r)))
    rows.append({"piece_lengths": [len(to_bytes(p)) for p in pieces]})
  write_jsonl(args.output, rows)


# ---- training -----------------------------------------------------------------

# A small corpus for the golden tokenizer: English, Chinese, code and
# numbers, so that its merges cover words, CJK bytes and digits.
TRAINING_TEXT = """\
The attention module lets every position look at every earlier position.
Queries, keys and values are projections of the same hidden states; the
scores are the scaled dot products of queries with keys, and the softmax of
the scores weighs the values. Grouped query attention shares each key and
value head between several query heads, which saves memory when decoding.
We train a small model on a single machine: the loss goes down, the
gradients are checked, and the graph is saved and loaded again. It's the
same graph, and we'll run it twice. Don't worry: they're equal, I've checked.
In 2024 the model had 26 million parameters, 8 heads and 2 key-value heads;
its context was 512 tokens long and its vocabulary had 6400 tokens.
注意力机制让每个位置都能看到前面的所有位置。查询、键和值都是隐藏状态的投影。
我们在一台机器上训练一个小模型：损失下降，梯度经过检查，计算图被保存后再次加载。
分组查询注意力让多个查询头共享同一个键值头，这样在解码时可以节省内存。
模型有两千六百万个参数，上下文长度是五百一十二个词元。
def attention(query, key, value):
    scores = query @ key.transpose(-2, -1) / math.sqrt(head_dim)
    return softmax(scores + mask, dim=-1) @ value

for step in range(1000):
    loss = model(batch).loss
    loss.backward()
    optimizer.step()
"""


def train(text, num_merges, special_tokens):
  """A plain BPE trainer: the most frequent adjacent pair of the pre-split
  words is merged, ties broken by the smaller pair of strings. Pair counts
  are updated only for the words a merge touches."""
  words = collections.Counter(
      tuple(BYTE_TO_CHAR[b] for b in to_bytes(piece))
      for piece in gpt2_split(text))
  words = [(list(w), n) for w, n in words.items()]
  pair_counts = collections.Counter()
  pair_words = collections.defaultdict(set)
  for index, (symbols, n) in enumerate(words):
    for pair in zip(symbols, symbols[1:]):
      pair_counts[pair] += n
      pair_words[pair].add(index)
  vocab = list(special_tokens) + sorted(BYTE_TO_CHAR.values())
  merges = []
  while len(merges) < num_merges:
    candidates = [(n, p) for p, n in pair_counts.items() if n > 0]
    if not candidates:
      break
    best_count = max(n for n, _ in candidates)
    pair = min(p for n, p in candidates if n == best_count)
    merged = pair[0] + pair[1]
    merges.append(pair)
    vocab.append(merged)
    for index in sorted(pair_words.pop(pair, ())):
      symbols, n = words[index]
      for old in zip(symbols, symbols[1:]):
        pair_counts[old] -= n
      i = 0
      out = []
      while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
          out.append(merged)
          i += 2
        else:
          out.append(symbols[i])
          i += 1
      words[index] = (out, n)
      for new in zip(out, out[1:]):
        pair_counts[new] += n
        pair_words[new].add(index)
    pair_counts.pop(pair, None)
  return vocab, merges


def make_tokenizer_json(vocab, merges, added, add_prefix_space=False,
                        use_regex=True, merges_as_pairs=False, unk=None,
                        fuse_unk=False, ignore_merges=False, decoder=True,
                        sequence=False):
  """A tokenizer.json dict in HF's layout. `added` holds dicts with
  content and flags; their ids are their positions in `vocab`."""
  index = {t: i for i, t in enumerate(vocab)}
  added_tokens = []
  for token in added:
    entry = {"id": index[token["content"]], "content": token["content"]}
    for flag in ("single_word", "lstrip", "rstrip", "normalized", "special"):
      entry[flag] = token.get(flag, False)
    added_tokens.append(entry)
  byte_level = {"type": "ByteLevel", "add_prefix_space": add_prefix_space,
                "trim_offsets": True, "use_regex": use_regex}
  pre = ({"type": "Sequence", "pretokenizers": [byte_level]} if sequence
         else byte_level)
  return {
      "version": "1.0", "truncation": None, "padding": None,
      "added_tokens": added_tokens, "normalizer": None,
      "pre_tokenizer": pre,
      "post_processor": ({"type": "ByteLevel", "add_prefix_space": True,
                          "trim_offsets": False, "use_regex": True}
                         if sequence else None),
      "decoder": ({"type": "ByteLevel", "add_prefix_space": True,
                   "trim_offsets": True, "use_regex": True}
                  if decoder else None),
      "model": {
          "type": "BPE", "dropout": None, "unk_token": unk,
          "continuing_subword_prefix": None, "end_of_word_suffix": None,
          "fuse_unk": fuse_unk, "byte_fallback": False,
          "ignore_merges": ignore_merges,
          "vocab": {t: i for i, t in enumerate(vocab)},
          "merges": ([[a, b] for a, b in merges] if merges_as_pairs
                     else [a + " " + b for a, b in merges]),
      },
  }


def write_json(path, value):
  with open(path, "w", encoding="utf-8") as f:
    json.dump(value, f, ensure_ascii=False, indent=2)
    f.write("\n")


def cmd_train(args):
  with open(args.corpus, encoding="utf-8") as f:
    text = f.read()
  specials = args.special or []
  vocab, merges = train(text, args.merges, specials)
  write_json(args.output, make_tokenizer_json(
      vocab, merges, [{"content": s, "special": True} for s in specials]))


# ---- golden data ----------------------------------------------------------------

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Added tokens of the trained tokenizers beyond the specials: every flag,
# both passes (normalized false first, then true: in "action m" the first
# pass takes "tion m", so "ctio", further left, is never seen).
TRAINED_ADDED = [
    {"content": "<tool>", "lstrip": True, "rstrip": True},
    {"content": "[MASK]", "single_word": True, "lstrip": True,
     "special": True},
    {"content": "snow☃", "rstrip": True, "normalized": True},
    {"content": "ab", "single_word": True, "normalized": True},
    {"content": "ctio", "normalized": True},
    {"content": "tion m"},
]
# Whole words the trained merges would split; with ignore_merges a piece
# equal to one of them is that token.
WHOLE_WORDS = ["Ġsoftmax", "Ġgradients", "注意力", "Ġ2024", "ĠDon", "Ġis"]

# A hand-made vocabulary over a few bytes (the rest are unknown). Merge
# ranks are chosen so that merging one pair at a time differs from GPT-2's
# classic "merge every occurrence of the best pair": "abab" is "aba b"
# here, not "ab ab"; "y z" is listed twice and the later rank counts, so
# "yzz" is "y zz" (with the first rank it would be "yz z"); the unk symbol
# takes part in merges ("<unk>a").
SMALL_VOCAB = ["<unk>", "<s>", "a", "b", "c", "d", "x", "y", "z", "Ġ", "Ċ",
               "!", "bc", "aba", "ab", "xy", "xyz", "zz", "Ġa", "cd", "yz",
               "<unk>a", "dx", "cdx", "zz!", "abab"]
SMALL_MERGES = [("b", "c"), ("ab", "a"), ("a", "b"), ("x", "y"),
                ("y", "z"), ("xy", "z"), ("z", "z"), ("Ġ", "a"), ("c", "d"),
                ("<unk>", "a"), ("d", "x"), ("zz", "!"), ("ab", "ab"),
                ("y", "z")]
SMALL_ADDED = [
    {"content": "<s>", "special": True},
    {"content": "dx"},
    {"content": "cdx", "normalized": True},
    {"content": "zz!", "single_word": True, "normalized": True},
]

FIXED_CASES = [
    "", "Hello world", "a   b", "I'm", "I'M", "a\t\tb", "a \n b",
    "don't DON'T we'll they're I've 'S 's 'T 'll 'Ll 're've'm'd",
    "Hello there\nHello there", "  leading spaces", "trailing spaces   ",
    "\t\ttabs\t\there\t", "\n\n\nnewlines\n\n", "\r\n\r\nwindows\r\n",
    "mixed \t\n \r\n  whitespace \u000b\u000c end", " " * 40, "\n" * 30,
    "x" + " " * 100 + "y", "?!  ...  ,,", "x  ", "  ",
    "注意力机制让每个位置都能看到前面的所有位置。", "中文English混合123数字",
    "日本語のテキスト、カタカナ。한국어 텍스트 ภาษาไทย",
    "👍 👨‍👩‍👧‍👦 family 🏳️‍🌈 flag 👋🏽 wave ❤️ 🇯🇵",
    "e\u0301 cafe\u0301 \u0915\u094d\u0937 Z\u0351\u0360\u0353a\u0337l\u0322g",
    "0123 ٠١٢٣ ०१२३ ０１２３ Ⅻ ½ ² ³ ①② 𝟘𝟙 1,000.5",
    "NBSP\u00a0here and\u3000ideographic\u2003em\u2028line\u2029para"
    "\u0085nel \u200bzw \u180emvs \u001cfs\u001f",
    "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>text", "<|im_start|><|im_start|>", "<|endoftext",
    "<tool>", "call   <tool>   now", " \t<tool>\n\n<tool> x",
    "x[MASK]y", " [MASK] ", "a [MASK]", "[MASK]b", "a\u3000[MASK]",
    "snow☃  after", "snow☃snow☃", "ab abc xab ab_ ab. _ab ab",
    "action motion nation m", "def f(x):\n    return x ** 2  # square\n",
    "The attention module lets every position look at every earlier position.",
    " softmax gradients 注意力 2024 Don is", "softmax", "Don't",
    "abab", "yzz", "xyzz", "abcd", "qqq abq", "acdxa", "<s>abc</s>",
    "zz! zz!x zz!", "a b c d", "qaqa", "ababab abab", "ab" * 9, "yzz" * 7,
    "a" * 1000, "ab" * 300, "\u00e9" * 200, "注" * 200,
]
FIXED_BYTE_CASES = [
    b"\xff\xfe", b"abc\x80def", b"\xe2\x82 truncated", b"\xed\xa0\x80 surrogate",
    b"\xc0\xaf overlong", b"\xf4\x90\x80\x80 too big", b"\xf0\x9f\x98",
    b"<|im_start|>\xff<|im_end|>", b" \xff", b"'s\xff's", b"\xe2\x82\xac\xe2",
    b"a\xc3", b"\x80\x80\x80 ab", b"\xf1\x80\x80a\xf1\x80\x80\x80",
]


def golden_tokenizers():
  """name -> tokenizer.json dict."""
  vocab, merges = train(TRAINING_TEXT, 400, SPECIALS)
  added = [{"content": s, "special": True} for s in SPECIALS] + TRAINED_ADDED
  full = vocab + [t["content"] for t in TRAINED_ADDED if t["content"] not in
                  vocab]
  whole = full + [w for w in WHOLE_WORDS if w not in full]
  return {
      "trained": make_tokenizer_json(full, merges, added),
      "trained_prefix": make_tokenizer_json(
          whole, merges, added, add_prefix_space=True, merges_as_pairs=True,
          ignore_merges=True),
      "small_fuse": make_tokenizer_json(
          SMALL_VOCAB, SMALL_MERGES, SMALL_ADDED, add_prefix_space=True,
          unk="<unk>", fuse_unk=True),
      "small_plain": make_tokenizer_json(
          SMALL_VOCAB, SMALL_MERGES, SMALL_ADDED, use_regex=False,
          unk="<unk>", decoder=False, sequence=True),
      "small_drop": make_tokenizer_json(
          SMALL_VOCAB, SMALL_MERGES, SMALL_ADDED, merges_as_pairs=True),
  }


# ---- random text ------------------------------------------------------------------

BLOCKS = [
    (0x20, 0x7E), (0x80, 0xFF), (0x100, 0x24F), (0x250, 0x2FF),
    (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x530, 0x58F),
    (0x590, 0x6FF), (0x900, 0x97F), (0x980, 0x9FF), (0xE00, 0xE7F),
    (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1680, 0x169F), (0x1800, 0x18AF),
    (0x1AB0, 0x1AFF), (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x2070, 0x218F),
    (0x2190, 0x23FF), (0x2460, 0x24FF), (0x2C00, 0x2C5F), (0x2E80, 0x2FFF),
    (0x3000, 0x303F), (0x3040, 0x30FF), (0x3100, 0x31FF), (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF), (0xA000, 0xA4CF), (0xA830, 0xA83F), (0xAC00, 0xD7A3),
    (0xD7B0, 0xD7FF), (0xE000, 0xF8FF), (0xF900, 0xFAFF), (0xFB00, 0xFDFF),
    (0xFE00, 0xFE6F), (0xFF00, 0xFFEF), (0xFFF0, 0xFFFF), (0x10000, 0x1007F),
    (0x10140, 0x1018F), (0x10900, 0x1091F), (0x11000, 0x1107F),
    (0x12400, 0x1247F), (0x16800, 0x16A3F), (0x1D400, 0x1D7FF),
    (0x1E030, 0x1E08F), (0x1F000, 0x1FAFF), (0x1FB00, 0x1FBFF),
    (0x20000, 0x2A6DF), (0x2EBF0, 0x2EE5F), (0x30000, 0x323AF),
    (0x323B0, 0x3FFFF), (0xE0000, 0xE01EF), (0xF0000, 0xFFFFF),
    (0x10FFF0, 0x10FFFF),
]
SPACES = [0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
          0x180E, 0x2000, 0x2005, 0x200A, 0x200B, 0x2028, 0x2029, 0x202F,
          0x205F, 0x3000, 0xFEFF]
INVALID = [b"\x80", b"\xbf", b"\xc0", b"\xc1\x80", b"\xe2\x82", b"\xed\xa0\x80",
           b"\xed\xbf\xbf", b"\xf0\x9f", b"\xf5", b"\xff", b"\xf4\x90\x80\x80",
           b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"\xc2"]
WORDS = ["Hello", "world", "attention", "the", "model", "'s", "'t", "'re",
         "'ve", "'m", "'ll", "'d", "'S", "'LL", "'", "don't", "I'm", "2024",
         "3.14", "注意力", "模型", "😀", "👨‍👩‍👧", "\u0301", "ab", "abab",
         "yzz", "xyz", "cdx", "zz!", "snow☃", "action", "tion m"]
SPECIAL_TEXTS = SPECIALS + ["<tool>", "[MASK]", "<s>", "<|im_end"]


def random_bytes(rng):
  """A random string of many Unicode blocks, white space of every kind,
  words, added tokens and invalid UTF-8."""
  parts = []
  for _ in range(rng.randrange(0, 24)):
    kind = rng.random()
    if kind < 0.35:
      low, high = rng.choice(BLOCKS)
      for _ in range(rng.randrange(1, 6)):
        cp = rng.randint(low, high)
        if not 0xD800 <= cp <= 0xDFFF:
          parts.append(chr(cp).encode("utf-8"))
    elif kind < 0.55:
      parts.append("".join(chr(rng.choice(SPACES))
                           for _ in range(rng.randrange(1, 5))).encode("utf-8"))
    elif kind < 0.72:
      parts.append(rng.choice(WORDS).encode("utf-8"))
    elif kind < 0.75:  # long pieces: runs of one word
      parts.append(rng.choice(WORDS).encode("utf-8") * rng.randrange(2, 40))
    elif kind < 0.85:
      parts.append(" ".encode("utf-8"))
    elif kind < 0.93:
      parts.append(rng.choice(SPECIAL_TEXTS).encode("utf-8"))
    else:
      parts.append(rng.choice(INVALID) if rng.random() < 0.8 else
                   bytes([rng.randrange(256)]))
  return b"".join(parts)


def reference_row(tok, data):
  """What the C++ driver's `run` command prints for one input."""
  ids = tok.encode(data)
  return {
      "piece_lengths": [len(to_bytes(p)) for p in gpt2_split(to_text(data))],
      "ids": ids,
      "decoded": tok.decode(ids),
      "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
  }


def golden_inputs(random_count=40, seed=1234):
  rng = random.Random(seed)
  inputs = [c.encode("utf-8") for c in FIXED_CASES] + FIXED_BYTE_CASES
  return inputs + [random_bytes(rng) for _ in range(random_count)]


def cmd_goldens(args):
  os.makedirs(args.outdir, exist_ok=True)
  inputs = golden_inputs()
  split_rows = []
  for data in inputs:
    row = text_row(data)
    row["piece_lengths"] = reference_row(
        Tokenizer(golden_tokenizers()["small_drop"]), data)["piece_lengths"]
    split_rows.append(row)
  write_jsonl(os.path.join(args.outdir, "split.golden.jsonl"), split_rows)
  for name, spec in golden_tokenizers().items():
    write_json(os.path.join(args.outdir, name + ".tokenizer.json"), spec)
    tok = Tokenizer(spec)
    rows = []
    for data in inputs:
      row = text_row(data)
      ref = reference_row(tok, data)
      del ref["piece_lengths"]
      row.update(ref)
      rows.append(row)
    write_jsonl(os.path.join(args.outdir, name + ".golden.jsonl"), rows)
    print(f"{name}: {len(spec['model']['vocab'])} tokens, "
          f"{len(spec['model']['merges'])} merges, {len(rows)} cases")


# ---- checks against the C++ driver --------------------------------------------


def run_driver(driver, *args):
  subprocess.run([driver, *args], check=True)


def cmd_fuzz(args):
  rng = random.Random(args.seed)
  inputs = [random_bytes(rng) for _ in range(args.count)]
  mismatches = 0
  with tempfile.TemporaryDirectory() as tmp:
    in_path = os.path.join(tmp, "in.jsonl")
    write_jsonl(in_path, [{"bytes_b64": base64.b64encode(d).decode("ascii")}
                          for d in inputs])
    for name, spec in golden_tokenizers().items():
      spec_path = os.path.join(tmp, name + ".json")
      write_json(spec_path, spec)
      out_path = os.path.join(tmp, name + ".out.jsonl")
      run_driver(args.driver, "run", spec_path, in_path, out_path)
      tok = Tokenizer(spec)
      bad = 0
      for data, got in zip(inputs, read_jsonl(out_path), strict=True):
        want = reference_row(tok, data)
        if got != want:
          bad += 1
          if bad <= 3:
            fields = [k for k in want if got.get(k) != want[k]]
            print(f"{name}: mismatch in {fields} for {data!r}")
      print(f"{name}: {len(inputs) - bad}/{len(inputs)} random inputs agree")
      mismatches += bad
  return 1 if mismatches else 0


def reference_classes():
  """Per code point: the split class (L, N, S for White_Space, O) and w
  when the Unicode \\w of single_word holds, else -."""
  letter = regex.compile(r"\p{L}")
  number = regex.compile(r"\p{N}")
  space = regex.compile(r"\s")
  word = regex.compile(WORD_CHAR)
  out = []
  for cp in range(0x110000):
    c = chr(cp)
    cls = ("S" if space.match(c) else "L" if letter.match(c) else
           "N" if number.match(c) else "O")
    out.append(cls + ("w" if word.match(c) else "-"))
  return out


def cmd_unicode(args):
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "classes.txt")
    run_driver(args.driver, "classes", path)
    with open(path, encoding="ascii") as f:
      cpp = f.read().split()
  ref = reference_classes()
  assert len(cpp) == len(ref), (len(cpp), len(ref))
  differ = [cp for cp in range(len(ref)) if cpp[cp] != ref[cp]]
  print(f"{len(ref) - len(differ)}/{len(ref)} code points agree "
        f"(ICU vs the regex module {regex.__version__})")
  for cp in differ[:50]:
    print(f"  U+{cp:04X}: ICU {cpp[cp]}, regex {ref[cp]}")
  return 1 if differ else 0


def cmd_corpus(args):
  """Mixed English/Chinese text for the encode benchmark: sentences of the
  training text's words and characters in random order."""
  rng = random.Random(args.seed)
  english = regex.findall(r"[A-Za-z']+|[0-9]+|[.,;:]", TRAINING_TEXT)
  chinese = [c for c in TRAINING_TEXT if "\u4e00" <= c <= "\u9fff"]
  target = int(args.megabytes * 1e6)
  size = 0
  with open(args.output, "w", encoding="utf-8") as f:
    while size < target:
      if rng.random() < 0.5:
        words = [rng.choice(english) for _ in range(rng.randrange(5, 30))]
        line = " ".join(words).capitalize() + ".\n"
      else:
        line = "".join(rng.choice(chinese) for _ in range(rng.randrange(8, 40)))
        line += rng.choice(["。", "，", "！", "？"]) + "\n"
      f.write(line)
      size += len(line.encode("utf-8"))


def main(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)
  for name in ("encode", "decode"):
    p = sub.add_parser(name)
    p.add_argument("tokenizer")
    p.add_argument("input")
    p.add_argument("output")
  p = sub.add_parser("split")
  p.add_argument("input")
  p.add_argument("output")
  p = sub.add_parser("train")
  p.add_argument("corpus")
  p.add_argument("output")
  p.add_argument("--merges", type=int, default=400)
  p.add_argument("--special", action="append")
  p = sub.add_parser("goldens")
  p.add_argument("outdir")
  p = sub.add_parser("fuzz")
  p.add_argument("--driver", required=True)
  p.add_argument("--count", type=int, default=5000)
  p.add_argument("--seed", type=int, default=1)
  p = sub.add_parser("unicode")
  p.add_argument("--driver", required=True)
  p = sub.add_parser("corpus")
  p.add_argument("output")
  p.add_argument("--megabytes", type=float, default=4)
  p.add_argument("--seed", type=int, default=1)
  args = parser.parse_args(argv)
  commands = {"encode": cmd_encode, "decode": cmd_decode, "split": cmd_split,
              "train": cmd_train, "goldens": cmd_goldens, "fuzz": cmd_fuzz,
              "unicode": cmd_unicode, "corpus": cmd_corpus}
  return commands[args.command](args) or 0


if __name__ == "__main__":
  sys.exit(main())
