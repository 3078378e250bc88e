/* Preloaded into qemu-aarch64 on Intel hosts (scripts/ci-sve.sh builds it,
 * qemu-aarch64.sh preloads it): hides AVX2 from qemu's own CPUID probe, so
 * its code generator emits 128-bit host vectors for the guest's SVE.
 *
 * Why: at vector lengths of 256 bits and more qemu 7.2 translates SVE into
 * 256-bit AVX2 code and leaves the upper halves of the YMM registers dirty;
 * its helpers (softfloat, libm) are SSE code, and every SSE instruction of
 * an Intel core then waits on those halves. Measured here (Sapphire Rapids
 * class VM): a direct Q·Kᵀ test ran 16x slower at 256 bits than at 128, and
 * the scalar double reference after it 30x slower; with this shim both run
 * as at 128 bits.
 *
 * How: CPUID faulting (arch_prctl ARCH_SET_CPUID) turns each CPUID into a
 * SIGSEGV, answered here with AVX2 (leaf 7, EBX bit 5) cleared. qemu
 * installs its own SIGSEGV handler after it has probed the CPU: from then on
 * CPUID runs as it is (sigaction below). */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static long cpuid_faulting(int off) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, off); }

static void on_segv(int sig, siginfo_t* info, void* context) {
  (void)info;
  greg_t* r = ((ucontext_t*)context)->uc_mcontext.gregs;
  const unsigned char* ip = (const unsigned char*)r[REG_RIP];
  if (ip[0] != 0x0f || ip[1] != 0xa2) { /* not CPUID: a real fault */
    signal(sig, SIG_DFL);
    return;
  }
  const uint32_t leaf = (uint32_t)r[REG_RAX], subleaf = (uint32_t)r[REG_RCX];
  uint32_t a = leaf, b, c = subleaf, d;
  cpuid_faulting(1);
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  cpuid_faulting(0);
  if (leaf == 7 && subleaf == 0) b &= ~(UINT32_C(1) << 5);
  r[REG_RAX] = a, r[REG_RBX] = b, r[REG_RCX] = c, r[REG_RDX] = d;
  r[REG_RIP] += 2;
}

typedef int (*SigactionFn)(int, const struct sigaction*, struct sigaction*);
static SigactionFn real_sigaction(void) { return (SigactionFn)dlsym(RTLD_NEXT, "sigaction"); }

/* The program's own sigaction: a SIGSEGV handler of its own means its CPU
 * probe is done, and that handler would not know a faulting CPUID. */
int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (sig == SIGSEGV && act) cpuid_faulting(1);
  return real_sigaction()(sig, act, old);
}

__attribute__((constructor)) static void hide_avx2(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  if (real_sigaction()(SIGSEGV, &sa, NULL) == 0) cpuid_faulting(0); /* (no faulting: CPUID as it is) */
}
