"""The import layers of the README's layout: every import, lazy ones inside functions included, runs from a
higher layer to a lower one (dnalm_core <- modeling, data_scripts <- training <- train.py <- assess <- space),
modeling and data_scripts never import each other, and the torch-free layers stay torch-free."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"dnalm_core": 0, "modeling": 1, "data_scripts": 1, "training": 2, "train": 3, "assess": 4, "space": 5}


def imports(root: Path = ROOT):
    """(importing top-level package, imported top-level package, 'file:line') for every import statement."""
    files = [p for top in LAYER if (root / top).is_dir() for p in (root / top).rglob("*.py")] + [root / "train.py"]
    for path in files:
        rel = path.relative_to(root)
        top = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for node in ast.walk(ast.parse(path.read_text(), str(rel))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [top] if node.level else [node.module or ""]
            else:
                continue
            for name in names:
                if name.split(".")[0] in LAYER:
                    yield top, name.split(".")[0], f"{rel}:{node.lineno}"


def upward(root: Path = ROOT) -> list[str]:
    return [f"{where}: {a} imports {b}" for a, b, where in imports(root) if a != b and LAYER[b] >= LAYER[a]]


def test_imports_run_downwards():
    assert upward() == []


def test_the_layer_check_sees_lazy_and_sideways_imports(tmp_path):
    # the two upward imports this project once had were lazy, inside function bodies
    (tmp_path / "data_scripts").mkdir()
    (tmp_path / "data_scripts" / "build.py").write_text("def push():\n    from training.hub import push_folder\n")
    (tmp_path / "modeling").mkdir()
    (tmp_path / "modeling" / "m.py").write_text("import data_scripts.gue\nfrom . import other\n")
    (tmp_path / "train.py").write_text("import training\n")
    assert sorted(upward(tmp_path)) == [
        "data_scripts/build.py:2: data_scripts imports training",
        "modeling/m.py:1: modeling imports data_scripts",
    ]


def test_torch_free_modules_import_no_torch():
    code = (
        "import sys\nimport dnalm_core, dnalm_core.hub, dnalm_core.tasks, dnalm_core.policy\n"
        "import assess.results, assess.spec, assess.stats, space.submission, space.board\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'modeling', 'gradio'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
