"""report.json + report.md (+ plots) for a run directory, one entry per format.

report.json: {"edgecv": version, "passed": bool, "entries": [entry, ...]} where each entry
is a `BenchEntry.to_dict()` (bench.entry). Every function here takes BenchEntry objects or
report.json entry dicts (`as_entry`). report.md: a per-format
table like Ultralytics' benchmark (format, status, size, metric, delta, p50, p90, FPS),
the gates, the task's other scalar metrics, and the plots (latency histogram, metric vs
size/latency, confusion matrix; ROC curve and distance histograms for verification).
"""
from __future__ import annotations

import re
from pathlib import Path

from edgecv.bench.entry import as_entry
from edgecv.fileio import atomic_path, write_json, write_text

MIB = 2 ** 20


def write_report(run_dir, entries, *, plots=True, title=None, warnings=()) -> tuple[Path, Path]:
    """Write run_dir/report.json and report.md (and PNG plots) atomically. `warnings`:
    lines about the eval data (bench.sanity), kept in both."""
    run_dir = Path(run_dir)
    entries = [as_entry(e) for e in entries]
    report = report_dict(entries, warnings=warnings)
    json_path = write_json(run_dir / "report.json", report)
    images = write_plots(run_dir, entries) if plots else []
    md_path = write_text(run_dir / "report.md",
                         render_markdown(entries, images=images, title=title or run_dir.name,
                                         warnings=warnings))
    return json_path, md_path


def report_dict(entries, *, warnings=()) -> dict:
    """The report.json object: {"edgecv": version, "passed": all entries passed, "entries",
    "warnings" (when there are any)}."""
    from edgecv.version import __version__

    entries = [as_entry(e) for e in entries]
    report = {"edgecv": __version__, "passed": all(e.passed for e in entries),
              "entries": [e.to_dict() for e in entries]}
    if warnings:
        report["warnings"] = list(warnings)
    return report


def _fmt(value, spec, missing="—"):
    return missing if value is None else format(value, spec)


def device_line(entry) -> str:
    """Where a file ran, as the device reported it: "on pi@127.0.0.1:2222 (Linux aarch64,
    4 x Cortex-A76, ai_edge_litert 2.3.0)"."""
    entry = as_entry(entry)
    facts = ", ".join(str(f) for f in (entry.machine, entry.cpu, entry.runtime) if f)
    return f"on {entry.host or 'local'} ({facts})"


def emulated_note(entry) -> str:
    """The warning an emulated run carries: its timings are the emulator's, not a device's."""
    entry = as_entry(entry)
    return (f"**Emulated**: latency was measured under emulation ({entry.emulated}); it is "
            "not the device's latency. Outputs and accuracy are the device build's.")


def render_table(entries) -> str:
    header = ("| Format | Status | Size (MiB) | Metric | Value | Reference | Delta "
              "| p50 (ms) | p90 (ms) | FPS |")
    lines = [header, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for e in map(as_entry, entries):
        acc = e.accuracy or {}
        lat = e.latency_ms or {}
        size = None if e.size_bytes is None else e.size_bytes / MIB
        lines.append("| " + " | ".join([
            str(e.format), e.status, _fmt(size, ".3f"),
            acc.get("metric", "—"), _fmt(acc.get("value"), ".4f"),
            _fmt(acc.get("reference"), ".4f"), _fmt(acc.get("delta"), "+.4f"),
            _fmt(lat.get("p50"), ".3f"), _fmt(lat.get("p90"), ".3f"),
            _fmt(e.fps, ".1f"),
        ]) + " |")
    return "\n".join(lines)


def render_markdown(entries, *, images=(), title="benchmark", warnings=()) -> str:
    entries = [as_entry(e) for e in entries]
    passed = all(e.passed for e in entries)
    parts = [f"# Benchmark report: {title}", "",
             f"Overall: **{'passed' if passed else 'FAILED'}**", ""]
    if warnings:    # above the table: a "passed" on degenerate data must not read as good news
        parts += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    parts += [render_table(entries), ""]
    first = next((e for e in entries if e.latency_ms), None)
    if first:
        lat = first.latency_ms
        parts += [f"Latency: {lat['runs']} timed runs after {lat['warmup']} warmup, "
                  f"threads {lat['threads']}, delegate {first.delegate}, "
                  f"{device_line(first)}.", ""]
        if first.emulated:
            parts += [emulated_note(first), ""]
    gate_rows = [(e.format, name, g) for e in entries for name, g in e.gates.items()]
    if gate_rows:
        parts += ["## Gates", "", "| Format | Gate | Limit | Value | Result |",
                  "|---|---|---:|---:|---|"]
        parts += [f"| {fmt} | {name} | {g['limit']:g} | {g['value']:.4f} | "
                  f"{'pass' if g['passed'] else '**FAIL**'} |" for fmt, name, g in gate_rows]
        parts.append("")
    details = render_details(entries)
    if details:
        parts += ["## Metric details", "", details, ""]
    errors = [e for e in entries if e.error]
    if errors:
        parts += ["## Errors", ""] + [f"- {e.format}: {e.error}" for e in errors] + [""]
    if images:
        parts += ["## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in images] + [""]
    return "\n".join(parts)


# Scalar accuracy keys the table above already shows (or that are not metrics).
_SHOWN = {"metric", "value", "reference", "delta", "samples"}


def render_details(entries) -> str:
    """Every other scalar the task's scorer returned (top5, TAR@FAR, recall@k, cosine
    fidelity, ...), one row per format; "" when no entry has any."""
    scored = [e for e in map(as_entry, entries) if e.accuracy]
    keys = list(dict.fromkeys(k for e in scored for k, v in e.accuracy.items()
                              if k not in _SHOWN and isinstance(v, (int, float)) and not isinstance(v, bool)))
    if not keys:
        return ""
    lines = ["| Format | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for e in scored:
        cells = [e.accuracy.get(k) for k in keys]
        lines.append(f"| {e.format} | " + " | ".join(
            "—" if v is None else (str(v) if isinstance(v, int) else f"{v:.4f}") for v in cells) + " |")
    return "\n".join(lines)


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            fig.savefig(handle, format="png", dpi=100, bbox_inches="tight")
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


def write_plots(run_dir, entries) -> list[Path]:
    """Latency histogram per format, metric vs size/latency, confusion matrices -> PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    ok = [e for e in map(as_entry, entries) if e.latency_ms]
    written: list[Path] = []
    if not ok:
        return written

    timed = [e for e in ok if e.latency_samples_ms]
    if timed:
        fig, axes = plt.subplots(len(timed), 1, figsize=(6, 2.2 * len(timed)), squeeze=False)
        for ax, e in zip(axes[:, 0], timed):
            ax.hist(e.latency_samples_ms, bins=30, color="tab:blue", alpha=0.8)
            for key, style in (("p50", "-"), ("p90", "--")):
                ax.axvline(e.latency_ms[key], color="k", linestyle=style, label=key)
            ax.set_title(f"{e.format}: latency per run")
            ax.set_xlabel("ms")
            ax.legend(fontsize="small")
        fig.tight_layout()
        written.append(_save(fig, run_dir / "latency_hist.png"))
        plt.close(fig)

    scored = [e for e in ok if (e.accuracy or {}).get("value") is not None]
    if scored:
        metric = scored[0].accuracy["metric"]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        for e in scored:
            y = e.accuracy["value"]
            left.scatter(e.size_bytes / MIB, y)
            left.annotate(e.format, (e.size_bytes / MIB, y))
            right.scatter(e.latency_ms["p50"], y)
            right.annotate(e.format, (e.latency_ms["p50"], y))
        reference = scored[0].accuracy.get("reference")
        for ax, xlabel in ((left, "size (MiB)"), (right, "p50 latency (ms)")):
            if reference is not None:
                ax.axhline(reference, color="gray", linestyle=":", label="float Keras")
                ax.legend(fontsize="small")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(metric)
        fig.suptitle(f"{metric} vs size and latency")
        fig.tight_layout()
        written.append(_save(fig, run_dir / "metric_vs_size_latency.png"))
        plt.close(fig)

    # Verification scorers (embedding) return a ROC curve and same/different distance histograms.
    curves = [e for e in scored if e.accuracy.get("roc")]
    if curves:
        fig, (linear, logx) = plt.subplots(1, 2, figsize=(10, 4))
        for e in curves:
            roc = e.accuracy["roc"]
            label = f"{e.format} (AUC {e.accuracy['value']:.4f})"
            linear.plot(roc["fpr"], roc["tpr"], label=label)
            logx.plot([max(f, 1e-5) for f in roc["fpr"]], roc["tpr"], label=label)
        logx.set_xscale("log")
        for ax in (linear, logx):
            ax.set_xlabel("false accept rate")
            ax.set_ylabel("true accept rate")
            ax.legend(fontsize="small")
        fig.suptitle("verification ROC")
        fig.tight_layout()
        written.append(_save(fig, run_dir / "roc.png"))
        plt.close(fig)
    for e in scored:
        hist = e.accuracy.get("distance_histogram")
        if not hist:
            continue
        edges = hist["edges"]
        widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key, color in (("same", "tab:green"), ("different", "tab:red")):
            total = max(sum(hist[key]), 1)
            ax.bar(edges[:-1], [c / total for c in hist[key]], width=widths, align="edge",
                   alpha=0.5, color=color, label=f"{key} identity")
        threshold = e.accuracy.get("threshold", e.accuracy.get("best_threshold"))
        if threshold is not None:
            ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3f}")
        ax.set_xlabel("squared distance of L2-normalised embeddings")
        ax.set_ylabel("fraction of pairs")
        ax.set_title(f"{e.format}: distances of same vs different pairs")
        ax.legend(fontsize="small")
        fig.tight_layout()
        written.append(_save(fig, run_dir / f"distances_{_safe(e.format)}.png"))
        plt.close(fig)

    for e in scored:
        cm = e.accuracy.get("confusion")
        if not cm or len(cm) > 50:  # too many classes to draw legibly
            continue
        names = e.accuracy.get("class_names") or [str(i) for i in range(len(cm))]
        fig, ax = plt.subplots(figsize=(1.5 + 0.45 * len(cm), 1.2 + 0.45 * len(cm)))
        ax.imshow(cm, cmap="Blues")
        ax.set_xticks(range(len(cm)), names, rotation=90, fontsize="small")
        ax.set_yticks(range(len(cm)), names, fontsize="small")
        for i, row in enumerate(cm):
            for j, count in enumerate(row):
                if count:
                    ax.text(j, i, str(count), ha="center", va="center", fontsize="x-small")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{e.format}: confusion matrix")
        fig.tight_layout()
        written.append(_save(fig, run_dir / f"confusion_{_safe(e.format)}.png"))
        plt.close(fig)
    return written
