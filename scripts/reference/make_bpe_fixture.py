"""Makes Tests/AlignCoreTests/Fixtures/bpe: small byte-level BPE tokenizers trained with the `tokenizers` library in
the shapes of the families align reads, and the ids `tokenizers` gives for 1,100 varied strings (SID tokens, chat
markers, numbers, whitespace runs, contractions, accents, NFC/NFD forms, CJK, emoji, control characters).

  gpt2     ByteLevel(add_prefix_space=False, use_regex=True)                     (GPT-2)
  prefix   ByteLevel(add_prefix_space=True, use_regex=True)                      (RoBERTa-style)
  llama3   Split(Llama-3 regex) + ByteLevel(use_regex=False), ignore_merges, BOS by TemplateProcessing, specials
           appended after the BPE vocabulary                                     (Llama-3)
  qwen2    NFC + Split(Qwen2 regex) + ByteLevel(use_regex=False), specials appended (Qwen2/2.5)
  smollm2  Digits(individual) + ByteLevel(use_regex=True), specials inside the vocabulary (SmolLM2)

Every tokenizer gets 24 SID tokens (<a_0>…<c_7>) as added tokens. Deterministic: the corpus and the strings come
from a seeded generator.  Run: scripts/ref-python scripts/reference/make_bpe_fixture.py
"""
import json
import os
import random

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "AlignCoreTests", "Fixtures", "bpe")
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SIDS = [f"<{l}_{c}>" for l in "abc" for c in range(8)]

WORDS = """the a of and to in is you that it he was for on are as with his they I at be this have from or one had by
word but not what all were we when your can said there use an each which she do how their if will up other about out
many then them these so some her would make like him into time has look two more write go see number no way could
people my than first water been call who oil its now find long down day did get come made may part movie story toy
heat love war star night man woman city king queen dark knight return lord rings matrix godfather pulp fiction
titanic alien terminator jaws rocky casablanca vertigo psycho fargo""".split()
UNICODE = ["café", "naïve", "Ünïcödé", "résumé", "façade", "日本語", "中文字符", "한국어", "Привет", "Ελληνικά", "العربية",
           "עברית", "हिन्दी", "ไทย", "🎬🍿", "👨\u200d👩\u200d👧", "e\u0301", "\u212b", "A\u030a", "ﬁ", "①②", "Ⅻ", "½", "ſ",
           "\u212a", "Ωmega", "straße", "ĳ", "Ǆ", "ﾃｽﾄ", "😀😃", "🇫🇷", "♥", "€100", "£5", "¥", "°C", "™", "©", "µ"]
PUNCT = ["...", "?!", "--", "(1995)", "[x]", "{y}", "@#$%", "\"quoted\"", "'single'", ";", ":", ",", ".", "!", "?",
         "&&", "||", "->", "=>", "::", "/*", "*/", "#", "%", "^_^", ":)", "<", ">", "<>", "</s>", "<s>", "_"]
NUMS = ["1995", "3.14", "1,000,000", "42nd", "007", "0", "12345678901234", "2024-01-01", "+1", "-7", "1e10", "0x1F",
        "١٢٣", "٣", "²", "10%", "99.9%"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "   \n", " \t ", "\u00a0", "\u3000", "\u2028", "\u200b", "\x0b", "\x0c"]
CONTRACT = ["don't", "I'LL", "we've", "It's", "they'RE", "she'd", "I'm", "can't", "'s", "'t", "Y'all", "o'clock", "'ve'"]
CONTROL = ["\x00", "\x04", "\x1b", "\x7f", "\ufeff"]
CHAT = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>"]


def sid(rng):
    return "".join(f"<{l}_{rng.randrange(9)}>" for l in "abc"[: rng.randrange(1, 4)])


def fragment(rng):
    r = rng.random()
    if r < 0.30:
        w = rng.choice(WORDS)
        return w.capitalize() if rng.random() < 0.3 else (w.upper() if rng.random() < 0.1 else w)
    if r < 0.40: return rng.choice(UNICODE)
    if r < 0.50: return rng.choice(PUNCT)
    if r < 0.60: return rng.choice(NUMS)
    if r < 0.68: return rng.choice(CONTRACT)
    if r < 0.80: return sid(rng)
    if r < 0.85: return rng.choice(CHAT)
    if r < 0.87: return rng.choice(CONTROL)
    return rng.choice(SPACES)


def strings():
    rng = random.Random(23)
    fixed = ["", " ", "Toy Story (1995)", "Heat (1995); Casino (1995); Jumanji (1995)", "<a_1><b_2><c_3>",
             "<a_1> <b_2>", "Recommend: <a_3><b_0><c_7>\n", "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
             "Hello world", " Hello", "hello   world", "line\nbreak", "tab\there", "trailing   ", "   leading",
             "\n\n\n", "a\r\nb", "it's I'M we'Ll", "1234567", "12 345", "x1y22z333", "<a_12>", "<a_1 >", "<<a_1>>",
             "<a_01>", "<A_1>", "é", "e\u0301", "\u212b", "👍🏽", "  \n  \n", "ſs", "\u212a", "don't stop", "$100.00",
             "(1995)", "[1995]", "The Lord of the Rings: The Return of the King (2003)", "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
             "Seven (a.k.a. Se7en) (1995)", "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
             "Léon: The Professional (a.k.a. The Professional) (Léon) (1994)", "\x00\x01\x02", "a" * 300, " " * 50,
             "ab" * 40 + " " + "1" * 30, "<|endoftext|><|endoftext|>", "x<|im_end|>y", "<a_0><a_0><a_0>"]
    out = list(fixed)
    while len(out) < 1100:
        n = rng.randrange(1, 9)
        parts = [fragment(rng) for _ in range(n)]
        sep = rng.choice(["", " ", " ", " ", "", "\n", ", "])
        out.append(sep.join(parts))
    return out


def corpus():
    rng = random.Random(7)
    lines = []
    for _ in range(3000):
        lines.append(" ".join(fragment(rng) for _ in range(rng.randrange(3, 15))))
    return lines


def train(kind):
    chat = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    if kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    elif kind == "prefix":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    elif kind == "llama3":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    elif kind == "qwen2":
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2), behavior="isolated", invert=False),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    elif kind == "smollm2":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    inside = chat if kind in ("smollm2", "gpt2", "prefix") else []
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=inside, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    if kind == "llama3":
        obj = json.loads(tok.to_str())
        obj["model"]["ignore_merges"] = True
        tok = Tokenizer.from_str(json.dumps(obj))
        tok.add_special_tokens(["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"])
        bos = tok.token_to_id("<|begin_of_text|>")
        tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                                           special_tokens=[("<|begin_of_text|>", bos)])
    elif kind == "qwen2":
        tok.add_special_tokens(chat)
    tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in SIDS])
    return tok


def main():
    os.makedirs(OUT, exist_ok=True)
    kinds = ["gpt2", "prefix", "llama3", "qwen2", "smollm2"]
    texts = strings()
    toks = {}
    for k in kinds:
        toks[k] = train(k)
        d = os.path.join(OUT, k)
        os.makedirs(d, exist_ok=True)
        toks[k].save(os.path.join(d, "tokenizer.json"))
        cfg = {"tokenizer_class": "PreTrainedTokenizerFast"}
        if k == "llama3":
            cfg.update(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", add_bos_token=True)
        elif k in ("qwen2", "smollm2"):
            cfg.update(eos_token="<|im_end|>", pad_token="<|endoftext|>")
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(cfg, f, indent=1, sort_keys=True)
    with open(os.path.join(OUT, "cases.jsonl"), "w") as f:
        for t in texts:
            row = {"text": t, "ids": {}, "decoded": {}}
            for k in kinds:
                ids = toks[k].encode(t, add_special_tokens=False).ids
                row["ids"][k] = ids
                row["decoded"][k] = toks[k].decode(ids, skip_special_tokens=False)
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {len(texts)} strings x {len(kinds)} tokenizers to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
