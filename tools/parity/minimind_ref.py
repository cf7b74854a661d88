"""An independent PyTorch reference of MiniMind's causal language model.

Written from the facts of MiniMind's model/model_minimind.py (dense model, no
MoE, no YaRN, no KV cache), with HF's parameter names, so that a checkpoint
directory (config.json + model.safetensors) loads into it unchanged:

  RMSNorm(x)     = weight * x * rsqrt(mean(x^2, -1) + eps)
  rope(x)        = x * cos + rotate_half(x) * sin,  rotate_half(x) =
                   cat(-x[d/2:], x[:d/2]);  cos/sin = cos/sin(cat(f, f)),
                   f = outer(t, 1 / theta^(arange(0, d, 2) / d)) in float32
  attention      = o_proj(softmax(q k^T / sqrt(d) + causal) v), k and v
                   repeated over query-head groups (GQA), optional RMSNorm
                   over head_dim on q and k (q_norm, k_norm) before RoPE
  feed-forward   = down(silu(gate(x)) * up(x))
  block          = h = x + attn(input_layernorm(x));
                   h + mlp(post_attention_layernorm(h))
  causal LM      = lm_head(norm(blocks(embed(ids)))), lm_head tied to
                   embed_tokens when tie_word_embeddings
  loss           = cross_entropy(logits[:, :-1], labels[:, 1:],
                   ignore_index=-100)

Precision, where MiniMind is specific:
- MiniMind's RMSNorm computes on x.float() and casts back; the softmax runs
  on scores.float(). Both exist to lift bf16/f16 to float32. Here they run in
  the wider of float32 and the model's dtype, so a float64 reference stays
  float64 throughout (MiniMind's code would drop it to float32 there).
- The RoPE tables are float32 whatever the model's dtype, as MiniMind builds
  them (float32 buffers, converted with the model). Each step is a float32
  rounding of the exact value; see rope_tables.
- torch 1.13 has no scaled_dot_product_attention, so MiniMind's own
  explicit-softmax path is the one that runs; it is the one written here.
"""

import json
import math
import os

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from safetensors_io import read_safetensors, write_safetensors

IGNORE_INDEX = -100

_TORCH_DTYPES = {"f32": torch.float32, "f64": torch.float64}


def torch_dtype(name):
    """'f32' or 'f64' -> the torch dtype."""
    return _TORCH_DTYPES[name]


def intermediate_size_2025(hidden):
    """MiniMind2's rule when the config has none: int(h * 8 / 3) up to 64."""
    return 64 * ((int(hidden * 8 / 3) + 63) // 64)


class Config:
    """The config.json fields the model needs, with MiniMind's defaults."""

    def __init__(self, fields):
        get = fields.get
        self.hidden_size = int(fields["hidden_size"])
        self.num_hidden_layers = int(fields["num_hidden_layers"])
        self.num_attention_heads = int(fields["num_attention_heads"])
        kv = get("num_key_value_heads")
        self.num_key_value_heads = int(
            self.num_attention_heads if kv is None else kv)
        self.head_dim = int(get("head_dim") or
                            self.hidden_size // self.num_attention_heads)
        self.vocab_size = int(get("vocab_size", 6400))
        inter = get("intermediate_size")
        self.intermediate_size = int(
            intermediate_size_2025(self.hidden_size) if inter is None
            else inter)
        self.rms_norm_eps = float(get("rms_norm_eps", 1e-5))
        self.rope_theta = float(get("rope_theta", 1e6))
        self.max_position_embeddings = int(
            get("max_position_embeddings", 32768))
        self.tie_word_embeddings = bool(get("tie_word_embeddings", True))
        self.qk_norm = bool(get("qk_norm", False))
        if get("use_moe") or get("inference_rope_scaling"):
            raise ValueError("use_moe and inference_rope_scaling are not "
                             "part of this reference")
        if get("hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {get('hidden_act')!r}: only silu")
        self.fields = dict(fields)

    def to_json_dict(self):
        """Every field, resolved, in the HF layout minigraph and MiniMind
        read (qk_norm only when set: MiniMind's code detects it from the
        weights)."""
        out = dict(self.fields)
        out.update({
            "architectures": ["MiniMindForCausalLM"],
            "model_type": "minimind",
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "vocab_size": self.vocab_size,
            "intermediate_size": self.intermediate_size,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "hidden_act": "silu",
            "dropout": 0.0,
            "flash_attn": True,
            "use_moe": False,
            "bos_token_id": int(self.fields.get("bos_token_id", 1)),
            "eos_token_id": int(self.fields.get("eos_token_id", 2)),
        })
        out.pop("qk_norm", None)
        if self.qk_norm:
            out["qk_norm"] = True
        return out


def _compute_dtype(dtype):
    """MiniMind's .float() upcast, without ever narrowing float64."""
    return torch.promote_types(dtype, torch.float32)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # weight * x / sqrt(mean(x^2) + eps), on the upcast x, cast back.
        xc = x.to(_compute_dtype(x.dtype))
        normed = xc * torch.rsqrt(xc.pow(2).mean(-1, keepdim=True) + self.eps)
        return (self.weight * normed).to(x.dtype)


def rope_tables(head_dim, theta, count):
    """float32 cos and sin tables [count, head_dim], MiniMind's recipe.

    inv_freq = 1 / theta^(float32(2i) / d) and angle = float32(t) * inv_freq
    are float32 operations; the power, cos and sin are evaluated in float64
    and rounded once to float32 (the correctly rounded float32 result, which
    a float32 libm may miss by an ulp; compare_lm reports how many entries
    torch's own float32 functions differ in).
    """
    exponent = torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim
    power = torch.pow(torch.tensor(theta, dtype=torch.float64),
                      exponent.double()).float()
    inv_freq = 1.0 / power
    positions = torch.arange(count).float()
    angles = torch.outer(positions, inv_freq)  # float32 products
    cos = torch.cos(angles.double()).float()
    sin = torch.sin(angles.double()).float()
    return torch.cat([cos, cos], dim=-1), torch.cat([sin, sin], dim=-1)


def rope_tables_torch_f32(head_dim, theta, count):
    """The tables exactly as MiniMind's code computes them with torch's
    float32 pow, cos and sin (for reporting ulp differences)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2]
                                .float() / head_dim))
    angles = torch.outer(torch.arange(count), inv_freq).float()
    return (torch.cat([torch.cos(angles)] * 2, dim=-1),
            torch.cat([torch.sin(angles)] * 2, dim=-1))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def repeat_kv(x, n_rep):
    """[B, T, kv, d] -> [B, T, kv * n_rep, d]; head h reads kv head h//n_rep."""
    if n_rep == 1:
        return x
    b, t, kv, d = x.shape
    return x[:, :, :, None, :].expand(b, t, kv, n_rep, d).reshape(
        b, t, kv * n_rep, d)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = cfg.head_dim
        h, d = cfg.hidden_size, cfg.head_dim
        self.q_proj = nn.Linear(h, self.heads * d, bias=False)
        self.k_proj = nn.Linear(h, self.kv_heads * d, bias=False)
        self.v_proj = nn.Linear(h, self.kv_heads * d, bias=False)
        self.o_proj = nn.Linear(self.heads * d, h, bias=False)
        if cfg.qk_norm:
            self.q_norm = RMSNorm(d, cfg.rms_norm_eps)
            self.k_norm = RMSNorm(d, cfg.rms_norm_eps)
        else:
            self.q_norm = self.k_norm = None

    def forward(self, x, cos, sin, attention_mask=None):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        # cos/sin [T, d] -> [T, 1, d]: broadcast over batch and heads.
        cos, sin = cos[:, None, :], sin[:, None, :]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        n_rep = self.heads // self.kv_heads
        q = q.transpose(1, 2)
        k = repeat_kv(k, n_rep).transpose(1, 2)
        v = repeat_kv(v, n_rep).transpose(1, 2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        causal = torch.full((t, t), float("-inf"), dtype=scores.dtype).triu(1)
        scores = scores + causal
        if attention_mask is not None:
            # MiniMind's additive padding mask: -1e9 on keys with mask 0.
            keep = attention_mask.to(scores.dtype)[:, None, None, :]
            scores = scores + (1.0 - keep) * -1e9
        probs = F.softmax(scores.to(_compute_dtype(scores.dtype)), dim=-1)
        out = probs.to(q.dtype) @ v
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, i = cfg.hidden_size, cfg.intermediate_size
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size,
                                                cfg.rms_norm_eps)
        self.mlp = FeedForward(cfg)

    def forward(self, x, cos, sin, attention_mask=None):
        h = x + self.self_attn(self.input_layernorm(x), cos, sin,
                               attention_mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg)
                                    for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class MiniMindLM(nn.Module):
    """MiniMindForCausalLM with HF names; forward(ids, labels) -> (logits,
    loss or None)."""

    def __init__(self, cfg, rope="exact"):
        super().__init__()
        self.config = cfg
        self.model = Decoder(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            # MiniMind's order: the embedding takes the head's weight.
            self.model.embed_tokens.weight = self.lm_head.weight
        # "exact": correctly rounded float32 tables; "torch": torch's own
        # float32 pow/cos/sin, bit for bit what MiniMind's code makes.
        make = rope_tables if rope == "exact" else rope_tables_torch_f32
        cos, sin = make(cfg.head_dim, cfg.rope_theta,
                        cfg.max_position_embeddings)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, input_ids, labels=None, attention_mask=None):
        t = input_ids.shape[1]
        dtype = self.lm_head.weight.dtype
        # The float32 tables, converted to the model's dtype.
        cos = self.rope_cos[:t].to(dtype)
        sin = self.rope_sin[:t].to(dtype)
        h = self.model.embed_tokens(input_ids)
        for layer in self.model.layers:
            h = layer(h, cos, sin, attention_mask)
        logits = self.lm_head(self.model.norm(h))
        loss = None
        if labels is not None:
            shifted = logits[:, :-1, :].reshape(-1, logits.shape[-1])
            loss = F.cross_entropy(shifted, labels[:, 1:].reshape(-1),
                                   ignore_index=IGNORE_INDEX)
        return logits, loss

    def state_dict_names(self):
        """{checkpoint name: parameter}, lm_head.weight included when tied
        (the same Parameter as model.embed_tokens.weight)."""
        names = dict(self.named_parameters())
        names["lm_head.weight"] = self.lm_head.weight
        return names


def read_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)


def load_model_dir(model_dir, dtype, rope="exact"):
    """A MiniMindLM from DIR/config.json + DIR/model.safetensors, in dtype.

    qk_norm follows the checkpoint: on when layer 0 has q_norm weights (as
    for MiniMind-3, whose config has no such key). Loading is strict: every
    parameter present with its shape, nothing unknown; a tied checkpoint may
    carry lm_head.weight (same values) or only one of the two names.
    """
    path = os.path.join(model_dir, "model.safetensors")
    tensors, _ = read_safetensors(path)
    fields = read_config(model_dir)
    if "model.layers.0.self_attn.q_norm.weight" in tensors:
        fields["qk_norm"] = True
    cfg = Config(fields)
    # In dtype before the copy, so float64 values are not rounded to float32.
    model = MiniMindLM(cfg, rope).to(dtype)
    if cfg.tie_word_embeddings:
        shared = tensors.get("model.embed_tokens.weight",
                             tensors.get("lm_head.weight"))
        tensors.pop("lm_head.weight", None)
        if shared is not None:
            tensors["model.embed_tokens.weight"] = shared
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(tensors))
    unknown = sorted(set(tensors) - set(params))
    if missing or unknown:
        raise ValueError(f"{path}: missing tensors {missing}, unknown "
                         f"tensors {unknown}")
    with torch.no_grad():
        for name, param in params.items():
            value = torch.from_numpy(np.asarray(tensors[name], np.float64))
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(f"{path}: tensor '{name}' has shape "
                                 f"{list(value.shape)}, expected "
                                 f"{list(param.shape)}")
            param.copy_(value)
    return model


def random_model(cfg, seed, perturb_norms=True):
    """A float64 MiniMindLM with torch's default initialisation (nn.Linear
    uniform, nn.Embedding normal; tied: the head's uniform weight) from seed.
    perturb_norms sets every RMSNorm weight to 1 + 0.1 N(0, 1), so that a
    norm weight applied on the wrong axis, or not at all, shows."""
    torch.manual_seed(seed)
    model = MiniMindLM(cfg).double()
    if perturb_norms:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.endswith("norm.weight"):
                    param.add_(0.1 * torch.randn_like(param))
    return model


def save_model_dir(model, model_dir, dtype="f64"):
    """Writes config.json and model.safetensors (lm_head.weight also when
    tied, as strict loaders want it), weights stored as dtype: "f64", "f32"
    or "bf16" (rounded to nearest even, as MiniMind's released weights)."""
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(model.config.to_json_dict(), f, indent=2, sort_keys=True)
        f.write("\n")
    numpy_dtype = np.float64 if dtype == "f64" else np.float32
    tensors = {name: p.detach().cpu().numpy().astype(numpy_dtype)
               for name, p in model.state_dict_names().items()}
    write_safetensors(os.path.join(model_dir, "model.safetensors"), tensors,
                      metadata={"format": "pt"},
                      bf16=set(tensors) if dtype == "bf16" else ())
