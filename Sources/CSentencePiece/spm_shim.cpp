// The extern "C" shim over libsentencepiece: load/serialize, encode/decode, vocabulary queries and
// training. No C++ exception or SentencePiece CHECK failure crosses the boundary: inputs are validated here
// (ids in range, non-null pointers) and every failure becomes a status code plus a thread-local message.
#include "spm_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

struct spm_model {
    sentencepiece::SentencePieceProcessor proc;
};

static thread_local std::string g_last_error;

static int fail(int code, const std::string &msg) {
    g_last_error = msg;
    return code;
}

static int ok() {
    g_last_error.clear();
    return SPM_OK;
}

// Copies bytes into a fresh malloc'd buffer (at least 1 byte so callers never see a NULL on success).
static void *dup_bytes(const void *p, size_t n) {
    void *b = std::malloc(n == 0 ? 1 : n);
    if (b && n) std::memcpy(b, p, n);
    return b;
}

#define SPM_GUARD_BEGIN try {
#define SPM_GUARD_END                                                                 \
    }                                                                                 \
    catch (const std::exception &e) { return fail(SPM_ERR_INTERNAL, e.what()); }      \
    catch (...) { return fail(SPM_ERR_INTERNAL, "unknown C++ exception"); }

extern "C" const char *spm_last_error(void) { return g_last_error.c_str(); }

extern "C" void spm_free_buffer(void *p) { std::free(p); }

static int finish_load(spm_model *m, const sentencepiece::util::Status &st, spm_model **out) {
    if (!st.ok()) {
        delete m;
        return fail(SPM_ERR_LOAD, st.ToString());
    }
    if (m->proc.GetPieceSize() <= 0) {
        delete m;
        return fail(SPM_ERR_LOAD, "model has an empty vocabulary");
    }
    *out = m;
    return ok();
}

extern "C" int spm_load_file(const char *path, spm_model **out) {
    SPM_GUARD_BEGIN
    if (!path || !out) return fail(SPM_ERR_ARGUMENT, "null argument");
    *out = nullptr;
    auto *m = new spm_model();
    return finish_load(m, m->proc.Load(path), out);
    SPM_GUARD_END
}

extern "C" int spm_load_bytes(const void *bytes, size_t len, spm_model **out) {
    SPM_GUARD_BEGIN
    if ((!bytes && len) || !out) return fail(SPM_ERR_ARGUMENT, "null argument");
    *out = nullptr;
    auto *m = new spm_model();
    std::string s(static_cast<const char *>(bytes), len);
    return finish_load(m, m->proc.LoadFromSerializedProto(s), out);
    SPM_GUARD_END
}

extern "C" void spm_free(spm_model *m) { delete m; }

extern "C" int spm_serialize(const spm_model *m, uint8_t **out, size_t *out_len) {
    SPM_GUARD_BEGIN
    if (!m || !out || !out_len) return fail(SPM_ERR_ARGUMENT, "null argument");
    const std::string s = m->proc.serialized_model_proto();
    if (s.empty()) return fail(SPM_ERR_INTERNAL, "model could not be serialized");
    *out = static_cast<uint8_t *>(dup_bytes(s.data(), s.size()));
    if (!*out) return fail(SPM_ERR_INTERNAL, "out of memory");
    *out_len = s.size();
    return ok();
    SPM_GUARD_END
}

extern "C" int32_t spm_vocab_size(const spm_model *m) { return m ? m->proc.GetPieceSize() : 0; }

extern "C" void spm_special_ids(const spm_model *m, int32_t *unk, int32_t *bos, int32_t *eos, int32_t *pad) {
    if (!m) return;
    if (unk) *unk = m->proc.unk_id();
    if (bos) *bos = m->proc.bos_id();
    if (eos) *eos = m->proc.eos_id();
    if (pad) *pad = m->proc.pad_id();
}

static bool in_range(const spm_model *m, int32_t id) { return id >= 0 && id < m->proc.GetPieceSize(); }

extern "C" int spm_piece_flags(const spm_model *m, int32_t id, int32_t *flags) {
    SPM_GUARD_BEGIN
    if (!m || !flags) return fail(SPM_ERR_ARGUMENT, "null argument");
    if (!in_range(m, id)) return fail(SPM_ERR_ARGUMENT, "id " + std::to_string(id) + " outside the vocabulary");
    *flags = (m->proc.IsUnknown(id) ? 1 : 0) | (m->proc.IsControl(id) ? 2 : 0) | (m->proc.IsUnused(id) ? 4 : 0) |
             (m->proc.IsByte(id) ? 8 : 0);
    return ok();
    SPM_GUARD_END
}

extern "C" int spm_piece_to_id(const spm_model *m, const char *piece, size_t len, int32_t *id) {
    SPM_GUARD_BEGIN
    if (!m || (!piece && len) || !id) return fail(SPM_ERR_ARGUMENT, "null argument");
    *id = m->proc.PieceToId(std::string(piece ? piece : "", len));
    return ok();
    SPM_GUARD_END
}

extern "C" int spm_id_to_piece(const spm_model *m, int32_t id, char **out, size_t *out_len) {
    SPM_GUARD_BEGIN
    if (!m || !out || !out_len) return fail(SPM_ERR_ARGUMENT, "null argument");
    if (!in_range(m, id)) return fail(SPM_ERR_ARGUMENT, "id " + std::to_string(id) + " outside the vocabulary");
    const std::string &p = m->proc.IdToPiece(id);
    *out = static_cast<char *>(dup_bytes(p.data(), p.size()));
    if (!*out) return fail(SPM_ERR_INTERNAL, "out of memory");
    *out_len = p.size();
    return ok();
    SPM_GUARD_END
}

extern "C" int spm_encode_ids(const spm_model *m, const char *text, size_t len, int32_t **ids, size_t *count) {
    SPM_GUARD_BEGIN
    if (!m || (!text && len) || !ids || !count) return fail(SPM_ERR_ARGUMENT, "null argument");
    std::vector<int> v;
    auto st = m->proc.Encode(std::string_view(text ? text : "", len), &v);
    if (!st.ok()) return fail(SPM_ERR_ENCODE, st.ToString());
    *ids = static_cast<int32_t *>(dup_bytes(v.data(), v.size() * sizeof(int32_t)));
    if (!*ids) return fail(SPM_ERR_INTERNAL, "out of memory");
    *count = v.size();
    return ok();
    SPM_GUARD_END
}

extern "C" int spm_encode_pieces(const spm_model *m, const char *text, size_t len, int emit_unk_piece, char **bytes,
                                 size_t **offsets, size_t *count) {
    SPM_GUARD_BEGIN
    if (!m || (!text && len) || !bytes || !offsets || !count) return fail(SPM_ERR_ARGUMENT, "null argument");
    std::vector<std::string> v;
    auto st = m->proc.Encode(std::string_view(text ? text : "", len), &v);
    if (!st.ok()) return fail(SPM_ERR_ENCODE, st.ToString());
    if (emit_unk_piece) {
        // Same segmentation as the ids; unknown spans become the unk piece (the library's emit_unk_piece).
        std::vector<int> ids;
        auto st2 = m->proc.Encode(std::string_view(text ? text : "", len), &ids);
        if (!st2.ok()) return fail(SPM_ERR_ENCODE, st2.ToString());
        if (ids.size() != v.size()) return fail(SPM_ERR_INTERNAL, "piece and id segmentations differ");
        for (size_t i = 0; i < v.size(); i++)
            if (m->proc.IsUnknown(ids[i])) v[i] = m->proc.IdToPiece(ids[i]);
    }
    std::string all;
    std::vector<size_t> offs;
    offs.reserve(v.size() + 1);
    offs.push_back(0);
    for (const auto &p : v) {
        all += p;
        offs.push_back(all.size());
    }
    *bytes = static_cast<char *>(dup_bytes(all.data(), all.size()));
    *offsets = static_cast<size_t *>(dup_bytes(offs.data(), offs.size() * sizeof(size_t)));
    if (!*bytes || !*offsets) {
        std::free(*bytes);
        std::free(*offsets);
        return fail(SPM_ERR_INTERNAL, "out of memory");
    }
    *count = v.size();
    return ok();
    SPM_GUARD_END
}

extern "C" int spm_decode_ids(const spm_model *m, const int32_t *ids, size_t count, char **out, size_t *out_len) {
    SPM_GUARD_BEGIN
    if (!m || (!ids && count) || !out || !out_len) return fail(SPM_ERR_ARGUMENT, "null argument");
    std::vector<int> v(count);
    for (size_t i = 0; i < count; i++) {
        if (!in_range(m, ids[i]))
            return fail(SPM_ERR_DECODE, "id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                                            " is outside the vocabulary (size " +
                                            std::to_string(m->proc.GetPieceSize()) + ")");
        v[i] = ids[i];
    }
    std::string s;
    auto st = m->proc.Decode(v, &s);
    if (!st.ok()) return fail(SPM_ERR_DECODE, st.ToString());
    *out = static_cast<char *>(dup_bytes(s.data(), s.size()));
    if (!*out) return fail(SPM_ERR_INTERNAL, "out of memory");
    *out_len = s.size();
    return ok();
    SPM_GUARD_END
}

// ---- training ----

namespace {
class VectorIterator : public sentencepiece::SentenceIterator {
  public:
    explicit VectorIterator(const std::vector<std::string> &s) : s_(s) {}
    bool done() const override { return i_ >= s_.size(); }
    void Next() override { i_++; }
    const std::string &value() const override { return s_[i_]; }
    sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

  private:
    const std::vector<std::string> &s_;
    size_t i_ = 0;
};

// The trainer keeps process-wide state (random seed, log level), so trainings are serialized.
std::mutex g_train_mutex;

int build_kwargs(const spm_train_options *o, std::unordered_map<std::string, std::string> *kw) {
    if (!o) return fail(SPM_ERR_ARGUMENT, "null options");
    if (o->vocab_size <= 0) return fail(SPM_ERR_ARGUMENT, "vocab_size must be positive");
    const std::string type = o->model_type ? o->model_type : "unigram";
    if (type != "unigram" && type != "bpe" && type != "word" && type != "char")
        return fail(SPM_ERR_ARGUMENT, "model_type '" + type + "' is not one of unigram, bpe, word, char");
    if (!(o->character_coverage > 0.0 && o->character_coverage <= 1.0))
        return fail(SPM_ERR_ARGUMENT, "character_coverage must be in (0, 1]");
    std::string uds;
    for (size_t i = 0; i < o->n_user_defined; i++) {
        const char *s = o->user_defined_symbols[i];
        if (!s || !*s) return fail(SPM_ERR_ARGUMENT, "empty user-defined symbol");
        if (std::strchr(s, ',')) return fail(SPM_ERR_ARGUMENT, std::string("user-defined symbol '") + s + "' contains a comma");
        if (i) uds += ",";
        uds += s;
    }
    auto &k = *kw;
    k["model_prefix"] = "";
    k["vocab_size"] = std::to_string(o->vocab_size);
    k["model_type"] = type;
    char cov[64];
    std::snprintf(cov, sizeof cov, "%.17g", o->character_coverage);
    k["character_coverage"] = cov;
    if (!uds.empty()) k["user_defined_symbols"] = uds;
    k["num_threads"] = "1";
    k["byte_fallback"] = o->byte_fallback ? "true" : "false";
    k["split_digits"] = o->split_digits ? "true" : "false";
    k["hard_vocab_limit"] = o->hard_vocab_limit ? "true" : "false";
    if (o->max_sentence_length > 0) k["max_sentence_length"] = std::to_string(o->max_sentence_length);
    k["unk_id"] = std::to_string(o->unk_id);
    k["bos_id"] = std::to_string(o->bos_id);
    k["eos_id"] = std::to_string(o->eos_id);
    k["pad_id"] = std::to_string(o->pad_id);
    k["minloglevel"] = "2";
    return SPM_OK;
}

int run_train(std::unordered_map<std::string, std::string> &kw, sentencepiece::SentenceIterator *it,
              uint32_t seed, uint8_t **model, size_t *model_len) {
    std::lock_guard<std::mutex> lock(g_train_mutex);
    sentencepiece::SetRandomGeneratorSeed(seed == 0xFFFFFFFFu ? 0u : seed);
    std::string proto;
    auto st = sentencepiece::SentencePieceTrainer::Train(kw, it, &proto);
    if (!st.ok()) return fail(SPM_ERR_TRAIN, st.ToString());
    if (proto.empty()) return fail(SPM_ERR_TRAIN, "trainer produced an empty model");
    *model = static_cast<uint8_t *>(dup_bytes(proto.data(), proto.size()));
    if (!*model) return fail(SPM_ERR_INTERNAL, "out of memory");
    *model_len = proto.size();
    return ok();
}
}  // namespace

extern "C" int spm_train_sentences(const char *const *sentences, const size_t *lengths, size_t n,
                                   const spm_train_options *opts, uint8_t **model, size_t *model_len) {
    SPM_GUARD_BEGIN
    if ((!sentences && n) || (!lengths && n) || !model || !model_len) return fail(SPM_ERR_ARGUMENT, "null argument");
    if (n == 0) return fail(SPM_ERR_ARGUMENT, "no training sentences");
    std::unordered_map<std::string, std::string> kw;
    if (int rc = build_kwargs(opts, &kw)) return rc;
    std::vector<std::string> s;
    s.reserve(n);
    for (size_t i = 0; i < n; i++) s.emplace_back(sentences[i] ? sentences[i] : "", sentences[i] ? lengths[i] : 0);
    VectorIterator it(s);
    return run_train(kw, &it, opts->seed, model, model_len);
    SPM_GUARD_END
}

extern "C" int spm_train_file(const char *path, const spm_train_options *opts, uint8_t **model, size_t *model_len) {
    SPM_GUARD_BEGIN
    if (!path || !model || !model_len) return fail(SPM_ERR_ARGUMENT, "null argument");
    std::unordered_map<std::string, std::string> kw;
    if (int rc = build_kwargs(opts, &kw)) return rc;
    kw["input"] = path;
    return run_train(kw, nullptr, opts->seed, model, model_len);
    SPM_GUARD_END
}
