#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Turns the raw results of bench/run into OUTDIR/performance.md and OUTDIR/performance.png.

Usage: report.py RESULTS.tsv OUTDIR

RESULTS.tsv has one line per result: kind, test, runner, ok|na, values (or
the reason), note. Every figure in the report is computed here from those
values; nothing is typed in by hand.
"""
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

LOOP_RUNNERS = ["native", "native-filter", "sandboxd-off", "sandboxd-trap", "sandboxd-rewrite", "sandboxd-trace",
                "bwrap", "strace", "gvisor"]
STARTUP_RUNNERS = ["native", "sandboxd-warm", "sandboxd-first", "sandboxd-off", "sandboxd-trap",
                   "sandboxd-rewrite", "bwrap", "gvisor"]
MODES = ["sandboxd-off", "sandboxd-trap", "sandboxd-rewrite"]
TESTS = ["getppid", "pread", "openclose", "fork"]
REAL = ["python", "sqlite", "targz", "bashfork"]

RUNNER_TEXT = {
    "native": "native",
    "native-filter": "native, allow-all seccomp filter",
    "sandboxd-off": "sandboxd, mode off",
    "sandboxd-trap": "sandboxd, mode trap",
    "sandboxd-rewrite": "sandboxd, mode rewrite",
    "sandboxd-trace": "sandboxd, mode rewrite, --trace",
    "sandboxd-warm": "sandboxd, warm daemon (default mode)",
    "sandboxd-first": "sandboxd, first run of an image",
    "bwrap": "bubblewrap",
    "strace": "strace -f (ptrace)",
    "gvisor": "gVisor (runsc do, ptrace platform)",
}


class Result:
    def __init__(self, status, values, note):
        self.ok = status == "ok"
        self.reason = "" if self.ok else values
        self.raw = values
        self.note = note
        self.values = []
        if self.ok:
            try:
                self.values = [float(v) for v in values.split()]
            except ValueError:
                self.values = []

    @property
    def median(self):
        return statistics.median(self.values)

    @property
    def min(self):
        return min(self.values)


def load(path):
    meta, res = {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 5:
                continue
            kind, test, runner, status, values = parts[:5]
            note = parts[5] if len(parts) > 5 else ""
            if kind == "meta":
                meta[test] = values
            else:
                res[(kind, test, runner)] = Result(status, values, note)
    return meta, res


def fmt(x, digits=1):
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if b > 0 else "–"


def syscall_section(meta, res, out):
    out.append("## 1. Syscall cost\n")
    out.append(
        "`bench/syscall-loop` (built by the harness with `gcc -static -O2`) calls one syscall "
        "through its libc wrapper in a loop and prints the mean nanoseconds per call, timed with "
        "`clock_gettime(CLOCK_MONOTONIC)` around the loop, after a warm-up of 1% of the "
        "iterations. `getppid` is the cheapest passthrough syscall; `pread` reads 64 bytes of "
        "`/dev/zero`; `openclose` opens and closes a 4 KiB file (`/bench/data` in the image, the "
        "same file by its host path for native and strace); `fork` forks a child that exits at "
        "once and waits for it (one iteration: fork, exit, wait). A first, untimed round runs a "
        "2000-iteration loop on every runner to set that runner's iteration count, so that one "
        f"loop lasts about {meta.get('loop_target_ms', '?')} ms; then "
        f"{meta.get('loop_reps', '?')} rounds follow in which the runners take turns, each loop in "
        "a new process (and sandbox), so that a change of load on the machine hits all runners "
        "alike. Median and minimum over those rounds; the ratio is median over native's median, "
        "in this run. *native, allow-all seccomp filter* is the same native loop after it "
        "installs a filter that reads only `arch` and allows everything (`--allow-all-filter`): "
        "the kernel's action cache skips running it, so what it costs over native is seccomp's own "
        "entry work, the floor of any policy, mode off's included. The sandboxd runners use the harness's busybox image (`sandboxctl run "
        "--syscall-mode MODE bench.ext4 /bench/syscall-loop ...`; the traced getppid loop adds "
        "`--trace=/dev/null` in rewrite mode and stays within the trace ring, at most 60000 "
        "iterations, so that every call is recorded); bubblewrap gets the directory "
        "the image was made from (`bwrap --ro-bind ROOT / --proc /proc --dev /dev --unshare-all`); "
        "strace runs `strace -f -o /dev/null`; gVisor runs `runsc --platform=ptrace --network=none "
        "do --root ROOT`.\n")
    out.append("| test | runner | median ns/call | min ns/call | × native | iterations |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: |")
    for t in TESTS:
        base = res.get(("syscall", t, "native"))
        for r in LOOP_RUNNERS:
            x = res.get(("syscall", t, r))
            if x is None:
                continue
            if not x.ok or not x.values:
                out.append(f"| {t} | {RUNNER_TEXT[r]} | {x.reason} | | | |")
                continue
            rt = ratio(x.median, base.median) if base and base.ok and base.values else "–"
            it = x.note.replace("iterations=", "")
            it = f"{int(it):,}" if it.isdigit() else ""
            out.append(f"| {t} | {RUNNER_TEXT[r]} | {fmt(x.median)} | {fmt(x.min)} | {rt} | {it} |")
    out.append("")


def startup_section(meta, res, out):
    n = meta.get("startup_n", "?")
    out.append("## 2. Startup\n")
    out.append(
        f"Wall time of one command that runs `/bin/true`, from spawn to exit, timed by "
        f"`bench/bench-tool time` (posix_spawn + waitpid around `CLOCK_MONOTONIC`): one untimed warm-up "
        f"round, then {n} rounds in which the commands take turns; median and minimum. The daemon was started by the "
        "harness on a private socket and state directory and has run the image before (warm: "
        "the image is attached and mounted already). *First run* copies the image file to a "
        "new file (a new inode, so the daemon's image cache misses) before each run, outside "
        f"the timed interval ({meta.get('first_run_mode', 'daemon default')}). Native is the "
        "static busybox `true` of the same root directory, run directly. bubblewrap and gVisor "
        "run on the directory the image was made from.\n")
    bw = res.get(("startup", "true", "bwrap"))
    bw_ok = bw is not None and bw.ok and bw.values
    out.append("| command | median ms | min ms | × bubblewrap (median) |")
    out.append("| --- | ---: | ---: | ---: |")
    for r in STARTUP_RUNNERS:
        x = res.get(("startup", "true", r))
        if x is None:
            continue
        if not x.ok or not x.values:
            out.append(f"| {RUNNER_TEXT[r]} | {x.reason} | | |")
            continue
        rt = ratio(x.median, bw.median) if bw_ok else "–"
        out.append(f"| {RUNNER_TEXT[r]} | {x.median / 1e6:.2f} | {x.min / 1e6:.2f} | {rt} |")
    out.append("")


def real_section(meta, res, out):
    reps = meta.get("real_reps", "?")
    out.append("## 3. Real programs\n")
    out.append(
        "Programs of the Debian test image (`tests/image/mkdebian.sh`: debootstrap minbase "
        f"bookworm, {meta.get('debian_image_mb', '?')} MiB image, "
        f"{meta.get('debian_rootfs_mb', '?')} MiB root filesystem). Native runs "
        "`chroot` into an overlay of the same root directory (tmpfs upper layer, tmpfs `/tmp`, "
        "procfs, the host's `/dev`), the layout each sandbox gets; sandboxd runs "
        "`sandboxctl run --syscall-mode MODE debian.ext4 ...`. Each row is the wall time of the "
        "whole command, including the sandbox's start: one untimed warm-up round, then "
        f"{reps} rounds in which the runners take turns; ratios are median over native's median and minimum over native's minimum. "
        "The commands:\n")
    for w in REAL:
        cmd = shlex.join(meta.get(f"real_cmd_{w}", "?").split("\x1f"))
        extra = ""
        if w == "sqlite":
            extra = (f" with a script on stdin: `CREATE TABLE`, {meta.get('sqlite_n', '?')} "
                     "`INSERT`s, each its own transaction (journal_mode DELETE), and a "
                     "`SELECT`")
        out.append(f"- **{w}**: `{cmd}`{extra}")
    out.append("")
    out.append("| program | runner | median s | min s | × native (median) | × native (min) |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: |")
    for w in REAL:
        base = res.get(("real", w, "native"))
        base_ok = base is not None and base.ok and base.values
        for r in ["native"] + MODES:
            x = res.get(("real", w, r))
            if x is None:
                continue
            if not x.ok or not x.values:
                out.append(f"| {w} | {RUNNER_TEXT[r]} | {x.reason} | | | |")
                continue
            rm = ratio(x.median, base.median) if base_ok else "–"
            rn = ratio(x.min, base.min) if base_ok else "–"
            out.append(f"| {w} | {RUNNER_TEXT[r]} | {x.median / 1e9:.3f} | {x.min / 1e9:.3f} | "
                       f"{rm} | {rn} |")
    out.append("")
    stats = [(w, meta.get(f"real_stats_{w}")) for w in REAL if meta.get(f"real_stats_{w}")]
    if stats:
        out.append("Where the syscalls went in rewrite mode (one more run of each with "
                   "`--stats`; every process of the command counted). The counts cover the "
                   "calls the trampoline sees: the syscalls it gates (exec, signal disposition "
                   "and masks, clone and fork, the mapping calls, calls on descriptors, "
                   "readlink; docs/trampoline.md), and any call through a rewritten site whose "
                   "number comes from a register. Every other syscall goes from its own site "
                   "to the kernel, where the policy alone decides it, and is not counted; the "
                   "patched share is the share of the counted calls that did not trap.\n")
        out.append("| program | trapped | through patched sites | patched share |")
        out.append("| --- | ---: | ---: | ---: |")
        for w, v in stats:
            parts = v.split()
            if len(parts) == 2 and all(p.isdigit() for p in parts):
                t, p = int(parts[0]), int(parts[1])
                share = f"{100 * p / (t + p):.1f}%" if t + p else "–"
                out.append(f"| {w} | {t} | {p} | {share} |")
            else:
                out.append(f"| {w} | {v} | | |")
        out.append("")


def scale_rows(res):
    rows = []
    for (kind, test, _runner), x in res.items():
        if kind != "scale":
            continue
        kv = dict(p.split("=", 1) for p in x.raw.split() if "=" in p)
        rows.append((int(test), {k: float(v) for k, v in kv.items()}))
    return sorted(rows)


def scale_section(meta, res, out):
    out.append("## 4. Scale\n")
    out.append(
        "`bench/bench-tool scale N DAEMON_PID` starts N `sandboxctl run bench.ext4 /bin/sh -c "
        "'sleep 2; exit K'` at once against the one daemon, each with its own K (1–255 without 124–127), "
        "and checks every exit status. Wall time runs from the first spawn to the last exit. "
        "While they run it samples, every millisecond, the daemon's `VmRSS` and its number of "
        "child processes (each sandbox's init is a child of the daemon: the live sandboxes). "
        "*Peak RSS / live* divides the highest sampled RSS by the live sandboxes in that "
        "sample; *growth / live* first subtracts the daemon's RSS just before the burst. "
        f"Mode: {meta.get('scale_mode', 'daemon default')}.\n")
    out.append("| sandboxes | exit statuses right | wall s | started/s | idle RSS KiB | "
               "peak RSS KiB | live at peak | peak RSS / live KiB | growth / live KiB | "
               "max live |")
    out.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, kv in scale_rows(res):
        live = kv.get("live_at_peak", 0)
        per = f"{kv['peak_rss_kb'] / live:.1f}" if live else "–"
        growth = f"{(kv['peak_rss_kb'] - kv['idle_rss_kb']) / live:.1f}" if live else "–"
        wall = kv["wall_ns"] / 1e9
        out.append(f"| {n} | {n - int(kv['failed'])}/{n} | {wall:.2f} | {n / wall:.0f} | "
                   f"{kv['idle_rss_kb']:.0f} | {kv['peak_rss_kb']:.0f} | {live:.0f} | {per} | "
                   f"{growth} | {kv['max_live']:.0f} |")
    out.append(f"\nThe daemon's `VmHWM` at the end of the run: {meta.get('daemon_vmhwm_kb', '?')} "
               "KiB.\n")


def budget_section(meta, res, out):
    """The targets of docs/architecture.md ("Performance budget"), checked against this run."""
    def r(kind, test, runner):
        x = res.get((kind, test, runner))
        return x if x is not None and x.ok and x.values else None

    rows = []

    def ratio_row(label, target, limit, x, base, why=None):
        """A row for x.median / base.median against limit, or why it is missing."""
        if x and base:
            v = x.median / base.median
            rows.append((label, target, f"{v:.2f}×", "yes" if v <= limit else "no"))
        else:
            rows.append((label, target, why.reason if why else "not measured", "–"))

    native = r("syscall", "getppid", "native")
    for mode, limit in (("sandboxd-off", 1.08), ("sandboxd-rewrite", 1.6),
                        ("sandboxd-trace", 3.0), ("sandboxd-trap", 25.0)):
        ratio_row(f"getppid, {RUNNER_TEXT[mode]}", f"≤ {limit}× native", limit,
                  r("syscall", "getppid", mode), native, res.get(("syscall", "getppid", mode)))
    # What of mode off's cost is the policy's or the sandbox's own, above the
    # floor of any filter (one the kernel's action cache skips).
    ratio_row(f"getppid, {RUNNER_TEXT['sandboxd-off']}, against {RUNNER_TEXT['native-filter']}",
              "≤ 1.03×", 1.03, r("syscall", "getppid", "sandboxd-off"),
              r("syscall", "getppid", "native-filter"))
    # Selective gating: a passthrough syscall costs what the policy alone costs.
    for test in ("getppid", "pread"):
        ratio_row(f"{test}, {RUNNER_TEXT['sandboxd-rewrite']}, against mode off",
                  "≤ 1.05× mode off", 1.05, r("syscall", test, "sandboxd-rewrite"),
                  r("syscall", test, "sandboxd-off"))
    ratio_row(f"fork + exit + wait, {RUNNER_TEXT['sandboxd-rewrite']}", "≤ 1.10× native", 1.10,
              r("syscall", "fork", "sandboxd-rewrite"), r("syscall", "fork", "native"))
    warm, bw = r("startup", "true", "sandboxd-warm"), r("startup", "true", "bwrap")
    if warm and bw:
        v = warm.median / bw.median
        rows.append(("`sandboxctl run img /bin/true`, warm daemon", "≤ 0.60× bubblewrap",
                     f"{v:.2f}× ({warm.median / 1e6:.2f} ms vs {bw.median / 1e6:.2f} ms)",
                     "yes" if v <= 0.60 else "no"))
    worst = None
    for w in REAL:
        n, x = r("real", w, "native"), r("real", w, "sandboxd-rewrite")
        if n and x:
            v = x.median / n.median
            if worst is None or v > worst[0]:
                worst = (v, w)
    if worst:
        rows.append(("real programs, rewrite mode (worst)", "≤ 1.03× native",
                     f"{worst[0]:.2f}× ({worst[1]})", "yes" if worst[0] <= 1.03 else "no"))
    else:
        x = res.get(("real", "python", "sandboxd-rewrite"))
        rows.append(("real programs, rewrite mode", "≤ 1.03× native",
                     x.reason if x else "not measured", "–"))
    sc = scale_rows(res)
    if sc:
        n, kv = sc[-1]
        live = kv.get("live_at_peak", 0)
        per = kv["peak_rss_kb"] / live if live else float("inf")
        done = n - int(kv["failed"])
        rows.append((f"{n} concurrent sandboxes", "all complete", f"{done}/{n}",
                     "yes" if done == n else "no"))
        rows.append((f"daemon RSS per live sandbox ({n} started, {live:.0f} live at peak)",
                     "≤ 50 KiB", f"{per:.1f} KiB", "yes" if per <= 50 else "no"))
    out.append("## Budget\n")
    out.append("The targets and the reasons for them are in "
               "[architecture.md](architecture.md#performance-budget).\n")
    if meta.get("mode") == "quick":
        out.append("This is a `--quick` run: few iterations and small counts; do not read the "
                   "figures as the project's numbers.\n")
    out.append("| figure | target | this run | met |")
    out.append("| --- | --- | --- | --- |")
    for row in rows:
        out.append("| " + " | ".join(row) + " |")
    out.append("")


def write_markdown(meta, res, path):
    out = ["# Performance\n",
           "Generated by `bench/run` (see [bench/README.md](../bench/README.md)); every figure "
           "below was measured in the run described here. Rerun `bench/run` to refresh; do not "
           "edit by hand.\n",
           "## Machine\n",
           "| | |", "| --- | --- |"]
    for key, label in (("cpu", "CPU"), ("cores", "cores"), ("kernel", "kernel"),
                       ("date", "date"), ("commit", "git commit"), ("mode", "harness mode"),
                       ("gcc", "gcc"), ("bwrap", "bubblewrap"), ("strace", "strace"),
                       ("runsc", "runsc"), ("userns", "sandboxd's user namespaces"),
                       ("load_start", "load average (1, 5, 15 min) at the start"),
                       ("load_end", "load average at the end"),
                       ("debian_prepare_s", "Debian image prepare time, s (tiny when cached, plus any wait "
                        "for the lock of a test that uses it)")):
        out.append(f"| {label} | {meta.get(key, '?')} |")
    out.append("")
    out.append("The harness runs one thing at a time, but it does not stop other work on the "
               "machine: a load average well above zero at the start means that other "
               "processes shared the CPUs and every figure is noisier for it; the minimums "
               "suffer least.\n")
    budget_section(meta, res, out)
    syscall_section(meta, res, out)
    startup_section(meta, res, out)
    real_section(meta, res, out)
    scale_section(meta, res, out)
    out.append("![ratios to native and startup times](performance.png)\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


def write_chart(res, path):
    tmp = tempfile.mkdtemp(prefix="sbx-report.")
    sys_dat, start_dat, real_dat = (os.path.join(tmp, n) for n in ("sys.dat", "start.dat",
                                                                 "real.dat"))
    def measured(kind, runner):
        return any(x.ok and x.values for (k, _t, r), x in res.items() if k == kind and r == runner)

    runners = [r for r in LOOP_RUNNERS if r != "native" and measured("syscall", r)]
    modes = [r for r in MODES if measured("real", r)]
    with open(sys_dat, "w", encoding="utf-8") as f:
        f.write("test " + " ".join(runners) + "\n")
        for t in TESTS:
            base = res.get(("syscall", t, "native"))
            cells = []
            for r in runners:
                x = res.get(("syscall", t, r))
                ok = x and x.ok and x.values and base and base.ok and base.values
                cells.append(f"{x.median / base.median:.4f}" if ok else "?")
            f.write(f"{t} " + " ".join(cells) + "\n")
    with open(start_dat, "w", encoding="utf-8") as f:
        for r in STARTUP_RUNNERS:
            x = res.get(("startup", "true", r))
            label = r.replace("sandboxd-", "sbx-")
            f.write(f"{label} {x.median / 1e6:.4f}\n" if x and x.ok and x.values else
                    f"{label} ?\n")
    with open(real_dat, "w", encoding="utf-8") as f:
        f.write("program " + " ".join(modes) + "\n")
        for w in REAL:
            base = res.get(("real", w, "native"))
            cells = []
            for r in modes:
                x = res.get(("real", w, r))
                ok = x and x.ok and x.values and base and base.ok and base.values
                cells.append(f"{x.median / base.median:.4f}" if ok else "?")
            f.write(f"{w} " + " ".join(cells) + "\n")
    script = f"""
set terminal pngcairo size 1500,520 font "DejaVu Sans,10"
set output "{path}"
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set grid ytics
set key top left font ",8"
set multiplot layout 1,3
set title "Syscall cost, ratio to native (median, log scale)"
set logscale y
set yrange [0.5:*]
plot for [i=2:{len(runners) + 1}] "{sys_dat}" using i:xtic(1) title columnheader(i), \\
     1 notitle lc rgb "black" dt 2
set title "sandboxctl run /bin/true and peers, median ms (log scale)"
set xtics rotate by -35 font ",8"
unset key
set yrange [*:*]
plot "{start_dat}" using 2:xtic(1) lc rgb "#4477aa"
set title "Real programs, ratio to native (median)"
unset logscale y
set yrange [0:*]
set xtics norotate font ",10"
set key top left font ",8"
plot for [i=2:{len(modes) + 1}] "{real_dat}" using i:xtic(1) title columnheader(i), \\
     1 notitle lc rgb "black" dt 2
unset multiplot
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    finally:
        for p in (sys_dat, start_dat, real_dat):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(tmp)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RESULTS.tsv OUTDIR")
    meta, res = load(sys.argv[1])
    outdir = sys.argv[2]
    write_markdown(meta, res, os.path.join(outdir, "performance.md"))
    write_chart(res, os.path.join(outdir, "performance.png"))


if __name__ == "__main__":
    main()
