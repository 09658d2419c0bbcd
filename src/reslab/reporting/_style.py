"""The one stylesheet every report and index page inlines (no external fonts or files)."""

from __future__ import annotations

CSS = """
:root {
  --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --panel: #f6f8fa;
  --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9;
  --neutral: #9a6700; --neutral-bg: #fff8c5; --accent: #0969da;
}
* { box-sizing: border-box; }
body {
  margin: 0; color: var(--fg); background: var(--bg); line-height: 1.55;
  font: 16px/1.55 -apple-system, "Segoe UI", "Helvetica Neue", Arial, sans-serif;
}
main { max-width: 1040px; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
header h1 { margin: 0 0 .25rem; font-size: 1.9rem; }
.subtitle { margin: 0; color: var(--muted); }
h2 { margin-top: 2.5rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
a { color: var(--accent); }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code { background: var(--panel); padding: .1em .3em; border-radius: 4px; font-size: .9em; }
pre {
  background: var(--panel); padding: .75rem; border-radius: 6px; overflow-x: auto;
  font-size: .85rem;
}
nav.toc { margin: 1.25rem 0; padding: .75rem 1rem; background: var(--panel); border-radius: 6px; }
nav.toc ol { margin: 0; padding-left: 1.25rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .95rem; }
caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: .4rem; }
th, td { padding: .35rem .75rem; border-bottom: 1px solid var(--line); text-align: left; }
th { background: var(--panel); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { font-weight: 700; }
tbody tr:nth-child(even) { background: #fbfcfd; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: .92rem; margin-top: .4rem; }
.plotly-graph { width: 100%; min-height: 420px; }
.verdict {
  margin: 1.25rem 0; padding: .75rem 1rem; border-radius: 6px; font-weight: 600;
  border-left: 6px solid var(--neutral); background: var(--neutral-bg);
}
.verdict.ok { border-color: var(--ok); background: var(--ok-bg); }
.verdict.fail { border-color: var(--bad); background: var(--bad-bg); }
.verdict .mark { margin-right: .5rem; }
details.provenance { margin: 2rem 0; border: 1px solid var(--line); border-radius: 6px; }
details.provenance summary { cursor: pointer; padding: .6rem 1rem; font-weight: 600; }
details.provenance table { margin: 0 1rem 1rem; }
details.provenance td { vertical-align: top; }
details.provenance pre { margin: 0; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .85rem; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.fail { color: var(--bad); background: var(--bad-bg); }
.badge.neutral { color: var(--neutral); background: var(--neutral-bg); }
img.thumb { width: 160px; height: auto; border: 1px solid var(--line); border-radius: 4px; }
footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; }
"""
