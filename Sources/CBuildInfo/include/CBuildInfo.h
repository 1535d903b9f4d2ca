// The build's version and commit, as C strings. A C target because C can fall back when the
// generated header is absent (`__has_include`), so a plain `swift build` of a fresh clone
// works; `make` generates the header first and the binary names its exact build.
#ifndef DD_BUILD_INFO_H
#define DD_BUILD_INFO_H
const char *dd_build_version(void);
const char *dd_build_commit(void);
#endif
