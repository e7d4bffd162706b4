#!/usr/bin/env python3
"""Checks the expectations in json_schema_cases.json against an independent validator.

python-jsonschema (Draft 2020-12, format assertions on) decides, for every text of every case,
whether it is a valid instance; the categories of the ledger must agree with it:
valid and stricter texts are valid JSON instances, invalid texts are not (or are not JSON),
lenient texts are rejected by the reference (the grammar accepts them by design).
The C++ test (json_schema_test.cpp) checks the grammar side of the same ledger.
Run: python3 tests/grammar/json_schema_reference.py (needs python-jsonschema 4.x with its format
checkers; it is not part of scripts/test).
"""
import json
import pathlib
import sys

import jsonschema


def parse(text):
    def no_constants(name):
        raise ValueError(name)

    return json.loads(text, parse_constant=no_constants)


def main():
    ledger = json.loads((pathlib.Path(__file__).parent / "json_schema_cases.json").read_text(encoding="utf-8"))
    problems = []
    checked = 0
    for case in ledger["cases"]:
        schema = case.get("reference_schema", case["schema"])
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        for category in ("valid", "invalid", "stricter", "lenient"):
            for text in case.get(category, []):
                checked += 1
                try:
                    instance = parse(text)
                except ValueError:
                    if category != "invalid":
                        problems.append(f"{case['name']}: {category} text is not JSON: {text!r}")
                    continue
                ok = validator.is_valid(instance)
                expected = category in ("valid", "stricter")
                if ok != expected:
                    problems.append(f"{case['name']}: {category} text {text!r}: reference says {'valid' if ok else 'invalid'}")
    for p in problems:
        print(p)
    print(f"{checked} texts checked, {len(problems)} disagreements")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
