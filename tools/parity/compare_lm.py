#!/usr/bin/python3
"""Compares `minigraph lm` with the PyTorch reference of MiniMind's causal LM:
logits, HF's shifted loss and the gradient of every checkpoint tensor.

  /usr/bin/python3 tools/parity/compare_lm.py MODEL_DIR [--dtype f32|f64]
      [--batch B --seq T --seed S] [--pad N] [--minigraph PATH]

Random input_ids [B, T] and labels (a fraction set to -100) go to
X.safetensors; minigraph writes Y.safetensors; the reference runs in the same
dtype and in float64. Each tensor's difference is max |a - b| and that over
max |reference|. Exit status 1 when minigraph is further from the float64
reference than the tolerance (f64: 1e-10, f32: 1e-4), 0 otherwise.
"""

import argparse
import os
import sys
import tempfile

import numpy as np
import torch

import minimind_ref
from parity_util import (DEFAULT_MINIGRAPH, TOLERANCE, difference, fmt,
                         max_abs, print_table, run_minigraph)
from safetensors_io import read_safetensors, write_safetensors


def make_inputs(vocab, batch, seq, seed, ignore_frac, pad):
    """input_ids, labels with about ignore_frac of them -100 (at least one
    scored target kept), and with pad > 0 an attention_mask whose last pad
    positions of row 0 are padding (labels -100 there, as a padded batch
    has)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(batch, seq), dtype=np.int64)
    labels = ids.copy()
    labels[rng.random((batch, seq)) < ignore_frac] = minimind_ref.IGNORE_INDEX
    inputs = {"input_ids": ids, "labels": labels}
    if pad > 0:
        mask = np.ones((batch, seq), dtype=np.int64)
        mask[0, seq - pad:] = 0
        labels[0, seq - pad:] = minimind_ref.IGNORE_INDEX
        inputs["attention_mask"] = mask
    if np.all(labels[:, 1:] == minimind_ref.IGNORE_INDEX):
        labels[-1, -1] = ids[-1, -1]
    return inputs


def reference_outputs(model_dir, dtype, inputs, rope):
    """The reference's logits, loss and grad.<name> of every checkpoint
    tensor (a tied weight's one gradient under both of its names)."""
    model = minimind_ref.load_model_dir(model_dir,
                                        minimind_ref.torch_dtype(dtype), rope)
    ids = torch.from_numpy(inputs["input_ids"])
    labels = torch.from_numpy(inputs["labels"])
    mask = inputs.get("attention_mask")
    mask = torch.from_numpy(mask) if mask is not None else None
    logits, loss = model(ids, labels, mask)
    loss.backward()
    out = {"logits": logits.detach().numpy(), "loss": loss.detach().numpy()}
    for name, param in model.state_dict_names().items():
        out["grad." + name] = param.grad.numpy()
    return out, model.config


def report_rope_tables(model_dir, seq):
    """How torch's own float32 pow/cos/sin tables (MiniMind's code) differ
    from the correctly rounded ones this reference uses."""
    cfg = minimind_ref.Config(minimind_ref.read_config(model_dir))
    exact = minimind_ref.rope_tables(cfg.head_dim, cfg.rope_theta, seq)
    torch_f32 = minimind_ref.rope_tables_torch_f32(cfg.head_dim,
                                                   cfg.rope_theta, seq)
    differ = sum(int((a != b).sum()) for a, b in zip(exact, torch_f32))
    total = sum(a.numel() for a in exact)
    worst = max(max_abs((a.double() - b.double()).numpy())
                for a, b in zip(exact, torch_f32))
    print(f"RoPE tables (T={seq}): torch's float32 pow/cos/sin differ from "
          f"the correctly rounded float32 values in {differ} of {total} "
          f"entries (max {worst:.1e}); --rope {{exact,torch}} picks which "
          "the reference uses\n")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("--dtype", choices=["f32", "f64"], default="f64")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ignore-frac", type=float, default=0.2,
                        help="fraction of labels set to -100")
    parser.add_argument("--pad", type=int, default=0,
                        help="right-pad row 0 by this many positions "
                             "(attention_mask 0 there)")
    parser.add_argument("--rope", choices=["exact", "torch"],
                        default="exact",
                        help="the reference's RoPE tables: correctly "
                             "rounded float32, or torch's float32 functions")
    parser.add_argument("--minigraph", default=DEFAULT_MINIGRAPH)
    parser.add_argument("--tolerance", type=float, default=None,
                        help="relative tolerance (default by dtype)")
    parser.add_argument("--workdir", default=None,
                        help="keep X/Y.safetensors here (default: a "
                             "temporary directory)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    tolerance = args.tolerance or TOLERANCE[args.dtype]

    cfg = minimind_ref.Config(minimind_ref.read_config(args.model_dir))
    inputs = make_inputs(cfg.vocab_size, args.batch, args.seq, args.seed,
                         args.ignore_frac, args.pad)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        x_path = os.path.join(workdir, "X.safetensors")
        y_path = os.path.join(workdir, "Y.safetensors")
        write_safetensors(x_path, inputs)
        seconds, _ = run_minigraph(args.minigraph, [
            "lm", "--model", args.model_dir, "--input", x_path, "--output",
            y_path, "--grad", "--dtype", args.dtype])
        got, _ = read_safetensors(y_path)

    ref64, cfg = reference_outputs(args.model_dir, "f64", inputs, args.rope)
    same = ref64 if args.dtype == "f64" else reference_outputs(
        args.model_dir, args.dtype, inputs, args.rope)[0]
    print(f"minigraph lm: {seconds:.2f} s; model {args.model_dir} "
          f"(hidden {cfg.hidden_size}, layers {cfg.num_hidden_layers}, heads "
          f"{cfg.num_attention_heads}/{cfg.num_key_value_heads}, vocab "
          f"{cfg.vocab_size}, tied {cfg.tie_word_embeddings}, qk_norm "
          f"{cfg.qk_norm}), B {args.batch} T {args.seq}, "
          f"{args.dtype}, pad {args.pad}\n")
    report_rope_tables(args.model_dir, args.seq)

    names = ["logits", "loss"] + sorted(n for n in ref64 if
                                        n.startswith("grad."))
    problems = []
    for name in sorted(set(got) ^ set(names)):
        side = "minigraph" if name in got else "the reference"
        problems.append(f"{name}: only {side} has it")
    rows = []
    for name in names:
        if name not in got:
            continue
        diff64, rel64 = difference(got[name], ref64[name])
        row = [name, "x".join(map(str, got[name].shape)) or "scalar",
               fmt(max_abs(ref64[name])), fmt(diff64), fmt(rel64)]
        if args.dtype == "f32":
            _, rel_same = difference(got[name], same[name])
            _, torch_rel = difference(same[name], ref64[name])
            row += [fmt(rel_same), fmt(torch_rel)]
        if not rel64 <= tolerance:
            problems.append(f"{name}: relative difference {rel64:.3e} > "
                            f"{tolerance:.0e}")
            row.append("FAIL")
        rows.append(row)
    header = ["tensor", "shape", "max|ref64|", "abs diff", "rel diff"]
    if args.dtype == "f32":
        header += ["rel vs torch f32", "torch f32 vs f64"]
    print(f"minigraph {args.dtype} against the float64 PyTorch reference"
          + (" (and against PyTorch float32; the last column is PyTorch "
             "float32's own error, the yardstick)" if args.dtype == "f32"
             else "") + ":")
    print_table(header, rows)
    print(f"\nloss: minigraph {float(got['loss']):.17g}, torch f64 "
          f"{float(ref64['loss']):.17g}")
    if problems:
        print(f"\nFAILED (tolerance {tolerance:.0e}):\n  " +
              "\n  ".join(problems))
        return 1
    print(f"\nOK: every tensor within {tolerance:.0e} relative")
    return 0


if __name__ == "__main__":
    sys.exit(main())
