"""Process settings (orbjax/runtime.py): `tune_cpu()` applies them, `import orbjax` does not.

Each check runs in a fresh process whose environment has neither XLA_FLAGS nor the opt-out
(the test process itself runs tuned, see tests/conftest.py, and children would inherit it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import os, orbjax.runtime
orbjax.runtime.tune_cpu()
import jax, jax.numpy as jnp
f = jax.jit(lambda a, b: (a * b).sum(1))
hlo = f.lower(jnp.ones((64, 5, 32)), jnp.ones((64, 5, 32))).compile().as_text()
print(repr(os.environ.get("XLA_FLAGS", "")), "ynn" in hlo.lower())
"""

# Records every call of mallopt (ctypes audit event) and compares os.environ before and after.
IMPORT_PROBE = """
import os, sys
calls = []
sys.addaudithook(
    lambda event, args: calls.append(args[1])
    if event == "ctypes.dlsym" and args[1] == "mallopt" else None
)
import jax, flax, optax, e3nn_jax, ase  # they may set variables of their own (jax does)
before = dict(os.environ)
import orbjax, orbjax.potential
orbjax.load_potential  # the lazy public names too
changed = {
    k: (before.get(k), os.environ.get(k))
    for k in set(before) | set(os.environ)
    if before.get(k) != os.environ.get(k)
}
print(repr((changed, calls)))
"""


def clean_env(**env) -> dict:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("XLA_FLAGS", "ORBJAX_KEEP_PROCESS_SETTINGS")
    }
    return {**environment, "PYTHONPATH": str(ROOT), **env}


def run_python(code: str, **env) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(**env), cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def probe(**env) -> tuple[str, bool]:
    flags, ynn = run_python(PROBE, **env).rsplit(" ", 1)
    return eval(flags), ynn == "True"


def test_importing_orbjax_changes_no_process_setting():
    changed, mallopt_calls = eval(
        run_python(IMPORT_PROBE, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false")
    )
    assert changed == {}
    assert mallopt_calls == []


def test_the_import_probe_sees_tune_cpu():
    """The probe above would notice both settings (it is not blind)."""
    code = IMPORT_PROBE.replace(
        "orbjax.load_potential", "import orbjax.runtime; orbjax.runtime.tune_cpu()"
    )
    changed, mallopt_calls = eval(run_python(code))
    assert "XLA_FLAGS" in changed
    if sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION"):
        assert mallopt_calls == ["mallopt"]


def test_tune_cpu_switches_ynnpack_fusions_off_first_in_the_flags():
    flags, ynn = probe(XLA_FLAGS="--xla_cpu_multi_thread_eigen=false")
    assert flags.split()[0] == "--xla_cpu_experimental_ynn_fusion_type="
    assert "--xla_cpu_multi_thread_eigen=false" in flags  # the user's flags are kept
    assert not ynn


def test_users_own_choice_and_the_opt_out_are_respected():
    flags, _ = probe(XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=individual_dot")
    assert flags == "--xla_cpu_experimental_ynn_fusion_type=individual_dot"
    flags, _ = probe(ORBJAX_KEEP_PROCESS_SETTINGS="1")
    assert "ynn" not in flags


def test_malloc_settings_apply_on_glibc_linux():
    from orbjax.runtime import configure_malloc

    if sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION"):
        assert configure_malloc()
