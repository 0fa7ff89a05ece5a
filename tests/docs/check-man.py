#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The man pages against the programs and docs/policy.md, reported as TAP.

Every option that `sandboxd --help` and `sandboxctl COMMAND --help` print is
in the man page, in the section of that command, and every option the page
documents there is in --help; every command `sandboxctl --help` lists has its
section in sandboxctl(1) and the reverse. Every key docs/policy.md documents
is in sandbox-policy(5) and the reverse, each with its type, default (or that
it is required) and an example, and the page's example policy is valid.
-h and --help are how the output is got, so they are not compared.

The global options of `sandboxd-oci --help` are those of sandboxd-oci(1), and
every command it lists has its section there.

Usage: check-man.py SANDBOXD SANDBOXCTL MAN_SOURCE_DIR POLICY_MD SANDBOXD_OCI
"""
import os
import re
import subprocess
import sys
import tempfile

IMPLICIT = {"-h", "--help"}
OPTION = re.compile(r"(?<![\w-])--?[A-Za-z0-9][\w-]*")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, name, problems):
        self.n += 1
        if problems:
            self.failed += 1
            print(f"not ok {self.n} - {name}")
            for p in problems:
                print(f"#   {p}")
        else:
            print(f"ok {self.n} - {name}")

    def finish(self):
        print(f"1..{self.n}")
        return 1 if self.failed else 0


def run_help(argv):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if out.returncode != 0:
        raise SystemExit(f"Bail out! {' '.join(argv)} exited {out.returncode}: {out.stderr}")
    return out.stdout


def help_options(text):
    """Options in the first column of an indented option list."""
    opts = set()
    for line in text.splitlines():
        s = line.strip()
        if not line.startswith(" ") or not s.startswith("-"):
            continue
        column = re.split(r"\s{2,}", s)[0]
        opts.update(OPTION.findall(column))
    return opts - IMPLICIT


def help_commands(text):
    """The command names listed under 'Commands:'."""
    cmds, inside = [], False
    for line in text.splitlines():
        if line.strip() == "Commands:":
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            words = []
            for w in re.split(r"\s{2,}", line.strip())[0].split():
                if not re.fullmatch(r"[a-z][a-z-]*", w):
                    break
                words.append(w)
            cmds.append(" ".join(words))
    return cmds


def scd_sections(path):
    """{(section, subsection): [lines]} of an scdoc page."""
    sections, key = {}, ("", "")
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line.startswith("## "):
                key = (key[0], line[3:].strip())
            elif line.startswith("# "):
                key = (line[2:].strip(), "")
            else:
                sections.setdefault(key, []).append(line)
    return sections


def scd_options(lines):
    opts = set()
    for line in lines:
        if line.startswith("*-"):
            opts.update(re.findall(r"\*(--?[A-Za-z0-9][\w-]*)\*", line))
    return opts - IMPLICIT


def compare(what, from_help, help_cmd, from_man, page, where):
    problems = []
    for o in sorted(from_help - from_man):
        problems.append(f"{what}: {o} is in `{help_cmd}` but not in {page} ({where})")
    for o in sorted(from_man - from_help):
        problems.append(f"{what}: {o} is in {page} ({where}) but not in `{help_cmd}`")
    return problems


def policy_md_keys(path):
    keys = set()
    header = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("| key |"):
                header = True
                continue
            if header and line.startswith("|"):
                m = re.match(r"\|\s*`([a-z_]+)`\s*\|", line)
                if m:
                    keys.add(m.group(1))
                continue
            header = False
    return keys


def scd_entries(path):
    """{key: body} of the '*key*' definition entries of sandbox-policy(5)."""
    entries, current = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            m = re.fullmatch(r"\*([a-z_]+)\*", line)
            if m:
                current = m.group(1)
                entries.setdefault(current, [])
            elif current and line.startswith("\t"):
                entries[current].append(line.strip())
            else:
                current = None
    return {k: " ".join(v) for k, v in entries.items()}


def main():
    sandboxd, sandboxctl, mandir, policy_md, oci = sys.argv[1:6]
    tap = Tap()

    page = os.path.join(mandir, "sandboxd-oci.1.scd")
    sections = scd_sections(page)
    text = run_help([oci, "--help"])
    tap.check("sandboxd-oci --help and sandboxd-oci(1) name the same global options",
              compare("sandboxd-oci", help_options(text.split("Global options:")[-1]),
                      "sandboxd-oci --help", scd_options(sections.get(("GLOBAL OPTIONS", ""), [])),
                      page, "GLOBAL OPTIONS"))
    cmds = help_commands(text)
    documented = {sub for (sec, sub) in sections if sec == "COMMANDS" and sub}
    tap.check("sandboxd-oci --help and sandboxd-oci(1) name the same commands",
              [f"sandboxd-oci: command '{c}' has no '## {c}' in {page}"
               for c in cmds if c not in documented] +
              [f"sandboxd-oci: {page} has '## {c}' but --help lists no '{c}'"
               for c in sorted(documented - set(cmds))])

    page = os.path.join(mandir, "sandboxd.8.scd")
    opts = scd_options(scd_sections(page).get(("OPTIONS", ""), []))
    tap.check("sandboxd --help and sandboxd(8) name the same options",
              compare("sandboxd", help_options(run_help([sandboxd, "--help"])),
                      "sandboxd --help", opts, page, "OPTIONS"))

    page = os.path.join(mandir, "sandboxctl.1.scd")
    sections = scd_sections(page)
    cmds = help_commands(run_help([sandboxctl, "--help"]))
    documented = {sub for (sec, sub) in sections if sec == "COMMANDS" and sub}
    problems = [f"sandboxctl: command '{c}' is in `sandboxctl --help` but has no '## {c}' "
                f"in {page} (COMMANDS)" for c in cmds if c not in documented]
    problems += [f"sandboxctl: {page} has '## {c}' (COMMANDS) but `sandboxctl --help` lists "
                 f"no command '{c}'" for c in sorted(documented - set(cmds))]
    tap.check("sandboxctl --help and sandboxctl(1) name the same commands", problems)
    for c in cmds:
        argv = [sandboxctl, c.split()[0], "--help"]
        tap.check(f"sandboxctl {c} --help and sandboxctl(1) name the same options",
                  compare(f"sandboxctl {c}", help_options(run_help(argv)),
                          " ".join(["sandboxctl"] + argv[1:]),
                          scd_options(sections.get(("COMMANDS", c), [])), page, f"## {c}"))

    page = os.path.join(mandir, "sandbox-policy.5.scd")
    entries = scd_entries(page)
    md = policy_md_keys(policy_md)
    problems = [f"policy key '{k}' is in {policy_md} but not in {page}"
                for k in sorted(md - set(entries))]
    problems += [f"policy key '{k}' is in {page} but not in {policy_md}"
                 for k in sorted(set(entries) - md)]
    tap.check("docs/policy.md and sandbox-policy(5) document the same keys", problems)
    problems = []
    for k, body in sorted(entries.items()):
        for word, alt in (("Type:", None), ("Default:", "Required"), ("Example:", None)):
            if word not in body and not (alt and alt in body):
                problems.append(f"policy key '{k}' in {page} has no '{word}'"
                                + (f" (nor '{alt}')" if alt else ""))
    tap.check("sandbox-policy(5) gives every key a type, a default and an example", problems)

    with open(page, encoding="utf-8") as f:
        m = re.search(r"# EXAMPLE\n\n```\n(.*?)```", f.read(), re.S)
    problems = []
    if not m:
        problems.append(f"{page} has no example policy under EXAMPLE")
    else:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as tmp:
            tmp.write(m.group(1))
            tmp.flush()
            out = subprocess.run([sandboxctl, "policy", "check", tmp.name], capture_output=True,
                                 text=True, timeout=30, check=False)
            if out.returncode != 0:
                problems.append(f"the example of {page} is not a valid policy: "
                                + out.stderr.strip().replace("\n", "; "))
    tap.check("the example policy of sandbox-policy(5) is valid", problems)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
