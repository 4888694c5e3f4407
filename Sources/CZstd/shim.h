#ifndef DDPTRAIN_CZSTD_SHIM_H
#define DDPTRAIN_CZSTD_SHIM_H
// zstd's one-shot and context API (Debian: libzstd-dev), found through pkg-config "libzstd".
// The two sentinel results of ZSTD_getFrameContentSize are macros that Swift cannot import, so
// they are exposed here as static inline functions.
#include <zstd.h>

static inline unsigned long long ddp_zstd_contentsize_unknown(void) { return ZSTD_CONTENTSIZE_UNKNOWN; }
static inline unsigned long long ddp_zstd_contentsize_error(void) { return ZSTD_CONTENTSIZE_ERROR; }
#endif
