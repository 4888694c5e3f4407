#ifndef DDPTRAIN_CBLAS_SHIM_H
#define DDPTRAIN_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface (Debian: libopenblas-dev). pkg-config "openblas" supplies the include path.
#include <cblas.h>
#endif
