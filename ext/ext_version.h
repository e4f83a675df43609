#ifndef LSMVTAB_EXT_VERSION_H
#define LSMVTAB_EXT_VERSION_H
#define LSMVTAB_VERSION "0.1.0"

/* Every object is compiled with -fvisibility=hidden (Makefile): lsmvtab.so exports only what is
** marked LSMVTAB_EXPORT (the entry point, the VFS's test hooks). Why: SQLite loads extensions
** with RTLD_GLOBAL, so an exported engine name (cache_new, st_err, mm_malloc...) could bind to,
** or be bound by, a same-named symbol of the host or of another library, and every call between
** the extension's own functions would go through the PLT and stay un-inlined (interposable). */
#define LSMVTAB_EXPORT __attribute__((visibility("default")))
#endif
