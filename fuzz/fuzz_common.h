/*
** fuzz_common.h — helpers shared by the libFuzzer targets fuzz/fuzz_*.c.
**
** Each target defines LLVMFuzzerTestOneInput. The same sources are compiled three ways:
**   - with clang -fsanitize=fuzzer,address,undefined by `make fuzz` (scripts/fuzz.sh);
**   - into c-tests/test_fuzz_replay.c (renamed with a macro), which replays every file of
**     fuzz/corpus/<target>/ through its target in `make test` (and under ASan in `make asan`);
**   - standalone with fuzz/replay_main.c (gcc) to replay given files by hand.
** Targets are deterministic, leak nothing, and never write outside memory (file-based formats
** are fed through a memfd opened by its /proc/self/fd path).
*/
#ifndef LSMVTAB_FUZZ_COMMON_H
#define LSMVTAB_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fio.h"
#include "status.h"

/* One sync env for the process (the engine reads files only through fio). */
static inline fio_env *fz_env(void) {
  static fio_env *env;
  if (!env && fio_env_new(FIO_SYNC, &env)) abort();
  return env;
}

/* Put data in a fresh memfd; path gets "/proc/self/fd/N". Returns the fd (close it), -1 on
** failure. */
static inline int fz_memfile(const uint8_t *data, size_t size, char *path, size_t pathn) {
  int fd = memfd_create("fuzz", 0);
  if (fd < 0) return -1;
  size_t done = 0;
  while (done < size) {
    ssize_t w = write(fd, data + done, size - done);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    done += (size_t)w;
  }
  snprintf(path, pathn, "/proc/self/fd/%d", fd);
  return fd;
}

/* Walk an iterator both ways (bounded), touching keys and values (so ASan sees every byte). */
static inline unsigned fz_touch(const uint8_t *p, size_t n) {
  unsigned h = 0;
  for (size_t i = 0; i < n; i++) h = h * 31 + p[i];
  return h;
}

/* Byte 0 of some inputs is used only to pick a mode; the file-level targets instead run every
** input twice: as given, and after fz_fix-style repair of its checksums (each target has its
** own fixer), so mutations reach the decoders behind the checksums instead of dying at them. */

#endif
