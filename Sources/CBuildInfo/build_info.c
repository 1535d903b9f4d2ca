#include "CBuildInfo.h"

// Written by scripts/embed-version.sh from VERSION and git (not committed).
#if __has_include("build_version.h")
#include "build_version.h"
#else
#define DD_BUILD_VERSION "0.0.0-unknown"
#define DD_BUILD_COMMIT "unknown"
#endif

const char *dd_build_version(void) { return DD_BUILD_VERSION; }
const char *dd_build_commit(void) { return DD_BUILD_COMMIT; }
