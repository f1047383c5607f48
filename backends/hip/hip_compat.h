/*
 * The one place that knows which GPU toolchain compiles the HIP backend.
 *
 * - AMD (hipcc or clang -x hip, ROCm): the real HIP runtime.
 * - NVIDIA (nvcc -x cu): CUDA's runtime, with the handful of hip* names the
 *   backend uses mapped to their cuda* twins. Debian's HIP-on-NVIDIA headers
 *   (hip/nvidia_detail) do not build with CUDA 13, hence this small map.
 *
 * Kernels are launched with <<<grid, block, shmem, stream>>>, which both
 * compilers accept. Everything that differs between the vendors in device
 * code (warp size, shuffles, correctly rounded division and square root,
 * read-only loads) is a macro or an inline function here, each behind one
 * #if on FP8F_GPU_AMD / FP8F_GPU_NVIDIA.
 */
#ifndef FP8F_HIP_COMPAT_H
#define FP8F_HIP_COMPAT_H

#if defined(__HIP_PLATFORM_AMD__) || defined(__HIP_PLATFORM_HCC__) || \
    (defined(__HIP__) && !defined(__CUDACC__))
/* ------------------------------------------------------------ AMD / ROCm */
#include <hip/hip_runtime.h>
#define FP8F_GPU_AMD 1
#define FP8F_GPU_VENDOR "AMD"
/* gfx9 (MI300 gfx942, MI355 gfx950) runs wave64. */
#define FP8F_WARP_SIZE 64

#define fp8f_shfl_xor(v, mask) __shfl_xor((v), (mask))
#define fp8f_graph_instantiate(exec, graph) hipGraphInstantiate((exec), (graph), NULL, NULL, 0)

#elif defined(__CUDACC__)
/* ------------------------------------------------------- NVIDIA / CUDA */
#include <cuda_runtime.h>
#define FP8F_GPU_NVIDIA 1
#define FP8F_GPU_VENDOR "NVIDIA"
#define FP8F_WARP_SIZE 32

typedef cudaError_t hipError_t;
typedef cudaStream_t hipStream_t;
typedef cudaEvent_t hipEvent_t;
typedef cudaDeviceAttr hipDeviceAttribute_t;

#define hipSuccess cudaSuccess
#define hipErrorMemoryAllocation cudaErrorMemoryAllocation
#define hipErrorNoDevice cudaErrorNoDevice
#define hipGetErrorString cudaGetErrorString
#define hipGetErrorName cudaGetErrorName
#define hipGetLastError cudaGetLastError
#define hipGetDeviceCount cudaGetDeviceCount
#define hipGetDevice cudaGetDevice
#define hipSetDevice cudaSetDevice
#define hipDeviceGetAttribute cudaDeviceGetAttribute
#define hipDeviceAttributeMultiprocessorCount cudaDevAttrMultiProcessorCount
#define hipDeviceAttributeL2CacheSize cudaDevAttrL2CacheSize
#define hipDeviceAttributeComputeCapabilityMajor cudaDevAttrComputeCapabilityMajor
#define hipDeviceAttributeComputeCapabilityMinor cudaDevAttrComputeCapabilityMinor
#define hipDeviceProp_t cudaDeviceProp
#define hipGetDeviceProperties cudaGetDeviceProperties
#define hipRuntimeGetVersion cudaRuntimeGetVersion
#define hipDriverGetVersion cudaDriverGetVersion
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipMemcpyAsync cudaMemcpyAsync
#define hipMemsetAsync cudaMemsetAsync
#define hipMemcpyHostToDevice cudaMemcpyHostToDevice
#define hipMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define hipMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define hipStreamSynchronize cudaStreamSynchronize
#define hipDeviceSynchronize cudaDeviceSynchronize
#define hipMemcpyFromSymbol cudaMemcpyFromSymbol
#define HIP_SYMBOL(x) x
#define hipEventCreate cudaEventCreate
#define hipEventDestroy cudaEventDestroy
#define hipEventRecord cudaEventRecord
#define hipEventSynchronize cudaEventSynchronize
#define hipEventElapsedTime cudaEventElapsedTime

#define hipStreamCreateWithFlags cudaStreamCreateWithFlags
#define hipStreamDestroy cudaStreamDestroy
#define hipStreamNonBlocking cudaStreamNonBlocking
#define hipStreamBeginCapture cudaStreamBeginCapture
#define hipStreamEndCapture cudaStreamEndCapture
#define hipStreamCaptureModeThreadLocal cudaStreamCaptureModeThreadLocal
typedef cudaGraph_t hipGraph_t;
typedef cudaGraphExec_t hipGraphExec_t;
#define hipGraphLaunch cudaGraphLaunch
#define hipGraphDestroy cudaGraphDestroy
#define hipGraphExecDestroy cudaGraphExecDestroy

#define fp8f_shfl_xor(v, mask) __shfl_xor_sync(0xffffffffu, (v), (mask))
#define fp8f_graph_instantiate(exec, graph) cudaGraphInstantiate((exec), (graph), 0)

#else
#error "backends/hip must be compiled as HIP (hipcc / clang -x hip) or CUDA (nvcc -x cu)"
#endif

/* ---- device arithmetic that must be IEEE round-to-nearest ----------------
 * The numerics are reproduced bit for bit from lib/fp8_codec.h and the CPU
 * backend, so division and square root must be correctly rounded even if a
 * build adds fast-math flags. nvcc has explicit intrinsics; on AMD, HIP's
 * clang divides and takes square roots correctly rounded by default
 * (-fhip-fp32-correctly-rounded-divide-sqrt, oclc_correctly_rounded_sqrt_on). */
#if defined(FP8F_GPU_NVIDIA)
#define fp8f_div_rn(a, b) __fdiv_rn((a), (b))
#define fp8f_sqrt_rn(a) __fsqrt_rn(a)
#define fp8f_mul_rn(a, b) __fmul_rn((a), (b))
#define fp8f_add_rn(a, b) __fadd_rn((a), (b))
#define fp8f_ldg(p) __ldg(p)
#else
#define fp8f_div_rn(a, b) ((a) / (b))
#define fp8f_sqrt_rn(a) sqrtf(a)
/* clang contracts a*b+c only under -ffp-contract=fast; the default 'on' for
 * HIP contracts within one expression, so the epilogue keeps mul and add in
 * separate statements through these helpers. */
static __device__ __forceinline__ float fp8f_mul_rn(float a, float b) {
#pragma clang fp contract(off)
    return a * b;
}
static __device__ __forceinline__ float fp8f_add_rn(float a, float b) {
#pragma clang fp contract(off)
    return a + b;
}
#define fp8f_ldg(p) __ldg(p)
#endif

#endif /* FP8F_HIP_COMPAT_H */
