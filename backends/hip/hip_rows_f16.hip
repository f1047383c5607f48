/* The register-resident row kernels for F16 tensors (see hip_rows_kernel.h);
 * one file per element type so that the instantiations compile in parallel. */
#include "hip_rows_kernel.h"

hipError_t hip_launch_rows_f16(int mode, int fnuz, const struct hip_row_args *a,
                               struct hip_row_cfg c, hipStream_t s) {
    return hip_rows_launch<FP8F_F16>(mode, fnuz, a, c, s);
}
