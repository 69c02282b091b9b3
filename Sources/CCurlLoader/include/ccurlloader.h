#ifndef VMPROV_CCURLLOADER_H
#define VMPROV_CCURLLOADER_H

/*
 * libcurl for Swift, loaded with dlopen the first time a transfer needs it, so that commands that never download
 * (every .vbox edit) do not pay for loading libcurl and its thirty dependencies at start-up. Only headers are needed
 * at build time.
 *
 * Loading happens once per process (pthread_once): the library, every symbol vmprov uses, and the version check.
 * When it fails, the reason (the names tried and dlerror()'s text, taken at the moment of the failure) is kept for
 * vmp_curl_load_error. Swift never calls the variadic curl_easy_setopt / curl_easy_getinfo: every option type has a
 * typed wrapper here.
 */
/* CURLOPT_PROTOCOLS / CURLOPT_REDIR_PROTOCOLS are deprecated since 7.85 but are the only way on older libcurl. */
#define CURL_DISABLE_DEPRECATION 1
#include <curl/curl.h>
#include <stddef.h>

/* The oldest libcurl vmprov accepts: 7.19.4, the first with CURLOPT_PROTOCOLS / CURLOPT_REDIR_PROTOCOLS. */
#define VMP_CURL_MINIMUM_VERSION 0x071304

/* Names the loader tries instead of libcurl.so.4 / libcurl.so; call before the first vmp_curl_load (later calls are
 * ignored). `name` is copied. For tests (a missing library must give a clear error). */
void vmp_curl_set_library(const char *name);

/* Loads libcurl once and calls curl_global_init once; 1 when libcurl is usable, 0 when not (see
 * vmp_curl_load_error). Safe to call from any thread, any number of times. */
int vmp_curl_load(void);

/* Why libcurl is not usable, as one line naming the library and dlerror()'s text (or the version found); NULL when
 * it loaded. */
const char *vmp_curl_load_error(void);

/* curl_version()'s text ("libcurl/8.5.0 OpenSSL/3.0.13 …"), or "libcurl" when it is not loaded. */
const char *vmp_curl_version(void);

/* The calls below need a successful vmp_curl_load first (they return an error value, or do nothing, otherwise). */
CURL *vmp_curl_easy_init(void);
void vmp_curl_easy_cleanup(CURL *h);
CURLcode vmp_curl_easy_perform(CURL *h);
const char *vmp_curl_easy_strerror(CURLcode c);
struct curl_slist *vmp_curl_slist_append(struct curl_slist *l, const char *s);
void vmp_curl_slist_free_all(struct curl_slist *l);

CURLcode vmp_curl_set_long(CURL *h, CURLoption o, long v);
CURLcode vmp_curl_set_off(CURL *h, CURLoption o, curl_off_t v);
CURLcode vmp_curl_set_string(CURL *h, CURLoption o, const char *v);
CURLcode vmp_curl_set_pointer(CURL *h, CURLoption o, void *v);
CURLcode vmp_curl_set_slist(CURL *h, CURLoption o, struct curl_slist *v);

typedef size_t (*vmp_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
/* CURLOPT_WRITEFUNCTION + CURLOPT_WRITEDATA. */
CURLcode vmp_curl_set_write(CURL *h, vmp_curl_data_cb cb, void *userdata);
/* CURLOPT_HEADERFUNCTION + CURLOPT_HEADERDATA. */
CURLcode vmp_curl_set_header(CURL *h, vmp_curl_data_cb cb, void *userdata);

CURLcode vmp_curl_get_long(CURL *h, CURLINFO i, long *v);
CURLcode vmp_curl_get_off(CURL *h, CURLINFO i, curl_off_t *v);
CURLcode vmp_curl_get_string(CURL *h, CURLINFO i, char **v);

/* Only http and https, for the first request and every redirect, as protocol names (CURLOPT_PROTOCOLS_STR and
 * CURLOPT_REDIR_PROTOCOLS_STR: libcurl 7.85+). `which` 0 sets the first, 1 the second. */
CURLcode vmp_curl_protocols_str(CURL *h, int which);
/* The same as a bitmask (CURLOPT_PROTOCOLS and CURLOPT_REDIR_PROTOCOLS: libcurl 7.19.4+, deprecated in 7.85). */
CURLcode vmp_curl_protocols_mask(CURL *h, int which);

/* --- multi interface (segmented downloads); optional --- */
/* 1 when the loaded libcurl has every multi function vmprov uses (else downloads run as one stream). */
int vmp_curl_multi_available(void);
CURLM *vmp_curl_multi_init(void);
CURLMcode vmp_curl_multi_add(CURLM *m, CURL *h);
CURLMcode vmp_curl_multi_remove(CURLM *m, CURL *h);
CURLMcode vmp_curl_multi_perform(CURLM *m, int *running);
/* curl_multi_wait with no extra fds. */
CURLMcode vmp_curl_multi_wait(CURLM *m, int timeout_ms);
void vmp_curl_multi_cleanup(CURLM *m);
const char *vmp_curl_multi_strerror(CURLMcode c);
/* The next finished transfer: its easy handle and result; 0 when none is left. */
int vmp_curl_multi_done(CURLM *m, CURL **easy, CURLcode *result);

#endif
