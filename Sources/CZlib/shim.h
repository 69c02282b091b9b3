#ifndef VMPROV_CZLIB_SHIM_H
#define VMPROV_CZLIB_SHIM_H
#include <zlib.h>
#include <string.h>

/* inflateInit2 is a macro; gzip framing is windowBits 16 + MAX_WBITS. */
static inline int vmp_inflate_init_gzip(z_stream *s) {
    memset(s, 0, sizeof *s);
    return inflateInit2(s, 16 + MAX_WBITS);
}
#endif
