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
#define hipErrorInvalidValue cudaErrorInvalidValue
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
#define hipDeviceAttributeWarpSize cudaDevAttrWarpSize
#define hipFuncAttributes cudaFuncAttributes
#define hipFuncGetAttributes cudaFuncGetAttributes
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

/* ---- programmatic dependent launch (NVIDIA sm_90+) ------------------------
 * A kernel launched with the PDL attribute after one that has called
 * fp8f_let_dependents_launch() starts while that one still runs, and must
 * call fp8f_wait_for_prerequisites() before it touches anything the earlier
 * kernel writes or reads (that wait returns once the earlier grid has
 * finished and its writes are visible). Elsewhere both are no-ops and the
 * stream orders kernels as usual. */
static __device__ __forceinline__ void fp8f_let_dependents_launch(void) {
#if defined(FP8F_GPU_NVIDIA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}
static __device__ __forceinline__ void fp8f_wait_for_prerequisites(void) {
#if defined(FP8F_GPU_NVIDIA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/* ---- thread block clusters (NVIDIA sm_90+) ---------------------------------
 * A kernel launched with fp8f_launch_clustered(..., cluster, ...) runs
 * its blocks in groups of `cluster` consecutive blocks that are scheduled
 * together and can read each other's shared memory. Elsewhere (AMD, older
 * NVIDIA) every block is a cluster of one: size 1, rank 0, cluster id =
 * block id, no barrier. Use these only in code built for clustered
 * launches: an ordinary kernel that read the cluster registers ran 0.15 us
 * slower (hip_rows_kernel.h keeps them out of its one-block variant). */
#if defined(FP8F_GPU_NVIDIA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
static __device__ __forceinline__ unsigned fp8f_cluster_size(void) {
    unsigned r;
    asm("mov.u32 %0, %%cluster_nctarank;" : "=r"(r));
    return r;
}
static __device__ __forceinline__ unsigned fp8f_cluster_rank(void) {
    unsigned r;
    asm("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
    return r;
}
static __device__ __forceinline__ unsigned fp8f_cluster_id_x(void) {
    unsigned r;
    asm("mov.u32 %0, %%clusterid.x;" : "=r"(r));
    return r;
}
/* Every thread of every block of the cluster arrives (release: its shared
 * memory writes become visible to the cluster), then waits (acquire). */
static __device__ __forceinline__ void fp8f_cluster_arrive(void) {
    asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
}
static __device__ __forceinline__ void fp8f_cluster_wait(void) {
    asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory");
}
/* The float at `p` (this block's shared memory) in block `rank`'s copy. */
static __device__ __forceinline__ float fp8f_cluster_load(const float *p, unsigned rank) {
    const unsigned local = (unsigned)__cvta_generic_to_shared(p);
    unsigned remote;
    float v;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(local), "r"(rank));
    asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(remote) : "memory");
    return v;
}
#else
static __device__ __forceinline__ unsigned fp8f_cluster_size(void) { return 1; }
static __device__ __forceinline__ unsigned fp8f_cluster_rank(void) { return 0; }
static __device__ __forceinline__ unsigned fp8f_cluster_id_x(void) { return blockIdx.x; }
static __device__ __forceinline__ void fp8f_cluster_arrive(void) {}
static __device__ __forceinline__ void fp8f_cluster_wait(void) {}
static __device__ __forceinline__ float fp8f_cluster_load(const float *p, unsigned rank) {
    (void)rank;
    return *p;
}
#endif

#if defined(FP8F_GPU_NVIDIA)
/* Launches kernel(args) on stream s in clusters of `cluster` blocks along x
 * (grid.x a multiple of it). The host asks for clusters only on sm_90+. */
template <typename Kernel, typename Args>
static hipError_t fp8f_launch_clustered(Kernel kernel, dim3 grid, dim3 block, unsigned cluster,
                                        hipStream_t s, const Args &args) {
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = cluster;
    attr.val.clusterDim.y = 1;
    attr.val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.stream = s;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    return cudaLaunchKernelEx(&cfg, kernel, args);
}
#endif

/* ---- the vendor's BLASLt (hip_gemm_blaslt.hip), where configure found it --
 * Written in hipBLASLt's spelling; on NVIDIA each name maps to its cuBLASLt
 * twin (the two APIs match call for call). The library itself is opened at
 * run time (dlopen), so only its header is needed here. */
#if defined(FP8F_HAVE_BLASLT) && defined(FP8F_GPU_AMD)
#include <hipblaslt/hipblaslt.h>
#define FP8F_BLASLT_NAME "hipBLASLt"
#elif defined(FP8F_HAVE_BLASLT)
#include <cublasLt.h>
#define FP8F_BLASLT_NAME "cuBLASLt"
typedef cublasStatus_t hipblasStatus_t;
typedef cublasLtHandle_t hipblasLtHandle_t;
typedef cublasLtMatmulDesc_t hipblasLtMatmulDesc_t;
typedef cublasLtMatmulDescAttributes_t hipblasLtMatmulDescAttributes_t;
typedef cublasLtMatrixLayout_t hipblasLtMatrixLayout_t;
typedef cublasLtMatmulPreference_t hipblasLtMatmulPreference_t;
typedef cublasLtMatmulHeuristicResult_t hipblasLtMatmulHeuristicResult_t;
typedef cublasLtMatmulMatrixScale_t hipblasLtMatmulMatrixScale_t;
typedef cublasLtEpilogue_t hipblasLtEpilogue_t;
typedef cublasOperation_t hipblasOperation_t;
typedef cudaDataType hipDataType;
#define HIPBLAS_STATUS_SUCCESS CUBLAS_STATUS_SUCCESS
#define HIPBLAS_OP_N CUBLAS_OP_N
#define HIPBLAS_OP_T CUBLAS_OP_T
#define HIPBLAS_COMPUTE_32F CUBLAS_COMPUTE_32F
#define HIP_R_8F_E4M3 CUDA_R_8F_E4M3
#define HIP_R_16BF CUDA_R_16BF
#define HIP_R_16F CUDA_R_16F
#define HIP_R_32F CUDA_R_32F
#define HIPBLASLT_MATMUL_DESC_TRANSA CUBLASLT_MATMUL_DESC_TRANSA
#define HIPBLASLT_MATMUL_DESC_TRANSB CUBLASLT_MATMUL_DESC_TRANSB
#define HIPBLASLT_MATMUL_DESC_A_SCALE_POINTER CUBLASLT_MATMUL_DESC_A_SCALE_POINTER
#define HIPBLASLT_MATMUL_DESC_B_SCALE_POINTER CUBLASLT_MATMUL_DESC_B_SCALE_POINTER
#define HIPBLASLT_MATMUL_DESC_A_SCALE_MODE CUBLASLT_MATMUL_DESC_A_SCALE_MODE
#define HIPBLASLT_MATMUL_DESC_B_SCALE_MODE CUBLASLT_MATMUL_DESC_B_SCALE_MODE
#define HIPBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F
#define HIPBLASLT_MATMUL_DESC_EPILOGUE CUBLASLT_MATMUL_DESC_EPILOGUE
#define HIPBLASLT_EPILOGUE_BIAS CUBLASLT_EPILOGUE_BIAS
#define HIPBLASLT_MATMUL_DESC_BIAS_POINTER CUBLASLT_MATMUL_DESC_BIAS_POINTER
#define HIPBLASLT_MATMUL_DESC_BIAS_DATA_TYPE CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE
#define HIPBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
/* the functions (dlsym finds them by these names, expanded) */
#define hipblasLtCreate cublasLtCreate
#define hipblasLtDestroy cublasLtDestroy
#define hipblasLtMatmulDescCreate cublasLtMatmulDescCreate
#define hipblasLtMatmulDescDestroy cublasLtMatmulDescDestroy
#define hipblasLtMatmulDescSetAttribute cublasLtMatmulDescSetAttribute
#define hipblasLtMatrixLayoutCreate cublasLtMatrixLayoutCreate
#define hipblasLtMatrixLayoutDestroy cublasLtMatrixLayoutDestroy
#define hipblasLtMatmulPreferenceCreate cublasLtMatmulPreferenceCreate
#define hipblasLtMatmulPreferenceDestroy cublasLtMatmulPreferenceDestroy
#define hipblasLtMatmulPreferenceSetAttribute cublasLtMatmulPreferenceSetAttribute
#define hipblasLtMatmulAlgoGetHeuristic cublasLtMatmulAlgoGetHeuristic
#define hipblasLtMatmul cublasLtMatmul
#endif
#ifndef FP8F_BLASLT_NAME
#define FP8F_BLASLT_NAME "BLASLt"
#endif

#endif /* FP8F_HIP_COMPAT_H */
