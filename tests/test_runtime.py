"""Process settings applied on `import orbjax` (orbjax/runtime.py), each in a fresh process."""
from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import os, orbjax, jax, jax.numpy as jnp
f = jax.jit(lambda a, b: (a * b).sum(1))
hlo = f.lower(jnp.ones((64, 5, 32)), jnp.ones((64, 5, 32))).compile().as_text()
print(repr(os.environ.get("XLA_FLAGS", "")), "ynn" in hlo.lower())
"""


def probe(**env) -> tuple[str, bool]:
    environment = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "ORBJAX_KEEP_PROCESS_SETTINGS")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**environment, **env}, capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    flags, ynn = out.rsplit(" ", 1)
    return eval(flags), ynn == "True"


def test_import_switches_ynnpack_fusions_off_first_in_the_flags():
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
