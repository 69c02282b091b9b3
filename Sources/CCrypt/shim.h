#ifndef VMPROV_CCRYPT_SHIM_H
#define VMPROV_CCRYPT_SHIM_H
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

/* crypt_r with its (large, ~32 KiB) scratch area on the heap, wiped and freed before returning. Copies the
 * result into `out` (at least CRYPT_OUTPUT_SIZE bytes) and returns 0, or returns -1 when libcrypt refused the
 * setting (it answers with a string starting with '*', or NULL) or memory ran out. */
static inline int vmp_crypt(const char *phrase, const char *setting, char *out, size_t outSize) {
    struct crypt_data *data = calloc(1, sizeof *data);
    if (data == NULL) return -1;
    const char *r = crypt_r(phrase, setting, data);
    int rc = -1;
    if (r != NULL && r[0] != '*' && strlen(r) < outSize) {
        strcpy(out, r);
        rc = 0;
    }
    explicit_bzero(data, sizeof *data);
    free(data);
    return rc;
}

static inline size_t vmp_crypt_output_size(void) { return CRYPT_OUTPUT_SIZE; }
#endif
