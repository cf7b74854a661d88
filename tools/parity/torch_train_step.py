#!/usr/bin/python3
"""Times one MiniMind training step in PyTorch: the baseline of the `train`
benchmark group (tools/bench/train_bench.cc runs this in the same run).

  /usr/bin/python3 tools/parity/torch_train_step.py --hidden 512 --layers 8 \
      --heads 8 --kv-heads 2 --vocab 6400 --intermediate 1408 --batch 4 \
      --seq 512 --threads 2 [--qk-norm] [--steps 3]

The step is MiniMind's pretraining step in float32: forward with HF's
shifted cross-entropy, backward, clip_grad_norm_(1.0), torch.optim.AdamW,
zero_grad. Two warm-up steps, then the median of --steps timed ones. The
last line is "tokens_per_s X".
"""

import argparse
import statistics
import time

import torch

import minimind_ref


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("hidden", "layers", "heads", "kv-heads", "vocab",
                 "intermediate", "batch", "seq"):
        parser.add_argument("--" + flag, type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
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
        "max_position_embeddings": args.seq,
        "qk_norm": args.qk_norm,
        "rms_norm_eps": 1e-6 if args.qk_norm else 1e-5,
    })
    torch.manual_seed(0)
    model = minimind_ref.MiniMindLM(cfg).float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4,
                                  weight_decay=0.01)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq))

    def step():
        _, loss = model(ids, labels=ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    print(f"step_ms {seconds * 1e3:.1f}")
    print(f"tokens_per_s {args.batch * args.seq / seconds:.1f}")


if __name__ == "__main__":
    main()
