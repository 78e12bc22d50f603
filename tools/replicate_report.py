#!/usr/bin/env python3
"""Tables and plots of a tools/replicate.sh run: DIR/results.md, DIR/loss.svg, DIR/accuracy.svg.

  python3 tools/replicate_report.py DIR

Reads what tools/replicate.sh leaves in DIR: runs/<system>/metrics.jsonl (`smoothread train`),
runs/<system>/checkpoints/ (the model shape, from the newest manifest), eval/<system>.json
(`smoothread eval --out-json`), timings.jsonl (wall-clock per system and phase) and run.json
(commit, card, settings). A system with no files is reported as not run; nothing is made up.
Standard library only.

results.md holds: the settings; per system its model, training tokens, first and final loss and
wall-clock; accuracy per task x context length x system; rounds read and tokens per answer.
loss.svg plots each system's training loss against the tokens trained; accuracy.svg plots the
accuracy against the context length, one panel per task and one for the mean over tasks. With a
pre-training (--pretrain-steps), pretrain.svg plots its training and held-out loss by step beside
the bounds of each text.
"""
import argparse, json, math, os, re, sys
from xml.sax.saxutils import escape

SYSTEMS = [  # (name, label, eval mode)
    ("full", "(a) full attention, one-round", "one-round"),
    ("window", "(b) sliding window, one-round", "one-round"),
    ("sr", "(c) sliding window, Smooth Reading", "sr"),
]
COLORS = {"full": "#1f77b4", "window": "#d62728", "sr": "#2ca02c"}
DASH = {"full": "", "window": ' stroke-dasharray="6 4"', "sr": ""}


def fail(message):
    """A one-line error about the input, exit code 2 (as smoothread's own user errors)."""
    print("replicate_report: " + message, file=sys.stderr)
    sys.exit(2)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError as e:
        fail(f"{path}: not JSON ({e})")


def read_jsonl(path):
    rows = []
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError as e:
                        fail(f"{path}:{n}: not JSON ({e})")
    except FileNotFoundError:
        pass
    return rows


def recall_bounds(d, log_name):
    """recall_text.py's loss bounds (without, with retrieval) for a text it wrote (its log), or None."""
    log = os.path.join(d, "logs", f"{log_name}.log")
    m = re.search(r"([0-9.]+) without retrieval, ([0-9.]+) with perfect retrieval",
                  open(log).read()) if os.path.exists(log) else None
    return (float(m.group(1)), float(m.group(2))) if m else None


def bounds_note(b):
    """Those bounds as a note after a loss, or ''."""
    return f" (loss bounds: {b[0]:.3f} without retrieval, {b[1]:.3f} with perfect retrieval)" if b else ""


def by_step(rows, key="loss"):
    """The metrics.jsonl rows holding `key` (loss, or eval_loss for the held-out evaluations)
    in step order; a step logged twice (a resumed run) keeps its last line."""
    latest = {}
    for r in rows:
        if isinstance(r.get("step"), int) and isinstance(r.get(key), (int, float)):
            latest[r["step"]] = r
    return [latest[s] for s in sorted(latest)]


def manifest(run_dir):
    """The newest checkpoint's manifest as a dict, or {}."""
    ck = os.path.join(run_dir, "checkpoints")
    try:
        with open(os.path.join(ck, "latest")) as f:
            name = f.read().strip()
        with open(os.path.join(ck, name, "manifest")) as f:
            return dict(l.rstrip("\n").split(" = ", 1) for l in f if " = " in l)
    except (FileNotFoundError, NotADirectoryError):
        return {}


def parameters(m):
    """Parameter count of a Qwen2-style model from a manifest's model.* keys, or None."""
    try:
        H, L = int(m["model.hidden_size"]), int(m["model.num_hidden_layers"])
        nh, nkv = int(m["model.num_attention_heads"]), int(m["model.num_key_value_heads"])
        inter, V = int(m["model.intermediate_size"]), int(m["model.vocab_size"])
        tied, bias = m["model.tie_word_embeddings"] == "true", m["model.attention_bias"] == "true"
    except (KeyError, ValueError):
        return None
    kv = H // nh * nkv
    layer = H * H + 2 * H * kv + H * H + 3 * H * inter + 2 * H + (H + 2 * kv if bias else 0)
    return V * H * (1 if tied else 2) + L * layer + H


def tokens_label(t):
    return f"{t // 1024}k" if t % 1024 == 0 else str(t)


def ctx_label(lengths):
    """8192 -> "8k"; [8192, 16384] -> "8k or 16k"."""
    names = [tokens_label(t) for t in sorted(lengths)]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def count(n):
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.0f}"


def duration(s):
    if s is None:
        return "-"
    s = float(s)
    return f"{s:.1f} s" if s < 120 else f"{int(s // 60)} min {s % 60:02.0f} s"


def nice_ticks(lo, hi, n=5):
    """Round ticks covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= step * m:
            step *= m
            break
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t < hi + step * 0.999:
        ticks.append(round(t, 10))
        t += step
    return ticks


def fmt_tick(v):
    return count(v) if abs(v) >= 1000 else f"{v:g}"


# --- SVG -------------------------------------------------------------------------------------

def svg_open(W, H, title):
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            'font-family="sans-serif" font-size="12">',
            f'<rect width="{W}" height="{H}" fill="white"/>',
            f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>']


def legend(out, entries, x, y):
    """One line per (label, colour, dash attribute), from (x, y) down."""
    for i, (label, colour, dash) in enumerate(entries):
        ly = y + 20 * i
        out.append(f'<line x1="{x}" y1="{ly}" x2="{x + 30}" y2="{ly}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{x + 37}" y="{ly + 4}">{escape(label)}</text>')


def system_legend(out, names, x, y):
    labels = dict((s, l) for s, l, _ in SYSTEMS)
    legend(out, [(labels[n], COLORS[n], DASH[n]) for n in names], x, y)


# Width, height and margins (left, right, top, bottom) of a one-panel line plot, its legend right.
LINE_PLOT = (820, 460, 70, 300, 45, 55)


def side_note(out, lines, x, y):
    """Small grey lines of text beside a plot, from (x, y) down."""
    for i, line in enumerate(lines):
        out.append(f'<text x="{x}" y="{y + 15 * i}" font-size="11" fill="#555">{escape(line)}</text>')


def axes(out, points, frame, H, xlabel, ylabel):
    """Grid, ticks, frame and labels for (x, y) points from x = 0; returns the maps X, Y to pixels."""
    left, top, pw, ph = frame
    xs, ys = [x for x, _ in points], [y for _, y in points]
    xt = nice_ticks(0, max(xs))
    yt = nice_ticks(max(0.0, min(ys) - 0.05 * (max(ys) - min(ys))), max(ys))

    def X(v):
        return left + pw * v / xt[-1]

    def Y(v):
        return top + ph * (1 - (v - yt[0]) / (yt[-1] - yt[0]))

    for v in yt:
        out.append(f'<line x1="{left}" y1="{Y(v):.1f}" x2="{left + pw}" y2="{Y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{fmt_tick(v)}</text>')
    for v in xt:
        out.append(f'<line x1="{X(v):.1f}" y1="{top}" x2="{X(v):.1f}" y2="{top + ph}" stroke="#eee"/>')
        out.append(f'<text x="{X(v):.1f}" y="{top + ph + 18}" text-anchor="middle">{fmt_tick(v)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{left + pw / 2}" y="{H - 12}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(18 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
               f'{escape(ylabel)}</text>')
    return X, Y


def pretrain_svg(rows, held, bounds, held_bounds, title):
    """The pre-training's loss and held-out loss against steps, each with its text's two bounds
    (recall_text.py): a loss below the upper bound means the model retrieves."""
    W, H, left, right, top, bottom = LINE_PLOT
    pw, ph = W - left - right, H - top - bottom
    train = [(r["step"], float(r["loss"])) for r in rows if math.isfinite(r["loss"])]
    evals = [(r["step"], float(r["eval_loss"])) for r in held if math.isfinite(r["eval_loss"])]
    # (label, points, colour, dash, bounds)
    curves = [c for c in (("training text", train, "#1f77b4", "", bounds),
                          ("held-out records", evals, "#d62728", ' stroke-dasharray="6 4"', held_bounds)) if c[1]]
    out = svg_open(W, H, title)
    if not curves:
        out.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no pre-training metrics</text></svg>')
        return "\n".join(out) + "\n"
    last = max(x for _, pts, _, _, _ in curves for x, _ in pts)
    points = [p for _, pts, _, _, _ in curves for p in pts]
    points += [(0, b) for _, _, _, _, bs in curves if bs for b in bs]
    X, Y = axes(out, points, (left, top, pw, ph), H, "step", "loss (nats per byte)")
    for label, pts, colour, dash, bs in curves:
        path = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>')
        for b in bs or ():
            out.append(f'<line x1="{X(0):.1f}" y1="{Y(b):.1f}" x2="{X(last):.1f}" y2="{Y(b):.1f}" '
                       f'stroke="{colour}" stroke-width="1" stroke-dasharray="2 3"/>')
    legend(out, [(label, colour, dash) for label, _, colour, dash, _ in curves], left + pw + 15, top + 10)
    side_note(out, ["dotted: each text's bounds, the", "loss without retrieval (upper)",
                    "and with perfect retrieval (lower)"], left + pw + 15, top + 20 * len(curves) + 30)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def loss_svg(runs, title):
    """Training loss against tokens trained, one line per system."""
    W, H, left, right, top, bottom = LINE_PLOT
    pw, ph = W - left - right, H - top - bottom
    series = {}
    for name, rows in runs.items():
        total, pts = 0, []
        for r in rows:
            total += int(r.get("tokens", 0))
            if math.isfinite(r["loss"]):
                pts.append((total, float(r["loss"])))
        if pts:
            series[name] = pts
    out = svg_open(W, H, title)
    if not series:
        out.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no training metrics</text></svg>')
        return "\n".join(out) + "\n"
    X, Y = axes(out, [p for pts in series.values() for p in pts], (left, top, pw, ph), H,
                "tokens trained", "training loss (nats per target token)")
    for name, pts in series.items():
        path = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[name]}" stroke-width="1.5"'
                   f'{DASH[name]}/>')
    system_legend(out, list(series), left + pw + 15, top + 10)
    side_note(out, ["one-round: loss on the answer;", "sr: on summaries, actions and",
                    "the answer (not comparable)"], left + pw + 15, top + 20 * len(series) + 30)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def accuracy_svg(evals, tasks, train_ctx, title):
    """Accuracy (%) against context length: one panel per task, then the mean over tasks."""
    panels = tasks + ["mean"]
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    pw, ph, gap_x, gap_y, left, top = 230, 170, 60, 70, 60, 50
    W = left + cols * pw + (cols - 1) * gap_x + 30
    legend_h = 20 * len(evals) + 30 if len(panels) == rows * cols else 10
    H = top + rows * ph + (rows - 1) * gap_y + 45 + legend_h
    lengths = sorted({r["context_tokens"] for e in evals.values() for r in e["results"]})
    out = svg_open(W, H, title)
    if not lengths:
        out.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no evaluation results</text></svg>')
        return "\n".join(out) + "\n"
    lo = math.log2(min(lengths)) - 0.4
    hi = math.log2(max(lengths)) + 0.4
    for i, panel in enumerate(panels):
        px = left + (i % cols) * (pw + gap_x)
        py = top + (i // cols) * (ph + gap_y)

        def X(t):
            return px + pw * (math.log2(t) - lo) / (hi - lo)

        def Y(v):
            return py + ph * (1 - v / 100)

        out.append(f'<text x="{px + pw / 2}" y="{py - 8}" text-anchor="middle" font-size="13">'
                   f'{escape(panel if panel != "mean" else "mean over tasks")}</text>')
        for v in (0, 25, 50, 75, 100):
            out.append(f'<line x1="{px}" y1="{Y(v):.1f}" x2="{px + pw}" y2="{Y(v):.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{px - 5}" y="{Y(v) + 4:.1f}" text-anchor="end">{v}</text>')
        for t in lengths:
            out.append(f'<text x="{X(t):.1f}" y="{py + ph + 16}" text-anchor="middle">{tokens_label(t)}</text>')
        for c in train_ctx:
            if lo < math.log2(c) < hi:
                x = X(c)
                out.append(f'<line x1="{x:.1f}" y1="{py}" x2="{x:.1f}" y2="{py + ph}" stroke="#888" '
                           'stroke-dasharray="2 3"/>')
        out.append(f'<rect x="{px}" y="{py}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
        for name, e in evals.items():
            if panel == "mean":
                pts = [(m["context_tokens"], 100 * m["accuracy"]) for m in e.get("mean", [])]
            else:
                pts = [(r["context_tokens"], 100 * r["accuracy"]) for r in e["results"] if r["task"] == panel]
            pts.sort()
            if not pts:
                continue
            path = " ".join(f"{X(t):.1f},{Y(v):.1f}" for t, v in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[name]}" stroke-width="2"'
                       f'{DASH[name]}/>')
            out += [f'<circle cx="{X(t):.1f}" cy="{Y(v):.1f}" r="3" fill="{COLORS[name]}"/>' for t, v in pts]
    ly = top + rows * ph + (rows - 1) * gap_y + 45
    out.append(f'<text x="{left}" y="{ly - 8}">accuracy (%) against context length (tokens, log scale)'
               + (f'; dotted: the training contexts ({ctx_label(train_ctx)})' if train_ctx else "") + '</text>')
    if len(panels) < rows * cols:  # the legend in the free panel slot
        n = len(panels)
        system_legend(out, list(evals), left + (n % cols) * (pw + gap_x), top + (n // cols) * (ph + gap_y) + 20)
    else:
        system_legend(out, list(evals), left, ly + 10)
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --- Markdown ---------------------------------------------------------------------------------

def md_table(head, rows, left=1):
    """Markdown table; the first `left` columns are text, the others numbers (right-aligned)."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i < left else "---:" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="the --out directory of tools/replicate.sh")
    args = ap.parse_args()
    d = args.dir
    if not os.path.isdir(d):
        fail(f"{d}: not a directory")
    run = read_json(os.path.join(d, "run.json")) or {}
    timings = {}
    for t in read_jsonl(os.path.join(d, "timings.jsonl")):
        timings[(t.get("system"), t.get("phase"))] = t.get("seconds")  # a re-run's time wins
    runs, manifests, evals = {}, {}, {}
    for name, _, mode in SYSTEMS:
        rows = by_step(read_jsonl(os.path.join(d, "runs", name, "metrics.jsonl")))
        if rows:
            runs[name] = rows
        manifests[name] = manifest(os.path.join(d, "runs", name))
        e = read_json(os.path.join(d, "eval", name + ".json"))
        if e is not None:
            if not isinstance(e.get("results"), list):
                fail(f"{d}/eval/{name}.json: no results list")
            evals[name] = e
    if not runs and not evals:
        fail(f"{d}: no runs/*/metrics.jsonl and no eval/*.json to report")
    labels = {s: l for s, l, _ in SYSTEMS}
    tasks = list(dict.fromkeys(r["task"] for e in evals.values() for r in e["results"]))
    lengths = sorted({r["context_tokens"] for e in evals.values() for r in e["results"]})
    train_ctx = run.get("train_context_tokens") or []
    if isinstance(train_ctx, int):  # run.json of a run with one training length
        train_ctx = [train_ctx]
    train_tasks = run.get("train_tasks")

    md = [f"# Smooth Reading vs one-pass window vs full attention ({run.get('variant', '?')} variant)", ""]
    md.append("Written by `tools/replicate_report.py` from the files of one `tools/replicate.sh` run.")
    md.append("")
    meta = [("commit", run.get("commit", "?") + (" (with uncommitted changes)" if run.get("dirty") else "")),
            ("smoothread", run.get("smoothread", "?")), ("card", run.get("card", "?")),
            ("started (UTC)", run.get("started_utc", "?")),
            ("training data", f"`data synth --task {','.join(train_tasks) if train_tasks else 'mix'}`, "
                              f"contexts of {ctx_label(train_ctx) if train_ctx else '?'} tokens, "
                              f"sr chunks {run.get('train_chunk_tokens', '?')} tokens, seed "
                              f"{run.get('train_data_seed', '?')} (train split), haystack {run.get('haystack', '?')}"),
            ("evaluation", f"`eval`, test split of seed {run.get('eval_data_seed', '?')}, "
                           f"{run.get('eval_samples', '?')} sample(s) per task and length, sr chunks "
                           f"{run.get('eval_chunk_tokens_sr', '?')} tokens, greedy")]
    if run.get("init_from"):
        tok = "its tokenizer" if run.get("tokenizer", "byte") != "byte" else "the byte tokenizer"
        meta.append(("start", f"`smoothread ckpt import-hf {run['init_from']}`: its shape and weights, {tok}; "
                              "every system fine-tuned from it"))
    pretrain_plot = None
    if run.get("pretrain_steps", 0) > 0:
        text_bounds, held_bounds = recall_bounds(d, "recall-text"), recall_bounds(d, "recall-heldout")
        pre_rows = read_jsonl(os.path.join(d, "runs", "pretrain", "metrics.jsonl"))
        pre = by_step(pre_rows)
        done = (f"loss {pre[0]['loss']:.3f} -> {pre[-1]['loss']:.3f} over "
                f"{count(sum(int(r.get('tokens', 0)) for r in pre))} tokens, "
                f"{duration(timings.get(('pretrain', 'train')))}") if pre else "no metrics found"
        meta.append(("pre-training", f"{run['pretrain_steps']} steps on `tools/recall_text.py` text (loss on "
                                     f"every token), the start of all three systems: {done}"
                                     f"{bounds_note(text_bounds)}"))
        # The held-out records (no repeats): does the model retrieve by key?
        held = by_step(pre_rows, "eval_loss")
        if held:
            meta.append(("pre-training, held-out records", "eval loss " +
                         ", ".join(f"{r['eval_loss']:.3f} (step {r['step']})" for r in held[-3:]) +
                         bounds_note(held_bounds)))
        meta.append(("pre-training plot", "[pretrain.svg](pretrain.svg)"))
        pretrain_plot = pretrain_svg(pre, held, text_bounds, held_bounds, "Pre-training loss and its bounds")
    if run.get("jobs", 1) > 1:
        meta.append(("note", f"up to {run['jobs']} systems ran at once on the same device: their wall-clock times overlap"))
    md += [f"- {k}: {v}" for k, v in meta] + [""]

    # Training
    md += ["## Training", ""]
    trows = []
    for name, _, mode in SYSTEMS:
        m, rows = manifests[name], runs.get(name, [])
        if not m and not rows:
            trows.append([labels[name]] + ["not run"] + ["-"] * 7)
            continue
        p = parameters(m)
        window = m.get("model.sliding_window", "?")
        tok = sum(int(r.get("tokens", 0)) for r in rows)
        tgt = sum(int(r.get("targets", 0)) for r in rows)
        tail = rows[-max(1, len(rows) // 10):]
        final = sum(r["loss"] for r in tail) / len(tail) if tail else None
        tps = tok / rows[-1]["elapsed_s"] if rows and rows[-1].get("elapsed_s") else None
        trows.append([labels[name],
                      f"{count(p)} params, " + ("full attention" if window == "0" else f"window {window}") if p else "?",
                      rows[-1]["step"] if rows else m.get("step", "?"),
                      f"{count(tok)} ({count(tgt)} targets)",
                      m.get("data_epoch", "?"),
                      f"{rows[0]['loss']:.3f}" if rows else "-",
                      f"{rows[-1]['loss']:.3f} ({final:.3f})" if rows else "-",
                      f"{tps:,.0f}" if tps else "-",
                      duration(timings.get((name, "train")))])
    md.append(md_table(["system", "model", "steps", "tokens trained", "data epoch at end", "first loss",
                        "final loss (mean of last 10%)", "tokens/s", "wall-clock"], trows, left=2))
    md += ["", "Losses of one-round runs are over the answer tokens only, those of sr runs over "
               "summaries, actions and answers: they are not comparable across formats. Wall-clock "
               "includes start-up and the checkpoint. Plot: [loss.svg](loss.svg).", ""]

    # Accuracy
    md += ["## Accuracy (%)", ""]
    if evals:
        md.append("Mean score of the tasks' checkers over the held-out samples of each cell "
                  f"(samples per cell: {', '.join(sorted({str(r['samples']) for e in evals.values() for r in e['results']}))}).")
        md.append("")
        cell = {(n, r["task"], r["context_tokens"]): r for n, e in evals.items() for r in e["results"]}
        mean = {(n, m["context_tokens"]): m for n, e in evals.items() for m in e.get("mean", [])}
        arows = []
        for task in tasks + ["mean"]:
            for name, _, _ in SYSTEMS:
                if name not in evals:
                    continue
                vals = []
                for t in lengths:
                    r = cell.get((name, task, t)) if task != "mean" else mean.get((name, t))
                    vals.append(f"{100 * r['accuracy']:.1f}" if r else "-")
                arows.append([f"**{task}**" if task == "mean" else task, labels[name]] + vals)
        md.append(md_table(["task", "system"] + [tokens_label(t) for t in lengths], arows, left=2))
        md += ["", f"Training contexts: {ctx_label(train_ctx) if train_ctx else '?'} tokens. "
                   "Plot: [accuracy.svg](accuracy.svg).", ""]
        # Rounds and tokens per answer
        md += ["## Rounds read and tokens per answer", "",
               "Mean chunks read before answering / tokens fed and written per answer (one-round reads "
               "the whole context in one round).", ""]
        rrows = []
        for name, _, _ in SYSTEMS:
            if name not in evals:
                continue
            for task in tasks:
                vals = []
                for t in lengths:
                    r = cell.get((name, task, t))
                    vals.append(f"{r['mean_rounds']:.1f} / {count(r['mean_tokens'])}" if r else "-")
                rrows.append([labels[name], task] + vals)
        md.append(md_table(["system", "task"] + [tokens_label(t) for t in lengths], rrows, left=2))
        md.append("")
    else:
        md += ["No evaluation results (eval/*.json) yet.", ""]
    missing = [labels[n] for n, _, _ in SYSTEMS if n not in evals]
    if missing and evals:
        md += ["Not evaluated: " + ", ".join(missing) + ".", ""]

    # Wall-clock
    md += ["## Wall-clock", ""]
    wrows = []
    for name, _, mode in SYSTEMS:
        tr, ev = timings.get((name, "train")), timings.get((name, "eval"))
        e = evals.get(name)
        wrows.append([labels[name], duration(tr), duration(ev),
                      duration(e["seconds"]) if e and "seconds" in e else "-",
                      f"`{e['mode']}`" if e else "-"])
    md.append(md_table(["system", "training", "evaluation", "of which reading (eval's own clock)", "eval mode"], wrows))
    if (("data", "synth")) in timings:
        md += ["", f"Data synthesis: {duration(timings[('data', 'synth')])}."]
    md.append("")

    with open(os.path.join(d, "results.md"), "w") as f:
        f.write("\n".join(md))
    variant = run.get("variant", "")
    with open(os.path.join(d, "loss.svg"), "w") as f:
        f.write(loss_svg(runs, f"Training loss ({variant} variant)"))
    with open(os.path.join(d, "accuracy.svg"), "w") as f:
        f.write(accuracy_svg(evals, tasks, train_ctx, f"Accuracy against context length ({variant} variant)"))
    if pretrain_plot:
        with open(os.path.join(d, "pretrain.svg"), "w") as f:
            f.write(pretrain_plot)
    print(f"replicate_report: wrote {d}/results.md, loss.svg, accuracy.svg" + (", pretrain.svg" if pretrain_plot else ""))


if __name__ == "__main__":
    main()
