#ifndef DISPATCH_DUE_CLIBPQ_SHIM_H
#define DISPATCH_DUE_CLIBPQ_SHIM_H
#include <libpq-fe.h>

/// A notice processor that drops notices: libpq prints them to stderr by default,
/// which would break the one-JSON-object-per-line log contract.
static inline void dd_pq_ignore_notice(void *arg, const char *message) {
    (void)arg; (void)message;
}

/// Installs dd_pq_ignore_notice; a C function pointer is simpler to pass from here.
static inline void dd_pq_silence_notices(PGconn *conn) {
    PQsetNoticeProcessor(conn, dd_pq_ignore_notice, (void *)0);
}
#endif
