#include "ccurlloader.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    CURLcode (*global_init)(long);
    char *(*version)(void);
    curl_version_info_data *(*version_info)(CURLversion);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    /* multi interface (segmented downloads): optional, NULL when this libcurl lacks it */
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_wait)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
    const char *(*multi_strerror)(CURLMcode);
} vmp_curl_api;

/* Written once by load_once (under pthread_once), read-only afterwards: pthread_once orders the writes before
 * every return from vmp_curl_load. */
static pthread_once_t load_once_control = PTHREAD_ONCE_INIT;
static vmp_curl_api api;
static int usable;
static char load_error[1024];

/* The library requested by vmp_curl_set_library, read by load_once. */
static pthread_mutex_t request_lock = PTHREAD_MUTEX_INITIALIZER;
static char requested[512];

void vmp_curl_set_library(const char *name) {
    pthread_mutex_lock(&request_lock);
    snprintf(requested, sizeof requested, "%s", name ? name : "");
    pthread_mutex_unlock(&request_lock);
}

/* dlerror()'s text now (it is cleared by reading it, and overwritten by the next dl call). */
static const char *take_dlerror(void) {
    const char *e = dlerror();
    return e ? e : "no reason given";
}

static void load_once(void) {
    char name[512];
    pthread_mutex_lock(&request_lock);
    snprintf(name, sizeof name, "%s", requested);
    pthread_mutex_unlock(&request_lock);

    void *h = NULL;
    if (name[0] != '\0') {
        h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            snprintf(load_error, sizeof load_error, "cannot load %s: %s", name, take_dlerror());
            return;
        }
    } else {
        h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            char first[480];
            snprintf(first, sizeof first, "%s", take_dlerror());
            h = dlopen("libcurl.so", RTLD_NOW | RTLD_LOCAL);
            if (h == NULL) {
                snprintf(load_error, sizeof load_error, "cannot load libcurl.so.4 (%s) or libcurl.so (%s)", first,
                         take_dlerror());
                return;
            }
            snprintf(name, sizeof name, "libcurl.so");
        } else {
            snprintf(name, sizeof name, "libcurl.so.4");
        }
    }

    /* Every symbol, each checked by name so the message says which one is missing. */
#define VMP_SYM(field, symbol)                                                                                    \
    do {                                                                                                          \
        dlerror();                                                                                                \
        *(void **)&api.field = dlsym(h, symbol);                                                                  \
        if (api.field == NULL) {                                                                                  \
            snprintf(load_error, sizeof load_error, "%s has no %s: %s", name, symbol, take_dlerror());            \
            dlclose(h);                                                                                           \
            memset(&api, 0, sizeof api);                                                                          \
            return;                                                                                               \
        }                                                                                                         \
    } while (0)
    VMP_SYM(global_init, "curl_global_init");
    VMP_SYM(version, "curl_version");
    VMP_SYM(version_info, "curl_version_info");
    VMP_SYM(easy_init, "curl_easy_init");
    VMP_SYM(easy_cleanup, "curl_easy_cleanup");
    VMP_SYM(easy_setopt, "curl_easy_setopt");
    VMP_SYM(easy_getinfo, "curl_easy_getinfo");
    VMP_SYM(easy_perform, "curl_easy_perform");
    VMP_SYM(easy_strerror, "curl_easy_strerror");
    VMP_SYM(slist_append, "curl_slist_append");
    VMP_SYM(slist_free_all, "curl_slist_free_all");
#undef VMP_SYM
    /* The multi interface is optional: a libcurl without it downloads as one stream. */
    *(void **)&api.multi_init = dlsym(h, "curl_multi_init");
    *(void **)&api.multi_add_handle = dlsym(h, "curl_multi_add_handle");
    *(void **)&api.multi_remove_handle = dlsym(h, "curl_multi_remove_handle");
    *(void **)&api.multi_perform = dlsym(h, "curl_multi_perform");
    *(void **)&api.multi_wait = dlsym(h, "curl_multi_wait");
    *(void **)&api.multi_info_read = dlsym(h, "curl_multi_info_read");
    *(void **)&api.multi_cleanup = dlsym(h, "curl_multi_cleanup");
    *(void **)&api.multi_strerror = dlsym(h, "curl_multi_strerror");
    dlerror();

    /* The version, once. */
    curl_version_info_data *info = api.version_info(CURLVERSION_NOW);
    if (info == NULL || info->version_num < VMP_CURL_MINIMUM_VERSION) {
        snprintf(load_error, sizeof load_error, "%s is libcurl %s, older than 7.19.4 (vmprov needs "
                 "CURLOPT_PROTOCOLS to restrict transfers to http and https)", name,
                 info && info->version ? info->version : "of unknown version");
        dlclose(h);
        memset(&api, 0, sizeof api);
        return;
    }
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "%s: curl_global_init failed", name);
        return;  /* the library stays loaded (it may hold state); it is not used */
    }
    usable = 1;
}

int vmp_curl_load(void) {
    pthread_once(&load_once_control, load_once);
    return usable;
}

const char *vmp_curl_load_error(void) {
    return vmp_curl_load() ? NULL : load_error;
}

const char *vmp_curl_version(void) {
    return vmp_curl_load() ? api.version() : "libcurl";
}

/* Every wrapper below first makes sure libcurl is usable (a cheap pthread_once check afterwards). */
CURL *vmp_curl_easy_init(void) { return vmp_curl_load() ? api.easy_init() : NULL; }
void vmp_curl_easy_cleanup(CURL *h) { if (vmp_curl_load() && h) api.easy_cleanup(h); }
CURLcode vmp_curl_easy_perform(CURL *h) { return vmp_curl_load() ? api.easy_perform(h) : CURLE_FAILED_INIT; }
const char *vmp_curl_easy_strerror(CURLcode c) {
    return vmp_curl_load() ? api.easy_strerror(c) : "libcurl is not loaded";
}
struct curl_slist *vmp_curl_slist_append(struct curl_slist *l, const char *s) {
    return vmp_curl_load() ? api.slist_append(l, s) : NULL;
}
void vmp_curl_slist_free_all(struct curl_slist *l) { if (vmp_curl_load()) api.slist_free_all(l); }

CURLcode vmp_curl_set_long(CURL *h, CURLoption o, long v) {
    return vmp_curl_load() ? api.easy_setopt(h, o, v) : CURLE_FAILED_INIT;
}
CURLcode vmp_curl_set_off(CURL *h, CURLoption o, curl_off_t v) {
    return vmp_curl_load() ? api.easy_setopt(h, o, v) : CURLE_FAILED_INIT;
}
CURLcode vmp_curl_set_string(CURL *h, CURLoption o, const char *v) {
    return vmp_curl_load() ? api.easy_setopt(h, o, v) : CURLE_FAILED_INIT;
}
CURLcode vmp_curl_set_pointer(CURL *h, CURLoption o, void *v) {
    return vmp_curl_load() ? api.easy_setopt(h, o, v) : CURLE_FAILED_INIT;
}
CURLcode vmp_curl_set_slist(CURL *h, CURLoption o, struct curl_slist *v) {
    return vmp_curl_load() ? api.easy_setopt(h, o, v) : CURLE_FAILED_INIT;
}

CURLcode vmp_curl_set_write(CURL *h, vmp_curl_data_cb cb, void *userdata) {
    if (!vmp_curl_load()) return CURLE_FAILED_INIT;
    CURLcode rc = api.easy_setopt(h, CURLOPT_WRITEFUNCTION, cb);
    if (rc != CURLE_OK) return rc;
    return api.easy_setopt(h, CURLOPT_WRITEDATA, userdata);
}
CURLcode vmp_curl_set_header(CURL *h, vmp_curl_data_cb cb, void *userdata) {
    if (!vmp_curl_load()) return CURLE_FAILED_INIT;
    CURLcode rc = api.easy_setopt(h, CURLOPT_HEADERFUNCTION, cb);
    if (rc != CURLE_OK) return rc;
    return api.easy_setopt(h, CURLOPT_HEADERDATA, userdata);
}

CURLcode vmp_curl_get_long(CURL *h, CURLINFO i, long *v) {
    return vmp_curl_load() ? api.easy_getinfo(h, i, v) : CURLE_FAILED_INIT;
}
CURLcode vmp_curl_get_off(CURL *h, CURLINFO i, curl_off_t *v) {
    return vmp_curl_load() ? api.easy_getinfo(h, i, v) : CURLE_FAILED_INIT;
}
CURLcode vmp_curl_get_string(CURL *h, CURLINFO i, char **v) {
    return vmp_curl_load() ? api.easy_getinfo(h, i, v) : CURLE_FAILED_INIT;
}

CURLcode vmp_curl_protocols_str(CURL *h, int which) {
    if (!vmp_curl_load()) return CURLE_FAILED_INIT;
    /* By number, so that this builds against headers older than 7.85 too (libcurl itself is loaded at run time). */
    CURLoption o = (CURLoption)(CURLOPTTYPE_STRINGPOINT + (which == 0 ? 318 : 319));
    return api.easy_setopt(h, o, "http,https");
}
CURLcode vmp_curl_protocols_mask(CURL *h, int which) {
    if (!vmp_curl_load()) return CURLE_FAILED_INIT;
    return api.easy_setopt(h, which == 0 ? CURLOPT_PROTOCOLS : CURLOPT_REDIR_PROTOCOLS,
                           (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
}

/* --- multi interface (segmented downloads) --- */
int vmp_curl_multi_available(void) {
    return vmp_curl_load() && api.multi_init && api.multi_add_handle && api.multi_remove_handle &&
        api.multi_perform && api.multi_wait && api.multi_info_read && api.multi_cleanup && api.multi_strerror;
}
CURLM *vmp_curl_multi_init(void) { return vmp_curl_multi_available() ? api.multi_init() : NULL; }
CURLMcode vmp_curl_multi_add(CURLM *m, CURL *h) {
    return vmp_curl_multi_available() ? api.multi_add_handle(m, h) : CURLM_INTERNAL_ERROR;
}
CURLMcode vmp_curl_multi_remove(CURLM *m, CURL *h) {
    return vmp_curl_multi_available() ? api.multi_remove_handle(m, h) : CURLM_INTERNAL_ERROR;
}
CURLMcode vmp_curl_multi_perform(CURLM *m, int *running) {
    return vmp_curl_multi_available() ? api.multi_perform(m, running) : CURLM_INTERNAL_ERROR;
}
CURLMcode vmp_curl_multi_wait(CURLM *m, int timeout_ms) {
    return vmp_curl_multi_available() ? api.multi_wait(m, NULL, 0, timeout_ms, NULL) : CURLM_INTERNAL_ERROR;
}
void vmp_curl_multi_cleanup(CURLM *m) { if (vmp_curl_multi_available() && m) (void)api.multi_cleanup(m); }
const char *vmp_curl_multi_strerror(CURLMcode c) {
    return vmp_curl_multi_available() ? api.multi_strerror(c) : "libcurl's multi interface is not loaded";
}
int vmp_curl_multi_done(CURLM *m, CURL **easy, CURLcode *result) {
    if (!vmp_curl_multi_available()) return 0;
    int left = 0;
    CURLMsg *msg;
    while ((msg = api.multi_info_read(m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) { *easy = msg->easy_handle; *result = msg->data.result; return 1; }
    }
    return 0;
}
