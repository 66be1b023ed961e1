#!/usr/bin/env python3
"""Write attention weights as an Attention Lens trace file (safetensors, README "Trace files").

numpy only: PyTorch tensors (or anything np.asarray takes) are read through ``.numpy()``, so
nothing else needs to be installed. Open the file with ``attention-lens --open FILE`` or in VS Code.

From Python (Hugging Face transformers, eager attention so the weights are returned)::

    from attention_lens_dump import save_attention
    out = model(**enc, output_attentions=True)
    save_attention("gpt2.attn.safetensors", out.attentions,
                   tok.convert_ids_to_tokens(enc.input_ids[0]), model_name="gpt2")

From the shell, on an .npz holding ``attention_0``, ``attention_1``, ... ([heads, q, k] or
[1, heads, q, k]) and ``tokens`` (an array of strings)::

    python3 attention_lens_dump.py weights.npz out.attn.safetensors --model-name my-model
"""
import argparse
import datetime
import json
import os
import struct
import sys

import numpy as np

SCHEMA = 1
"""The trace file schema this script writes (attention_lens_schema)."""
TRACE_FORMAT_VERSION = 2
"""The trace's own format version (src/shared/trace.ts TRACE_FORMAT_VERSION)."""
KINDS = ("decoder", "encoder")


def _as_array(tensor):
    """A float32 numpy array from a numpy array, a PyTorch tensor (any device, bf16 too) or a list."""
    if hasattr(tensor, "detach"):  # torch: off the graph, to float32 (numpy has no bfloat16), to the CPU
        tensor = tensor.detach().float().cpu()
    if hasattr(tensor, "numpy"):
        tensor = tensor.numpy()
    return np.ascontiguousarray(np.asarray(tensor, dtype=np.float32))


def _layer(tensor, index):
    """One layer's weights as [heads, queries, keys]."""
    array = _as_array(tensor)
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ValueError(f"layer {index}: batch of {array.shape[0]}; give one sequence (attentions[i][b:b+1])")
        array = array[0]
    if array.ndim != 3:
        raise ValueError(f"layer {index}: shape {array.shape}; expected [heads, queries, keys] or [1, heads, queries, keys]")
    return array


def _tokens(tokens, offsets, text):
    """Token records whose offsets index into the stream's text (text[start:end] == token text)."""
    tokens = [str(token) for token in tokens]
    if offsets is None:
        text = "".join(tokens)
        offsets, position = [], 0
        for token in tokens:
            offsets.append((position, position + len(token)))
            position += len(token)
    elif text is None:
        raise ValueError("offsets index into a text: give text= with them")
    records = []
    for index, (token, (start, end)) in enumerate(zip(tokens, offsets)):
        start, end = int(start), int(end)
        records.append({"id": index, "text": text[start:end], "piece": token, "start": start, "end": end, "special": start == end})
    return text, records


def save_attention(path, attentions, tokens, model_name="python", *, kind="decoder", offsets=None, text=None, half=False, backend="external"):
    """Writes one sequence's attention as a trace file.

    attentions: per layer [heads, queries, keys] or [1, heads, queries, keys] (a tuple of tensors,
        as Hugging Face's ``output_attentions=True`` returns, or numpy arrays).
    tokens: one string per position (e.g. ``tokenizer.convert_ids_to_tokens(ids)``).
    kind: "decoder" (causal self-attention) or "encoder". A decoder layer whose weights above the
        diagonal are all exactly 0 gets a causal mask (mask.N), so the panel hatches what it blocked.
    offsets, text: optional character offsets of the tokens in ``text`` (``return_offsets_mapping``);
        without them the text is the tokens joined.
    half: attention as float16 (half the size).
    Returns the number of bytes written.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    layers = [_layer(tensor, index) for index, tensor in enumerate(attentions)]
    if not layers:
        raise ValueError("no attention layers given")
    text, records = _tokens(tokens, offsets, text)
    tensors, blocks = [], []
    for index, weights in enumerate(layers):
        heads, queries, keys = weights.shape
        if queries != len(records) or keys != len(records):
            raise ValueError(f"layer {index}: {queries} queries x {keys} keys but {len(records)} tokens")
        names = {"attention": f"attention.{index}"}
        tensors.append((names["attention"], "F16" if half else "F32", weights.astype("<f2" if half else "<f4")))
        causal = kind == "decoder" and not np.triu(weights, k=1).any()
        if causal:
            names["mask"] = f"mask.{index}"
            tensors.append((names["mask"], "U8", np.tril(np.ones((queries, keys), dtype=np.uint8))))
        blocks.append({
            "layer": index, "kind": f"{kind}-self", "queryStream": kind, "keyStream": kind, "heads": heads,
            "queries": queries, "keys": keys, "maskKind": "causal" if causal else "none", "tensors": names,
        })
    meta = {
        "formatVersion": TRACE_FORMAT_VERSION,
        "createdAt": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "backend": backend,
        "model": {
            "name": model_name, "kind": kind, "source": "external",
            "encoderLayers": len(layers) if kind == "encoder" else 0, "decoderLayers": len(layers) if kind == "decoder" else 0,
            "heads": layers[0].shape[0], "dModel": None, "tokenizer": "given by the writer",
        },
        "streams": [{"name": kind, "text": text, "origin": "selection", "tokens": records}],
        "blocks": blocks,
        "residual": [],
        "timings": [],
        "truncation": [],
        "notices": [{"code": "external", "message": "Written by scripts/attention_lens_dump.py: attention only (no residual norms, no head statistics)."}],
    }
    return _write(path, tensors, meta)


def _write(path, tensors, meta):
    """safetensors: u64 header length, JSON header padded with spaces to 8 bytes, contiguous data.

    Tensors go widest dtype first (F32, F16, U8), so every offset is a multiple of its element size.
    """
    order = {"F32": 0, "F16": 1, "U8": 2}
    tensors = sorted(tensors, key=lambda entry: order[entry[1]])  # stable: block order within a dtype
    header = {"__metadata__": {"attention_lens_schema": str(SCHEMA), "attention_lens": json.dumps(meta, ensure_ascii=False, allow_nan=False)}}
    offset = 0
    for name, dtype, array in tensors:
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, ensure_ascii=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    partial = f"{path}.partial"  # renamed when whole: no half-written file under the name asked for
    try:
        with open(partial, "wb") as out:
            out.write(struct.pack("<Q", len(text)))
            out.write(text)
            for _, _, array in tensors:
                out.write(array.tobytes(order="C"))
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return 8 + len(text) + offset


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write attention weights from an .npz (attention_0, attention_1, ..., tokens) as an Attention Lens trace file.")
    parser.add_argument("npz", help="arrays attention_<layer> ([heads, q, k] or [1, heads, q, k]) and tokens (strings)")
    parser.add_argument("output", help="the trace file to write (name it *.attn.safetensors)")
    parser.add_argument("--model-name", default="python")
    parser.add_argument("--kind", choices=KINDS, default="decoder")
    parser.add_argument("--half", action="store_true", help="attention as float16")
    args = parser.parse_args(argv)
    with np.load(args.npz, allow_pickle=False) as data:
        names = sorted((name for name in data.files if name.startswith("attention_")), key=lambda name: int(name.split("_", 1)[1]))
        if not names or "tokens" not in data.files:
            parser.error(f"{args.npz} holds {', '.join(data.files) or 'nothing'}; it needs attention_0, attention_1, ... and tokens")
        size = save_attention(args.output, [data[name] for name in names], [str(token) for token in data["tokens"]], args.model_name, kind=args.kind, half=args.half)
    print(f"{args.output}: {len(names)} layers, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
