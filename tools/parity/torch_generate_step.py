#!/usr/bin/python3
"""Times MiniMind generation in PyTorch: the baseline of the `generate`
benchmark group (tools/bench/generate_bench.cc runs this in the same run).

  /usr/bin/python3 tools/parity/torch_generate_step.py --hidden 512 \
      --layers 8 --heads 8 --kv-heads 2 --vocab 6400 --intermediate 1408 \
      --prompt 64 --new-tokens 64 --prefill 512 --repeats 5 --threads 2 \
      [--qk-norm]

The model is minimind_ref's MiniMindLM in float32 with random weights, run
under torch.no_grad() the way MiniMind's generate() runs it, with a KV cache
(minimind_ref has none; the cached forward below reuses its modules and
helpers and adds the cache):

- decode: prefill a --prompt token prompt, then --new-tokens greedy tokens
  (argmax of the last position's logits), each one forward of one token
  through the caches; the timed part is every forward after the prefill
  plus its argmax. The median over --repeats gives "decode_tok_s X".
- prefill: one forward of a --prefill token prompt filling fresh caches,
  lm_head on the last position only, plus the argmax: "prefill_tok_s X"
  (median of --repeats runs after a warm-up).
"""

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

import minimind_ref


def cached_attention(attn, x, cos, sin, cache):
    """attn's forward for new tokens x [B, T, hidden] at the positions of
    cos/sin [T, d], appending their keys and values to cache (a dict with
    "k" and "v", [B, S, kv_heads, d], or empty)."""
    b, t, _ = x.shape
    q = attn.q_proj(x).view(b, t, attn.heads, attn.head_dim)
    k = attn.k_proj(x).view(b, t, attn.kv_heads, attn.head_dim)
    v = attn.v_proj(x).view(b, t, attn.kv_heads, attn.head_dim)
    if attn.q_norm is not None:
        q, k = attn.q_norm(q), attn.k_norm(k)
    cos, sin = cos[:, None, :], sin[:, None, :]
    q = q * cos + minimind_ref.rotate_half(q) * sin
    k = k * cos + minimind_ref.rotate_half(k) * sin
    if cache:
        k = torch.cat([cache["k"], k], dim=1)
        v = torch.cat([cache["v"], v], dim=1)
    cache["k"], cache["v"] = k, v
    n_rep = attn.heads // attn.kv_heads
    q = q.transpose(1, 2)
    k = minimind_ref.repeat_kv(k, n_rep).transpose(1, 2)
    v = minimind_ref.repeat_kv(v, n_rep).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(attn.head_dim)
    s = k.shape[2]
    # Query i sits at key position s - t + i: later keys are hidden.
    causal = torch.full((t, s), float("-inf"), dtype=scores.dtype).triu(
        s - t + 1)
    probs = F.softmax(scores + causal, dim=-1)
    out = probs @ v
    return attn.o_proj(out.transpose(1, 2).reshape(b, t, -1))


def cached_forward(model, ids, caches, start):
    """Logits [B, 1, vocab] of the last of ids [B, T] (positions start..),
    extending caches (one dict per layer)."""
    t = ids.shape[1]
    cos = model.rope_cos[start:start + t]
    sin = model.rope_sin[start:start + t]
    h = model.model.embed_tokens(ids)
    for layer, cache in zip(model.model.layers, caches):
        h = h + cached_attention(layer.self_attn, layer.input_layernorm(h),
                                 cos, sin, cache)
        h = h + layer.mlp(layer.post_attention_layernorm(h))
    return model.lm_head(model.model.norm(h[:, -1:, :]))


def decode_rate(model, prompt, new_tokens):
    """Tokens/s of the greedy steps after the prompt's prefill."""
    caches = [{} for _ in model.model.layers]
    logits = cached_forward(model, prompt, caches, 0)
    position = prompt.shape[1]
    start = time.perf_counter()
    for _ in range(new_tokens):
        token = logits[0, -1].argmax().view(1, 1)
        logits = cached_forward(model, token, caches, position)
        position += 1
    logits[0, -1].argmax().item()
    return new_tokens / (time.perf_counter() - start)


def prefill_rate(model, prompt):
    caches = [{} for _ in model.model.layers]
    start = time.perf_counter()
    cached_forward(model, prompt, caches, 0)[0, -1].argmax().item()
    return prompt.shape[1] / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("hidden", "layers", "heads", "kv-heads", "vocab",
                 "intermediate", "prompt", "new-tokens", "prefill"):
        parser.add_argument("--" + flag, type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--qk-norm", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = minimind_ref.Config({
        "hidden_size": args.hidden,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "vocab_size": args.vocab,
        "intermediate_size": args.intermediate,
        "max_position_embeddings": max(args.prompt + args.new_tokens,
                                       args.prefill),
        "qk_norm": args.qk_norm,
        "rms_norm_eps": 1e-6 if args.qk_norm else 1e-5,
    })
    torch.manual_seed(0)
    model = minimind_ref.MiniMindLM(cfg).float().eval()
    prompt = torch.randint(3, args.vocab, (1, args.prompt))
    long_prompt = torch.randint(3, args.vocab, (1, args.prefill))
    with torch.no_grad():
        decode_rate(model, prompt, args.new_tokens)  # warm-up
        decode = [decode_rate(model, prompt, args.new_tokens)
                  for _ in range(args.repeats)]
        prefill_rate(model, long_prompt)  # warm-up
        prefill = [prefill_rate(model, long_prompt)
                   for _ in range(args.repeats)]
    print(f"decode_ms_per_token {1e3 / statistics.median(decode):.3f}")
    print(f"decode_tok_s {statistics.median(decode):.1f}")
    print(f"prefill_tok_s {statistics.median(prefill):.1f}")


if __name__ == "__main__":
    main()
