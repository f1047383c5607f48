/*
 * AMD GPUs that the HIP module has no code for, found before the module is
 * loaded.
 *
 * ROCm's runtime does not return an error for a GPU whose architecture has
 * no code object in the program: it aborts the whole process at the first
 * HIP call ("hipErrorNoBinaryForGpu: Unable to find code object for all
 * current devices!"), and for our module that first call is the device
 * count in fp8f_ctx_create. An inference engine calling fp8f_ctx_create on
 * an MI250 (gfx90a) with a module built for gfx942 and gfx950 would die
 * there. So an AMD build reads each GPU's target from the kernel driver's
 * topology (the same numbers ROCm reads) and refuses the module, naming the
 * GPU, where one has no code in it.
 *
 * What ROCm counts as "current devices" is narrowed by the visible-device
 * variables (ROCR_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES, ...), which can name
 * devices by UUID; where one is set, the caller chose the devices and the
 * check is left to them. HSA_OVERRIDE_GFX_VERSION makes every GPU report the
 * target it names, so the check uses it too. FP8F_HIP_TARGET_CHECK=0 turns
 * the check off (a module whose targets cover a GPU in a way this file does
 * not know, e.g. a generic target).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KFD_NODES "/sys/class/kfd/kfd/topology/nodes"

/* "gfx942" from the driver's number 90402 (major 9, minor 4, stepping 2;
 * minor and stepping are written as one hex digit each: 90010 is gfx90a). */
static void target_name(unsigned version, char *name, size_t len) {
    snprintf(name, len, "gfx%u%x%x", version / 10000, (version / 100) % 100, version % 100);
}

/* HSA_OVERRIDE_GFX_VERSION "major.minor.stepping" (the stepping in decimal
 * or, with a letter, in hex: "9.0.10" and "9.0.a" are both gfx90a) as the
 * driver's number, or 0 where it does not parse. */
static unsigned override_version(const char *s) {
    if (!s || !*s)
        return 0;
    char *end;
    const unsigned long major = strtoul(s, &end, 10);
    if (*end != '.')
        return 0;
    const unsigned long minor = strtoul(end + 1, &end, 10);
    if (*end != '.')
        return 0;
    const char *step = end + 1;
    const int hex = step[strcspn(step, "abcdefABCDEF")] != '\0';
    const unsigned long stepping = strtoul(step, &end, hex ? 16 : 10);
    if (end == step || *end || major == 0 || major > 99 || minor > 15 || stepping > 15)
        return 0;
    return (unsigned)(major * 10000 + minor * 100 + stepping);
}

/* Whether the comma-separated targets (each maybe with features,
 * "gfx942:sramecc+:xnack-") include name. */
static int targets_include(const char *targets, const char *name) {
    const size_t n = strlen(name);
    for (const char *t = targets;; t++) { /* t: the start of one target */
        if (strcspn(t, ",:") == n && strncmp(t, name, n) == 0)
            return 1;
        t += strcspn(t, ",");
        if (!*t)
            return 0;
    }
}

/* The driver's gfx_target_version of topology node i: 0 for a CPU node,
 * -1 where the node does not exist. */
static long node_version(const char *nodes_dir, int i) {
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/%d/properties", nodes_dir, i);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long version = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "gfx_target_version %ld", &version) == 1)
            break;
    fclose(f);
    return version;
}

static int devices_chosen_by_caller(void) {
    static const char *const vars[] = {"ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
                                       "CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int fp8f__amd_gpu_without_code(const char *nodes_dir, const char *targets, char *why,
                               size_t why_len) {
    const char *check = getenv("FP8F_HIP_TARGET_CHECK");
    if ((check && strcmp(check, "0") == 0) || devices_chosen_by_caller())
        return 0;
    const unsigned forced = override_version(getenv("HSA_OVERRIDE_GFX_VERSION"));
    long version;
    for (int i = 0; (version = node_version(nodes_dir, i)) >= 0; i++) {
        if (version == 0)
            continue; /* a CPU */
        char name[32];
        target_name(forced ? forced : (unsigned)version, name, sizeof name);
        if (!targets_include(targets, name)) {
            snprintf(why, why_len,
                     "the GPU of KFD topology node %d is %s%s, and the HIP module holds code "
                     "only for %s (ROCm would abort the process at its first call; rebuild "
                     "with --with-gpu-arch naming %s, or choose the devices with "
                     "HIP_VISIBLE_DEVICES)",
                     i, name, forced ? " by HSA_OVERRIDE_GFX_VERSION" : "", targets, name);
            return 1;
        }
    }
    return 0;
}

int fp8f__hip_gpu_without_code(char *why, size_t why_len) {
#ifdef FP8F_HIP_AMD_TARGETS
    return fp8f__amd_gpu_without_code(KFD_NODES, FP8F_HIP_AMD_TARGETS, why, why_len);
#else
    (void)why, (void)why_len; /* NVIDIA: the runtime reports such a GPU, it does not abort */
    return 0;
#endif
}
