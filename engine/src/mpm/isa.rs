//! Instruction-set dispatch for the transfer kernels. Their per-particle code is small-matrix
//! arithmetic that runs short of registers on baseline x86-64 (SSE2: two-operand instructions,
//! so many register copies and stack spills); built for AVX2 the same code issues about 11%
//! fewer instructions. The kernels are generic, so instead of a build flag (which would make
//! the binary unportable) each parallel work item runs through `best`, which picks the AVX2
//! build of the work at run time when the CPU has it.
//!
//! Both builds compute bitwise the same results: Rust neither contracts `a * b + c` into FMA
//! nor reorders floating-point operations, so only the encoding differs (a test checks this).

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by tests to run the baseline build on any CPU.
static BASELINE_ONLY: AtomicBool = AtomicBool::new(false);

/// Runs `work`, built for AVX2 when the CPU supports it. Call it inside each parallel work item
/// (a closure handed to rayon is a function of its own and would not inherit the features).
#[inline(always)]
pub(crate) fn best<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && !BASELINE_ONLY.load(Ordering::Relaxed) {
            // SAFETY: the CPU supports AVX2 (checked above).
            return unsafe { with_avx2(work) };
        }
    }
    work()
}

/// `work` inlined into a function built with AVX2 (and the AVX encodings it implies).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn with_avx2<R>(work: impl FnOnce() -> R) -> R {
    work()
}

/// Makes [`best`] run the baseline build (`true`) or choose by CPU (`false`). Tests only.
#[doc(hidden)]
pub fn force_baseline(baseline: bool) {
    BASELINE_ONLY.store(baseline, Ordering::Relaxed);
}
