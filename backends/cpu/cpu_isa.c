#define _DEFAULT_SOURCE 1 /* syscall() */
/*
 * Which instructions this CPU and its OS let us use: cpuid for the CPU's
 * features, xgetbv for the register state the OS saves (YMM, ZMM and
 * opmasks, AMX tiles), and for AMX the per-process tile permission the
 * Linux kernel grants through arch_prctl(ARCH_REQ_XCOMP_PERM).
 */
#include <stdio.h>
#include <string.h>

#include "cpu_isa.h"

#if defined(__x86_64__) || defined(__i386__)
#define CPU_X86 1
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

static const char *const isa_names[CPU_ISA_COUNT] = {"generic", "avx2", "avx512",
                                                     "avx512bf16", "amx"};

const char *fp8f_cpu_isa_name(enum cpu_isa isa) {
    return (unsigned)isa < CPU_ISA_COUNT ? isa_names[isa] : NULL;
}

int fp8f_cpu_isa_from_name(const char *name) {
    for (int i = 0; i < CPU_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0)
            return i;
    return -1;
}

static struct {
    enum cpu_isa level;
    int divides_fast;
    int splits_512;
    size_t l1d_bytes; /* 0: unknown */
    char model[64];
    char features[256];
} det;

#ifdef CPU_X86
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Asks Linux for the AMX tile data state (needed before the first tile
 * instruction since 5.16); 1 when granted. */
static int amx_permission(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    const long ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023;
    const int XFEATURE_XTILEDATA = 18;
    unsigned long bitmask = 0;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
        return 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bitmask) != 0)
        return 0;
    return (bitmask & (1ul << XFEATURE_XTILEDATA)) != 0;
#else
    return 0;
#endif
}

/* The L1 data cache's size from cpuid: AMD's leaf 0x80000005, else the
 * deterministic cache parameters of leaf 4 (Intel); 0 when neither says. */
static size_t l1d_bytes(int amd, unsigned max_leaf) {
    unsigned a, b, c, d;
    if (amd) {
        if ((unsigned)__get_cpuid_max(0x80000000u, NULL) < 0x80000005u)
            return 0;
        __cpuid(0x80000005u, a, b, c, d);
        return (size_t)(c >> 24) * 1024;
    }
    for (unsigned i = 0; max_leaf >= 4 && i < 16; i++) {
        __cpuid_count(4, i, a, b, c, d);
        const unsigned type = a & 0x1f, level = (a >> 5) & 7;
        if (type == 0)
            break;
        if (type == 1 && level == 1) /* data cache, level 1 */
            return (size_t)((b >> 22) + 1) * (((b >> 12) & 0x3ff) + 1) * ((b & 0xfff) + 1) *
                   ((size_t)c + 1);
    }
    return 0;
}

static void add_feature(const char *name) {
    size_t len = strlen(det.features);
    snprintf(det.features + len, sizeof det.features - len, "%s%s", len ? " " : "", name);
}

static void detect(void) {
    unsigned a, b, c, d, max_leaf;
    det.level = CPU_ISA_GENERIC;
    snprintf(det.model, sizeof det.model, "unknown x86-64 CPU");
    /* the cast: clang's cpuid.h returns int, gcc's unsigned */
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned regs[12];
        for (unsigned i = 0; i < 3; i++)
            __cpuid(0x80000002u + i, regs[4 * i], regs[4 * i + 1], regs[4 * i + 2],
                    regs[4 * i + 3]);
        char brand[49];
        memcpy(brand, regs, 48);
        brand[48] = 0;
        const char *p = brand;
        while (*p == ' ')
            p++;
        snprintf(det.model, sizeof det.model, "%s", p);
        for (size_t n = strlen(det.model); n > 0 && det.model[n - 1] == ' '; n--)
            det.model[n - 1] = 0;
    }
    max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7)
        return;
    __cpuid(0, a, b, c, d);
    const int amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u; /* AuthenticAMD */
    __cpuid(1, a, b, c, d);
    const unsigned family = ((a >> 8) & 0xf) == 0xf ? 0xf + ((a >> 20) & 0xff) : (a >> 8) & 0xf;
    det.divides_fast = amd && family >= 0x1a;
    det.splits_512 = amd && family == 0x19; /* Zen 4 (Zen 3 has no AVX-512) */
    det.l1d_bytes = l1d_bytes(amd, max_leaf);
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1,
              f16c = (c >> 29) & 1;
    const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const int os_ymm = (xcr0 & 0x6) == 0x6, os_zmm = (xcr0 & 0xe6) == 0xe6,
              os_tile = (xcr0 & 0x60000) == 0x60000;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned leaf7_max = a;
    const int avx2 = (b >> 5) & 1, f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1,
              vl = (b >> 31) & 1, vbmi = (c >> 1) & 1, vnni = (c >> 11) & 1,
              amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1,
              fp16 = (d >> 23) & 1;
    int bf16 = 0;
    if (leaf7_max >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        bf16 = (a >> 5) & 1;
    }
    const int has_avx2 = avx && avx2 && fma && f16c && os_ymm;
    const int has_512 = has_avx2 && f && dq && bw && vl && os_zmm;
    const int has_bf16 = has_512 && bf16 && vbmi;
    const int has_amx = has_bf16 && amx_tile && amx_bf16 && os_tile && amx_permission();
#define FEAT(cond, name)                                                                       \
    if (cond)                                                                                  \
    add_feature(name)
    FEAT(avx2, "avx2");
    FEAT(fma, "fma");
    FEAT(f16c, "f16c");
    FEAT(f, "avx512f");
    FEAT(bw, "avx512bw");
    FEAT(vl, "avx512vl");
    FEAT(dq, "avx512dq");
    FEAT(vbmi, "avx512vbmi");
    FEAT(vnni, "avx512vnni");
    FEAT(bf16, "avx512bf16");
    FEAT(fp16, "avx512fp16");
    FEAT(amx_tile, "amx-tile");
    FEAT(amx_bf16, "amx-bf16");
    FEAT(amx_int8, "amx-int8");
    FEAT(amx_tile && !os_tile, "(no OS tile state)");
#undef FEAT
    det.level = has_amx    ? CPU_ISA_AMX
                : has_bf16 ? CPU_ISA_AVX512BF16
                : has_512  ? CPU_ISA_AVX512
                : has_avx2 ? CPU_ISA_AVX2
                           : CPU_ISA_GENERIC;
}
#else
static void detect(void) {
    det.level = CPU_ISA_GENERIC;
    snprintf(det.model, sizeof det.model, "non-x86 CPU");
}
#endif

#include <pthread.h>
static pthread_once_t once = PTHREAD_ONCE_INIT;

enum cpu_isa fp8f_cpu_isa_detect(void) {
    pthread_once(&once, detect);
    return det.level;
}

const char *fp8f_cpu_isa_model(void) {
    pthread_once(&once, detect);
    return det.model;
}

const char *fp8f_cpu_isa_features(void) {
    pthread_once(&once, detect);
    return det.features;
}

int fp8f_cpu_isa_divides_fast(void) {
    pthread_once(&once, detect);
    return det.divides_fast;
}

int fp8f_cpu_isa_splits_512(void) {
    pthread_once(&once, detect);
    return det.splits_512;
}

size_t fp8f_cpu_isa_l1d_bytes(void) {
    pthread_once(&once, detect);
    return det.l1d_bytes;
}

const struct cpu_kernels *fp8f_cpu_kernels_for(enum cpu_isa isa, enum cpu_isa *used) {
    switch (isa) {
    case CPU_ISA_AMX:
#ifdef FP8F_HAVE_KERNELS_AMX
        *used = CPU_ISA_AMX;
        return &fp8f_cpu_kernels_amx;
#endif
        /* fall through */
    case CPU_ISA_AVX512BF16:
#ifdef FP8F_HAVE_KERNELS_AVX512BF16
        *used = CPU_ISA_AVX512BF16;
        return &fp8f_cpu_kernels_avx512bf16;
#endif
        /* fall through */
    case CPU_ISA_AVX512:
#ifdef FP8F_HAVE_KERNELS_AVX512
        *used = CPU_ISA_AVX512;
        return &fp8f_cpu_kernels_avx512;
#endif
        /* fall through */
    case CPU_ISA_AVX2:
#ifdef FP8F_HAVE_KERNELS_AVX2
        *used = CPU_ISA_AVX2;
        return &fp8f_cpu_kernels_avx2;
#endif
        /* fall through */
    default:
        *used = CPU_ISA_GENERIC;
        return &fp8f_cpu_kernels_generic;
    }
}
