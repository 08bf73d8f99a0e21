"""How many compiles length buckets cost under XLA / `jax.jit`: the chunk-width combinations of real batches.

Under XLA and `jax.jit`, `fit` cuts each batch into `length_buckets` chunks
padded to fixed widths (`keras_mpcl.models.split_into_length_chunks`) and the
train step compiles once per combination of chunk widths. This script draws
batches the way the MPCL study does (32 XNLI-15 groups x 4 random languages =
128 sentences), tokenizes them with the offline all-MiniLM-L6-v2 (64 tokens),
and counts the combinations for each bucket count. It prints them and writes
`benchmarks/results/chunk_widths.json`.

    python benchmarks/chunk_widths.py --buckets 4 8 --batches 300
"""

import argparse
import collections
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "xnli15"
RESULTS = pathlib.Path(__file__).parent / "results" / "chunk_widths.json"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buckets", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--groups", type=int, default=32, help="groups per batch")
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    files = sorted(pathlib.Path(args.data).glob("xnli15.*.txt"))
    if not files:
        raise SystemExit(f"No xnli15.<lang>.txt files in {args.data}: pass --data.")
    import tensorflow as tf

    from keras_mpcl.models import build_encoder
    from keras_mpcl.models import offline_minilm_path
    from keras_mpcl.models import split_into_length_chunks

    texts = {f.name.split(".")[1]: f.read_text(encoding="utf-8").splitlines() for f in files}
    languages = sorted(texts)
    lines = min(len(t) for t in texts.values())
    preprocessor = build_encoder(offline_minilm_path(), max_length=64).preprocessor
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(args.batches):
        batch = [texts[lang][row]
                 for row in rng.choice(lines, args.groups, replace=False)
                 for lang in rng.choice(languages, args.group_size, replace=False)]
        batches.append(preprocessor(tf.constant(batch)))
    report = {"data": args.data, "batches": args.batches,
              "sentences_per_batch": args.groups * args.group_size, "buckets": {}}
    for buckets in args.buckets:
        counts = collections.Counter()
        positions = 0
        for tokens in batches:
            chunks = split_into_length_chunks(tokens, buckets)["length_chunks"]
            widths = tuple(int(chunk["token_ids"].shape[1]) for chunk in chunks)
            counts[widths] += 1
            positions += sum(int(np.prod(chunk["token_ids"].shape)) for chunk in chunks)
        full = args.batches * args.groups * args.group_size * 64
        report["buckets"][buckets] = {
            "combinations": len(counts),
            "positions_vs_full_width": positions / full,
            "most_common": [[list(w), n] for w, n in counts.most_common()],
        }
        top_two = sum(n for _, n in counts.most_common(2)) / args.batches
        print(f"{buckets} buckets: {len(counts)} width combinations (compiles) over "
              f"{args.batches} batches; the two commonest cover {top_two:.0%}; "
              f"{positions / full:.2f}x the positions of full-width batches")
    output = pathlib.Path(args.output)
    output.parent.mkdir(exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {output}")


if __name__ == "__main__":
    main()
