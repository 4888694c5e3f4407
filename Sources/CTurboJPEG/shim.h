#ifndef DDPTRAIN_CTURBOJPEG_SHIM_H
#define DDPTRAIN_CTURBOJPEG_SHIM_H
// libjpeg-turbo's TurboJPEG API (Debian: libturbojpeg0-dev), found through pkg-config
// "libturbojpeg": it returns errors instead of longjmp, so Swift can call it directly. Decoding
// uses libjpeg's defaults (the accurate integer IDCT, fancy chroma upsampling), as Pillow does.
#include <turbojpeg.h>
#endif
