#!/usr/bin/env python3
"""Checks tests/grammar/schema_instances.json against an independent validator.

Every instance text must parse as JSON and be valid under its schema file according to
python-jsonschema (Draft 2020-12, format assertions on where its optional format checkers are
installed; oneOf exclusivity included, which the grammar does not enforce). The C++ test
(tests/grammar/schema_corpus_test.cpp) checks the grammar side: each text is accepted.
Run: python3 tests/grammar/check_schema_instances.py (needs python-jsonschema 4.x; not part of
scripts/test).
"""
import json
import pathlib
import sys

import jsonschema


def main():
    here = pathlib.Path(__file__).parent
    instances = json.loads((here / "schema_instances.json").read_text(encoding="utf-8"))
    problems = []
    checked = 0
    for name, texts in instances.items():
        schema = json.loads((here / "schemas" / name).read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        for text in texts:
            checked += 1
            try:
                instance = json.loads(text)
            except ValueError as e:
                problems.append(f"{name}: not JSON ({e}): {text}")
                continue
            for error in validator.iter_errors(instance):
                problems.append(f"{name}: {error.message} at {list(error.absolute_path)}: {text}")
    for p in problems:
        print(p)
    print(f"{checked} instances in {len(instances)} files, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
