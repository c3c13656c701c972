"""What a faster Gaussian draw would buy the kernels (issue 27, item 2; not a test: prints).

    python benchmarks/gaussian_draws.py [--rounds N]

The compiled kernels draw one C2C Gaussian per device pulse with numba's `rng.standard_normal()`
on the run's numpy Generator (PCG64 and numpy's 256-layer ziggurat, reached through the bit
generator's function pointer). This script times the device-response loop of
`engine._respond_affine` (a record read, the affine step, the draw, the clip), per pulse, with
the draw made four ways, alternating, CPU time, median of the rounds:

- `numba Generator`: as the kernels do today;
- `inlined PCG64`: the same stream computed inside the loop (PCG64's 128-bit step as an LLVM
  i128 multiply, the same ziggurat and its tables, numba's copies of numpy's), so nothing
  changes but the call: checked bit-identical to numpy's `standard_normal`;
- `inlined xoshiro256++`: a cheaper 64-bit generator (a different stream, so new run numbers)
  feeding the same ziggurat;
- `no draw`: the loop without noise, the floor.

The gain on a whole SBP sample follows from the pulses per sample and the sample's time
(`kernel_breakdown.py`); benchmarks/README.md, section 6, does that sum.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
from numba.np.random._constants import (  # numpy's ziggurat tables, as numba compiles them
    fi_double,
    ki_double,
    wi_double,
    ziggurat_nor_inv_r,
    ziggurat_nor_r,
)

from sbp_core.chip.engine import RESPONSE

PCG_MULTIPLIER = (2549297995355413924 << 64) | 4865540595714422341
"""PCG64's 128-bit LCG multiplier (O'Neill, PCG: A Family of Simple Fast Space-Efficient
Statistically Good Algorithms for Random Number Generation, 2014; numpy's PCG64)."""
KI = np.asarray(ki_double, dtype=np.uint64)
WI = np.asarray(wi_double, dtype=np.float64)
FI = np.asarray(fi_double, dtype=np.float64)
MASK64 = 2**64 - 1


@intrinsic
def _pcg64_step(typingctx, state):
    """Advance a PCG64 state held as uint64[4] (state high, low, increment high, low) and return
    its next 64-bit output (XSL-RR), as numpy's PCG64 does."""

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        i64, i128 = ir.IntType(64), ir.IntType(128)

        def word(k):
            return builder.gep(data, [ir.Constant(i64, k)])

        def pair(k):
            high = builder.shl(builder.zext(builder.load(word(k)), i128), ir.Constant(i128, 64))
            return builder.or_(high, builder.zext(builder.load(word(k + 1)), i128))

        value = builder.mul(pair(0), ir.Constant(i128, PCG_MULTIPLIER))
        value = builder.add(value, pair(2))
        high = builder.trunc(builder.lshr(value, ir.Constant(i128, 64)), i64)
        low = builder.trunc(value, i64)
        builder.store(high, word(0))
        builder.store(low, word(1))
        mixed = builder.xor(high, low)
        turn = builder.lshr(high, ir.Constant(i64, 58))
        back = builder.and_(builder.neg(turn), ir.Constant(i64, 63))
        return builder.or_(builder.lshr(mixed, turn), builder.shl(mixed, back))

    return types.uint64(state), codegen


@njit(inline="always")
def pcg64_next(state):
    """`_pcg64_step` as a function the loops below take as an argument."""
    return _pcg64_step(state)


@njit(inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(inline="always")
def xoshiro_next(s):
    """xoshiro256++ (Blackman and Vigna, Scrambled Linear Pseudorandom Number Generators, 2021)."""
    result = _rotl(s[0] + s[3], 23) + s[0]
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(inline="always")
def _uniform(next_u64, state):
    return (next_u64(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(inline="always")
def ziggurat_normal(next_u64, state):
    """One standard normal by Marsaglia and Tsang's ziggurat (J. Stat. Softw. 5(8), 2000) in
    numpy's 256-layer form: 8 bits pick the layer, 1 the sign, 52 the abscissa; the wedges and
    the tail (Marsaglia's method) take further draws, 0.7 % of the time."""
    while True:
        r = next_u64(state)
        layer = r & np.uint64(0xFF)
        r >>= np.uint64(8)
        negative = r & np.uint64(1)
        rabs = (r >> np.uint64(1)) & np.uint64(0x000FFFFFFFFFFFFF)
        x = rabs * WI[layer]
        if negative:
            x = -x
        if rabs < KI[layer]:
            return x
        if layer == 0:
            while True:
                xx = -ziggurat_nor_inv_r * np.log1p(-_uniform(next_u64, state))
                yy = -np.log1p(-_uniform(next_u64, state))
                if yy + yy > xx * xx:
                    tail = ziggurat_nor_r + xx
                    return -tail if (rabs >> np.uint64(8)) & np.uint64(1) else tail
        elif (FI[layer - 1] - FI[layer]) * _uniform(next_u64, state) + FI[layer] < np.exp(
            -0.5 * x * x
        ):
            return x


@njit
def normals(next_u64, state, out):  # pragma: no cover - compiled
    for i in range(out.size):
        out[i] = ziggurat_normal(next_u64, state)


@njit
def respond_generator(g, device, index, raise_weight, rng, repeats):  # pragma: no cover
    for _ in range(repeats):
        for p in range(index.size):
            i = index[p]
            if raise_weight[p]:
                new = device.alpha_set + device.beta_set * g[i]
            else:
                new = device.alpha_reset + device.beta_reset * g[i]
            new += device.noise_sigma * np.float32(rng.standard_normal())
            g[i] = min(max(new, device.g_lo), device.g_hi)


@njit
def respond_inlined(g, device, index, raise_weight, next_u64, state, repeats):  # pragma: no cover
    for _ in range(repeats):
        for p in range(index.size):
            i = index[p]
            if raise_weight[p]:
                new = device.alpha_set + device.beta_set * g[i]
            else:
                new = device.alpha_reset + device.beta_reset * g[i]
            new += device.noise_sigma * np.float32(ziggurat_normal(next_u64, state))
            g[i] = min(max(new, device.g_lo), device.g_hi)


@njit
def respond_noiseless(g, device, index, raise_weight, repeats):  # pragma: no cover - compiled
    for _ in range(repeats):
        for p in range(index.size):
            i = index[p]
            if raise_weight[p]:
                new = device.alpha_set + device.beta_set * g[i]
            else:
                new = device.alpha_reset + device.beta_reset * g[i]
            g[i] = min(max(new, device.g_lo), device.g_hi)


def pcg64_words(rng: np.random.Generator) -> np.ndarray:
    """The Generator's PCG64 state as pcg64_next takes it."""
    state = rng.bit_generator.state["state"]
    return np.array(
        [state["state"] >> 64, state["state"] & MASK64, state["inc"] >> 64, state["inc"] & MASK64],
        dtype=np.uint64,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pulses", type=int, default=660, help="device pulses per sample")
    parser.add_argument("--samples", type=int, default=3000, help="samples per timed call")
    args = parser.parse_args()

    drawn = np.empty(1_000_000)
    normals(pcg64_next, pcg64_words(np.random.default_rng(7)), drawn)
    same = np.array_equal(drawn, np.random.default_rng(7).standard_normal(drawn.size))
    print(f"inlined PCG64 + ziggurat bit-identical to numpy's standard_normal (10^6 draws): {same}")

    device = np.zeros(1, RESPONSE)[0]
    device["alpha_set"], device["beta_set"], device["alpha_reset"] = 0.01, 0.99, -0.01
    device["beta_reset"], device["noise_sigma"], device["g_hi"] = 0.99, 0.02, 1.0
    setup = np.random.default_rng(1)
    g = setup.random(785 * 100).astype(np.float32)  # a 784-100 crossbar's G+ array, bias row too
    index = np.sort(setup.choice(g.size, args.pulses, replace=False))
    raise_weight = setup.random(args.pulses) < 0.5
    rng = np.random.default_rng(3)
    pcg, xoshiro = pcg64_words(np.random.default_rng(3)), np.array([1, 2, 3, 4], dtype=np.uint64)
    variants = {
        "numba Generator": lambda n: respond_generator(g, device, index, raise_weight, rng, n),
        "inlined PCG64": lambda n: respond_inlined(
            g, device, index, raise_weight, pcg64_next, pcg, n
        ),
        "inlined xoshiro256++": lambda n: respond_inlined(
            g, device, index, raise_weight, xoshiro_next, xoshiro, n
        ),
        "no draw": lambda n: respond_noiseless(g, device, index, raise_weight, n),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():
        run(1)  # compile
    for _ in range(args.rounds):
        for name, run in variants.items():
            start = time.process_time()
            run(args.samples)
            times[name].append((time.process_time() - start) / args.samples / args.pulses * 1e9)
    floor = np.median(times["no draw"])
    print(f"\nns per device pulse, median [min - max] of {args.rounds} rounds; the draw's share")
    for name, values in times.items():
        median = np.median(values)
        print(
            f"  {name:<22} {median:5.2f} [{min(values):.2f} - {max(values):.2f}]"
            f"   draw {median - floor:5.2f} ns"
        )


if __name__ == "__main__":
    main()
