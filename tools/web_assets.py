"""Regenerate the web console's vendored scripts from npm (``make assets``).

The versions are pinned in ``tools/web-assets/package.json`` and its lock file. This script
installs exactly those (``npm ci``) in a temporary folder, copies the minified files named in
``FILES`` with their licences into ``src/portrait/web/static/vendor/`` (axe-core, used only
by the accessibility test, into ``tests/browser/vendor/``), bundles vega-interpreter (shipped
as an ES module only) into one script with esbuild, and writes ``vendor.json``: each file's
package, version, licence and SHA-256. ``tests/unit/web/test_assets.py`` checks the vendored
files against that manifest and the manifest against the pins. Node and npm are needed here
only, never to install or run Portrait.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS = ROOT / "tools" / "web-assets"
STATIC = ROOT / "src" / "portrait" / "web" / "static" / "vendor"
TESTS = ROOT / "tests" / "browser" / "vendor"

# package, file inside node_modules/<package>, name in the vendor folder, licence file inside
# node_modules (vega-interpreter ships none: it is part of the vega repository, whose licence
# covers it), where
FILES: list[tuple[str, str, str, str, Path]] = [
    ("htmx.org", "dist/htmx.min.js", "htmx.min.js", "htmx.org/LICENSE", STATIC),
    ("vega", "build/vega.min.js", "vega.min.js", "vega/LICENSE", STATIC),
    ("vega-lite", "build/vega-lite.min.js", "vega-lite.min.js", "vega-lite/LICENSE", STATIC),
    ("vega-embed", "build/vega-embed.min.js", "vega-embed.min.js", "vega-embed/LICENSE", STATIC),
    # bundled below: the CSP-safe expression interpreter (no eval, no new Function)
    ("vega-interpreter", "", "vega-interpreter.min.js", "vega/LICENSE", STATIC),
    ("axe-core", "axe.min.js", "axe.min.js", "axe-core/LICENSE", TESTS),
]
LICENSES = {
    "htmx.org": "0BSD",
    "vega": "BSD-3-Clause",
    "vega-lite": "BSD-3-Clause",
    "vega-embed": "BSD-3-Clause",
    "vega-interpreter": "BSD-3-Clause",
    "axe-core": "MPL-2.0",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    pinned = json.loads((PINS / "package.json").read_text())["dependencies"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(PINS / name, work / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=work, check=True)  # noqa: S607 (npm from PATH)
        modules = work / "node_modules"
        entry = work / "interpreter.js"
        entry.write_text(
            "import { expressionInterpreter } from 'vega-interpreter';\n"
            "globalThis.vegaInterpreter = { expressionInterpreter };\n"
        )
        bundled = work / "vega-interpreter.min.js"
        subprocess.run(  # noqa: S603 (the esbuild npm ci just installed, fixed arguments)
            [
                str(modules / ".bin" / "esbuild"),
                str(entry),
                "--bundle",
                "--minify",
                "--format=iife",
                "--legal-comments=none",
                f"--outfile={bundled}",
            ],
            cwd=work,
            check=True,
        )
        manifests: dict[Path, dict[str, dict[str, str]]] = {STATIC: {}, TESTS: {}}
        for folder in manifests:
            folder.mkdir(parents=True, exist_ok=True)
        for package, inside, name, licence, folder in FILES:
            version = json.loads((modules / package / "package.json").read_text())["version"]
            if version != pinned[package]:
                raise SystemExit(f"{package}: npm installed {version}, pinned {pinned[package]}")
            source = bundled if not inside else modules / package / inside
            shutil.copy(source, folder / name)
            shutil.copy(modules / licence, folder / f"{package}.LICENSE.txt")
            manifests[folder][name] = {
                "package": package,
                "version": version,
                "license": LICENSES[package],
                "sha256": sha256(folder / name),
            }
        for folder, files in manifests.items():
            (folder / "vendor.json").write_text(json.dumps(files, indent=2, sort_keys=True) + "\n")
            print(f"{len(files)} files in {folder.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
