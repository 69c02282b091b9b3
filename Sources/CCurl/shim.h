#ifndef VMPROV_CCURL_SHIM_H
#define VMPROV_CCURL_SHIM_H

/*
 * libcurl's C API for Swift, through typed wrappers: Swift never calls the variadic curl_easy_setopt /
 * curl_easy_getinfo. libcurl is loaded with dlopen the first time a transfer needs it, so that commands that
 * never download (every .vbox edit) do not pay for loading libcurl and its thirty dependencies at start-up.
 */
/* CURLOPT_PROTOCOLS / CURLOPT_REDIR_PROTOCOLS are deprecated since 7.85 but are the only way on older libcurl. */
#define CURL_DISABLE_DEPRECATION 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <stddef.h>

typedef struct {
    int loaded;
    void *handle;
    CURLcode (*global_init)(long);
    char *(*version)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    /* --- multi interface (segmented downloads); optional: NULL when libcurl lacks it --- */
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_wait)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
    const char *(*multi_strerror)(CURLMcode);
} vmp_curl_api;

/* The loaded API, or NULL when libcurl cannot be loaded (vmp_curl_load_error says why). */
static inline vmp_curl_api *vmp_curl(void) {
    static vmp_curl_api api;
    if (!api.loaded) {
        api.loaded = 1;
        void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) h = dlopen("libcurl.so", RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) return NULL;
        *(void **)&api.global_init = dlsym(h, "curl_global_init");
        *(void **)&api.version = dlsym(h, "curl_version");
        *(void **)&api.easy_init = dlsym(h, "curl_easy_init");
        *(void **)&api.easy_cleanup = dlsym(h, "curl_easy_cleanup");
        *(void **)&api.easy_setopt = dlsym(h, "curl_easy_setopt");
        *(void **)&api.easy_getinfo = dlsym(h, "curl_easy_getinfo");
        *(void **)&api.easy_perform = dlsym(h, "curl_easy_perform");
        *(void **)&api.easy_strerror = dlsym(h, "curl_easy_strerror");
        *(void **)&api.slist_append = dlsym(h, "curl_slist_append");
        *(void **)&api.slist_free_all = dlsym(h, "curl_slist_free_all");
        if (!api.global_init || !api.version || !api.easy_init || !api.easy_cleanup || !api.easy_setopt ||
            !api.easy_getinfo || !api.easy_perform || !api.easy_strerror || !api.slist_append || !api.slist_free_all) {
            dlclose(h);
            return NULL;
        }
        /* --- multi interface: optional (vmp_curl_multi_available says whether all were found) --- */
        *(void **)&api.multi_init = dlsym(h, "curl_multi_init");
        *(void **)&api.multi_add_handle = dlsym(h, "curl_multi_add_handle");
        *(void **)&api.multi_remove_handle = dlsym(h, "curl_multi_remove_handle");
        *(void **)&api.multi_perform = dlsym(h, "curl_multi_perform");
        *(void **)&api.multi_wait = dlsym(h, "curl_multi_wait");
        *(void **)&api.multi_info_read = dlsym(h, "curl_multi_info_read");
        *(void **)&api.multi_cleanup = dlsym(h, "curl_multi_cleanup");
        *(void **)&api.multi_strerror = dlsym(h, "curl_multi_strerror");
        api.handle = h;
    }
    return api.handle ? &api : NULL;
}

static inline const char *vmp_curl_load_error(void) {
    const char *e = dlerror();
    return e ? e : "libcurl.so.4 not found";
}

static inline int vmp_curl_global_init(void) {
    vmp_curl_api *a = vmp_curl();
    return a != NULL && a->global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}
static inline const char *vmp_curl_version(void) { vmp_curl_api *a = vmp_curl(); return a ? a->version() : "libcurl"; }
static inline CURL *vmp_curl_easy_init(void) { return vmp_curl()->easy_init(); }
static inline void vmp_curl_easy_cleanup(CURL *h) { vmp_curl()->easy_cleanup(h); }
static inline CURLcode vmp_curl_easy_perform(CURL *h) { return vmp_curl()->easy_perform(h); }
static inline const char *vmp_curl_easy_strerror(CURLcode c) { return vmp_curl()->easy_strerror(c); }
static inline struct curl_slist *vmp_curl_slist_append(struct curl_slist *l, const char *s) { return vmp_curl()->slist_append(l, s); }
static inline void vmp_curl_slist_free_all(struct curl_slist *l) { vmp_curl()->slist_free_all(l); }

static inline CURLcode vmp_curl_set_long(CURL *h, CURLoption o, long v) { return vmp_curl()->easy_setopt(h, o, v); }
static inline CURLcode vmp_curl_set_off(CURL *h, CURLoption o, curl_off_t v) { return vmp_curl()->easy_setopt(h, o, v); }
static inline CURLcode vmp_curl_set_string(CURL *h, CURLoption o, const char *v) { return vmp_curl()->easy_setopt(h, o, v); }
static inline CURLcode vmp_curl_set_pointer(CURL *h, CURLoption o, void *v) { return vmp_curl()->easy_setopt(h, o, v); }
static inline CURLcode vmp_curl_set_slist(CURL *h, CURLoption o, struct curl_slist *v) { return vmp_curl()->easy_setopt(h, o, v); }

typedef size_t (*vmp_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);

static inline CURLcode vmp_curl_set_write(CURL *h, vmp_curl_data_cb cb, void *userdata) {
    CURLcode rc = vmp_curl()->easy_setopt(h, CURLOPT_WRITEFUNCTION, cb);
    if (rc != CURLE_OK) return rc;
    return vmp_curl()->easy_setopt(h, CURLOPT_WRITEDATA, userdata);
}
static inline CURLcode vmp_curl_set_header(CURL *h, vmp_curl_data_cb cb, void *userdata) {
    CURLcode rc = vmp_curl()->easy_setopt(h, CURLOPT_HEADERFUNCTION, cb);
    if (rc != CURLE_OK) return rc;
    return vmp_curl()->easy_setopt(h, CURLOPT_HEADERDATA, userdata);
}

static inline CURLcode vmp_curl_get_long(CURL *h, CURLINFO i, long *v) { return vmp_curl()->easy_getinfo(h, i, v); }
static inline CURLcode vmp_curl_get_off(CURL *h, CURLINFO i, curl_off_t *v) { return vmp_curl()->easy_getinfo(h, i, v); }
static inline CURLcode vmp_curl_get_string(CURL *h, CURLINFO i, char **v) { return vmp_curl()->easy_getinfo(h, i, v); }

/* --- multi interface (segmented downloads) --- */
static inline int vmp_curl_multi_available(void) {
    vmp_curl_api *a = vmp_curl();
    return a && a->multi_init && a->multi_add_handle && a->multi_remove_handle && a->multi_perform &&
        a->multi_wait && a->multi_info_read && a->multi_cleanup && a->multi_strerror;
}
static inline CURLM *vmp_curl_multi_init(void) { return vmp_curl()->multi_init(); }
static inline CURLMcode vmp_curl_multi_add(CURLM *m, CURL *h) { return vmp_curl()->multi_add_handle(m, h); }
static inline CURLMcode vmp_curl_multi_remove(CURLM *m, CURL *h) { return vmp_curl()->multi_remove_handle(m, h); }
static inline CURLMcode vmp_curl_multi_perform(CURLM *m, int *running) { return vmp_curl()->multi_perform(m, running); }
static inline CURLMcode vmp_curl_multi_wait(CURLM *m, int timeout_ms) { return vmp_curl()->multi_wait(m, NULL, 0, timeout_ms, NULL); }
static inline void vmp_curl_multi_cleanup(CURLM *m) { (void)vmp_curl()->multi_cleanup(m); }
static inline const char *vmp_curl_multi_strerror(CURLMcode c) { return vmp_curl()->multi_strerror(c); }
/* The next finished transfer: its easy handle and result; 0 when none is left. */
static inline int vmp_curl_multi_done(CURLM *m, CURL **easy, CURLcode *result) {
    int left = 0;
    CURLMsg *msg;
    while ((msg = vmp_curl()->multi_info_read(m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) { *easy = msg->easy_handle; *result = msg->data.result; return 1; }
    }
    return 0;
}

/* Only http and https, for the first request and every redirect, as protocol names (CURLOPT_PROTOCOLS_STR and
 * CURLOPT_REDIR_PROTOCOLS_STR: libcurl 7.85+). `which` 0 sets the first, 1 the second. */
static inline CURLcode vmp_curl_protocols_str(CURL *h, int which) {
    /* By number, so that this builds against headers older than 7.85 too (libcurl itself is loaded at run time). */
    CURLoption o = (CURLoption)(CURLOPTTYPE_STRINGPOINT + (which == 0 ? 318 : 319));
    return vmp_curl()->easy_setopt(h, o, "http,https");
}
/* The same as a bitmask (CURLOPT_PROTOCOLS and CURLOPT_REDIR_PROTOCOLS: libcurl 7.19.4+, deprecated in 7.85). */
static inline CURLcode vmp_curl_protocols_mask(CURL *h, int which) {
    return vmp_curl()->easy_setopt(h, which == 0 ? CURLOPT_PROTOCOLS : CURLOPT_REDIR_PROTOCOLS,
                                   (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
}

#endif
