#!/usr/bin/python3
"""Compares two next-token logit dumps (bench/dump_logits.cpp, bench/peer/llama_logits.cpp).

    compare_logits.py REFERENCE OURS [--json]

Each file: int32 n_rows, int32 n_vocab, then n_rows x n_vocab float32. Row i is the
distribution over the token after position i. Prints, over the rows:

    top-1 agreement   % of rows whose argmax is the same token
    mean KL, max KL   KL(reference || ours) = sum p_ref * (log p_ref - log p_ours) per row, in
                      nats, from log-softmax computed in float64
    max |d logit|     largest absolute difference of a raw logit
    top-1 gap         over the rows whose argmax differs, the largest margin by which the
                      reference prefers its top token to ours (0 when all agree): near-ties
                      have tiny gaps
    entropy           the reference's mean entropy in nats (log n_vocab = uniform): how
                      peaked the distributions being compared are

as one line "rows=… vocab=… top1=… mean_kl=… max_kl=… max_abs_logit_diff=…
max_disagreement_gap=… mean_entropy=…", or a JSON object with --json. Exit status 1 (with the file named) when a file is unreadable or the shapes
differ. Needs numpy (Debian: python3-numpy).
"""
import json
import sys

import numpy as np


def read_rows(path):
    try:
        with open(path, "rb") as f:
            header = np.fromfile(f, dtype="<i4", count=2)
            if header.size != 2:
                raise ValueError("shorter than its 8-byte header")
            n_rows, n_vocab = int(header[0]), int(header[1])
            if n_rows < 1 or n_vocab < 1:
                raise ValueError(f"header says {n_rows} rows of {n_vocab} logits")
            data = np.fromfile(f, dtype="<f4")
    except (OSError, ValueError) as e:
        sys.exit(f"compare_logits: {path}: {e}")
    if data.size != n_rows * n_vocab:
        sys.exit(f"compare_logits: {path}: {data.size} floats after the header, expected {n_rows} x {n_vocab}")
    if not np.all(np.isfinite(data)):
        sys.exit(f"compare_logits: {path}: logits hold NaN or infinity")
    return data.reshape(n_rows, n_vocab)


def log_softmax(rows):
    x = rows.astype(np.float64)
    x -= x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def compare(reference, ours):
    kl = np.empty(reference.shape[0])
    entropy = np.empty(reference.shape[0])
    chunk = 16  # rows at a time: float64 copies of the whole dumps would be ~0.5 GB
    for at in range(0, reference.shape[0], chunk):
        log_p = log_softmax(reference[at:at + chunk])
        log_q = log_softmax(ours[at:at + chunk])
        kl[at:at + chunk] = (np.exp(log_p) * (log_p - log_q)).sum(axis=1)
        entropy[at:at + chunk] = -(np.exp(log_p) * log_p).sum(axis=1)
    ref_top, our_top = np.argmax(reference, axis=1), np.argmax(ours, axis=1)
    same_top1 = ref_top == our_top
    rows = np.arange(reference.shape[0])
    gaps = (reference[rows, ref_top] - reference[rows, our_top])[~same_top1]
    return {
        "rows": int(reference.shape[0]),
        "vocab": int(reference.shape[1]),
        "top1": float(100.0 * same_top1.mean()),
        "mean_kl": float(kl.mean()),
        "max_kl": float(kl.max()),
        "max_abs_logit_diff": float(np.abs(reference - ours).max()),
        "max_disagreement_gap": float(gaps.max()) if gaps.size else 0.0,
        "mean_entropy": float(entropy.mean()),
    }


def main(argv):
    args = [a for a in argv[1:] if a != "--json"]
    if len(args) != 2:
        sys.exit(__doc__)
    reference, ours = read_rows(args[0]), read_rows(args[1])
    if reference.shape != ours.shape:
        sys.exit(f"compare_logits: {args[0]} holds {reference.shape[0]} x {reference.shape[1]} logits, "
                 f"{args[1]} {ours.shape[0]} x {ours.shape[1]}")
    result = compare(reference, ours)
    if "--json" in argv:
        print(json.dumps(result))
    else:
        print(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main(sys.argv)
