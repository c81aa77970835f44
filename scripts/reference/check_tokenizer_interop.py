"""Local check: transformers' AutoTokenizer on a checkpoint align wrote gives align's ids on evaluation prompts.
Renders, from the checkpoint's own prompts/ (wrapper and each task's evaluation template), items.jsonl and
sid_map.json, the nextitem prompt of every test user of DATA (the most recent 20 history items as SIDs) and the
sid2title / title2sid prompts of the first 500 catalogue items, then compares AutoTokenizer's ids with
`align tokenizer encode`. Exits 1 on any difference.
  scripts/ref-python scripts/reference/check_tokenizer_interop.py CHECKPOINT_DIR DATA_DIR [ALIGN_BINARY]
"""
import json
import os
import subprocess
import sys
import tempfile

from transformers import AutoTokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
ck, data = sys.argv[1], sys.argv[2]
align = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, ".build", "release", "align")

tasks = json.load(open(os.path.join(ck, "prompts", "tasks.json")))
def read(rel):
    t = open(os.path.join(ck, "prompts", rel), encoding="utf-8").read()
    return t[:-1] if t.endswith("\n") else t
wrapper = read(tasks["wrapper"])
def template(task):
    e = tasks["tasks"][task]
    return read(e["templates"][e["eval_template"]])
items = {}
for line in open(os.path.join(ck, "items.jsonl"), encoding="utf-8"):
    it = json.loads(line)
    items[it["item"]] = it["title"] + (f" ({it['year']})" if it.get("year") else "")
sids = {int(k): "".join(f"<{chr(97 + l)}_{c}>" for l, c in enumerate(v)) for k, v in json.load(open(os.path.join(ck, "sid_map.json")))["items"].items()}
def wrap(s):
    return wrapper.replace("{instruction}", s)
texts = []
for line in open(os.path.join(data, "loo_test.jsonl")):
    h = json.loads(line)["history"][-20:]
    texts.append(wrap(template("nextitem").replace("{history}", "".join(sids[i] for i in h))))
for i in sorted(items)[:500]:
    texts.append(wrap(template("sid2title").replace("{item}", sids[i])))
    texts.append(wrap(template("title2sid").replace("{title}", items[i])))
tok = AutoTokenizer.from_pretrained(ck)
with tempfile.TemporaryDirectory() as d:
    f = os.path.join(d, "texts.json")
    json.dump(texts, open(f, "w"))
    mine = json.loads(subprocess.run([align, "tokenizer", "encode", "--model", ck, "--texts", f], check=True,
                                     capture_output=True, text=True).stdout)
diff = [(t, m) for t, m in zip(texts, mine) if tok(t, add_special_tokens=False).input_ids != m]
print(f"{type(tok).__name__}: {len(texts) - len(diff)} of {len(texts)} evaluation prompts give align's ids")
for t, m in diff[:3]:
    print("  differs:", repr(t[:120]), tok(t, add_special_tokens=False).input_ids[:20], m[:20])
sys.exit(1 if diff else 0)
