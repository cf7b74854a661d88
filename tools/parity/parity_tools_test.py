#!/usr/bin/python3
"""Tests of the parity tools themselves; run by hand (not part of
`bazel test //...`):

  cd tools/parity && /usr/bin/python3 -m unittest parity_tools_test -v

The safetensors tests need numpy, the reference's tests torch too; each
class is skipped when what it needs is not installed.
"""

import os
import struct
import tempfile
import unittest

try:
    import numpy as np
    from safetensors_io import (SafetensorsError, bf16_bits_to_f32,
                                f32_to_bf16_bits, read_safetensors,
                                write_safetensors)
    HAVE_NUMPY = True
except ImportError:
    HAVE_NUMPY = False

try:
    import torch
    import minimind_ref
    HAVE_TORCH = HAVE_NUMPY
except ImportError:
    HAVE_TORCH = False


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed")
class SafetensorsTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "t.safetensors")

    def tearDown(self):
        self.dir.cleanup()

    def test_round_trip_every_dtype(self):
        tensors = {
            "f64": np.array([[1.5, -2.25], [3e300, -0.0]]),
            "f32": np.arange(5, dtype=np.float32) / 3,
            "f16": np.array([0.5, 65504.0], dtype=np.float16),
            "i64": np.array([-100, 2**62], dtype=np.int64),
            "i32": np.array([[7]], dtype=np.int32),
            "empty": np.zeros((0, 3), dtype=np.float32),
        }
        write_safetensors(self.path, tensors, metadata={"format": "pt"})
        back, metadata = read_safetensors(self.path)
        self.assertEqual(metadata, {"format": "pt"})
        self.assertEqual(sorted(back), sorted(tensors))
        for name, want in tensors.items():
            self.assertEqual(back[name].dtype, want.dtype, name)
            np.testing.assert_array_equal(back[name], want, err_msg=name)

    def test_layout_is_the_documented_one(self):
        write_safetensors(self.path, {"b": np.array([2.0], np.float32),
                                      "a": np.array([1], np.int64)})
        with open(self.path, "rb") as f:
            data = f.read()
        (n,) = struct.unpack("<Q", data[:8])
        self.assertEqual(n % 8, 0)  # padded so that data is 8-aligned
        # Sorted by name: a's 8 bytes, then b's 4.
        self.assertEqual(data[8 + n:], struct.pack("<q", 1) +
                         struct.pack("<f", 2.0))

    def test_bf16_rounds_to_nearest_even(self):
        values = np.array([1.0, 1.0 + 2**-8, 1.0 + 3 * 2**-8, -2.0,
                           1.0 + 2**-7], dtype=np.float32)
        # 1 + 2^-8 is halfway between 0x3F80 and 0x3F81: even is 0x3F80;
        # 1 + 3 * 2^-8 is halfway between 0x3F81 and 0x3F82: 0x3F82.
        self.assertEqual(list(f32_to_bf16_bits(values)),
                         [0x3F80, 0x3F80, 0x3F82, 0xC000, 0x3F81])
        self.assertEqual(list(bf16_bits_to_f32(np.array(
            [0x3F80, 0x3F81, 0xC000], np.uint16))), [1.0, 1.0078125, -2.0])
        write_safetensors(self.path, {"w": values}, bf16={"w"})
        back, _ = read_safetensors(self.path)
        np.testing.assert_array_equal(
            back["w"], [1.0, 1.0, 1.015625, -2.0, 1.0078125])

    def test_rejects_a_header_longer_than_the_file(self):
        with open(self.path, "wb") as f:
            f.write(struct.pack("<Q", 1000) + b"{}")
        with self.assertRaisesRegex(SafetensorsError, "header length 1000"):
            read_safetensors(self.path)

    def test_rejects_offsets_that_do_not_match_the_shape(self):
        header = b'{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}'
        with open(self.path, "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header + b"\0" * 8)
        with self.assertRaisesRegex(SafetensorsError, "tensor 'x'"):
            read_safetensors(self.path)


def tiny_config(**overrides):
    fields = {"hidden_size": 16, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2,
              "vocab_size": 11, "intermediate_size": 24,
              "rms_norm_eps": 1e-5, "rope_theta": 1e4,
              "max_position_embeddings": 32, "tie_word_embeddings": True}
    fields.update(overrides)
    return minimind_ref.Config(fields)


@unittest.skipUnless(HAVE_TORCH, "torch (or numpy) is not installed")
class ReferenceTest(unittest.TestCase):

    def setUp(self):
        self.ids = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6],
                                 [5, 3, 5, 8, 9, 7, 9, 3]])

    def test_rope_tables_match_the_formula(self):
        cos, sin = minimind_ref.rope_tables(8, 1e4, 20)
        t = np.arange(20)[:, None]
        inv_freq = 1.0 / 1e4 ** (np.arange(0, 8, 2) / 8)
        angle = np.concatenate([t * inv_freq] * 2, axis=1)
        # float32 rounding of inv_freq and of the angle: a few float32 ulps.
        np.testing.assert_allclose(cos.numpy(), np.cos(angle), atol=1e-5)
        np.testing.assert_allclose(sin.numpy(), np.sin(angle), atol=1e-5)
        self.assertEqual(cos.dtype, torch.float32)

    def test_gqa_equals_mha_with_repeated_kv_weights(self):
        gqa = minimind_ref.random_model(tiny_config(), 0)
        mha = minimind_ref.MiniMindLM(
            tiny_config(num_key_value_heads=4)).double()
        d = gqa.config.head_dim
        with torch.no_grad():
            for name, param in mha.named_parameters():
                source = dict(gqa.named_parameters())[name]
                if name.endswith(("k_proj.weight", "v_proj.weight")):
                    # MHA head h gets KV head h // 2's rows.
                    heads = source.view(2, d, -1)
                    source = heads.repeat_interleave(2, dim=0).reshape(
                        param.shape)
                param.copy_(source)
        np.testing.assert_allclose(gqa(self.ids)[0].detach().numpy(),
                                   mha(self.ids)[0].detach().numpy(),
                                   rtol=1e-12, atol=1e-12)

    def test_attention_is_causal(self):
        model = minimind_ref.random_model(tiny_config(qk_norm=True), 0)
        changed = self.ids.clone()
        changed[:, 5] = 0
        a, b = model(self.ids)[0], model(changed)[0]
        self.assertTrue(torch.equal(a[:, :5], b[:, :5]))
        self.assertFalse(torch.allclose(a[:, 5:], b[:, 5:]))

    def test_loss_is_shifted_mean_over_kept_labels(self):
        model = minimind_ref.random_model(tiny_config(), 0)
        labels = self.ids.clone()
        labels[0, 3] = labels[1, 7] = -100
        logits, loss = model(self.ids, labels)
        logp = torch.log_softmax(logits, -1).detach().numpy()
        terms = [-logp[b, t - 1, labels[b, t]] for b in range(2)
                 for t in range(1, 8) if labels[b, t] != -100]
        self.assertEqual(len(terms), 12)
        self.assertAlmostEqual(loss.item(), float(np.mean(terms)), places=12)

    def test_tied_gradient_is_the_sum_of_both_uses(self):
        tied = minimind_ref.random_model(tiny_config(), 0)
        untied = minimind_ref.MiniMindLM(
            tiny_config(tie_word_embeddings=False)).double()
        with torch.no_grad():
            for name, param in untied.named_parameters():
                source = "model.embed_tokens.weight" if name == \
                    "lm_head.weight" else name
                param.copy_(dict(tied.named_parameters())[source])
        tied(self.ids, self.ids)[1].backward()
        untied(self.ids, self.ids)[1].backward()
        want = untied.model.embed_tokens.weight.grad + \
            untied.lm_head.weight.grad
        np.testing.assert_allclose(tied.lm_head.weight.grad.numpy(),
                                   want.numpy(), rtol=1e-12, atol=1e-15)

    def test_save_then_load_gives_the_same_model(self):
        for overrides in ({}, {"tie_word_embeddings": False,
                               "qk_norm": True}):
            model = minimind_ref.random_model(tiny_config(**overrides), 0)
            with tempfile.TemporaryDirectory() as d:
                minimind_ref.save_model_dir(model, d)
                tensors, _ = read_safetensors(os.path.join(d,
                                                           "model.safetensors"))
                self.assertIn("lm_head.weight", tensors)
                back = minimind_ref.load_model_dir(d, torch.float64)
            self.assertEqual(back.config.qk_norm, model.config.qk_norm)
            got = dict(back.named_parameters())
            for name, param in model.named_parameters():
                self.assertTrue(torch.equal(got[name], param), name)

    def test_gradients_match_finite_differences(self):
        model = minimind_ref.random_model(tiny_config(qk_norm=True), 0)
        names = ["model.layers.0.self_attn.k_norm.weight",
                 "model.layers.1.input_layernorm.weight"]
        params = dict(model.named_parameters())
        inputs = tuple(params[n].detach().clone().requires_grad_(True)
                       for n in names)

        def functional(*values):
            saved = {n: params[n] for n in names}
            try:
                for n, v in zip(names, values):
                    setattr_path(model, n, v)
                return model(self.ids, self.ids)[1]
            finally:
                for n in names:
                    setattr_path(model, n, saved[n])

        self.assertTrue(torch.autograd.gradcheck(functional, inputs,
                                                 eps=1e-6, atol=1e-7))


def setattr_path(model, dotted, value):
    """Replaces the parameter at a dotted name by a tensor (for gradcheck)."""
    *path, leaf = dotted.split(".")
    module = model
    for part in path:
        module = getattr(module, part)
    module._parameters[leaf] = value


if __name__ == "__main__":
    unittest.main()
