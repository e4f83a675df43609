/*
** ext.c — the extension's entry point: sqlite3_lsmvtab_init registers the SQL functions,
** the `lsm` virtual-table module and the `uring` VFS.
*/
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <stddef.h>

#include "ext_version.h"
#include "vtab.h"
#include "../vfs/uringvfs.h"

/* lsm_version(): the extension's version string. */
static void ext_version_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  sqlite3_result_text(ctx, LSMVTAB_VERSION, -1, SQLITE_STATIC);
}

#ifdef _WIN32
__declspec(dllexport)
#endif
LSMVTAB_EXPORT int sqlite3_lsmvtab_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  SQLITE_EXTENSION_INIT2(pApi);
  (void)pzErrMsg;
  int rc = sqlite3_create_function(db, "lsm_version", 0,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                   ext_version_func, NULL, NULL);
  /* The `lsm` module and lsm_stats/lsm_flush/lsm_compact/lsm_check. */
  if (rc == SQLITE_OK) rc = vt_register(db);
  /* The `uring` VFS outlives this connection, so the library must stay loaded. */
  if (rc == SQLITE_OK) rc = uringvfs_register();
  if (rc == SQLITE_OK) rc = SQLITE_OK_LOAD_PERMANENTLY;
  return rc;
}
