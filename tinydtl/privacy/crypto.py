"""The cryptographic pieces of secure aggregation, from the ``cryptography`` package.

* **Key agreement** (X25519, Bernstein 2006): client ``u`` holds a private key ``sk_u`` and
  publishes ``pk_u``; ``u`` and ``v`` compute the same 32-byte secret ``X25519(sk_u, pk_v) =
  X25519(sk_v, pk_u)`` without sending it, and HKDF-SHA256 (RFC 5869) turns it into a key for one
  purpose (the ``info`` string names the round and the use, so no key serves two jobs).
* **Mask generator** (a PRG): the ChaCha20 keystream under a 32-byte key, read as little-endian
  ``uint32`` — a stream cipher is a cryptographically secure pseudo-random generator, so a mask
  expanded from a key the server does not know looks uniform to it.
* **Share transport** (AES-256-GCM, authenticated encryption): ``u`` encrypts the Shamir shares
  meant for ``v`` under their agreed key, with ``(u, v, round)`` as associated data and nonce, so the
  server that relays them can neither read nor swap them.

Where this differs from a production protocol: the private keys are derived from a seed (so
lessons and tests repeat; ``seed=None`` draws them from the operating system's entropy), public
keys are not signed (Bonawitz et al.'s active-adversary version authenticates them through a PKI),
and nothing is constant-time beyond what the library gives.
"""

from __future__ import annotations

import functools
import struct

import numpy as np

__all__ = ["KEY_BYTES", "KeyPair", "PairKeys", "aead_open", "aead_seal", "agree", "keypair", "prg_uint32"]

KEY_BYTES = 32  # X25519 keys, HKDF outputs, ChaCha20 and AES-256 keys
_ZEROS = bytearray()


class KeyPair:
    """An X25519 key pair; ``public`` is the 32 raw bytes a client publishes."""

    __slots__ = ("private", "public")

    def __init__(self, secret: bytes):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        if not isinstance(secret, (bytes, bytearray)) or len(secret) != KEY_BYTES:
            raise ValueError(f"secret must be {KEY_BYTES} bytes, got {secret!r:.40}")
        self.private = X25519PrivateKey.from_private_bytes(bytes(secret))
        self.public = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def private_bytes(self) -> bytes:
        """The raw private key (what a client secret-shares so that its masks can be removed if it drops)."""
        from cryptography.hazmat.primitives import serialization

        return self.private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption())


def keypair(rng: np.random.Generator | None) -> KeyPair:
    """A key pair from ``rng`` (reproducible) or, with ``None``, from the OS (``os.urandom``)."""
    import os

    return KeyPair(os.urandom(KEY_BYTES) if rng is None else rng.bytes(KEY_BYTES))


@functools.lru_cache(maxsize=65536)
def _public_key(raw: bytes):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    return X25519PublicKey.from_public_bytes(raw)


def agree(pair: KeyPair, peer_public: bytes, info: bytes) -> bytes:
    """``HKDF-SHA256(X25519(pair, peer_public), info)``: a 32-byte key both sides derive alike."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    shared = pair.private.exchange(_public_key(bytes(peer_public)))
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(shared)


class PairKeys:
    """The keys pairs of clients agree, derived once per pair in this one-process simulation.

    On devices, ``u`` computes ``agree(u, pk_v)`` and ``v`` computes ``agree(v, pk_u)``, the same key
    (that is what key agreement means); the simulation derives it once, with the lower-numbered
    client's private key, and both clients read it here. :mod:`tinydtl.privacy.device_cost` counts
    the work and memory of both sides. The server has no access to this object.
    """

    def __init__(self):
        self.keys = {}

    def get(self, u: int, v: int, pair_u: KeyPair, public_v: bytes, info: bytes) -> bytes:
        key = (min(u, v), max(u, v), info)
        if key not in self.keys:
            self.keys[key] = agree(pair_u, public_v, info)
        return self.keys[key]


def prg_uint32(key: bytes, n: int) -> np.ndarray:
    """``n`` uint32 values of the ChaCha20 keystream under ``key`` (nonce 0; one stream per key)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    global _ZEROS
    if len(_ZEROS) < 4 * n:
        _ZEROS = bytearray(4 * n)
    enc = Cipher(algorithms.ChaCha20(key, b"\0" * 16), mode=None).encryptor()
    return np.frombuffer(enc.update(memoryview(_ZEROS)[: 4 * n]), dtype="<u4")


def _nonce(sender: int, receiver: int, round_index: int) -> bytes:
    return struct.pack("<III", sender, receiver, round_index)


def aead_seal(key: bytes, plaintext: bytes, sender: int, receiver: int, round_index: int) -> bytes:
    """AES-256-GCM encryption of ``plaintext`` from ``sender`` to ``receiver`` (ids bound as associated data)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = _nonce(sender, receiver, round_index)
    return AESGCM(key).encrypt(nonce, plaintext, nonce)


def aead_open(key: bytes, blob: bytes, sender: int, receiver: int, round_index: int) -> bytes:
    """Decrypt :func:`aead_seal`'s output; raises ``cryptography.exceptions.InvalidTag`` if it was altered."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = _nonce(sender, receiver, round_index)
    return AESGCM(key).decrypt(nonce, blob, nonce)
