#!/usr/bin/env python3
"""Help, manual pages, README and shell completion against the program and
each other, so that they cannot drift apart (issue 14).

The help texts (`vmswitch --help`, `run --help`, `ctl --help`, `exporter
--help`) are the reference: every option they list is accepted by the
program (and every option in main.c's getopt table is listed), every
control command is accepted by a running switch, every port type and port
option is known to it; and each of these appears in vmswitch(8) or
vmswitch.conf(5), in the README's option table and in the bash completion.
The built pages ($B/man) must pass `groff -ww` and `mandoc -T lint`
without a message."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from hostutil import ensure_packages, repo_path  # noqa: E402
from switch import Switch, binary  # noqa: E402
from testlib import check, main, skip, test  # noqa: E402

WORK = "/tmp/vmsw-help"
BUILD = repo_path(os.environ.get("B", "build"))
MAN8 = os.path.join(BUILD, "man", "vmswitch.8")
MAN5 = os.path.join(BUILD, "man", "vmswitch.conf.5")
COMPLETION = repo_path("dist/bash-completion/vmswitch")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*[a-z]|-[a-z])(?![\w-])")

ensure_packages(["groff-base", "mandoc", "man-db", "bash-completion"])


def vmswitch(*args, timeout=10):
    return subprocess.run([binary(), *args], capture_output=True, text=True,
                          timeout=timeout)


def help_of(*args):
    r = vmswitch(*args, "--help")
    check(r.returncode == 0, f"{' '.join(args)} --help exited {r.returncode}: {r.stderr}")
    return r.stdout


def options_in(text):
    return set(OPTION.findall(text))


def section(text, start, end=None):
    """The part of @text from the line @start to the line @end (or the end)."""
    i = text.index(start)
    j = text.index(end, i) if end else len(text)
    return text[i:j]


def man_text(path):
    """A built page as plain text, one paragraph per line where possible."""
    check(os.path.exists(path), f"{path} missing: make B=... man")
    env = dict(os.environ, LC_ALL="C", MANWIDTH="1000")
    r = subprocess.run(["man", "-P", "cat", "-l", path], capture_output=True,
                       text=True, env=env, timeout=30)
    check(r.returncode == 0 and not r.stderr.strip(),
          f"man -l {path}: {r.returncode} {r.stderr}")
    return r.stdout


def readme_table():
    """Options of the option table in the README's "Running it" section."""
    with open(repo_path("README.md")) as f:
        text = section(f.read(), "## Running it", "\n## ")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    check(rows, "README's Running it section has no option table")
    return {opt for row in rows for opt in options_in(row.split("|")[1])}


def run_help_options():
    return options_in(section(help_of("run"), "Options for run:", "Signals:"))


def ctl_commands(ctl_help):
    """['show', 'fdb show', 'port add', ...] from the Commands: section."""
    cmds = []
    for line in section(ctl_help, "Commands:", "Options:").splitlines()[1:]:
        m = re.match(r"^  ([a-z]+(?: [a-z]+)?)\b", line)
        if m:
            words = m.group(1).split()
            second = len(words) > 1 and words[1] in ("show", "flush", "add", "del",
                                                      "set", "stop")
            cmds.append(" ".join(words) if second else words[0])
    return cmds


def help_port_types():
    return re.findall(r"^    ([a-z-]+):", help_of("run"), re.M)


def help_port_options():
    text = section(help_of("ctl"), "port set NAME", "capture PORT")
    listed = section(text, "KEY is one of", "(vmswitch.conf(5))")
    return re.findall(r"\b[a-z]+_?[a-z]+\b", listed.replace("KEY is one of", ""))


# ---- help, version -------------------------------------------------------------

@test
def help_exits_0_and_lists_subcommands():
    top = help_of()
    for sub in ("vmswitch run", "vmswitch ctl", "vmswitch exporter", "--version"):
        check(sub in top, f"vmswitch --help does not mention {sub}")
    check(vmswitch("-h").stdout == top and vmswitch("help").stdout == top,
          "-h, --help and help differ")
    for args in ((), ("bogus",)):
        r = vmswitch(*args)
        check(r.returncode == 2 and "Usage:" in r.stderr,
              f"vmswitch {' '.join(args)}: exit {r.returncode}, stderr {r.stderr!r}")


@test
def top_help_has_every_option_of_run_and_ctl():
    top = options_in(help_of())
    for sub in ("run", "ctl"):
        missing = options_in(help_of(sub)) - top
        check(not missing, f"vmswitch --help lacks {sub} options {sorted(missing)}")
    check(set(help_port_types()) <= set(re.findall(r"^    ([a-z-]+):", help_of(), re.M)),
          "vmswitch --help lacks port types of run --help")


@test
def ctl_help_answers_without_a_socket():
    nowhere = os.path.join(WORK, "no-such.sock")
    for args in (("ctl", "--help"), ("ctl", "-h"), ("ctl", "help"),
                 ("ctl", "--socket", nowhere, "--help"), ("ctl", "show", "--help")):
        r = vmswitch(*args)
        check(r.returncode == 0 and "Commands:" in r.stdout and not r.stderr,
              f"vmswitch {' '.join(args)}: exit {r.returncode}, stderr {r.stderr!r}")
    r = vmswitch("ctl", "--socket", nowhere, "show")
    check(r.returncode == 2 and "cannot connect" in r.stderr,
          f"ctl without a switch: exit {r.returncode}, {r.stderr!r}")


@test
def version_is_the_version_file():
    with open(repo_path("VERSION")) as f:
        version = f.read().strip()
    check(re.fullmatch(r"\d+\.\d+\.\d+", version), f"VERSION is {version!r}")
    r = vmswitch("--version")
    check(r.returncode == 0, f"--version exited {r.returncode}")
    m = re.fullmatch(r"vmswitch (\S+)(?: \(git (\S+)\))?\n", r.stdout)
    check(m and m.group(1) == version, f"--version printed {r.stdout!r}, VERSION is {version}")
    if os.path.exists(repo_path(".git")) and shutil.which("git"):
        check(m.group(2), "a build from a git tree has no git revision")
        rev = re.sub(r"-dirty$", "", m.group(2)).rsplit("-g", 1)[-1]
        ok = subprocess.run(["git", "-C", repo_path("."), "cat-file", "-e", rev + "^{commit}"],
                            capture_output=True).returncode == 0
        check(ok, f"--version names git revision {m.group(2)}, not a commit here")


# ---- options: accepted, documented -----------------------------------------------

@test
def run_options_are_accepted():
    text = section(help_of("run"), "Options for run:", "Signals:")
    for opt in sorted(options_in(text)):
        # The option's own line: "  --burst N", "  -v, --verbose".
        takes = re.search(r"^  (?:-[a-z], )?" + re.escape(opt) + r"[ =]([A-Z]\S*)", text, re.M)
        value = ["1"] if takes and takes.group(1) in ("N", "SECONDS") else \
                ["x"] if takes else []
        r = vmswitch("run", opt, *value, "--help")
        check(r.returncode == 0 and r.stdout.startswith("Usage: vmswitch run"),
              f"run {opt} {' '.join(value)}: exit {r.returncode}, {r.stderr.strip()}")
    r = vmswitch("run", "--no-such-option", "--help")
    check(r.returncode == 2 and "unrecognized" in r.stderr,
          f"an unknown option was not refused: {r.returncode} {r.stderr!r}")


@test
def getopt_table_is_in_run_help():
    with open(repo_path("src/main.c")) as f:
        longopts = re.findall(r'\{ "([a-z-]+)", (?:no|required|optional)_argument', f.read())
    check(longopts, "no getopt table found in src/main.c")
    missing = {"--" + o for o in longopts} - run_help_options()
    check(not missing, f"run accepts {sorted(missing)}, run --help does not list them")


@test
def run_options_in_man_page_and_readme():
    man = options_in(section(man_text(MAN8), "RUN OPTIONS", "PORT TYPES"))
    opts = run_help_options()
    check(not opts - man, f"vmswitch.8 lacks run options {sorted(opts - man)}")
    check(not man - opts, f"vmswitch.8 has run options run --help lacks {sorted(man - opts)}")
    table = readme_table()
    check(not opts - table, f"README's option table lacks {sorted(opts - table)}")
    check(not table - opts, f"README's option table has {sorted(table - opts)}, "
          "which run --help lacks")


@test
def ctl_and_exporter_options_in_man_page():
    man = man_text(MAN8)
    ctl = options_in(section(help_of("ctl"), "Options:"))
    ctl_man = options_in(section(man, "CONTROL COMMANDS", "EXPORTER"))
    check(not ctl - ctl_man, f"vmswitch.8 lacks ctl options {sorted(ctl - ctl_man)}")
    exp = options_in(help_of("exporter"))
    exp_man = options_in(section(man, "EXPORTER", "SIGNALS"))
    check(not exp - exp_man, f"vmswitch.8 lacks exporter options {sorted(exp - exp_man)}")
    check(not exp - options_in(help_of()) - {"-h"},
          f"vmswitch --help lacks exporter options {sorted(exp - options_in(help_of()))}")
    for sig in re.findall(r"SIG[A-Z0-9]+", help_of("run")):
        check(sig in section(man, "SIGNALS", "FILES"), f"vmswitch.8 SIGNALS lacks {sig}")


# ---- against a running switch ----------------------------------------------------

def new_switch(name):
    """A switch (started by `with`) with port vm1 from --port, vm2 from
    --config; and its folder."""
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    conf = os.path.join(d, "vmswitch.conf")
    with open(conf, "w") as f:
        f.write(f'ports = ( {{ name = "vm2"; type = "vhost-user"; path = "{d}/vm2.sock"; }} );\n')
    sw = Switch([f"vm1=vhost-user:{d}/vm1.sock"], name=f"help-{name}",
                args=["--config", conf])
    return sw, d


def command_line(cmd, d):
    """@cmd with arguments a switch with ports vm1 and vm2 takes."""
    return {"show": ["show", "vm1"], "stats": ["stats", "vm1"],
            "fdb show": ["fdb", "show"], "fdb flush": ["fdb", "flush", "vm1"],
            "port add": ["port", "add", f"t1=vhost-user:{d}/t1.sock", "vlan=5"],
            "port set": ["port", "set", "vm1", "vlan=7"], "port del": ["port", "del", "t1"],
            "capture": ["capture", "vm1", f"{d}/c.pcap", "--count", "5"],
            "capture stop": ["capture", "stop", "vm1"],
            "metrics": ["metrics"], "reload": ["reload"],
            "rebalance": ["rebalance"]}[cmd]


@test
def ctl_commands_are_accepted_and_documented():
    cmds = ctl_commands(help_of("ctl"))
    check(len(cmds) >= 10, f"ctl --help lists only {cmds}")
    man = section(man_text(MAN8), "CONTROL COMMANDS", "EXPORTER")
    sw, d = new_switch("cmds")
    with sw:
        for cmd in cmds:
            check(re.search(r"^\s+" + re.escape(cmd) + r"\b", man, re.M),
                  f"vmswitch.8 CONTROL COMMANDS lacks {cmd}")
            if cmd == "top":
                r = subprocess.run(["timeout", "-s", "INT", "2", binary(), "ctl", "--socket",
                                    sw.ctl_path, "top"], capture_output=True, text=True)
                check("vm1" in r.stdout, f"ctl top showed no port: {r.stdout!r} {r.stderr!r}")
                continue
            rc, out, err = sw.ctl(*command_line(cmd, d))
            check(rc == 0, f"ctl {cmd}: exit {rc}, {err.strip()}")
        rc, _, err = sw.ctl("no-such-command")
        m = re.search(r"unknown command '[^']*' \(([^)]*)\)", err)
        check(rc == 1 and m, f"an unknown command: exit {rc}, {err!r}")
        known = {c.strip() for c in m.group(1).split(",")}
        firsts = {c.split()[0] for c in cmds}
        check(known <= firsts, f"the switch knows {sorted(known - firsts)}, ctl --help lacks them")


def refusal(sw, spec):
    rc, _, err = sw.ctl("port", "add", spec)
    check(rc == 1, f"port add {spec} was not refused: {rc} {err!r}")
    return err


@test
def port_types_are_known_and_documented():
    types = help_port_types()
    check(len(types) >= 5, f"run --help lists port types {types}")
    conf, man8 = man_text(MAN5), section(man_text(MAN8), "PORT TYPES", "CONTROL COMMANDS")
    sw, _ = new_switch("types")
    with sw:
        for t in types:
            check(re.search(r"^\s+" + re.escape(t) + r"\s*$", conf, re.M),
                  f"vmswitch.conf.5 has no section for port type {t}")
            check(re.search(r"^\s+" + re.escape(t) + ":", man8, re.M),
                  f"vmswitch.8 PORT TYPES lacks {t}")
            err = refusal(sw, f"z={t}:")
            check("unknown type" not in err, f"the switch does not know type {t}: {err}")
        err = refusal(sw, "z=no-such-type:x")
        m = re.search(r"\(known: ([^)]*)\)", err)
        check(m, f"no list of known types in {err!r}")
        known = {k.strip() for k in m.group(1).split(",")}
        check(known == set(types), f"the switch knows types {sorted(known)}, "
              f"run --help lists {sorted(types)}")


@test
def port_options_are_accepted_and_documented():
    keys = help_port_options()
    check(len(keys) >= 11, f"ctl --help lists port options {keys}")
    documented = keys_in(section(man_text(MAN5), "PORT OPTIONS", "EXAMPLE"))
    check(set(keys) == documented, f"ctl --help port options {sorted(keys)}, "
          f"vmswitch.conf.5 PORT OPTIONS {sorted(documented)}")
    sw, _ = new_switch("options")
    with sw:
        for key in keys:
            rc, _, err = sw.ctl("port", "set", "vm1", f"{key}=none")
            check(rc == 0, f"port set vm1 {key}=none: {err.strip()}")


def keys_in(text):
    """The keys a page's tagged paragraphs document: "vlan = INT",
    "owner = STRING, group = STRING"."""
    return set(re.findall(r"^ {7}([a-z_]+) = ", text, re.M)) | \
        set(re.findall(r"^ {7}\S.*, ([a-z_]+) = ", text, re.M))


TYPE_SAMPLES = {"vhost-user": "/tmp/vmsw-help/x.sock", "tap": "vmswh0",
                "afpacket": "lo", "afxdp": "lo", "vxlan": "192.0.2.1"}


@test
def type_keys_match_the_program():
    """Each type's options as the switch lists them (refusing an unknown
    one) against the keys vmswitch.conf.5 gives that type."""
    conf = man_text(MAN5)
    common = set(help_port_options())
    sw, _ = new_switch("keys")
    with sw:
        for t in help_port_types():
            err = refusal(sw, f"z={t}:{TYPE_SAMPLES[t]},bogus=1")
            m = re.search(r"\(known: ([^)]*)\)", err)
            if not m and t == "afxdp":
                continue        # a build without libxdp refuses afxdp before
            check(m, f"{t}: no list of known options in {err!r}")
            program = {re.split(r"[=|]", k.strip())[0] for k in m.group(1).split(",")}
            m = re.search(r"^   " + re.escape(t) + r"\n(.*?)(?=^ {0,3}\S)", conf, re.M | re.S)
            check(m, f"vmswitch.conf.5 has no section for {t}")
            documented = keys_in(m.group(1))
            first = {"vhost-user": "path", "vxlan": "remote"}.get(t, "interface")
            check(first in documented, f"vmswitch.conf.5 {t} lacks {first}")
            check(program <= documented | common,
                  f"{t}: the switch takes {sorted(program - documented - common)}, "
                  f"vmswitch.conf.5 lacks them")
            check(documented - {first} <= program,
                  f"{t}: vmswitch.conf.5 has {sorted(documented - {first} - program)}, "
                  f"the switch does not take them")


# ---- manual pages ----------------------------------------------------------------

@test
def man_pages_lint_clean():
    for page in (MAN8, MAN5):
        check(os.path.exists(page), f"{page} missing: make B=... man")
        r = subprocess.run(["groff", "-ww", "-man", "-z", page], capture_output=True, text=True)
        check(r.returncode == 0 and not r.stderr, f"groff -ww {page}: {r.stderr}")
        r = subprocess.run(["mandoc", "-T", "lint", page], capture_output=True, text=True)
        check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
              f"mandoc -T lint {page}: {r.stdout}{r.stderr}")
        man_text(page)
        src = repo_path(f"doc/man/{os.path.basename(page)}.scd")
        check(os.path.getmtime(page) >= os.path.getmtime(src),
              f"{page} is older than {src}: make B=... man")


# ---- bash completion -------------------------------------------------------------

COMPLETE = r'''
source "$COMPLETION"
line=$1
COMP_LINE=$line
COMP_POINT=${#line}
# Split as readline does: at blanks, and '=' and ':' as words of their own.
COMP_WORDS=()
read -ra raw <<<"$line"
for w in "${raw[@]}"; do
	while [[ $w =~ ^([^=:]*)([=:]+)(.*)$ ]]; do
		[[ -n ${BASH_REMATCH[1]} ]] && COMP_WORDS+=("${BASH_REMATCH[1]}")
		COMP_WORDS+=("${BASH_REMATCH[2]}")
		w=${BASH_REMATCH[3]}
	done
	[[ -n $w ]] && COMP_WORDS+=("$w")
done
[[ $line == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
complete -p vmswitch
_vmswitch vmswitch "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''


def complete(line, with_bash_completion):
    """What the completion offers at the end of @line (a list), either with
    Debian's bash-completion loaded or with the script alone."""
    pre = f'source {BASH_COMPLETION}\n' if with_bash_completion else ""
    r = subprocess.run(["bash", "-c", pre + COMPLETE, "complete", line],
                       capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, COMPLETION=COMPLETION))
    check(r.returncode == 0, f"completing {line!r}: {r.stderr}")
    first, *rest = r.stdout.split("\n")
    check(first == "complete -F _vmswitch vmswitch", f"complete -p says {first!r}")
    return [w for w in rest if w]


def completion_modes():
    modes = [False]
    if os.path.exists(BASH_COMPLETION):
        modes.append(True)
    return modes


@test
def completion_matches_help():
    check(subprocess.run(["bash", "-n", COMPLETION]).returncode == 0,
          f"{COMPLETION}: bash syntax error")
    run_opts = {o for o in run_help_options() if o.startswith("--")}
    cmds = {c.split()[0] for c in ctl_commands(help_of("ctl"))}
    exp = {o for o in options_in(help_of("exporter")) if o.startswith("--")}
    for bc in completion_modes():
        def got(line):
            return set(complete(line, bc))
        check(got("vmswitch ") == {"run", "ctl", "exporter", "--help", "--version"},
              f"subcommands: {got('vmswitch ')}")
        check(got("vmswitch run --") == run_opts,
              f"run options {sorted(got('vmswitch run --'))}, help {sorted(run_opts)}")
        check(got("vmswitch ctl ") - {"--socket", "--help"} == cmds,
              f"ctl commands {sorted(got('vmswitch ctl '))}, help {sorted(cmds)}")
        check(got("vmswitch exporter --") == exp, f"exporter options {got('vmswitch exporter --')}")
        # bash replaces the part after the last '=' or ':' of the word.
        check(got("vmswitch run --port vm1=") == {t + ":" for t in help_port_types()},
              f"port types {got('vmswitch run --port vm1=')}")
        check(got("vmswitch run --port vm1=vh") == {"vhost-user:"},
              f"port type vh: {got('vmswitch run --port vm1=vh')}")
        check(got("vmswitch ctl port set vm1 ") == {k + "=" for k in help_port_options()},
              f"port options {got('vmswitch ctl port set vm1 ')}")
        check(got("vmswitch ctl fdb ") == {"show", "flush"}, "fdb subcommands")
        check(got("vmswitch ctl port ") == {"add", "del", "set"}, "port subcommands")


@test
def completion_names_the_running_switchs_ports():
    sw, _ = new_switch("complete")
    with sw:
        for bc in completion_modes():
            base = f"{binary()} ctl --socket {sw.ctl_path} "
            for line in (base + "show ", base + "stats ", base + "port del ",
                         base + "fdb flush ", base + "capture stop "):
                got = set(complete(line, bc))
                check(got == {"vm1", "vm2"}, f"{line!r} offered {sorted(got)}")
            got = set(complete(base + "show v", bc))
            check(got == {"vm1", "vm2"}, f"'show v' offered {sorted(got)}")
    gone = f"{binary()} ctl --socket {WORK}/no-such.sock show "
    check(complete(gone, False) == [], "ports offered without a switch")


if __name__ == "__main__":
    os.makedirs(WORK, exist_ok=True)
    main()
