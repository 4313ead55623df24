#!/usr/bin/env python3
"""PyTorch counterpart of `orthotune bench`.

Trains a randomly initialised model on random tokens (AdamW, float32, CPU) and
prints one JSON line with the same keys as `orthotune bench`, so the two can be
compared side by side (see scripts/bench_compare.py).

The model and the adapters are plain PyTorch (no transformers, no PEFT), written
to follow Hugging Face semantics:

  * llama: LlamaForCausalLM (RMSNorm in float32, GQA, rotate_half RoPE with
    theta 10000, SiLU-gated MLP, untied lm_head); gpt2: GPT2LMHeadModel
    (learned positions, pre-LayerNorm, fused c_attn, gelu_new, tied lm_head).
  * oft: PEFT >= 0.18's OFT for Linear layers (input-centric, block diagonal
    rotation from a Cayley-Neumann series or the exact Cayley transform).
  * lora: PEFT's LoRA, y = base(x) + (alpha/r) * B(A(x)), dropout 0.
  * full: every weight trainable.

Run with the system python that has torch, e.g. /usr/bin/python3.
--self-test checks the adapter math against direct constructions.
"""

import argparse
import json
import math
import os
import sys
import time

LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
GPT2_LINEAR = ("c_attn", "c_proj", "c_fc")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", default="llama", choices=["llama", "gpt2"])
    p.add_argument("--layers", type=int, default=4, help="decoder blocks")
    p.add_argument("--hidden", type=int, default=256, help="hidden size")
    p.add_argument("--heads", type=int, default=4, help="attention heads")
    p.add_argument("--kv-heads", type=int, default=0, help="key/value heads (llama; default: --heads)")
    p.add_argument("--intermediate", type=int, default=704, help="MLP width")
    p.add_argument("--vocab", type=int, default=4096, help="vocabulary size")
    p.add_argument("--seq", type=int, default=128, help="sequence length")
    p.add_argument("--batch", type=int, default=8, help="sequences per step")
    p.add_argument("--method", default="oft", choices=["oft", "lora", "full"])
    p.add_argument("--targets", default="",
                   help="adapted modules: all-linear or a comma list of module names "
                        "(default: every linear layer in the blocks)")
    p.add_argument("--oft-block-size", type=int, default=32, help="OFT block size")
    p.add_argument("--neumann-terms", type=int, default=5, help="Cayley-Neumann terms")
    p.add_argument("--exact-cayley", action="store_true", help="exact Cayley transform instead of the series")
    p.add_argument("--lora-r", type=int, default=8, help="LoRA rank")
    p.add_argument("--lora-alpha", type=float, default=16, help="LoRA alpha")
    p.add_argument("--steps", type=int, default=10, help="measured steps")
    p.add_argument("--warmup", type=int, default=2, help="unmeasured steps first")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads (torch.set_num_threads)")
    p.add_argument("--seed", type=int, default=1, help="seed for weights, adapter and tokens")
    p.add_argument("--no-pin-openblas", action="store_true",
                   help="leave OPENBLAS_CORETYPE unset (default: choose it from the CPU's features, as orthotune does)")
    p.add_argument("--omp-default", action="store_true",
                   help="leave OMP_WAIT_POLICY unset (default: PASSIVE, see below)")
    p.add_argument("--self-test", action="store_true", help="check the adapter math and exit")
    a = p.parse_args(argv)
    if a.steps < 1 or a.warmup < 0 or a.seq < 2 or a.batch < 1 or a.layers < 1 or a.vocab < 2:
        p.error("--steps, --seq, --batch, --layers and --vocab must be positive (--seq >= 2), --warmup >= 0")
    if a.hidden % a.heads:
        p.error(f"--hidden {a.hidden} is not a multiple of --heads {a.heads}")
    if a.kv_heads == 0:
        a.kv_heads = a.heads
    if a.heads % a.kv_heads:
        p.error(f"--heads {a.heads} is not a multiple of --kv-heads {a.kv_heads}")
    if a.threads < 1:
        a.threads = os.cpu_count() or 1
    return a


ARGS = parse_args()
# OpenBLAS (Debian's torch uses the system BLAS) reads its thread count when it
# is loaded, and torch does not set it for a "generic" BLAS: match --threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(ARGS.threads))
os.environ.setdefault("OMP_NUM_THREADS", str(ARGS.threads))
# Debian's torch runs its elementwise ops on OpenMP threads and its GEMMs on
# OpenBLAS's own pthreads: two pools. With GNU OpenMP's default spin-waiting
# the idle OpenMP threads keep the cores busy while OpenBLAS works, and on a
# 2-core machine steps took 2-4x longer and varied from 0.3 to 4 s. Passive
# waiting is the usual remedy, so it is the default here (--omp-default: not).
if not ARGS.omp_default:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pin_openblas_core():
    """Choose OpenBLAS's kernel family from the CPU's features, as orthotune
    does (kernels/blas.go): a DYNAMIC_ARCH build that does not know the CPU
    model (Debian's 0.3.21 on Emerald Rapids) falls back to the SSE3
    "Prescott" kernels, several times slower. Only when the user has not set
    OPENBLAS_CORETYPE; it must be set before torch loads OpenBLAS."""
    if os.environ.get("OPENBLAS_CORETYPE") or os.uname().machine != "x86_64":
        return
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    except OSError:
        return
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= set(flags):
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif {"avx2", "fma"} <= set(flags):
        os.environ["OPENBLAS_CORETYPE"] = "Haswell"


if not ARGS.no_pin_openblas:
    pin_openblas_core()

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")  # torch >= 2.0


# ----------------------------------------------------------------------------
# Adapters


class OFTLinear(nn.Module):
    """PEFT >= 0.18 OFT on a frozen Linear: y = base(x · blockdiag(R_1..R_n)).

    The trainable parameter is one row per block holding the strict upper
    triangle of a skew-symmetric Q (shape (n_blocks, b(b-1)/2), as PEFT's
    oft_R.weight). R is the Cayley-Neumann series I + 2Q + 2Q² + ... + 2Q^(k-2)
    + Q^(k-1) (k terms; for k = 5: I + 2Q + 2Q² + 2Q³ + Q⁴), which expands
    (I + Q)(I - Q)^-1, or with exact=True PEFT's exact transform
    (I - Q)(I + Q)^-1 by a linear solve. The rotation is input-centric: the
    last axis of x is cut in chunks of b and chunk i becomes x_i @ R_i (a
    batched einsum, as PEFT), then the frozen base layer runs.
    """

    def __init__(self, base: nn.Linear, block_size: int, terms: int, exact: bool, gen: torch.Generator):
        super().__init__()
        in_f = base.in_features
        if in_f % block_size:
            raise ValueError(f"in_features {in_f} is not a multiple of --oft-block-size {block_size}")
        self.base = base
        self.b = block_size
        self.n = in_f // block_size
        self.terms = terms
        self.exact = exact
        # PEFT initialises this to zeros (R = I). A small random init instead,
        # so the rotation is not trivially the identity; the cost is the same.
        w = torch.randn(self.n, block_size * (block_size - 1) // 2, generator=gen) * 1e-3
        self.weight = nn.Parameter(w)
        rows, cols = torch.triu_indices(block_size, block_size, 1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def skew(self, vec):
        q = vec.new_zeros(vec.shape[0], self.b, self.b)
        q[:, self.rows, self.cols] = vec
        return q - q.transpose(-2, -1)

    def rotation(self):
        return cayley(self.skew(self.weight), self.terms, self.exact)

    def forward(self, x):
        r = self.rotation()
        shape = x.shape
        xr = torch.einsum("...rk,rkc->...rc", x.reshape(*shape[:-1], self.n, self.b), r)
        return self.base(xr.reshape(shape))


def cayley(q, terms, exact):
    """Batched Cayley transform of skew matrices q (n, b, b), PEFT's way."""
    n, b, _ = q.shape
    if exact:
        eye = torch.eye(b, dtype=q.dtype).expand(n, b, b)
        return torch.linalg.solve(eye + q, eye - q, left=False)  # X (I + Q) = I - Q
    # PEFT's series: k <= 1: I; k = 2: I + 2Q; k >= 3: I + 2Q + ... + 2Q^(m-1)
    # + Q^m with m = max(3, k-1) (so k = 5 gives I + 2Q + 2Q² + 2Q³ + Q⁴).
    r = torch.eye(b, dtype=q.dtype).repeat(n, 1, 1)
    if terms > 1:
        r = r + 2 * q
    if terms > 2:
        p = torch.bmm(q, q)
        r = r + 2 * p
        for _ in range(3, terms - 1):
            p = torch.bmm(p, q)
            r = r + 2 * p
        r = r + torch.bmm(p, q)
    return r


class LoRALinear(nn.Module):
    """PEFT LoRA on a frozen Linear: y = base(x) + (alpha/r) · (x Aᵀ) Bᵀ."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, gen: torch.Generator):
        super().__init__()
        self.base = base
        self.scaling = alpha / r
        a = torch.empty(r, base.in_features)
        # kaiming_uniform_(a=sqrt(5)) as PEFT, drawn from our generator.
        bound = 1 / math.sqrt(base.in_features)  # gain·sqrt(3/fan_in) with a = sqrt(5)
        a.uniform_(-bound, bound, generator=gen)
        self.lora_A = nn.Parameter(a)
        # PEFT initialises B to zeros; a small random B instead, so gradients
        # flow into both A and B from the first step (same cost either way).
        self.lora_B = nn.Parameter(torch.randn(base.out_features, r, generator=gen) * 1e-3)

    def forward(self, x):
        return self.base(x) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling


# ----------------------------------------------------------------------------
# Models


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dt)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def causal_attention(q, k, v):
    """q (B, H, T, D), k/v (B, H, T, D) -> (B, H, T, D), causal."""
    if HAVE_SDPA:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    t = q.shape[-2]
    s = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    mask = torch.ones(t, t, dtype=torch.bool).triu_(1)
    s = s.masked_fill(mask, float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), v)


class LlamaBlock(nn.Module):
    def __init__(self, a):
        super().__init__()
        d, hd = a.hidden, a.hidden // a.heads
        self.h, self.kvh, self.hd = a.heads, a.kv_heads, hd
        self.input_layernorm = RMSNorm(d)
        self.q_proj = nn.Linear(d, a.heads * hd, bias=False)
        self.k_proj = nn.Linear(d, a.kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(d, a.kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(a.heads * hd, d, bias=False)
        self.post_attention_layernorm = RMSNorm(d)
        self.gate_proj = nn.Linear(d, a.intermediate, bias=False)
        self.up_proj = nn.Linear(d, a.intermediate, bias=False)
        self.down_proj = nn.Linear(a.intermediate, d, bias=False)

    def forward(self, x, cos, sin):
        bsz, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(bsz, t, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(bsz, t, self.kvh, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(bsz, t, self.kvh, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.kvh != self.h:  # HF repeat_kv
            rep = self.h // self.kvh
            k = k[:, :, None].expand(bsz, self.kvh, rep, t, self.hd).reshape(bsz, self.h, t, self.hd)
            v = v[:, :, None].expand(bsz, self.kvh, rep, t, self.hd).reshape(bsz, self.h, t, self.hd)
        o = causal_attention(q, k, v).transpose(1, 2).reshape(bsz, t, self.h * self.hd)
        x = x + self.o_proj(o)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab, a.hidden)
        self.layers = nn.ModuleList(LlamaBlock(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.hidden)
        self.lm_head = nn.Linear(a.hidden, a.vocab, bias=False)
        hd = a.hidden // a.heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        f = torch.outer(torch.arange(a.seq, dtype=torch.float32), inv)
        emb = torch.cat((f, f), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin = self.cos[:t], self.sin[:t]
        x = self.embed_tokens(ids)
        for blk in self.layers:
            x = blk(x, cos, sin)
        return self.lm_head(self.norm(x))


class GPT2Attn(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.h, self.hd = a.heads, a.hidden // a.heads
        self.c_attn = nn.Linear(a.hidden, 3 * a.hidden)  # HF Conv1D is a Linear with the weight transposed
        self.c_proj = nn.Linear(a.hidden, a.hidden)

    def forward(self, x):
        bsz, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(bsz, t, self.h, self.hd).transpose(1, 2) for z in (q, k, v))
        return self.c_proj(causal_attention(q, k, v).transpose(1, 2).reshape(bsz, t, d))


class GPT2MLP(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.c_fc = nn.Linear(a.hidden, a.intermediate)
        self.c_proj = nn.Linear(a.intermediate, a.hidden)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))  # gelu_new


class GPT2Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.ln_1 = nn.LayerNorm(a.hidden, eps=1e-5)
        self.attn = GPT2Attn(a)
        self.ln_2 = nn.LayerNorm(a.hidden, eps=1e-5)
        self.mlp = GPT2MLP(a)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.wte = nn.Embedding(a.vocab, a.hidden)
        self.wpe = nn.Embedding(max(a.seq, 128), a.hidden)
        self.h = nn.ModuleList(GPT2Block(a) for _ in range(a.layers))
        self.ln_f = nn.LayerNorm(a.hidden, eps=1e-5)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1])
        x = self.wte(ids) + self.wpe(pos)
        for blk in self.h:
            x = blk(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # tied lm_head


def build_model(a, gen):
    m = Llama(a) if a.arch == "llama" else GPT2(a)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name or name.split(".")[-2].startswith("ln_"):
                if name.endswith("weight"):
                    p.fill_(1.0)
                else:
                    p.zero_()
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0.0, 0.02, generator=gen)
    return m


def wrap_targets(model, a, gen):
    """Replace the targeted Linear layers inside the blocks with adapters."""
    linear = LLAMA_LINEAR if a.arch == "llama" else GPT2_LINEAR
    spec = a.targets.strip()
    if spec in ("", "all-linear"):
        want = set(linear)
    else:
        want = {s.strip() for s in spec.split(",") if s.strip()}
        bad = want - set(linear)
        if bad:
            raise SystemExit(f"--targets: unknown modules {sorted(bad)} for {a.arch} (have {', '.join(linear)})")
    blocks = model.layers if a.arch == "llama" else model.h
    n = 0
    for blk in blocks:
        for parent in [blk] + [c for c in blk.children() if not isinstance(c, nn.Linear)]:
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Linear) and name in want:
                    if a.method == "oft":
                        new = OFTLinear(child, a.oft_block_size, a.neumann_terms, a.exact_cayley, gen)
                    else:
                        new = LoRALinear(child, a.lora_r, a.lora_alpha, gen)
                    setattr(parent, name, new)
                    n += 1
    if n == 0:
        raise SystemExit("--targets matched no module")


def lm_loss(logits, ids):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


# ----------------------------------------------------------------------------
# Measurement helpers


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mib(field="VmHWM:"):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gemm_info():
    """torch version and the BLAS it runs sgemm with."""
    import ctypes
    ver = torch.__version__
    try:
        import importlib.metadata as md
        ver = md.version("torch")
    except Exception:
        pass
    cfg = torch.__config__.show()
    blas = "BLAS_INFO=" + (cfg.split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in cfg else "?")
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if ("blas" in path.lower() or "mkl" in path.lower()) and ".so" in path:
                    if path not in libs:
                        libs.append(path)
    except OSError:
        pass
    # Debian's build reports __version__ 1.13.0a0 for its 1.13.1 package.
    try:
        with open("/var/lib/dpkg/status") as f:
            for para in f.read().split("\n\n"):
                if para.startswith("Package: python3-torch\n"):
                    for line in para.splitlines():
                        if line.startswith("Version: "):
                            ver += ", Debian " + line[len("Version: "):]
    except OSError:
        pass
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            conf = " ".join(lib.openblas_get_config().decode().split()[:2])  # "OpenBLAS 0.3.21"
            core = lib.openblas_get_corename().decode()  # the kernel set DYNAMIC_ARCH chose
            nt = lib.openblas_get_num_threads()
            return f"torch {ver} ({conf} {core}, {nt} BLAS threads, {os.path.basename(path)}){env_note()}"
        except (OSError, AttributeError):
            continue
    if libs:
        blas += ", " + os.path.basename(libs[0])
    return f"torch {ver} ({blas}){env_note()}"


def env_note():
    v = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY") if os.environ.get(k)]
    return "; " + ", ".join(v) if v else ""


# ----------------------------------------------------------------------------
# Self-test


def self_test():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    ok = True

    def check(name, err, tol):
        nonlocal ok
        good = err <= tol
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {name}: {err:.3e} (tol {tol:.0e})")

    dt = torch.float64
    b, n, din, dout, bsz = 8, 4, 32, 24, 5
    base = nn.Linear(din, dout, bias=False).to(dt)
    x = torch.randn(bsz, 3, din, dtype=dt)

    # Neumann series vs explicit matrix powers.
    lay = OFTLinear(base, b, 5, False, g).to(dt)
    with torch.no_grad():
        lay.weight.normal_(0, 0.1)
    q = lay.skew(lay.weight)
    check("Q is skew-symmetric", (q + q.transpose(-2, -1)).abs().max().item(), 0)
    mp = torch.linalg.matrix_power
    eye = torch.eye(b, dtype=dt).expand(n, b, b)
    want = eye + 2 * q + 2 * mp(q, 2) + 2 * mp(q, 3) + mp(q, 4)
    check("Neumann(5) == I+2Q+2Q²+2Q³+Q⁴", (lay.rotation() - want).abs().max().item(), 1e-14)
    for k in (1, 2, 3, 4, 6, 8):
        w = eye.clone() if k == 1 else eye + 2 * q
        if k > 2:
            m = max(3, k - 1)
            w = eye + sum(2 * mp(q, j) for j in range(1, m)) + mp(q, m)
        check(f"Neumann({k}) series", (cayley(q, k, False) - w).abs().max().item(), 1e-14)
    # The series expands (I + Q)(I - Q)^-1, the transpose of PEFT's exact
    # transform (I - Q)(I + Q)^-1: check convergence to it.
    tgt = (eye + q) @ torch.linalg.inv(eye - q)
    check("Neumann(40) -> (I+Q)(I-Q)^-1", (cayley(q, 40, False) - tgt).abs().max().item(), 1e-6)

    # Exact Cayley: orthogonal, det 1, equals (I - Q)(I + Q)^-1.
    lay_e = OFTLinear(base, b, 5, True, g).to(dt)
    with torch.no_grad():
        lay_e.weight.normal_(0, 0.5)
    r = lay_e.rotation()
    bd = torch.block_diag(*r)
    check("exact Cayley: ‖RRᵀ − I‖max (block diag)", (bd @ bd.T - torch.eye(din, dtype=dt)).abs().max().item(), 1e-12)
    check("exact Cayley: det − 1", (torch.linalg.det(r) - 1).abs().max().item(), 1e-12)
    qe = lay_e.skew(lay_e.weight)
    check("exact Cayley == (I−Q)(I+Q)^-1", (r - (eye - qe) @ torch.linalg.inv(eye + qe)).abs().max().item(), 1e-12)

    # OFT forward == base(x @ blockdiag(R)), both paths.
    for l, nm in ((lay, "Neumann"), (lay_e, "exact")):
        want = x @ torch.block_diag(*l.rotation()) @ base.weight.T
        check(f"OFT forward ({nm}) == x·blockdiag(R)·Wᵀ", (l(x) - want).abs().max().item(), 1e-12)

    # Gradients through the OFT layer (float64 gradcheck on a small case).
    small = OFTLinear(nn.Linear(8, 3, bias=False).to(dt), 4, 5, False, g).to(dt)
    with torch.no_grad():
        small.weight.normal_(0, 0.3)
    xs = torch.randn(2, 8, dtype=dt)
    check("OFT gradcheck (Neumann)", 0 if torch.autograd.gradcheck(lambda w: small.base(torch.einsum(
        "...rk,rkc->...rc", xs.reshape(2, 2, 4), cayley(small.skew(w), 5, False)).reshape(2, 8)), (small.weight,)) else 1, 0)
    check("OFT gradcheck (exact)", 0 if torch.autograd.gradcheck(lambda w: small.base(torch.einsum(
        "...rk,rkc->...rc", xs.reshape(2, 2, 4), cayley(small.skew(w), 5, True)).reshape(2, 8)), (small.weight,)) else 1, 0)

    # LoRA: scaling alpha/r, forward == x (W + s·BA)ᵀ.
    lo = LoRALinear(base, 4, 16, g).to(dt)
    check("LoRA scaling == alpha/r", abs(lo.scaling - 4.0), 0)
    want = x @ (base.weight + lo.scaling * lo.lora_B @ lo.lora_A).T
    check("LoRA forward == x·(W + (α/r)BA)ᵀ", (lo(x) - want).abs().max().item(), 1e-12)
    bound = 1 / math.sqrt(din)
    check("LoRA A within kaiming(a=√5) bound", max(0.0, lo.lora_A.abs().max().item() - bound), 0)

    # Masked-softmax attention: causal and equal to a per-row reference.
    qq, kk, vv = (torch.randn(2, 3, 6, 4, dtype=dt) for _ in range(3))
    out = causal_attention(qq, kk, vv)
    ref = torch.empty_like(out)
    for t in range(6):
        s = qq[:, :, t:t + 1] @ kk[:, :, :t + 1].transpose(-2, -1) / 2.0
        ref[:, :, t] = (torch.softmax(s, -1) @ vv[:, :, :t + 1])[:, :, 0]
    check("causal attention == per-row reference", (out - ref).abs().max().item(), 1e-12)

    # Whole model: causal (changing a later token leaves earlier logits alone).
    for arch in ("llama", "gpt2"):
        a = parse_args(["--arch", arch, "--layers", "2", "--hidden", "32", "--heads", "4", "--kv-heads",
                        "2" if arch == "llama" else "4", "--intermediate", "48", "--vocab", "50", "--seq", "10", "--oft-block-size", "8"])
        m = build_model(a, torch.Generator().manual_seed(1))
        wrap_targets(m, a, torch.Generator().manual_seed(2))
        ids = torch.randint(0, 50, (2, 10), generator=g)
        ids2 = ids.clone()
        ids2[:, 7] = (ids2[:, 7] + 1) % 50
        with torch.no_grad():
            d = (m(ids)[:, :7] - m(ids2)[:, :7]).abs().max().item()
        check(f"{arch} model is causal", d, 1e-5)
    print("self-test", "passed" if ok else "FAILED")
    return ok


# ----------------------------------------------------------------------------


def main(a):
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    if a.self_test:
        sys.exit(0 if self_test() else 1)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    model = build_model(a, gen)
    total = sum(p.numel() for p in model.parameters())
    if a.method == "full":
        params = list(model.parameters())
    else:
        for p in model.parameters():
            p.requires_grad_(False)
        wrap_targets(model, a, torch.Generator().manual_seed(a.seed + 3))
        params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    trainable = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    tok_gen = torch.Generator().manual_seed(a.seed + 7)

    reset_peak_rss()
    start_rss = peak_rss_mib("VmRSS:")
    times, loss = [], float("nan")
    for s in range(a.warmup + a.steps):
        ids = torch.randint(0, a.vocab, (a.batch, a.seq), generator=tok_gen)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = lm_loss(model(ids), ids)
        out.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        loss = out.item()
        el = time.perf_counter() - t0
        if s >= a.warmup:
            times.append(el)
    peak = peak_rss_mib()
    tokens = a.batch * a.seq
    st = sorted(times)
    k = len(st)
    median = st[k // 2] if k % 2 else (st[k // 2 - 1] + st[k // 2]) / 2
    res = dict(arch=a.arch, method=a.method, layers=a.layers, hidden=a.hidden, seq=a.seq, batch=a.batch,
               threads=torch.get_num_threads(), steps=a.steps, tokens_per_s=tokens * a.steps / sum(times),
               tokens_per_s_median_step=tokens / median, step_ms_median=median * 1000, peak_rss_mib=peak,
               trainable_params=trainable, total_params=total, gemm=gemm_info(), final_loss=loss)
    # Extra keys (orthotune bench has neither): the attention path, and the
    # resident set when the high-water mark was reset (torch's libraries, the
    # model), so peak_rss_mib - start_rss_mib is what training added.
    res["attention"] = "sdpa" if HAVE_SDPA else "masked-softmax"
    res["start_rss_mib"] = start_rss
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main(ARGS)
