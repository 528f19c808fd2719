"""Adam (Kingma & Ba 2015) with optional 8-bit state (Dettmers et al., "8-bit Optimizers via Block-wise
Quantization", ICLR 2022).

Adam's step (Kingma & Ba, Algorithm 1), with bias correction:

    m_t = β1 m_{t−1} + (1 − β1) g_t,    v_t = β2 v_{t−1} + (1 − β2) g_t²
    θ_t = θ_{t−1} − lr · (m_t / (1 − β1^t)) / (sqrt(v_t / (1 − β2^t)) + ε)

The 8-bit variant keeps m and v as uint8 codes of a *dynamic tree* codebook (Dettmers et al. Sec. 2:
a sign, an exponent given by the number of leading zero bits, a linear fraction; 256 values spread
over 7 decades), one float32 absmax scale per block of 256 values (block-wise quantisation, Sec. 2.1).
Each step dequantises, applies the float update and quantises again (Sec. 2.2). m uses the signed
codebook, v (never negative) the unsigned one, which spends the sign bit on precision.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.traffic import payload_bytes
from tinydtl.core.validation import check_bool, check_int, check_number
from tinydtl.learners.functional import check_converging

__all__ = ["Adam", "dequantize_blockwise", "dynamic_tree_map", "quantize_blockwise"]


def dynamic_tree_map(signed: bool = True, max_exponent_bits: int = 7) -> np.ndarray:
    """The 256 sorted values in [−1, 1] (signed) or [0, 1] of the 8-bit dynamic tree codebook."""
    values = [0.0, 1.0]
    for i in range(max_exponent_bits):
        n = 2**i if signed else 2 ** (i + 1)
        edges = np.linspace(0.1, 1.0, n + 1)
        means = (edges[:-1] + edges[1:]) / 2 * 10.0 ** (i - (max_exponent_bits - 1))
        values += means.tolist()
        if signed:
            values += (-means).tolist()
    # signed: 0, 1 and 127 magnitudes of each sign; unsigned: 0, 1 and 254 magnitudes (256 codes)
    return np.array(sorted(values), dtype=np.float32)


SIGNED_MAP = dynamic_tree_map(True)
UNSIGNED_MAP = dynamic_tree_map(False)


def quantize_blockwise(x, codebook, block_size: int = 256):
    """``(codes uint8, absmax float32 per block)``: each value → nearest codebook entry of x / absmax."""
    flat = np.asarray(x, dtype=np.float32).ravel()
    n_blocks = -(-flat.size // block_size)
    padded = np.zeros(n_blocks * block_size, dtype=np.float32)
    padded[: flat.size] = flat
    blocks = padded.reshape(n_blocks, block_size)
    absmax = np.abs(blocks).max(axis=1).astype(np.float32)
    scale = np.where(absmax > 0, absmax, 1.0).astype(np.float32)
    normed = blocks / scale[:, None]
    mids = (codebook[1:] + codebook[:-1]) / 2
    codes = np.searchsorted(mids, normed).astype(np.uint8)
    return codes.ravel()[: flat.size], absmax


def dequantize_blockwise(codes, absmax, codebook, shape, block_size: int = 256):
    """Inverse of :func:`quantize_blockwise` (up to the rounding to the nearest codebook value)."""
    codes = np.asarray(codes)
    n_blocks = absmax.size
    padded = np.zeros(n_blocks * block_size, dtype=np.uint8)
    padded[: codes.size] = codes
    values = codebook[padded].reshape(n_blocks, block_size) * absmax[:, None]
    return values.ravel()[: codes.size].reshape(shape)


class Adam:
    """Adam over one parameter array, float32/float64 state or 8-bit block-wise quantised state.

    Parameters
    ----------
    shape : tuple
        The parameter's shape.
    lr, beta1, beta2, eps : float
        Adam's step size, decay rates and ε (defaults as in Kingma & Ba and RockNet: 1e-3, 0.9, 0.999, 1e-8).
    quantized : bool
        Keep m and v as uint8 codes with one float32 scale per ``block_size`` values.
    """

    def __init__(self, shape, *, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, quantized=False, block_size=256):
        check_number("lr", lr, low=0, low_open=True)
        check_number("beta1", beta1, low=0, high=1, high_open=True)  # β1 = 1: m never moves, 1 - β1^t = 0
        check_number("beta2", beta2, low=0, high=1, high_open=True)
        check_number("eps", eps, low=0, low_open=True)  # ε = 0 divides 0 by 0 where v is 0
        check_bool("quantized", quantized)
        check_int("block_size", block_size, 1)
        self.shape = tuple(int(s) for s in np.atleast_1d(shape)) if np.ndim(shape) else (int(shape),)
        for s in self.shape:
            check_number("shape", s, low=1, integer=True)
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.quantized = bool(quantized)
        self.block_size = block_size
        self.t = 0
        size = int(np.prod(self.shape))
        if self.quantized:
            n_blocks = -(-size // block_size)
            self.m_codes = np.full(size, np.searchsorted(SIGNED_MAP, 0.0), dtype=np.uint8)
            self.v_codes = np.zeros(size, dtype=np.uint8)
            self.m_absmax = np.zeros(n_blocks, dtype=np.float32)
            self.v_absmax = np.zeros(n_blocks, dtype=np.float32)
        else:
            self.m = np.zeros(self.shape)
            self.v = np.zeros(self.shape)

    def state_bytes(self) -> int:
        """Bytes of optimizer state on a device (float32 m, v; or uint8 codes + float32 scales)."""
        if self.quantized:
            return int(self.m_codes.nbytes + self.v_codes.nbytes + self.m_absmax.nbytes + self.v_absmax.nbytes)
        return payload_bytes(2 * int(np.prod(self.shape)), "float32")

    def _moments(self):
        if not self.quantized:
            return self.m, self.v
        m = dequantize_blockwise(self.m_codes, self.m_absmax, SIGNED_MAP, self.shape, self.block_size)
        v = dequantize_blockwise(self.v_codes, self.v_absmax, UNSIGNED_MAP, self.shape, self.block_size)
        return m.astype(np.float64), v.astype(np.float64)

    def step(self, param: np.ndarray, grad: np.ndarray) -> None:
        """One bias-corrected Adam step on ``param`` in place; raises
        :class:`~tinydtl.learners.functional.DivergenceError` instead of writing NaN or inf."""
        grad = np.asarray(grad)
        if grad.shape != self.shape or np.shape(param) != self.shape:
            raise ValueError(f"param and grad must have the optimizer's shape {self.shape}, got "
                             f"{np.shape(param)} and {grad.shape}")
        check_converging("the gradient", grad, when=f"at Adam step {self.t + 1}")
        self.t += 1
        m, v = self._moments()
        m = self.beta1 * m + (1 - self.beta1) * grad
        v = self.beta2 * v + (1 - self.beta2) * grad * grad
        m_hat = m / (1 - self.beta1**self.t)
        v_hat = v / (1 - self.beta2**self.t)
        new = param - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        check_converging("the parameters", new, when=f"at Adam step {self.t}")
        param[...] = new
        if self.quantized:
            self.m_codes, self.m_absmax = quantize_blockwise(m, SIGNED_MAP, self.block_size)
            self.v_codes, self.v_absmax = quantize_blockwise(v, UNSIGNED_MAP, self.block_size)
        else:
            self.m, self.v = m, v
