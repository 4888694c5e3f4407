#ifndef DDPTRAIN_CPU_FEATURES_H
#define DDPTRAIN_CPU_FEATURES_H

/// 1 when this CPU and the operating system support the AVX-512 subsets the engine's AVX-512
/// kernels are compiled for (F, CD, BW, DQ, VL: `-target-cpu skylake-avx512`), else 0.
/// Uses the compiler's CPUID probe, which also checks that the OS saves the zmm registers.
int ddptrain_cpu_supports_avx512(void);

/// 1 when this CPU supports AVX2 and FMA (the engine's default `-target-cpu haswell`), else 0.
int ddptrain_cpu_supports_avx2_fma(void);

/// Tells the CPU that the caller is in a spin-wait loop (x86 `pause`): the core saves power and
/// leaves the memory pipeline to the thread that will end the wait. A no-op elsewhere.
static inline void ddptrain_cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

#endif
