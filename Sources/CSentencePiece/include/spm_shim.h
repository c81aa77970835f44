// Narrow C API over libsentencepiece (owned on the Swift side by `SentencePieceModel`).
// Every function returns 0 on success; on failure a non-zero status and `spm_last_error()` says why.
#ifndef ALIGN_SPM_SHIM_H
#define ALIGN_SPM_SHIM_H
#ifdef __cplusplus
extern "C" {
#endif

/// The last error message set by a failing call on this thread ("" when none).
const char *spm_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
