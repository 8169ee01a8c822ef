"""Profiles: partial params files merged into params.yaml (smoke runs, GPU recipes).

    python -m sqlforge.profiles profiles/smoke.yaml            # rewrite params.yaml
    python -m sqlforge.profiles profiles/smoke.yaml --check    # validate only

The merged result passes the same strict validation as params.yaml itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from sqlforge.config import deep_merge, load_yaml_mapping, params_from_dict
from sqlforge.io import InputError, atomic_path


def apply_profile(profile: str | Path, params: str | Path = "params.yaml", check_only: bool = False) -> dict:
    merged = deep_merge(load_yaml_mapping(params), load_yaml_mapping(profile))
    params_from_dict(merged, f"{params} + {profile}")
    if not check_only:
        with atomic_path(params) as tmp:
            tmp.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--check", action="store_true", help="validate the merge without writing")
    args = parser.parse_args(argv)
    try:
        apply_profile(args.profile, args.params, args.check)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
