#!/usr/bin/env python3
"""Training throughput against context: an SVG line plot and a Markdown table.

Reads JSON lines (one object per measurement, with `system` such as "smoothread" or "pytorch",
`attention` such as "full" or "window 4096", `tokens` and `tokens_per_s`; lines without a number
in tokens_per_s, e.g. out-of-memory runs, are listed as "oom" in the table and left off the plot)
from one or more files, as tools/peer_torch.py --json writes them. Standard library only.

  python3 tools/plot_throughput.py runs.jsonl ... --out docs/throughput.svg [--title TEXT]

Where a (system, attention, tokens) point is measured more than once, the last line read wins.
The table gives smoothread / pytorch for each (attention, context) where both were measured.
"""
import argparse, json, math, sys
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def load(paths):
    """{(system, attention): {tokens: tokens_per_s or None}} in first-seen series order."""
    series = {}
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    r = json.loads(line)
                    key, tokens = (str(r["system"]), str(r["attention"])), int(r["tokens"])
                except (ValueError, KeyError, TypeError) as e:
                    sys.exit(f"{path}:{n}: expected a JSON object with system, attention, tokens ({e})")
                v = r.get("tokens_per_s")
                series.setdefault(key, {})[tokens] = float(v) if isinstance(v, (int, float)) else None
    return series


def label_tokens(t):
    return f"{t // 1024}k" if t % 1024 == 0 else str(t)


def nice_ticks(top):
    """Round y ticks from 0 to at least top."""
    step = 10 ** math.floor(math.log10(top / 5)) if top > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if top / (step * m) <= 6:
            step *= m
            break
    return [i * step for i in range(int(math.ceil(top / step)) + 1)]


def fmt_num(v):
    return f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"


def svg(series, title):
    W, H, left, right, top, bottom = 760, 460, 80, 200, 50, 60
    pw, ph = W - left - right, H - top - bottom
    xs = sorted({t for pts in series.values() for t, v in pts.items() if v is not None})
    ys = [v for pts in series.values() for v in pts.values() if v is not None]
    if not xs:
        sys.exit("plot_throughput: no measurement with a tokens_per_s number")
    # x ticks: every power of two from the shortest context to the longest, plus any other context.
    ticks = sorted(set(xs) | {2 ** e for e in range(math.ceil(math.log2(min(xs))), math.floor(math.log2(max(xs))) + 1)})
    lo, hi = math.log2(min(xs)) - 0.25, math.log2(max(xs)) + 0.25  # a margin so end points stay clear
    yt = nice_ticks(max(max(ys) * 1.05, 1.0))

    def X(t):
        return left + pw * (math.log2(t) - lo) / (hi - lo)

    def Y(v):
        return top + ph * (1 - v / yt[-1])

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{left + pw / 2}" y="28" text-anchor="middle" font-size="15">{escape(title)}</text>']
    for v in yt:  # horizontal grid and y labels
        out.append(f'<line x1="{left}" y1="{Y(v):.1f}" x2="{left + pw}" y2="{Y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{fmt_num(v)}</text>')
    for t in ticks:  # vertical grid and x labels
        out.append(f'<line x1="{X(t):.1f}" y1="{top}" x2="{X(t):.1f}" y2="{top + ph}" stroke="#eee"/>')
        out.append(f'<text x="{X(t):.1f}" y="{top + ph + 18}" text-anchor="middle">{label_tokens(t)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{left + pw / 2}" y="{H - 15}" text-anchor="middle">context (tokens per sample, log scale)</text>')
    out.append(f'<text transform="translate(20 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
               'training tokens/s</text>')
    for i, ((system, attention), pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        dash = ' stroke-dasharray="6 4"' if attention != "full" else ""
        p = [(X(t), Y(v)) for t, v in sorted(pts.items()) if v is not None]
        if p:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in p)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
            out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"/>' for x, y in p]
        ly = top + 10 + 22 * i  # legend entry
        out.append(f'<line x1="{left + pw + 15}" y1="{ly}" x2="{left + pw + 45}" y2="{ly}" stroke="{color}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{left + pw + 52}" y="{ly + 4}">{escape(system)}, {escape(attention)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def table(series):
    """Markdown: one row per (attention, context), a column per system, and smoothread / pytorch."""
    systems = sorted(dict.fromkeys(s for s, _ in series), key=lambda s: (s != "smoothread", s != "pytorch"))
    attentions = sorted({a for _, a in series}, key=lambda a: (a != "full", a))
    both = "smoothread" in systems and "pytorch" in systems
    head = ["attention", "context"] + [f"{s} tokens/s" for s in systems] + (["smoothread / pytorch"] if both else [])
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for a in attentions:
        for t in sorted({t for (s, aa), pts in series.items() if aa == a for t in pts}):
            vals = {s: series.get((s, a), {}).get(t, "-") for s in systems}
            cells = [a, label_tokens(t)] + ["-" if v == "-" else "oom" if v is None else f"{v:,.0f}"
                                            for v in vals.values()]
            if both:
                sr, pt = vals["smoothread"], vals["pytorch"]
                cells.append(f"{sr / pt:.2f}×" if isinstance(sr, float) and isinstance(pt, float) and pt > 0 else "-")
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="JSON-lines files of measurements")
    ap.add_argument("--out", default="throughput.svg", help="SVG file to write")
    ap.add_argument("--title", default="Training throughput on one GPU (one sample per step)")
    args = ap.parse_args()
    series = load(args.files)
    with open(args.out, "w") as f:
        f.write(svg(series, args.title))
    print(table(series))
    print(f"\nplot: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
