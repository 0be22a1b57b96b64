"""Isotropic stochastic cell rescaling (Bernetti & Bussi, J. Chem. Phys. 153, 114107 (2020)),
the barostat of NPT in `orbjax.potential.dynamics`.

Per step the log-volume ε = ln V moves by (the first-order "Euler" form, as in GROMACS and
the authors' SimpleMD)

    dε = −(β_T / τ_p) (P₀ − P) dt + √(2 k_B T β_T dt / (V τ_p)) ξ,      ξ ~ N(0, 1),

with P = 2K / (3V) − tr(σ) / 3 the instantaneous pressure from the kinetic energy K and the
virial stress σ (ASE's sign: σ = (1/V) ∂E/∂ε, so a compressed solid has σ < 0 and P > 0).
Positions and the cell then scale by e^{dε/3} and velocities by e^{−dε/3}. Unlike Berendsen's
barostat, the noise makes the volume fluctuate as in the isothermal-isobaric ensemble
(an ideal gas of N atoms: V^N e^{−P₀V/k_BT}, tested); the compressibility β_T and the time
τ_p only set how fast the volume relaxes (β_T ≈ 1 / bulk modulus relaxes in ~τ_p).

Units: pressure and stress eV/Å³ (`GPA` converts), compressibility Å³/eV, times fs, energies
eV, volume Å³.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from ase import units

GPA = units.GPa  # eV/Å³ in one GPa
# Defaults of the MD API and the command line: β_T ≈ 1/(100 GPa) suits metals; τ_p 1 ps.
COMPRESSIBILITY_PER_GPA, TIME_CONSTANT_FS = 0.01, 1000.0


def instantaneous_pressure(kinetic_energy, stress, volume):
    """[] eV/Å³: P = 2K/(3V) − tr(σ)/3 (K eV, σ [3, 3] eV/Å³, V Å³)."""
    return 2.0 * kinetic_energy / (3.0 * volume) - jnp.trace(stress) / 3.0


def log_volume_increment(
    key, volume, pressure, target_pressure, kT, compressibility, time_constant, timestep
):
    """[] dε = d ln V of one step of length `timestep` (fs) at instantaneous `pressure` and
    `target_pressure` (eV/Å³), `kT` (eV), `compressibility` (Å³/eV), `time_constant` (fs)."""
    drift = -(compressibility / time_constant) * (target_pressure - pressure) * timestep
    width = jnp.sqrt(2.0 * kT * compressibility * timestep / (volume * time_constant))
    return drift + width * jax.random.normal(key, jnp.shape(volume), jnp.result_type(volume))
