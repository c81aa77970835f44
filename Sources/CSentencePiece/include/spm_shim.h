// Narrow C API over libsentencepiece (owned on the Swift side by `SentencePieceModel`).
// Every function that can fail returns 0 on success; on failure a non-zero status and `spm_last_error()`
// (thread-local) says why. Buffers handed out by the shim are malloc'd and freed with `spm_free_buffer`.
// Texts and pieces are UTF-8 byte ranges (pointer + length, not NUL-terminated).
#ifndef ALIGN_SPM_SHIM_H
#define ALIGN_SPM_SHIM_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/// Status codes.
enum { SPM_OK = 0, SPM_ERR_LOAD = 1, SPM_ERR_ENCODE = 2, SPM_ERR_DECODE = 3, SPM_ERR_ARGUMENT = 4,
       SPM_ERR_TRAIN = 5, SPM_ERR_INTERNAL = 6 };

/// An opaque loaded SentencePiece model.
typedef struct spm_model spm_model;

/// The last error message set by a failing call on this thread ("" when none).
const char *spm_last_error(void);

/// Frees a buffer returned by the shim (NULL is fine).
void spm_free_buffer(void *p);

/// Loads a serialized ModelProto from a file (`path` is NUL-terminated).
int spm_load_file(const char *path, spm_model **out);
/// Loads a model from serialized ModelProto bytes.
int spm_load_bytes(const void *bytes, size_t len, spm_model **out);
/// Frees a model (NULL is fine).
void spm_free(spm_model *m);
/// Serializes the model's ModelProto into a malloc'd buffer.
int spm_serialize(const spm_model *m, uint8_t **out, size_t *out_len);

/// Number of pieces (ids are 0..<size).
int32_t spm_vocab_size(const spm_model *m);
/// Special ids (-1 when the model has none).
void spm_special_ids(const spm_model *m, int32_t *unk, int32_t *bos, int32_t *eos, int32_t *pad);
/// Piece type flags of `id`: bit 0 unknown, bit 1 control, bit 2 unused, bit 3 byte. Fails when out of range.
int spm_piece_flags(const spm_model *m, int32_t id, int32_t *flags);
/// Id of a piece (the unk id when the piece is not in the vocabulary).
int spm_piece_to_id(const spm_model *m, const char *piece, size_t len, int32_t *id);
/// The piece string of `id` (malloc'd, not NUL-terminated). Fails when out of range.
int spm_id_to_piece(const spm_model *m, int32_t id, char **out, size_t *out_len);

/// Encodes text to ids (malloc'd array of `*count` ids; NULL when empty).
int spm_encode_ids(const spm_model *m, const char *text, size_t len, int32_t **ids, size_t *count);
/// Encodes text to pieces: `*bytes` holds the concatenated piece bytes, `*offsets` has `*count + 1`
/// entries (piece i is bytes[offsets[i] ..< offsets[i+1]]). An unknown span comes back as its surface text,
/// or as the unk piece ("<unk>") when `emit_unk_piece` is non-zero (the library's emit_unk_piece option).
int spm_encode_pieces(const spm_model *m, const char *text, size_t len, int emit_unk_piece, char **bytes,
                      size_t **offsets, size_t *count);
/// Decodes ids to text (malloc'd, not NUL-terminated). Fails on an id outside the vocabulary.
int spm_decode_ids(const spm_model *m, const int32_t *ids, size_t count, char **out, size_t *out_len);

/// Training options. Strings are NUL-terminated; `user_defined_symbols` is a list of `n_user_defined` strings.
typedef struct {
    int32_t vocab_size;
    const char *model_type;          // "unigram" | "bpe" | "word" | "char"
    double character_coverage;       // e.g. 1.0 or 0.9995
    const char *const *user_defined_symbols;
    size_t n_user_defined;
    uint32_t seed;                   // random generator seed (training is single-threaded for determinism)
    int32_t byte_fallback;           // 0/1
    int32_t split_digits;            // 0/1
    int32_t hard_vocab_limit;        // 0/1
    int32_t max_sentence_length;     // bytes; 0 = library default
    int32_t unk_id, bos_id, eos_id, pad_id;  // -1 disables bos/eos/pad
} spm_train_options;

/// Trains from `n` in-memory sentences; the serialized model comes back in a malloc'd buffer.
int spm_train_sentences(const char *const *sentences, const size_t *lengths, size_t n,
                        const spm_train_options *opts, uint8_t **model, size_t *model_len);
/// Trains from a text file (one sentence per line; `path` NUL-terminated).
int spm_train_file(const char *path, const spm_train_options *opts, uint8_t **model, size_t *model_len);

#ifdef __cplusplus
}
#endif
#endif
