#!/usr/bin/python3
"""Trains the same small MiniMind with `minigraph train` and with PyTorch on
the same batches, and compares every step's loss, gradient norm and learning
rate, and the final weights; optionally times a MiniMind2-small step on both.

  /usr/bin/python3 tools/parity/compare_train.py [--optimizers adamw,sgd]
      [--dtype f64|f32] [--steps S --batch B --seq T] [--qk-norm] [--untied]
      [--timing [--timing-steps N]] [--minigraph PATH]

PyTorch's side is MiniMind's loop (trainer/train_pretrain.py, one
micro-batch per step): lr_s = lr * (0.1 + 0.45 * (1 + cos(pi * s / S))) for
s = 1..S set on the optimizer, loss.backward(), clip_grad_norm_(params, clip),
optimizer.step(), zero_grad(set_to_none=True), with torch.optim.AdamW(params,
lr, weight_decay=wd) or torch.optim.SGD(params, lr, momentum, weight_decay).
Exit status 1 when a comparison is outside its tolerance.
"""

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

import minimind_ref
from make_model import add_config_flags, config_from_flags
from parity_util import (DEFAULT_MINIGRAPH, TOLERANCE, difference, fmt,
                         peak_rss_mb, print_table, run_minigraph)
from safetensors_io import read_safetensors, write_safetensors

# metrics.jsonl writes loss, lr and grad_norm with 8 significant digits, so
# per-step values compare to about 1e-8 relative at best.
METRICS_DIGITS_TOLERANCE = 1e-7

# MiniMind2-small (26M): MiniMind's 2025 defaults.
MINIMIND2_SMALL = {
    "hidden_size": 512, "num_hidden_layers": 8, "num_attention_heads": 8,
    "num_key_value_heads": 2, "vocab_size": 6400, "intermediate_size": 1408,
    "rms_norm_eps": 1e-5, "rope_theta": 1e6,
    "max_position_embeddings": 32768, "tie_word_embeddings": True,
}


def minimind_lr(lr, step, total):
    """MiniMind's get_lr with the 1-based step."""
    return lr * (0.1 + 0.45 * (1 + math.cos(math.pi * step / total)))


def make_batches(vocab, steps, batch, seq, seed, ignore_frac=0.1):
    """input_ids int64 [S, B, T] and labels with about ignore_frac -100."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(steps, batch, seq), dtype=np.int64)
    labels = ids.copy()
    labels[rng.random(ids.shape) < ignore_frac] = minimind_ref.IGNORE_INDEX
    return {"input_ids": ids, "labels": labels}


def read_metrics(out_dir):
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def train_minigraph(args, model_dir, data_path, out_dir, optimizer, dtype,
                    steps):
    flags = ["train", "--model", model_dir, "--data", data_path, "--out",
             out_dir, "--steps", steps, "--batch", args.batch, "--seq",
             args.seq, "--optimizer", optimizer, "--lr", lr_of(args, optimizer),
             "--schedule", "minimind", "--grad-clip", args.grad_clip,
             "--weight-decay", args.weight_decay, "--dtype", dtype,
             "--eval-every", 0]
    if optimizer == "sgd":
        flags += ["--momentum", args.momentum]
    seconds, _ = run_minigraph(args.minigraph, flags)
    return seconds, read_metrics(out_dir)


def lr_of(args, optimizer):
    return args.lr if optimizer == "adamw" else args.sgd_lr


def train_torch(args, model_dir, batches, optimizer, dtype, steps,
                timed=False):
    """The reference run: per-step rows like metrics.jsonl, and the model."""
    model = minimind_ref.load_model_dir(model_dir,
                                        minimind_ref.torch_dtype(dtype))
    params = list(model.parameters())
    lr = lr_of(args, optimizer)
    if optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=args.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=args.momentum,
                              weight_decay=args.weight_decay)
    rows = []
    for step in range(1, steps + 1):
        start = time.perf_counter()
        step_lr = minimind_lr(lr, step, steps)
        for group in opt.param_groups:
            group["lr"] = step_lr
        ids = torch.from_numpy(batches["input_ids"][step - 1])
        labels = torch.from_numpy(batches["labels"][step - 1])
        _, loss = model(ids, labels)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, args.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - start
        rows.append({"step": step, "loss": loss.item(), "lr": step_lr,
                     "grad_norm": norm.item(),
                     "tokens_per_s": ids.numel() / seconds})
        if timed:
            print(f"  torch step {step}: loss {loss.item():.6f}, "
                  f"{seconds:.2f} s, {ids.numel() / seconds:.0f} tokens/s",
                  flush=True)
    return rows, model


def compare_run(args, workdir, optimizer):
    """One optimizer: returns the list of failures."""
    dtype = args.dtype
    tolerance = TOLERANCE[dtype]
    model_dir = os.path.join(workdir, "model")
    data_path = os.path.join(workdir, "batches.safetensors")
    out_dir = tempfile.mkdtemp(prefix=f"out_{optimizer}_", dir=workdir)
    batches = make_batches(args.vocab, args.steps, args.batch, args.seq,
                           args.seed)
    write_safetensors(data_path, batches)
    seconds, got_rows = train_minigraph(args, model_dir, data_path, out_dir,
                                        optimizer, dtype, args.steps)
    want_rows, model = train_torch(args, model_dir, batches, optimizer,
                                   "f64", args.steps)
    same_rows = want_rows
    same_model = model
    if dtype != "f64":
        same_rows, same_model = train_torch(args, model_dir, batches,
                                            optimizer, dtype, args.steps)

    print(f"\n== {optimizer}: {args.steps} steps of B {args.batch} T "
          f"{args.seq}, {dtype}, lr {lr_of(args, optimizer)} (minimind "
          f"schedule), grad clip {args.grad_clip}, weight decay "
          f"{args.weight_decay}" + (f", momentum {args.momentum}"
                                    if optimizer == "sgd" else "") +
          f"; minigraph took {seconds:.1f} s")
    failures = []
    step_tolerance = max(tolerance, METRICS_DIGITS_TOLERANCE)
    rows = []
    if len(got_rows) != len(want_rows):
        failures.append(f"{optimizer}: metrics.jsonl has {len(got_rows)} "
                        f"rows, expected {len(want_rows)}")
    for got, want in zip(got_rows, want_rows):
        row = [got["step"]]
        for key in ("loss", "grad_norm", "lr"):
            rel = abs(got[key] - want[key]) / abs(want[key])
            row += [f"{got[key]:.8g}", f"{want[key]:.8g}", fmt(rel)]
            if not rel <= step_tolerance:
                failures.append(f"{optimizer} step {got['step']} {key}: "
                                f"minigraph {got[key]:.10g}, torch "
                                f"{want[key]:.10g} (relative {rel:.2e} > "
                                f"{step_tolerance:.0e})")
        rows.append(row)
    print("per step (minigraph, torch float64, relative difference; "
          "minigraph's metrics carry 8 digits):")
    print_table(["step", "loss mg", "loss torch", "rel", "grad_norm mg",
                 "grad_norm torch", "rel", "lr mg", "lr torch", "rel"], rows)

    # Final weights, and how far each moved (the difference of the moves is
    # the sharper test: it does not hide in the untouched initial values).
    final, _ = read_safetensors(os.path.join(out_dir, "model.safetensors"))
    initial, _ = read_safetensors(os.path.join(model_dir,
                                               "model.safetensors"))
    ref = {n: p.detach().numpy() for n, p in model.state_dict_names().items()}
    ref_same = {n: p.detach().numpy()
                for n, p in same_model.state_dict_names().items()}
    rows = []
    for name in sorted(set(final) | set(ref)):
        if name not in final or name not in ref:
            failures.append(f"final weights: {name} only in "
                            f"{'minigraph' if name in final else 'torch'}")
            continue
        _, rel = difference(final[name], ref[name])
        _, rel_move = difference(final[name] - initial[name],
                                 ref[name] - initial[name])
        row = [name, fmt(rel), fmt(rel_move)]
        limit = tolerance
        if dtype != "f64":
            # float32 training drifts from float64 by itself; minigraph
            # must stay within 10x of PyTorch float32's own drift.
            _, torch_rel = difference(ref_same[name] - initial[name],
                                      ref[name] - initial[name])
            limit = max(tolerance, 10 * torch_rel)
            row.append(fmt(torch_rel))
        if not rel_move <= limit:
            failures.append(f"{optimizer} final {name}: moved differently "
                            f"(relative {rel_move:.2e} > {limit:.0e})")
            row.append("FAIL")
        rows.append(row)
    print("final weights against torch float64 (rel: of the weights; "
          "rel of move: of final - initial):")
    print_table(["tensor", "rel", "rel of move"] +
                (["torch f32 move rel"] if dtype != "f64" else []), rows)
    return failures


def timing(args, workdir):
    """MiniMind2-small training steps at B4 T512 float32 on both, same
    batches, one after the other (never concurrently: 2 cores)."""
    torch.set_num_threads(2)
    steps, batch, seq = args.timing_steps, 4, 512
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"\nwarning: load average {load:.2f} before timing: other "
              "processes share the 2 cores, so both speeds read low")
    cfg = minimind_ref.Config(dict(MINIMIND2_SMALL))
    model_dir = os.path.join(workdir, "minimind2_small")
    small = minimind_ref.random_model(cfg, 0)
    count = sum(p.numel() for p in small.parameters())
    minimind_ref.save_model_dir(small, model_dir, "f32")
    del small
    data_path = os.path.join(workdir, "batches_small.safetensors")
    batches = make_batches(cfg.vocab_size, steps, batch, seq, args.seed)
    write_safetensors(data_path, batches)
    out_dir = tempfile.mkdtemp(prefix="out_timing_", dir=workdir)
    timed_args = argparse.Namespace(**vars(args))
    timed_args.batch, timed_args.seq = batch, seq
    print(f"\n== timing: MiniMind2-small ({count / 1e6:.1f}M parameters, "
          f"hidden 512, 8 layers, heads 8/2, vocab 6400, intermediate 1408), "
          f"B{batch} T{seq} float32, AdamW, {steps} steps each")
    _, got_rows = train_minigraph(timed_args, model_dir, data_path, out_dir,
                                  "adamw", "f32", steps)
    mg_rss = peak_rss_mb(children=True)
    for row in got_rows:
        print(f"  minigraph step {row['step']}: loss {row['loss']:.6f}, "
              f"{row['step_ms'] / 1e3:.2f} s, {row['tokens_per_s']:.0f} "
              f"tokens/s, {row.get('page_faults', '?')} page faults")
    torch_rows, _ = train_torch(timed_args, model_dir, batches, "adamw", "f32",
                                steps, timed=True)
    torch_rss = peak_rss_mb()

    def steady(rows):
        # Step 1 pays one-time costs (first allocations, lazy tables).
        later = rows[1:] or rows
        return statistics.median(r["tokens_per_s"] for r in later)

    def best(rows):
        # The step least disturbed by other processes.
        return max(r["tokens_per_s"] for r in rows)

    mg, pt = steady(got_rows), steady(torch_rows)
    print(f"\ntokens/s (median of steps 2..{steps}): minigraph {mg:.0f}, "
          f"PyTorch {torch.__version__} (2 threads) {pt:.0f}: "
          f"{mg / pt:.2f}x")
    mg, pt = best(got_rows), best(torch_rows)
    print(f"tokens/s (best step): minigraph {mg:.0f}, PyTorch {pt:.0f}: "
          f"{mg / pt:.2f}x")
    print(f"peak RSS: minigraph {mg_rss:.0f} MB, PyTorch process "
          f"{torch_rss:.0f} MB")
    losses = [difference(g["loss"], t["loss"])[1]
              for g, t in zip(got_rows, torch_rows)]
    print(f"loss agreement (float32, both sides): max relative "
          f"{max(losses):.1e}")
    if max(losses) > 1e-3:
        return [f"timing run: float32 losses differ by {max(losses):.1e}"]
    return []


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizers", default="adamw,sgd")
    parser.add_argument("--dtype", choices=["f32", "f64"], default="f64")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-3,
                        help="AdamW's peak learning rate")
    parser.add_argument("--sgd-lr", type=float, default=0.1,
                        help="SGD's peak learning rate")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--grad-clip", type=float, default=1.0)
    parser.add_argument("--timing", action="store_true",
                        help="also time MiniMind2-small at B4 T512 float32")
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--timing-steps", type=int, default=4)
    parser.add_argument("--minigraph", default=DEFAULT_MINIGRAPH)
    parser.add_argument("--workdir", default=None,
                        help="keep the model, batches and runs here")
    add_config_flags(parser)
    args = parser.parse_args()
    torch.set_num_threads(2)

    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        if not args.timing_only:
            cfg = config_from_flags(args)
            model = minimind_ref.random_model(cfg, args.model_seed)
            minimind_ref.save_model_dir(
                model, os.path.join(workdir, "model"), args.dtype)
            print(f"model: hidden {cfg.hidden_size}, layers "
                  f"{cfg.num_hidden_layers}, heads {cfg.num_attention_heads}/"
                  f"{cfg.num_key_value_heads}, vocab {cfg.vocab_size}, "
                  f"intermediate {cfg.intermediate_size}, tied "
                  f"{cfg.tie_word_embeddings}, qk_norm {cfg.qk_norm}")
            for optimizer in args.optimizers.split(","):
                failures += compare_run(args, workdir, optimizer)
        if args.timing or args.timing_only:
            failures += timing(args, workdir)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
