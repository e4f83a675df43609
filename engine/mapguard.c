/* mapguard.c — see mapguard.h. */
#include "mapguard.h"

#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "status.h"

/* The guard of one copy, on mg_copy's stack. */
typedef struct mg_guard {
  sigjmp_buf env;
  const char *lo, *hi; /* the source range [lo, hi) being copied */
} mg_guard;

/* This thread's guard while it copies, else NULL. A pointer in the initial-exec TLS model: the
** handler reads it with one load (no __tls_get_addr, which may allocate on a thread's first
** access to a dlopen'ed library's TLS: not async-signal-safe). 8 bytes fit the static TLS
** surplus glibc keeps for dlopen'ed libraries. */
static __thread mg_guard *mg_cur __attribute__((tls_model("initial-exec")));

static struct sigaction mg_prev; /* the handler before ours (set once, before ours runs) */
static pthread_once_t mg_once = PTHREAD_ONCE_INIT;
static int mg_installed;

static void mg_handler(int sig, siginfo_t *si, void *uc) {
  mg_guard *g = mg_cur;
  if (g && si && (const char *)si->si_addr >= g->lo && (const char *)si->si_addr < g->hi) {
    mg_cur = NULL;
    siglongjmp(g->env, 1);
  }
  if (mg_prev.sa_flags & SA_SIGINFO) {
    mg_prev.sa_sigaction(sig, si, uc);
  } else if (mg_prev.sa_handler != SIG_DFL && mg_prev.sa_handler != SIG_IGN) {
    mg_prev.sa_handler(sig);
  } else {
    /* The default action, as without us: a fault re-executes the faulting instruction on
    ** return and dies of it; a signal sent by kill is raised again (pending while this
    ** handler blocks it, delivered with the default action on return). The kernel forces a
    ** fault's SIGBUS even where SIG_IGN was set, so SIG_IGN becomes SIG_DFL here too. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (!si || si->si_code <= 0) raise(sig);
  }
}

static void mg_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = mg_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  mg_installed = sigaction(SIGBUS, &sa, &mg_prev) == 0;
  /* The handler stays installed for the life of the process: the code holding it (the
  ** extension, when the engine lives in one) must not be unloaded when its last user closes
  ** (SQLite dlcloses an extension with the last connection that loaded it). RTLD_NODELETE on
  ** the already loaded object pins it; for a main program this is a no-op. */
  Dl_info di;
  if (mg_installed && dladdr((void *)mg_handler, &di) && di.dli_fname) {
    void *self = dlopen(di.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    (void)self; /* a reference kept on purpose, never dlclosed */
  }
}

int mg_ready(void) {
  if (pthread_once(&mg_once, mg_install) || !mg_installed) return 0;
  struct sigaction cur;
  if (sigaction(SIGBUS, NULL, &cur)) return 0;
  return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == mg_handler;
}

/* The end of a guarded call that faulted: SIGBUS unblocked again (the handler's mask stayed on
** the jump: sigsetjmp(env, 0) saves none), the error recorded. */
static int mg_fault(const char *name, uint64_t off) {
  sigset_t bus;
  sigemptyset(&bus);
  sigaddset(&bus, SIGBUS);
  pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
  return st_err(LSM_IOERR_READ,
                "%s: device IO error or file truncated under the mapping at offset %llu", name,
                (unsigned long long)off);
}

int mg_copy(void *dst, const void *src, size_t n, const char *name, uint64_t off) {
  mg_guard g;
  g.lo = src;
  g.hi = (const char *)src + n;
  if (sigsetjmp(g.env, 0)) return mg_fault(name, off); /* no mask saved: no system call */
  mg_cur = &g;
  atomic_signal_fence(memory_order_seq_cst); /* the guard is set before the copy starts */
  memcpy(dst, src, n);
  atomic_signal_fence(memory_order_seq_cst); /* ... and cleared after it ends */
  mg_cur = NULL;
  return LSM_OK;
}

int mg_run(mg_fn fn, void *ctx, const void *src, size_t n, const char *name, uint64_t off) {
  mg_guard g;
  g.lo = src;
  g.hi = (const char *)src + n;
  if (sigsetjmp(g.env, 0)) return mg_fault(name, off);
  mg_cur = &g;
  atomic_signal_fence(memory_order_seq_cst);
  int rc = fn(ctx);
  atomic_signal_fence(memory_order_seq_cst);
  mg_cur = NULL;
  return rc;
}
