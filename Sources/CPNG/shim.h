#ifndef DDPTRAIN_CPNG_SHIM_H
#define DDPTRAIN_CPNG_SHIM_H
// libpng's simplified API (png_image; Debian: libpng-dev), found through pkg-config "libpng".
// It reports errors in png_image.message instead of longjmp, so Swift can call it directly.
// PNG_IMAGE_VERSION and PNG_FORMAT_RGB are macros Swift cannot import; they are exposed here.
#include <png.h>

static inline unsigned int ddp_png_image_version(void) { return PNG_IMAGE_VERSION; }
static inline unsigned int ddp_png_format_rgb(void) { return PNG_FORMAT_RGB; }
#endif
