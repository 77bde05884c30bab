#!/usr/bin/python3
"""Checks the include rules of src/README.md ("Include rules").

Reads every .c and .h file under ROOT/src and ROOT/include/mpimr, finds its
#include lines (outside comments), resolves the project's own ones (quoted,
or in angle brackets when they name mpimr/ or a layer of src/) and prints
each include that breaks a rule as

  FILE:LINE: includes X: rule N (why)

The rules' data (the order of the layers, which layers may include the job
API, which files may see the whole job) is the ```layers block of
ROOT/src/README.md; nothing about them is written here. Rules 3 and 4 follow
includes through the headers that may pass on what they forbid: including a
public header that includes mpimr/job.h, or a header on the whole-job list,
counts as including mpimr/job.h or job/job_internal.h. (Any other header that
includes them breaks the rule itself, and is reported once, on its own line.)

usage: check_layers.py [ROOT]     ROOT defaults to the project this script is in
       check_layers.py --self-test
         runs the check on tests/tools/layers_fixture, a small tree with known
         violations, and compares what it prints with that tree's expected.txt
Exits 0 when nothing is broken, 1 on any violation (or a self-test that does
not see exactly the expected ones), 2 when the rules cannot be read.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE_SUFFIXES = (".c", ".h")


class RulesError(Exception):
    pass


def read_rules(root):
    """The ```layers block of src/README.md: {key: ([values], line)}."""
    path = os.path.join(root, "src", "README.md")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        raise RulesError("cannot read %s: %s" % (path, e.strerror))
    rules, key, inside, seen = {}, None, False, False
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not inside:
            if stripped == "```layers":
                inside = seen = True
            continue
        if stripped.startswith("```"):
            inside = False
            continue
        if not stripped or stripped.startswith("#"):
            continue
        if re.match(r"^[a-z-]+:", stripped):
            key, _, rest = stripped.partition(":")
            rules[key] = []
            stripped = rest
        elif key is None:
            raise RulesError("src/README.md:%d: a value before any key" % number)
        for word in stripped.split():
            rules[key].append((word, number))
    if not seen:
        raise RulesError("src/README.md has no ```layers block")
    for needed in ("layers", "job-api", "job-api-users", "whole-job", "whole-job-users"):
        if needed not in rules:
            raise RulesError("src/README.md: the layers block has no '%s:' line" % needed)
    return rules


def strip_comments(text):
    """The text with /* */ and // comments blanked, line breaks kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text[i] in "\"'":
            # A string or character literal: copy it whole, so "/*" inside one starts nothing.
            quote, j = text[i], i + 1
            while j < n and text[j] != quote and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def includes_of(path):
    """[(line, bracket, name)] of a file's #include lines."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = strip_comments(f.read())
    found = []
    for number, line in enumerate(text.split("\n"), 1):
        m = INCLUDE.match(line)
        if m:
            found.append((number, m.group(1), m.group(2)))
    return found


class Tree:
    """The project's sources and how their includes resolve."""

    def __init__(self, root, rules):
        self.root = root
        self.layers = [word for word, _ in rules["layers"]]
        self.generated = set(word for word, _ in rules.get("generated", []))
        self.files = []
        for top in ("src", os.path.join("include", "mpimr")):
            for directory, subdirs, names in os.walk(os.path.join(root, top)):
                subdirs.sort()
                for name in sorted(names):
                    if name.endswith(SOURCE_SUFFIXES):
                        self.files.append(os.path.relpath(os.path.join(directory, name), root))
        self.known = set(self.files)
        self.includes = {f: includes_of(os.path.join(root, f)) for f in self.files}
        self.closures = {}

    def is_project_name(self, bracket, name):
        return bracket == '"' or name.startswith("mpimr/") or name.split("/")[0] in self.layers

    def resolve(self, including, name):
        """The project file (relative to ROOT) an include names, or None."""
        candidates = [
            os.path.normpath(os.path.join(os.path.dirname(including), name)),
            os.path.join("src", name),
            os.path.join("include", name),
        ]
        for candidate in candidates:
            if candidate in self.known:
                return candidate
        return None

    def closure(self, path):
        """Every project file `path` includes, directly or through others (itself too)."""
        if path not in self.closures:
            seen, todo = {path}, [path]
            while todo:
                current = todo.pop()
                for _, bracket, name in self.includes.get(current, []):
                    target = self.resolve(current, name) if self.is_project_name(bracket, name) else None
                    if target and target not in seen:
                        seen.add(target)
                        todo.append(target)
            self.closures[path] = seen
        return self.closures[path]


def layer_of(path):
    parts = path.split(os.sep)
    return parts[1] if parts[0] == "src" and len(parts) > 2 else None


def as_name(path):
    """A resolved file as an include names it: job/job_internal.h, mpimr/job.h."""
    parts = path.split(os.sep)
    return "/".join(parts[1:])


def check(root):
    """[(file, line, message)] of every violation under ROOT."""
    rules = read_rules(root)
    tree = Tree(root, rules)
    job_api = set(word for word, _ in rules["job-api"])
    job_api_users = set(word for word, _ in rules["job-api-users"])
    whole_job = set(word for word, _ in rules["whole-job"])
    whole_job_users = set(word for word, _ in rules["whole-job-users"])
    rank = {layer: i for i, layer in enumerate(tree.layers)}
    order = " -> ".join(tree.layers)
    problems = []

    for entry, line in rules["whole-job-users"]:
        if os.path.join("src", entry) not in tree.known:
            problems.append(("src/README.md", line, "lists %s: rule 4 (no such file under src/; "
                             "take it off the whole-job list)" % entry))

    for path in tree.files:
        public = path.startswith(os.path.join("include", "mpimr") + os.sep)
        layer = layer_of(path)
        name_of_path = as_name(path)
        if not public and layer not in rank:
            problems.append((path, 1, "is in no layer: rule 2 (src/%s is not in the layers line of "
                             "src/README.md)" % (layer or os.path.basename(path))))
            continue
        for line, bracket, name in tree.includes[path]:
            if not tree.is_project_name(bracket, name):
                continue  # a system or MPI header
            target = tree.resolve(path, name)

            def report(rule, why, line=line, name=name):
                problems.append((path, line, "includes %s: rule %d (%s)" % (name, rule, why)))

            if target is None:
                if name in tree.generated:
                    continue  # a public header the build writes (mpimr/version.h)
                report(2, "no such file under src/ or include/, nor a generated header")
                continue
            target_public = target.startswith(os.path.join("include", "mpimr") + os.sep)
            if public:
                if not target_public:
                    report(1, "a public header may include only public headers, and %s is internal"
                           % as_name(target))
                continue
            if not target_public:
                target_layer = layer_of(target)
                if target_layer not in rank:
                    report(2, "%s is in no layer" % as_name(target))
                elif rank[target_layer] > rank[layer]:
                    report(2, "%s may include only %s; %s is above it (%s)"
                           % (layer, " ".join(tree.layers[: rank[layer] + 1]), target_layer, order))
            # Rules 3 and 4 follow a header only where it may itself include what they forbid
            # (a public header, a file on the whole-job list); any other header that does is
            # reported on its own line, and not again in every file that includes it.
            target_name = as_name(target)
            if layer not in job_api_users and (target_name in job_api or target_public):
                api = sorted(as_name(f) for f in tree.closure(target) if as_name(f) in job_api)
                if api:
                    through = "" if target_name in job_api else "it includes %s; " % api[0]
                    report(3, "%sonly %s may include the job API; take the shared types from their own "
                           "public header" % (through, " and ".join(sorted(job_api_users))))
            if (name_of_path not in whole_job_users and name_of_path not in whole_job
                    and (target_name in whole_job or target_name in whole_job_users)):
                inner = sorted(as_name(f) for f in tree.closure(target) if as_name(f) in whole_job)
                if inner:
                    through = "" if target_name in whole_job else "it includes %s; " % inner[0]
                    report(4, "%s%s is not on the whole-job list in src/README.md: pass it what it "
                           "needs, or add it there" % (through, name_of_path))
    return problems


def run(root):
    problems = check(root)
    for path, line, message in problems:
        print("%s:%d: %s" % (path, line, message))
    return problems


def self_test(here):
    fixture = os.path.join(here, "layers_fixture")
    with open(os.path.join(fixture, "expected.txt"), encoding="utf-8") as f:
        expected = [line for line in f.read().split("\n") if line]
    got = ["%s:%d: %s" % p for p in check(fixture)]
    if not expected:
        print("check_layers: the fixture's expected.txt lists no violations")
        return 1
    if sorted(got) == sorted(expected):
        print("check_layers: self-test found the %d expected violations in %s" % (len(expected), fixture))
        return 0
    for line in sorted(set(expected) - set(got)):
        print("missed:     " + line)
    for line in sorted(set(got) - set(expected)):
        print("unexpected: " + line)
    return 1


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        if argv[1:] == ["--self-test"]:
            return self_test(here)
        if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
            print(__doc__.strip(), file=sys.stderr)
            return 2
        root = argv[1] if len(argv) == 2 else os.path.dirname(os.path.dirname(here))
        problems = run(root)
    except RulesError as e:
        print("check_layers: %s" % e, file=sys.stderr)
        return 2
    if problems:
        print("check_layers: %d include(s) break the rules of src/README.md" % len(problems))
        return 1
    print("check_layers: no include breaks the rules of src/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
