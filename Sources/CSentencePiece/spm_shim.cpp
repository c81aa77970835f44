#include "spm_shim.h"
#include <string>

static thread_local std::string g_last_error;

extern "C" const char *spm_last_error(void) { return g_last_error.c_str(); }
