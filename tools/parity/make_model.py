#!/usr/bin/python3
"""Writes a randomly initialised MiniMind checkpoint directory
(config.json + model.safetensors) for the parity scripts.

  /usr/bin/python3 tools/parity/make_model.py /tmp/mm --hidden 64 --layers 2 \
      --heads 4 --kv-heads 2 --vocab 97 --qk-norm --untied
"""

import argparse

from minimind_ref import Config, random_model, save_model_dir


def add_config_flags(parser, hidden=64, layers=2, heads=4, kv_heads=2,
                     vocab=97, intermediate=160):
    """The model-shape flags shared by the scripts that create models."""
    parser.add_argument("--hidden", type=int, default=hidden)
    parser.add_argument("--layers", type=int, default=layers)
    parser.add_argument("--heads", type=int, default=heads)
    parser.add_argument("--kv-heads", type=int, default=kv_heads)
    parser.add_argument("--vocab", type=int, default=vocab)
    parser.add_argument("--intermediate", type=int, default=intermediate)
    parser.add_argument("--head-dim", type=int, default=0,
                        help="0: hidden / heads (MiniMind-3 sets its own)")
    parser.add_argument("--rope-theta", type=float, default=1e6)
    parser.add_argument("--eps", type=float, default=1e-5,
                        help="rms_norm_eps")
    parser.add_argument("--max-positions", type=int, default=1024)
    parser.add_argument("--qk-norm", action="store_true",
                        help="RMSNorm over head_dim on q and k (MiniMind-3)")
    parser.add_argument("--untied", action="store_true",
                        help="a separate lm_head.weight")
    parser.add_argument("--model-seed", type=int, default=1234)


def config_from_flags(args):
    return Config({
        "hidden_size": args.hidden,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "head_dim": args.head_dim or None,
        "vocab_size": args.vocab,
        "intermediate_size": args.intermediate,
        "rope_theta": args.rope_theta,
        "rms_norm_eps": args.eps,
        "max_position_embeddings": args.max_positions,
        "tie_word_embeddings": not args.untied,
        "qk_norm": args.qk_norm,
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--dtype", choices=["f32", "f64", "bf16"],
                        default="f64", help="dtype the weights are stored in")
    add_config_flags(parser)
    args = parser.parse_args()
    model = random_model(config_from_flags(args), args.model_seed)
    save_model_dir(model, args.model_dir, args.dtype)
    count = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.model_dir}: {count} parameters")


if __name__ == "__main__":
    main()
