/* Stand-alone replay driver (no libFuzzer): runs each file given on the command line through
** the target's LLVMFuzzerTestOneInput once. Build: gcc ... fuzz/fuzz_X.c fuzz/replay_main.c.
** `make test` replays the corpora through c-tests/test_fuzz_replay.c instead. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) {
      perror(argv[i]);
      return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    size_t got = p ? fread(p, 1, (size_t)n, f) : 0;
    fclose(f);
    LLVMFuzzerTestOneInput(p, got);
    free(p);
  }
  printf("replayed %d inputs\n", argc - 1);
  return 0;
}
