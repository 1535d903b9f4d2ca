#ifndef DISPATCH_DUE_CCURL_SHIM_H
#define DISPATCH_DUE_CCURL_SHIM_H
#include <curl/curl.h>

// curl_easy_setopt, curl_multi_setopt and curl_easy_getinfo are variadic, which Swift
// cannot call. Each wrapper below fixes the argument type for one family of options.

/// curl_easy_setopt for options taking a long (timeouts, flags).
static inline CURLcode dd_curl_easy_setopt_long(CURL *h, CURLoption o, long v) {
    return curl_easy_setopt(h, o, v);
}
/// curl_easy_setopt for options taking a C string (URL, CA file); curl copies it.
static inline CURLcode dd_curl_easy_setopt_string(CURL *h, CURLoption o, const char *v) {
    return curl_easy_setopt(h, o, v);
}
/// curl_easy_setopt for options taking a pointer (private data, callback userdata, slist).
static inline CURLcode dd_curl_easy_setopt_pointer(CURL *h, CURLoption o, void *v) {
    return curl_easy_setopt(h, o, v);
}
/// curl_easy_setopt for CURLOPT_HEADERFUNCTION / CURLOPT_WRITEFUNCTION callbacks.
typedef size_t (*dd_curl_data_callback)(char *data, size_t size, size_t count, void *userdata);
static inline CURLcode dd_curl_easy_setopt_data_callback(CURL *h, CURLoption o, dd_curl_data_callback cb) {
    return curl_easy_setopt(h, o, cb);
}
/// curl_easy_setopt for CURLOPT_POSTFIELDSIZE_LARGE and other curl_off_t options.
static inline CURLcode dd_curl_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) {
    return curl_easy_setopt(h, o, v);
}
/// curl_easy_getinfo for CURLINFO_*_LONG values (response code).
static inline CURLcode dd_curl_easy_getinfo_long(CURL *h, CURLINFO i, long *out) {
    return curl_easy_getinfo(h, i, out);
}
/// curl_easy_getinfo for CURLINFO_PRIVATE.
static inline CURLcode dd_curl_easy_getinfo_pointer(CURL *h, CURLINFO i, void **out) {
    return curl_easy_getinfo(h, i, out);
}
/// curl_multi_setopt for options taking a long (connection limits, multiplexing).
static inline CURLMcode dd_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) {
    return curl_multi_setopt(m, o, v);
}
/// curl_multi_info_read's CURLMsg keeps the transfer result in a union; this reads it as a CURLcode.
static inline CURLcode dd_curl_msg_result(const CURLMsg *m) {
    return m->data.result;
}
/// CURLMSG_DONE as a plain int, so Swift compares without enum conversions.
static inline int dd_curl_msg_is_done(const CURLMsg *m) {
    return m->msg == CURLMSG_DONE;
}
/// CURLPIPE_MULTIPLEX is a macro with an L suffix; exposed as a long for CURLMOPT_PIPELINING.
static inline long dd_curlpipe_multiplex(void) { return CURLPIPE_MULTIPLEX; }
/// CURL_ERROR_SIZE is a macro; the error buffer we hand to CURLOPT_ERRORBUFFER must be this big.
static inline size_t dd_curl_error_size(void) { return CURL_ERROR_SIZE; }
#endif
