/*
** vtab.h — the `lsm` virtual-table module (prefix vt_).
**
** Registration: vt_register(db) creates the per-connection state, the module "lsm" and the SQL
** functions lsm_stats/lsm_flush/lsm_compact/lsm_check (which find tables through it).
**
** Semantics (see docs in issue 5): a table behaves like a native WITHOUT ROWID table with the
** declared PRIMARY KEY, or like a rowid table when no key is declared. Rows are stored in an
** lsm_db (keys: keyenc.h, values: record.h), one engine per table directory, shared between the
** connections of the process (registry.h). A transaction's writes are buffered per connection
** and table in an overlay (overlay.h) and written as one batch at COMMIT.
**
** Thread safety: as SQLite's: a connection is used by one thread at a time.
*/
#ifndef LSMVTAB_VTAB_H
#define LSMVTAB_VTAB_H

#include <sqlite3ext.h>

/* Register the module and its SQL functions on db. SQLite status. */
int vt_register(sqlite3 *db);

#endif
