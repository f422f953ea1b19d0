/* tweaknet's float32 matrix product for the compiled path (tweaknet/fast/products.py builds and loads it).

   C = alpha op(A) op(B) + beta C on row-major blocks, one thread per call: the compiled step shares a product
   between its own threads, each computing a block of rows or columns (fast/blocks.py).  The layout is the
   classic one of Goto's and BLIS's products: the k dimension in blocks of KC, op(B) packed into panels of NR
   columns (a block of NC columns, KC x NC, stays in L2), op(A) packed into panels of MR rows (one panel, MR x KC,
   stays in L1 while it meets every panel of op(B)), and a micro-kernel that keeps the MR x NR block of C in
   registers
   (8 x 48: 24 AVX-512 accumulators, three vector loads of op(B) and eight broadcasts of op(A) per step of k).
   Why tweaknet has its own: at the wide layers' shapes (batch 128-512, widths 1024-2048) the machine's
   OpenBLAS (SkylakeX kernels on an AMD Zen 4) ran one-thread products at 80-90% of what this kernel and
   XLA's reach; docs/benchmarks.md has the measurements.

   Shapes too small for the kernel's blocks to pay (and every product on a CPU without AVX-512) go to the
   BLAS that NumPy uses (Numba's numba_xxgemm, given at load time).  Each element of C sums its k terms in
   the same order whatever the block of C a call computes, so results do not depend on how the step splits a
   product between threads. */
#include <stdint.h>
#include <stdlib.h>

typedef int (*xxgemm_t)(char kind, char transa, char transb, intptr_t m, intptr_t n, intptr_t k, void *alpha,
                        void *a, intptr_t lda, void *b, intptr_t ldb, void *beta, void *c, intptr_t ldc);
static xxgemm_t fallback;

void tweaknet_products_init(void *blas) { fallback = (xxgemm_t)blas; }

#if defined(__AVX512F__)
#include <immintrin.h>

#define MR 8 /* one 256-bit vector of op(A) per step of k (pack_a) */
#define NV 3
#define NR (16 * NV)
#ifndef KC
#define KC 256
#endif
#ifndef MC
#define MC 256
#endif
#ifndef NC
#define NC 512
#endif
#ifndef MIN_ROWS
#define MIN_ROWS 16
#endif
#ifndef MIN_COLS
#define MIN_COLS 32
#endif
#ifndef MIN_DEPTH
#define MIN_DEPTH 32
#endif

int tweaknet_products_kernel(void) { return 512; }

static inline __mmask16 lanes(intptr_t count) {
    return count >= 16 ? (__mmask16)0xffff : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1);
}

/* transpose 16 rows of 16 floats in registers */
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xDD);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xDD);
    }
}

/* op(A)[i0:i0+mc, p0:p0+kc] into panels of MR rows: buf[panel][p][i], rows past mc are zeros */
static void pack_a(int ta, const float *A, intptr_t lda, intptr_t i0, intptr_t mc, intptr_t p0, intptr_t kc,
                   float *buf) {
    if (ta) {  /* op(A)[i, p] = A[p, i]: A's rows in order, each read once from start to end */
        for (intptr_t p = 0; p < kc; p++) {
            const float *s = A + (p0 + p) * lda + i0;
            for (intptr_t ir = 0; ir < mc; ir += MR) {
                float *d = buf + ir * kc + p * MR;
                intptr_t mr = mc - ir < MR ? mc - ir : MR;
                if (mr == MR)
                    _mm256_store_ps(d, _mm256_loadu_ps(s + ir));
                else
                    for (intptr_t i = 0; i < MR; i++) d[i] = i < mr ? s[ir + i] : 0.f;
            }
        }
        return;
    }
    for (intptr_t ir = 0; ir < mc; ir += MR) {  /* rows of A: tiles of MR rows by 16 values of p, transposed */
        intptr_t mr = mc - ir < MR ? mc - ir : MR;
        float *d = buf + ir * kc;
        intptr_t p = 0;
        if (mr == MR)
            for (; p + 16 <= kc; p += 16) {
                __m512 r[16];
                for (int i = 0; i < MR; i++) r[i] = _mm512_loadu_ps(A + (i0 + ir + i) * lda + p0 + p);
                for (int i = MR; i < 16; i++) r[i] = _mm512_setzero_ps();
                transpose16(r);
                for (int q = 0; q < 16; q++) _mm256_store_ps(d + (p + q) * MR, _mm512_castps512_ps256(r[q]));
            }
        for (; p < kc; p++)
            for (intptr_t i = 0; i < MR; i++) d[p * MR + i] = i < mr ? A[(i0 + ir + i) * lda + p0 + p] : 0.f;
    }
}

/* op(B)[p0:p0+kc, j0:j0+nc] into panels of NR columns: buf[panel][p][j], columns past nc are zeros */
static void pack_b(int tb, const float *B, intptr_t ldb, intptr_t p0, intptr_t kc, intptr_t j0, intptr_t nc,
                   float *buf) {
    if (!tb) {  /* B's rows in order, each read once from start to end (a stream the prefetchers follow) */
        for (intptr_t p = 0; p < kc; p++) {
            const float *s = B + (p0 + p) * ldb + j0;
            for (intptr_t jr = 0; jr < nc; jr += NR) {
                float *d = buf + jr * kc + p * NR;
                for (int v = 0; v < NV; v++)
                    _mm512_store_ps(d + 16 * v, _mm512_maskz_loadu_ps(lanes(nc - jr - 16 * v), s + jr + 16 * v));
            }
        }
        return;
    }
    for (intptr_t jr = 0; jr < nc; jr += NR) {
        intptr_t nr = nc - jr < NR ? nc - jr : NR;
        float *d = buf + jr * kc;
        for (int v = 0; v < NV; v++) {
            intptr_t jn = nr - 16 * v;
            /* op(B)[p, j] = B[j, p]: tiles of 16 of B's rows by 16 of its columns, transposed in registers */
            intptr_t p = 0;
            if (jn >= 16)
                for (; p + 16 <= kc; p += 16) {
                    __m512 r[16];
                    for (int j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(B + (j0 + jr + 16 * v + j) * ldb + p0 + p);
                    transpose16(r);
                    for (int q = 0; q < 16; q++) _mm512_store_ps(d + (p + q) * NR + 16 * v, r[q]);
                }
            for (; p < kc; p++)
                for (int j = 0; j < 16; j++)
                    d[p * NR + 16 * v + j] = j < jn ? B[(j0 + jr + 16 * v + j) * ldb + p0 + p] : 0.f;
        }
    }
}

/* C[0:mr, 0:nr] = alpha a @ b + beta C for one MR-row panel of op(A) and one NR-column panel of op(B), with nv
   vectors of 16 columns (fewer than NV for the last panel of a narrow block: no work on its zero columns) */
static inline __attribute__((always_inline)) void micro(const int nv, intptr_t kc, const float *a, const float *b,
                                                        float *C, intptr_t ldc, float alpha, float beta,
                                                        intptr_t mr, intptr_t nr) {
    __m512 c[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) c[i][v] = _mm512_setzero_ps();
    for (intptr_t p = 0; p < kc; p++) {
        __m512 bv[NV];
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) bv[v] = _mm512_load_ps(b + p * NR + 16 * v);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[p * MR + i]);
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) c[i][v] = _mm512_fmadd_ps(av, bv[v], c[i][v]);
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 mask[NV];
    for (int v = 0; v < nv; v++) mask[v] = lanes(nr - 16 * v);
    int full = nr == 16 * nv;
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *r = C + i * ldc;
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) {
            __m512 x = _mm512_mul_ps(va, c[i][v]);
            if (full) {
                if (beta != 0.f) x = _mm512_fmadd_ps(vb, _mm512_loadu_ps(r + 16 * v), x);
                _mm512_storeu_ps(r + 16 * v, x);
            } else {
                if (beta != 0.f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], r + 16 * v), x);
                _mm512_mask_storeu_ps(r + 16 * v, mask[v], x);
            }
        }
    }
}

static void micro_any(intptr_t kc, const float *a, const float *b, float *C, intptr_t ldc, float alpha, float beta,
                      intptr_t mr, intptr_t nr) {
    if (nr > 32) micro(3, kc, a, b, C, ldc, alpha, beta, mr, nr);
    else if (nr > 16) micro(2, kc, a, b, C, ldc, alpha, beta, mr, nr);
    else micro(1, kc, a, b, C, ldc, alpha, beta, mr, nr);
}

/* each thread's packing buffers, allocated at its first product and kept (2.2 MB) */
static __thread float *a_buf, *b_buf;

static int sgemm(int ta, int tb, intptr_t m, intptr_t n, intptr_t k, float alpha, const float *A, intptr_t lda,
                 const float *B, intptr_t ldb, float beta, float *C, intptr_t ldc) {
    if (!a_buf) {
        a_buf = aligned_alloc(64, sizeof(float) * (MC + MR) * KC);
        b_buf = aligned_alloc(64, sizeof(float) * (NC + NR) * KC);
        if (!a_buf || !b_buf) {
            free(a_buf);
            free(b_buf);
            a_buf = b_buf = 0;
            return -1;
        }
    }
    for (intptr_t jc = 0; jc < n; jc += NC) {
        intptr_t nc = n - jc < NC ? n - jc : NC;
        for (intptr_t pc = 0; pc < k; pc += KC) {
            intptr_t kc = k - pc < KC ? k - pc : KC;
            float beta_here = pc == 0 ? beta : 1.f;
            pack_b(tb, B, ldb, pc, kc, jc, nc, b_buf);
            for (intptr_t ic = 0; ic < m; ic += MC) {
                intptr_t mc = m - ic < MC ? m - ic : MC;
                pack_a(ta, A, lda, ic, mc, pc, kc, a_buf);
                for (intptr_t ir = 0; ir < mc; ir += MR) {
                    intptr_t mr = mc - ir < MR ? mc - ir : MR;
                    for (intptr_t jr = 0; jr < nc; jr += NR) {
                        intptr_t nr = nc - jr < NR ? nc - jr : NR;
                        micro_any(kc, a_buf + ir * kc, b_buf + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc, alpha,
                                  beta_here, mr, nr);
                    }
                }
            }
        }
    }
    return 0;
}

/* Where the kernel pays: enough rows and columns to fill its panels, and enough k to hide packing */
static int kernel_pays(intptr_t m, intptr_t n, intptr_t k) {
    return m >= MIN_ROWS && n >= MIN_COLS && k >= MIN_DEPTH;
}

#else
int tweaknet_products_kernel(void) { return 0; }
#endif

/* numba_xxgemm's signature and column-major meaning, float32 ('s') only: the column-major C = op(A) op(B) the
   compiled path asks for is the row-major C = op(B)^T op(A)^T the kernel computes */
int tweaknet_xxgemm(char kind, char transa, char transb, intptr_t m, intptr_t n, intptr_t k, void *alpha, void *a,
                    intptr_t lda, void *b, intptr_t ldb, void *beta, void *c, intptr_t ldc) {
#if defined(__AVX512F__)
    if (kind == 's' && kernel_pays(n, m, k)
        && sgemm(transb == 't' || transb == 'T', transa == 't' || transa == 'T', n, m, k, *(float *)alpha,
                 (const float *)b, ldb, (const float *)a, lda, *(float *)beta, (float *)c, ldc) == 0)
        return 0;
#endif
    return fallback(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
