"""Style profile ranking: the app's blend vs pure embedding vs FashionNet's attribute counting.

A synthetic demo catalog (labels known by construction) is split by product: the catalog
side is what the release indexes, the held-out side supplies query photos that are not in
it. The pipeline's model (32 px) is fitted briefly on the catalog side only; catalog items get
its embedding and its predicted attributes (what ``embed`` and ``tag`` publish). For every
(category, color) with at least 3 held-out photos, random triples of them form a profile
(``pipeline.serve.search.Profile``), and each ranking of the catalog is scored by precision@10:
the share of the 10 recommendations whose true category *and* color are the profile's.

Arms: embedding weight 1 (pure embedding: cosine to the mean embedding), FashionNet counting
(number of the profile's majority attribute values an item matches, ties in random order),
soft votes alone (weight 0), and blends in between; the app uses ``EMBEDDING_WEIGHT``.

    .venv/bin/python bench/profile.py [--products 1200] [--epochs 8]   # a near-perfect tagger
    .venv/bin/python bench/profile.py --epochs 2                        # a tagger as weak as the real one

(Weighing the agreement by the tagger's confidence measured worse at every weight, 0.29–0.45
at ``--epochs 2``, and was dropped.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.demo_shop.catalog import Catalog, render_synthetic, synthetic_catalog  # noqa: E402
from pipeline.imageio import decode_bytes  # noqa: E402
from pipeline.serve.search import EMBEDDING_WEIGHT, Profile, top_k  # noqa: E402
from pipeline.serve.search import Catalog as SearchCatalog  # noqa: E402
from tests.support.app import IMAGE_SIZE, fitted_model  # noqa: E402

K = 10
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def predict(model, vocab: dict, products: list, catalog: Catalog) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    pixels = np.stack([decode_bytes(catalog.photo(p), IMAGE_SIZE) for p in products]).astype(np.float32)
    out = model.predict(pixels, batch_size=128, verbose=0)
    return np.asarray(out["embedding"]), {name: np.asarray(out[name]) for name in vocab}


def counting_scores(search: SearchCatalog, profile: Profile, rng: np.random.Generator) -> np.ndarray:
    """FashionNet: how many of the profile's majority values each item has (+ a random tie-break)."""
    count = np.zeros(len(search), np.float32)
    for name, value in profile.majority().items():
        if value in search.vocab.get(name, []):
            count += search.codes[name] == search.vocab[name].index(value)
    return count + 0.01 * rng.random(len(search))  # ties in random order, never across counts


def _mean_ci(values, signed: bool = False) -> str:
    values = np.asarray(values, np.float64)
    mean = f"{values.mean():+.3f}" if signed else f"{values.mean():.3f}"
    return f"{mean} ± {1.96 * values.std(ddof=1) / np.sqrt(len(values)):.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=1200)
    parser.add_argument("--held-out", type=float, default=0.35)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--triples", type=int, default=5, help="profiles per (category, color)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    everything = synthetic_catalog(args.products, seed=args.seed)
    held = set(rng.permutation(len(everything.products))[: int(args.held_out * len(everything.products))].tolist())
    indexed = [p for i, p in enumerate(everything.products) if i not in held]
    queries = [p for i, p in enumerate(everything.products) if i in held]

    started = time.monotonic()
    model, vocab = fitted_model(Catalog(indexed, render_synthetic), epochs=args.epochs)
    print(
        f"model fitted on {len(indexed)} catalog photos in {time.monotonic() - started:.0f} s; "
        f"{len(queries)} held-out photos"
    )
    vectors, probs = predict(model, vocab, indexed, everything)
    tagged = {name: [vocab[name][j] for j in probs[name].argmax(axis=1)] for name in vocab}
    search = SearchCatalog.build([str(p.pid) for p in indexed], vectors, tagged)
    for name in vocab:
        accuracy = np.mean([t == p.labels[name] for t, p in zip(tagged[name], indexed)])
        print(f"  tagger accuracy on the catalog side: {name} {accuracy:.3f}")
    q_vectors, q_probs = predict(model, vocab, queries, everything)

    truth = np.array([(p.labels["category"], p.labels["color"]) for p in indexed])
    groups: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(queries):
        groups.setdefault((p.labels["category"], p.labels["color"]), []).append(i)
    arms: dict[str, list[float]] = {"pure embedding (weight 1)": [], "FashionNet attribute counting": []}
    arms.update({f"blend, embedding weight {w:.1f}": [] for w in WEIGHTS})
    n_profiles = 0
    for (category, color), members in sorted(groups.items()):
        if len(members) < 3:
            continue
        relevant = (truth[:, 0] == category) & (truth[:, 1] == color)
        for _ in range(args.triples):
            triple = rng.choice(members, 3, replace=False)
            profile = Profile.from_predictions(q_vectors[triple], {n: q_probs[n][triple] for n in vocab}, vocab)
            n_profiles += 1
            rankings = {
                "pure embedding (weight 1)": search.profile_scores(profile, 1.0),
                "FashionNet attribute counting": counting_scores(search, profile, rng),
                **{f"blend, embedding weight {w:.1f}": search.profile_scores(profile, w) for w in WEIGHTS},
            }
            for name, scores in rankings.items():
                arms[name].append(float(relevant[top_k(scores, K)].mean()))
    print(
        f"precision@{K} over {n_profiles} profiles of 3 held-out photos "
        f"({sum(len(m) >= 3 for m in groups.values())} category×color groups; mean ± 95% CI):"
    )
    default_arm = f"blend, embedding weight {EMBEDDING_WEIGHT:.1f}"
    for name, values in arms.items():
        mark = "  <- the app's default" if name == default_arm else ""
        print(f"  {name:32s} {_mean_ci(values)}{mark}")
    blend, embedding, counting = (
        np.array(arms[a]) for a in (default_arm, "pure embedding (weight 1)", "FashionNet attribute counting")
    )
    print("the app's blend minus each pure form, paired over the same profiles (mean ± 95% CI):")
    print(f"  blend - pure embedding         {_mean_ci(blend - embedding, signed=True)}")
    print(f"  blend - attribute counting     {_mean_ci(blend - counting, signed=True)}")
    print(
        f"profile: blend={blend.mean():.3f} embedding={embedding.mean():.3f} counting={counting.mean():.3f} "
        f"blend/embedding={blend.mean() / max(embedding.mean(), 1e-9):.2f} "
        f"blend/counting={blend.mean() / max(counting.mean(), 1e-9):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
