#!/usr/bin/env python3
"""Offline helpers of check.sh: parse the Terraform files, render the cloud-init
templates the way Terraform's templatefile would, and pull the shell scripts out
of a rendered cloud-config.

It renders only the subset of the template language the templates use:
`${name}`, `${jsonencode(name)}` and the escapes `$${` and `%%{`. Anything else
(a directive, another function) is an error, so a template cannot quietly grow
past what this check can see.

Subcommands (each exits non-zero with a message on failure):
  parse-hcl FILE...                 parse .tf files with python-hcl2
  template-vars COMPUTE_TF LOCAL TEMPLATE
                                    the names TEMPLATE uses must be the keys of
                                    local.LOCAL in COMPUTE_TF (python-hcl2)
  render TEMPLATE VALUES_JSON OUT   render with dummy values
  extract-scripts YAML OUTDIR       write each write_files script (#!) to OUTDIR
  known-keys YAML SCHEMA_JSON       every top-level key of YAML is one that
                                    cloud-init's schema describes (the schema
                                    itself lets unknown keys, such as typos, pass)
"""

import json
import re
import sys
from pathlib import Path

# One interpolation: ${name} or ${jsonencode(name)}.
INTERPOLATION = re.compile(r"\$\{\s*(?:(jsonencode)\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)|([A-Za-z_][A-Za-z0-9_]*))\s*\}")


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def template_names(text):
    """The variable names a template uses, after its escapes are removed."""
    names = set()
    for segment in _segments(text):
        if segment[0] == "var":
            names.add(segment[2])
    return names


def _segments(text):
    """Split a template into ("text", s) and ("var", function, name) pieces."""
    pieces = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            pieces.append(("text", "${"))
            i += 3
        elif text.startswith("%%{", i):
            pieces.append(("text", "%{"))
            i += 3
        elif text.startswith("%{", i):
            line = text.count("\n", 0, i) + 1
            fail(f"line {line}: template directives (%{{...}}) are not supported by this renderer")
        elif text.startswith("${", i):
            match = INTERPOLATION.match(text, i)
            if not match:
                line = text.count("\n", 0, i) + 1
                end = text.find("}", i)
                fail(f"line {line}: unsupported interpolation {text[i:end + 1]!r} (only ${{name}} and ${{jsonencode(name)}})")
            function = match.group(1)
            name = match.group(2) or match.group(3)
            pieces.append(("var", function, name))
            i = match.end()
        else:
            nxt = min(
                (p for p in (text.find("${", i), text.find("$${", i), text.find("%{", i), text.find("%%{", i)) if p != -1),
                default=len(text),
            )
            if nxt == i:  # a lone "$" or "%" before something else
                nxt = i + 1
            pieces.append(("text", text[i:nxt]))
            i = nxt
    return pieces


def jsonencode(value):
    """Terraform's jsonencode: compact, with Go's escapes of < > & U+2028 U+2029."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def render(text, values):
    out = []
    for piece in _segments(text):
        if piece[0] == "text":
            out.append(piece[1])
            continue
        _, function, name = piece
        if name not in values:
            fail(f"template uses ${{{name}}} but no dummy value is given for it")
        value = values[name]
        if function == "jsonencode":
            out.append(jsonencode(value))
        elif isinstance(value, str):
            out.append(value)
        else:
            fail(f"${{{name}}} is not a string; use ${{jsonencode({name})}}")
    unused = set(values) - template_names(text)
    if unused:
        fail(f"dummy values not used by the template: {sorted(unused)}")
    return "".join(out)


def cmd_parse_hcl(files):
    import hcl2  # only in the check venv

    for name in files:
        try:
            with open(name, encoding="utf-8") as handle:
                hcl2.load(handle)
        except Exception as error:  # python-hcl2 raises several types
            fail(f"{name}: {error}")
        print(f"parsed {name}")


def _local_keys(compute_tf, local_name):
    import hcl2

    with open(compute_tf, encoding="utf-8") as handle:
        parsed = hcl2.load(handle)
    for block in parsed.get("locals", []):
        if local_name not in block:
            continue
        value = block[local_name]
        if isinstance(value, dict):
            return {key for key in value if not key.startswith("__")}
        # A for expression, kept as text: `[for ... : {a = ..., b = ...}]`.
        body = value[value.find("{") :]
        return set(re.findall(r"(?:\{|,)\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", body))
    fail(f"{compute_tf}: no local.{local_name}")
    return set()


def cmd_template_vars(compute_tf, local_name, template):
    keys = _local_keys(compute_tf, local_name)
    used = template_names(Path(template).read_text(encoding="utf-8"))
    if keys != used:
        fail(
            f"{template} and local.{local_name} disagree: "
            f"only in the template {sorted(used - keys)}, only in the local {sorted(keys - used)}"
        )
    print(f"{template}: uses exactly the keys of local.{local_name} ({len(keys)})")


def cmd_render(template, values_json, out):
    values = json.loads(Path(values_json).read_text(encoding="utf-8"))
    Path(out).write_text(render(Path(template).read_text(encoding="utf-8"), values), encoding="utf-8")
    print(f"rendered {template} -> {out}")


def cmd_extract_scripts(rendered, outdir):
    import yaml  # Debian's python3-yaml, a dependency of cloud-init

    config = yaml.safe_load(Path(rendered).read_text(encoding="utf-8"))
    count = 0
    for entry in config.get("write_files", []):
        content = entry.get("content", "")
        if content.startswith("#!"):
            target = Path(outdir) / Path(entry["path"]).name
            target.write_text(content, encoding="utf-8")
            print(target)
            count += 1
    if count == 0:
        fail(f"{rendered}: no script in write_files")


def cmd_known_keys(rendered, schema_json):
    import yaml

    schema = json.loads(Path(schema_json).read_text(encoding="utf-8"))
    known = set()
    for ref in schema.get("allOf", []):
        definition = schema["$defs"][ref["$ref"].rsplit("/", 1)[-1]]
        known.update(definition.get("properties", {}))
    if not known:
        fail(f"{schema_json}: found no property names")
    config = yaml.safe_load(Path(rendered).read_text(encoding="utf-8"))
    unknown = sorted(set(config) - known)
    if unknown:
        fail(f"{rendered}: keys cloud-init does not know: {unknown}")
    print(f"{rendered}: all {len(config)} top-level keys are known to cloud-init")


def main(argv):
    if not argv:
        fail(__doc__)
    command, args = argv[0], argv[1:]
    commands = {
        "parse-hcl": (cmd_parse_hcl, None),
        "template-vars": (cmd_template_vars, 3),
        "render": (cmd_render, 3),
        "extract-scripts": (cmd_extract_scripts, 2),
        "known-keys": (cmd_known_keys, 2),
    }
    if command not in commands:
        fail(f"unknown subcommand {command!r}")
    function, arity = commands[command]
    if arity is None:
        if not args:
            fail(f"{command} needs at least one file")
        function(args)
    else:
        if len(args) != arity:
            fail(f"{command} takes {arity} arguments")
        function(*args)


if __name__ == "__main__":
    main(sys.argv[1:])
